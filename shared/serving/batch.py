"""Batch scoring with the champion: predict a file's rows with what the system has seen, refuse an
implausible file, write the scored months (shared.serving.predictions), their drift reports and the serving state."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from shared import schema
from shared.data import history
from shared.data.history import ZipHistory
from shared.data.plausibility import check_scored_file
from shared.data.validation import ValidationReport, ensure_valid
from shared.errors import NotReady
from shared.layout import (
    drift_report_key,
)
from shared.model.bundle import ModelBundle, load_bundle
from shared.model.explain import TOP_PARTS
from shared.schema import METRO_NAME
from shared.serving.champion import read_champion
from shared.serving.monitoring import live_misses
from shared.serving.predictions import write_scored_months
from shared.serving.serving_state import update_state
from shared.serving.summary import NAIVE_COLUMNS
from shared.serving.system_history import history_for, row_months
from shared.settings import ScoringSettings, get_settings
from shared.store import ArtifactChanged, ArtifactStore, json_bytes

log = logging.getLogger(__name__)


def score_rows(bundle: ModelBundle, raw: pd.DataFrame, source: str, seen: ZipHistory | None = None,
               live: Mapping[int, float] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One prediction row per input row: zipcode, metro, coordinates, date, actual (where known), predicted
    with its interval (low, high), the naive forecasters' prices, and the market medians the zips' history
    keeps (a scored month joins what the system has seen), and for the newest month's rows why (`why`,
    `explained_newest`); and the cleaned rows. The intervals adapt to the `live` months' misses
    (shared.model.adaptation). A file that breaks
    `shared.data.plausibility`'s rules is refused (InvalidInput)."""
    forecast, _, cleaned = bundle.predict_raw(raw, source=source, seen=seen, live=live)
    report = ValidationReport(source=source, rows=len(raw), columns=raw.shape[1])
    ensure_valid((check_scored_file(report, cleaned, seen), cleaned))
    return pd.DataFrame({
        "zipcode": cleaned[schema.ZIPCODE].round().astype("int64"),
        "metro": cleaned[METRO_NAME],
        "city": cleaned[schema.CITY],
        "lat": cleaned["lat"],
        "lng": cleaned["lng"],
        "date": cleaned[schema.DATE],
        "year": cleaned[schema.DATE].dt.year.astype("int64"),
        "month": cleaned[schema.DATE].dt.month.astype("int64"),
        "actual": cleaned[schema.TARGET].astype("float64"),
        "predicted": forecast.price,
        "low": forecast.low,
        "high": forecast.high,
        **{column: forecast.naive.get(name, np.nan) for name, column in NAIVE_COLUMNS.items()},
        "model_run_id": bundle.run_id,
        # The last month the scoring model learned from: a month after it is scored out of sample.
        "trained_through": bundle.trained_through(cleaned),
        **{c: cleaned[c].astype("float64") for c in history.MARKET_LEVELS},
        "why": explained_newest(bundle, cleaned, seen),
    }), cleaned


def explained_newest(bundle: ModelBundle, cleaned: pd.DataFrame, seen: ZipHistory | None) -> np.ndarray:
    """Per row, for the newest month's rows, its price taken apart (shared.model.explain: the anchor, the TOP_PARTS
    largest parts and the rest, summing to the log price) as JSON pairs of name and log contribution; None
    for earlier months. The dashboard's zip page shows each zip's newest price this way. XGBoost's
    approximate contributions: the exact ones (the API's `?explain=true`) took 26 s for a full-size month
    of a depth-10 model, which a monthly scoring of ten times the zips could not afford; these take 0.1 s."""
    why = np.full(len(cleaned), None, dtype=object)
    newest = (cleaned[schema.DATE] == cleaned[schema.DATE].max()).to_numpy()
    if not newest.any():
        return why
    joined = (bundle.history if seen is None else seen).extended(cleaned)  # the rows' months, as predicted
    explained_rows = bundle.explain(cleaned.loc[newest].reset_index(drop=True), joined, exact=False)
    for i, explained in zip(np.flatnonzero(newest), explained_rows):
        why[i] = json.dumps(explained.top(TOP_PARTS))
    return why


class NoChampion(NotReady):
    """Scoring needs a promoted model."""


def batch_score(store: ArtifactStore, raw: pd.DataFrame, source: str,
                months: set[tuple[int, int]] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Score rows with the champion (optionally only some (year, month)s) and write them; return both."""
    pointer = read_champion(store)
    if pointer is None:
        raise NoChampion("no champion yet: train one first with `housing run`")
    if months is not None:
        raw = raw.loc[row_months(raw).isin(months).to_numpy()].reset_index(drop=True)
        if raw.empty:
            wanted = ", ".join(f"{y:04d}-{m:02d}" for y, m in sorted(months))
            raise ValueError(f"{source} has no rows for {wanted}")
    bundle = load_bundle(store, pointer.run_id)
    log.info("scoring %s: %d rows of %d month(s) with %s", source, len(raw), row_months(raw).nunique(), bundle.run_id)
    predictions, cleaned = score_rows(bundle, raw, source, history_for(store, bundle, raw), live_misses(store))
    written = write_scored_months(store, predictions)
    write_drift_reports(store, bundle, cleaned, predictions, source)
    try:
        update_state(store, bundle.run_id, lambda: bundle.labelled)
    except ArtifactChanged as err:  # the predictions are written; the next reader catches the state up
        log.warning("%s", err)
    return predictions, written


def write_drift_reports(store: ArtifactStore, bundle: ModelBundle, cleaned: pd.DataFrame, predictions: pd.DataFrame,
                        source: str) -> list[str]:
    """Each scored month's drift report (shared.model.drift) against the champion's training data; none for a
    bundle made before drift monitoring (said once)."""
    if bundle.drift_reference is None:
        log.info("no drift report: champion %s was trained before drift monitoring (`housing run --force` "
                 "trains one that has its reference)", bundle.run_id)
        return []
    settings = get_settings(ScoringSettings)
    keys = []
    for (year, month), rows in predictions.groupby(["year", "month"], sort=True):
        report = bundle.drift_reference.report(cleaned.loc[rows.index], rows["predicted"].to_numpy(),
                                               settings.drift_psi_warn, settings.drift_psi_alert, source, bundle.run_id)
        key = drift_report_key(int(year), int(month))
        store.write_bytes(key, json_bytes(report.model_dump()))
        if report.alerts:
            log.warning("%04d-%02d drifted from the training data (PSI > %g): %s", year, month,
                        settings.drift_psi_alert, ", ".join(report.alerts))
        keys.append(key)
    return keys
