"""What the system has seen, as a prediction may use it: the champion's labelled months, then the scored
months, from the serving state when it serves the rows' months, else rebuilt from the store."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from shared import schema
from shared.data import history
from shared.data.history import ZipHistory
from shared.data.validation import parse_dates
from shared.serving.predictions import read_predictions
from shared.serving.serving_state import ServingState, current_state, scored_as_history
from shared.store import ArtifactStore

if TYPE_CHECKING:  # the model stack (xgboost) is not needed to read the history
    from shared.model.bundle import ModelBundle

def seen_history(store: ArtifactStore, bundle: ModelBundle, since: int | None = None) -> ZipHistory:
    """What the system has seen: the labelled months the champion knows, then the scored months (with their
    actual prices where the scored file had them), from month `since` (a month number) on if given: rows of
    month m read months from m - LOOKBACK on only."""
    scored = read_predictions(store, since=since)
    after = history.month_number(bundle.served.trained_through)  # the months the bundle learned are its own history
    return ZipHistory(bundle.labelled, scored_as_history(scored, after)) if len(scored) else bundle.history


def champion_state(store: ArtifactStore, bundle: ModelBundle, tags: dict[str, str] | None = None) -> ServingState:
    """The champion's serving state, caught up with the scored months (built from the bundle if missing)."""
    return current_state(store, bundle.run_id, lambda: bundle.labelled, tags)


def history_for(store: ArtifactStore, bundle: ModelBundle, raw: pd.DataFrame, state: ServingState | None = None,
                full: Callable[[], ZipHistory] | None = None) -> ZipHistory:
    """What the raw rows may see of the system's history: the serving state (`state`, else read) when it
    serves their months, else the full history (`full()`, else the bundle's history with the scored months
    the rows can look back to). Rows whose dates do not parse take the state: validation refuses them
    before any history is used."""
    state = state or champion_state(store, bundle)
    months = row_month_numbers(raw)
    if not len(months) or state.serves(months):
        return state.history
    return full() if full else seen_history(store, bundle, since=int(months.min()) - history.LOOKBACK)


def row_months(raw: pd.DataFrame) -> pd.Series:
    """(year, month) of each raw row's date; None where the date does not parse (or there is no date column:
    validation then names it)."""
    if schema.DATE not in raw:
        return pd.Series([None] * len(raw), index=raw.index, dtype=object)
    dates = parse_dates(raw[schema.DATE])
    return pd.Series([(d.year, d.month) if not pd.isna(d) else None for d in dates], index=raw.index, dtype=object)


def row_month_numbers(raw: pd.DataFrame) -> np.ndarray:
    """The month numbers (`history.month_numbers`) of the raw rows' dates that parse."""
    if schema.DATE not in raw:
        return np.array([], dtype="int64")
    dates = raw[schema.DATE]
    dates = dates if pd.api.types.is_datetime64_dtype(dates) else parse_dates(dates)  # typed rows: dates already
    return history.month_numbers(dates.dropna())
