"""Files under incoming/: a month sent in to be scored (`score_incoming`: an upload on AWS, the monthly
schedule, `housing batch --input`), which, when it carries its prices, is also training data, so the next
run (an upload under raw/, the monthly retraining, `housing run`) learns from it.

Which files a run learns from is fixed when the run starts (`labelled_incoming`; the event's
`incoming_keys`, part of the run's identity), so a file that arrives later starts a run of its own instead
of changing one in flight. A file scoring rejected (quarantined) is never learned from."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field

from shared import schema
from shared.data.quarantine import quarantine
from shared.data.tables import InputFormatError, read_frame
from shared.data.validation import InvalidInput, ValidationReport, validate_housing
from shared.layout import INCOMING_PREFIX, incoming_quarantine_id, quarantine_prefix
from shared.serving.monitoring import record_live
from shared.store import ArtifactNotFound, ArtifactStore, digest

log = logging.getLogger(__name__)


def score_incoming(store: ArtifactStore, key: str, skip_if_scored: bool = False,
                   months: set[tuple[int, int]] | None = None) -> dict[str, Any]:
    """Score one incoming/ file with the champion (only `months`, if given). A file that cannot be read,
    breaks the schema or `shared.data.plausibility`'s rules is copied to quarantine/incoming-<digest of its
    bytes>/ with report.json and rejected (InputRejected): it is neither scored nor learned from."""
    # Imported here: scoring needs the model (xgboost, ~1.4 s to import); the trigger and the CLI, which only
    # ask which files carry prices, do not.
    from shared.serving.batch import batch_score
    from shared.serving.predictions import scored_months
    from shared.serving.system_history import row_months

    data = store.read_bytes(key)
    try:
        raw = read_frame(data, key)
        in_file = set(row_months(raw).dropna())
        if skip_if_scored and in_file and scored_months(store, in_file) == in_file:
            log.info("%s: months %s already scored, nothing to do", key, sorted(in_file))
            return {"scored": False, "key": key, "reason": "already scored"}
        predictions, written = batch_score(store, raw, source=key, months=months)
    except (InputFormatError, InvalidInput) as err:
        report = err.report if isinstance(err, InvalidInput) else ValidationReport.of_file(key, "format", str(err))
        quarantine(store, _quarantine_id(data), {key: report}, input_key=key)
    # The file's prices, before any run learns from them: the served model's live accuracy.
    run_id = predictions["model_run_id"].iloc[0] if len(predictions) else None
    live = record_live(store, run_id, sorted(set(zip(predictions["year"], predictions["month"])))) if run_id else []
    log.info("%s: %d predictions in %d month(s)%s", key, len(predictions), len(written),
             f"; live accuracy recorded for {len(live)} month(s)" if live else "")
    return {"scored": True, "key": key, "rows": len(predictions), "partitions": written, "live": live}


def _quarantine_id(data: bytes) -> str:
    return incoming_quarantine_id(digest(data))


def _rejected(store: ArtifactStore, data: bytes) -> str | None:
    """Where scoring quarantined these bytes, if it did."""
    report = quarantine_prefix(_quarantine_id(data)) + "report.json"
    return store.locate(report) if store.exists(report) else None


class Joined(BaseModel):
    """What the incoming files added to a run's training data, and which were left out and why."""

    rows: int = 0
    files: list[str] = Field(default_factory=list, description="the files that added labelled rows")
    skipped: dict[str, str] = Field(default_factory=dict, description="file -> why it added nothing")


def labelled_incoming(store: ArtifactStore) -> list[str]:
    """The incoming/ files with a price in some row: what a run can learn from. A file sent only to be
    scored teaches nothing, so it does not make the next run (or the monthly retraining) a new one."""
    return [key for key in store.list(INCOMING_PREFIX) if _has_prices(store, key)]


def _has_prices(store: ArtifactStore, key: str) -> bool:
    try:
        data = store.read_bytes(key)
        frame = read_frame(data, key)
    except (InputFormatError, ArtifactNotFound):
        return False
    if _rejected(store, data):
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
            data = store.read_bytes(key)
            report, rows = validate_housing(read_frame(data, key), source=key)
        except (InputFormatError, ArtifactNotFound) as err:
            joined.skipped[key] = str(err)
            continue
        if where := _rejected(store, data):
            joined.skipped[key] = f"rejected when it was scored (see {where})"
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
