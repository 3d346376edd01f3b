"""Labelled months from incoming/: a month sent in to be scored that carries its prices is also training
data, so the next run (an upload under raw/, the monthly retraining, `housing run`) learns from it.

Which files a run learns from is fixed when the run starts (`labelled_incoming`; the event's
`incoming_keys`, part of the run's identity), so a file that arrives later starts a run of its own instead
of changing one in flight."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from pydantic import BaseModel, Field

from shared import schema
from shared.layout import INCOMING_PREFIX
from shared.store import ArtifactNotFound, ArtifactStore
from shared.tables import InputFormatError, read_frame
from shared.validation import validate_housing


class Joined(BaseModel):
    """What the incoming files added to a run's training data, and which were left out and why."""

    rows: int = 0
    files: list[str] = Field(default_factory=list, description="the files that added labelled rows")
    skipped: dict[str, str] = Field(default_factory=dict, description="file -> why it added nothing")


def labelled_incoming(store: ArtifactStore) -> list[str]:
    """The incoming/ files with a price in some row: what a run can learn from. A file sent only to be
    scored teaches nothing, so it does not make the next run (or the monthly retraining) a new one."""
    return [key for key in store.list(INCOMING_PREFIX) if not key.endswith("/") and _has_prices(store, key)]


def _has_prices(store: ArtifactStore, key: str) -> bool:
    try:
        frame = read_frame(store.read_bytes(key), key)
    except (InputFormatError, ArtifactNotFound):
        return False
    return schema.TARGET in frame and pd.to_numeric(frame[schema.TARGET], errors="coerce").notna().any()


def with_labelled_months(store: ArtifactStore, typed: pd.DataFrame, keys: Sequence[str]) -> tuple[pd.DataFrame, Joined]:
    """The validated input plus every incoming row that has a price, at a (zipcode, date) the input lacks.

    The input wins where both have a row, then the files in key order (`YYYY-MM.csv` names: month order). A
    file that does not pass the training schema adds nothing: scoring rejected it already (quarantine/), and
    one bad month must not stop a run on a good input."""
    joined, parts = Joined(), []
    for key in keys:
        try:
            report, rows = validate_housing(read_frame(store.read_bytes(key), key), source=key)
        except (InputFormatError, ArtifactNotFound) as err:
            joined.skipped[key] = str(err)
            continue
        if not report.ok:
            joined.skipped[key] = "; ".join(f"{p.column or '(file)'}: {p.message}" for p in report.problems)
            continue
        parts.append(rows.loc[rows[schema.TARGET].notna()])  # the training schema asks for some price
        joined.files.append(key)
    if not parts:
        return typed, joined
    merged = pd.concat([typed, *parts], ignore_index=True)
    merged = merged.loc[~merged.duplicated(subset=schema.KEY, keep="first")].reset_index(drop=True)
    joined.rows = len(merged) - len(typed)
    return merged, joined
