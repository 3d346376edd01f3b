"""Batch scoring with the champion: predictions partitioned by year/month, each month with a pre-aggregated
summary per metro (plus an all-regions row) so the dashboard never recomputes anything."""

from __future__ import annotations

import difflib
import functools
import json
import logging
import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from shared import history, schema
from shared.bundle import ModelBundle, load_bundle
from shared.champion import read_champion
from shared.errors import NotReady
from shared.explain import TOP_PARTS
from shared.history import ZipHistory
from shared.layout import (
    PREDICTIONS_PREFIX,
    drift_report_key,
    month_of_key,
    month_predictions_key,
    month_summary_key,
)
from shared.plausibility import check_scored_file
from shared.preprocess import METRO_NAME, metro_key
from shared.reports import FORECASTERS
from shared.schema import ALL_REGIONS
from shared.serving_state import ServingState, current_state, scored_as_history, update_state
from shared.settings import get_settings
from shared.store import ArtifactChanged, ArtifactNotFound, ArtifactStore, frame_of, json_bytes, parquet_bytes, read_table
from shared.validation import ValidationReport, ensure_valid, parse_dates

log = logging.getLogger(__name__)

NAIVE_COLUMNS = {name: f"naive_{name}" for name in FORECASTERS}  # each naive forecaster's price for the row
PREDICTION_COLUMNS = ["zipcode", "metro", "city", "lat", "lng", "date", "year", "month", "actual", "predicted",
                      "low", "high", *NAIVE_COLUMNS.values(), "model_run_id", "trained_through", *history.MARKET_LEVELS,
                      "why"]


def score_rows(bundle: ModelBundle, raw: pd.DataFrame, source: str,
               seen: ZipHistory | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One prediction row per input row: zipcode, metro, coordinates, date, actual (where known), predicted
    with its interval (low, high), the naive forecasters' prices, and the market medians the zips' history
    keeps (a scored month joins what the system has seen), and for the newest month's rows why (`why`,
    `explained_newest`); and the cleaned rows. A file that breaks
    `shared.plausibility`'s rules is refused (InvalidInput)."""
    forecast, _, cleaned = bundle.predict_raw(raw, source=source, seen=seen)
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
    """Per row, for the newest month's rows, its price taken apart (shared.explain: the anchor, the TOP_PARTS
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


def summarize(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per (metro, year, month) and per (All regions, year, month): count, MAE, RMSE, mean % error, means
    (of the interval's bounds too), the interval's coverage of the actual prices, and the skill: the model's
    MAE over the best naive forecaster's on the rows where every one has a forecast (`best_naive`, its
    `naive_mae`; below 1 the model beats them all)."""
    low, high = (predictions[c] if c in predictions else np.nan for c in ("low", "high"))
    error = predictions["predicted"] - predictions["actual"]
    naive = {name: predictions[c] if c in predictions else pd.Series(np.nan, index=predictions.index)
             for name, c in NAIVE_COLUMNS.items()}
    comparable = predictions["actual"].notna() & pd.concat(naive.values(), axis=1).notna().all(axis=1)
    frame = predictions.assign(
        low=low, high=high,
        inside=((predictions["actual"] >= low) & (predictions["actual"] <= high)).where(predictions["actual"].notna()),
        abs_err=error.abs(), sq_err=error ** 2, pct_err=error.abs() / predictions["actual"] * 100,
        comparable_err=error.abs().where(comparable),
        **{f"_naive_{name}": (values - predictions["actual"]).abs().where(comparable) for name, values in naive.items()},
    )
    parts = []
    for by_metro in (True, False):
        keys = ["metro", "year", "month"] if by_metro else ["year", "month"]
        grouped = frame.groupby(keys, sort=True, dropna=False).agg(
            count=("predicted", "size"),
            with_actual=("actual", "count"),
            mae=("abs_err", "mean"),
            rmse=("sq_err", "mean"),
            mean_pct_error=("pct_err", "mean"),
            mean_actual=("actual", "mean"),
            mean_predicted=("predicted", "mean"),
            mean_low=("low", "mean"),
            mean_high=("high", "mean"),
            coverage=("inside", "mean"),
            lat=("lat", "mean"),
            lng=("lng", "mean"),
            comparable_mae=("comparable_err", "mean"),
            **{f"_naive_{name}": (f"_naive_{name}", "mean") for name in naive},
        ).reset_index()
        if not by_metro:
            grouped.insert(0, "metro", ALL_REGIONS)
            grouped[["lat", "lng"]] = np.nan
        parts.append(grouped)
    summary = pd.concat(parts, ignore_index=True)
    summary["rmse"] = np.sqrt(summary["rmse"])
    naive_mae = summary[[f"_naive_{name}" for name in naive]]
    known = naive_mae.notna().any(axis=1)
    summary["best_naive"] = pd.Series(None, index=summary.index, dtype=object)
    summary.loc[known, "best_naive"] = naive_mae.loc[known].idxmin(axis=1).str.removeprefix("_naive_")
    summary["naive_mae"] = naive_mae.min(axis=1)
    summary["skill"] = summary["comparable_mae"] / summary["naive_mae"].where(summary["naive_mae"] > 0)
    summary = summary.drop(columns=[*naive_mae.columns, "comparable_mae"])
    # The model that scored most of the rows (a month topped up by a partial file has a few from another).
    for column in ("model_run_id", "trained_through"):
        summary[column] = predictions[column].mode().iloc[0] if column in predictions and len(predictions) else None
    return summary


def write_scored_months(store: ArtifactStore, predictions: pd.DataFrame) -> list[str]:
    """Write each month's predictions, then its summary.

    The new rows replace the same zip codes' earlier predictions of that month and every other zip's stay:
    a file with a few of a month's rows tops the month up instead of wiping it. Each write is a
    compare-and-swap on what was read (retried on a conflict), so scorings of the same month at the same
    time (a training run's batch stage and an incoming/ upload on AWS, two uploads) both land, in either
    order. Each month has its own summary, computed from the predictions it names by their version tag:
    a summary that names another version (a crash between the two writes) marks the month unscored."""
    keys = []
    for (year, month), part in predictions.groupby(["year", "month"], sort=True):
        key = month_predictions_key(int(year), int(month))
        _retried(key, functools.partial(_merge_into_month, store, key, part))
        _retried(key, functools.partial(_summarize_month, store, int(year), int(month)))
        keys.append(key)
    return keys


WRITE_ATTEMPTS = 20  # compare-and-swap attempts before a month write gives up (each re-reads the month)


def _retried(key: str, write) -> None:
    for _ in range(WRITE_ATTEMPTS):
        try:
            return write()
        except ArtifactChanged:
            continue
    raise ArtifactChanged(f"{key} kept changing while it was written ({WRITE_ATTEMPTS} attempts): "
                          "another scoring of the month is running; score it again when it is done")


def _merge_into_month(store: ArtifactStore, key: str, part: pd.DataFrame) -> None:
    try:
        data, tag = store.read_tagged(key)
    except ArtifactNotFound:
        data, tag = None, None
    earlier = _parsed(data)
    if earlier is not None:
        kept = earlier.loc[~earlier["zipcode"].isin(part["zipcode"])]
        part = pd.concat([kept, part], ignore_index=True) if len(kept) else part
    store.replace(key, parquet_bytes(part.sort_values("zipcode", kind="stable", ignore_index=True)), tag)


def _parsed(data: bytes | None) -> pd.DataFrame | None:
    """A month's earlier predictions; None when there are none or they cannot be read (then rescoring
    replaces them: the remedy named for an unreadable month)."""
    try:
        return None if data is None else frame_of(data)
    except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError
        return None


def _summarize_month(store: ArtifactStore, year: int, month: int) -> None:
    """The month's summary from its predictions as they are now, naming their version (PREDICTIONS_TAG).
    The summary's own version is read first: a writer that summarized an older version of the
    predictions cannot overwrite a newer summary."""
    summary_key = month_summary_key(year, month)
    try:
        summary_tag = store.tag(summary_key)
    except ArtifactNotFound:
        summary_tag = None
    data, tag = store.read_tagged(month_predictions_key(year, month))
    store.replace(summary_key, parquet_bytes(summarize(frame_of(data)).assign(**{PREDICTIONS_TAG: tag})), summary_tag)


PREDICTIONS_TAG = "predictions_tag"  # the summary's column naming the version of the predictions it sums up


def _consistent_summaries(store: ArtifactStore, wanted=None) -> dict[tuple[int, int], pd.DataFrame]:
    """The summaries (of the months `wanted` accepts) that sum up their month's predictions as they are
    now. A month whose summary is missing, unreadable or names other predictions is left out, with a
    warning: it counts as unscored, and scoring it again repairs it."""
    tags = store.tags(PREDICTIONS_PREFIX)
    predictions = {m: tag for key, tag in tags.items() if (m := month_of_key(key, "predictions"))}
    out = {}
    for key in tags:
        m = month_of_key(key, "summary")
        if m is None or (wanted is not None and not wanted(m)) or m not in predictions:
            continue
        try:
            summary = read_table(store, key)
        except (ArtifactNotFound, OSError, ValueError) as err:
            log.warning("%s cannot be read (%s): %04d-%02d counts as unscored; %s", key, type(err).__name__, *m,
                        _remedy(*m))
            continue
        if PREDICTIONS_TAG not in summary or (summary[PREDICTIONS_TAG] != predictions[m]).any():
            log.warning("%s does not sum up the month's predictions as they are now (a scoring stopped between "
                        "the two): %04d-%02d counts as unscored; %s", key, *m, _remedy(*m))
            continue
        out[m] = summary.drop(columns=[PREDICTIONS_TAG])
    return out


def scored_months(store: ArtifactStore, months: set[tuple[int, int]] | None = None) -> set[tuple[int, int]]:
    """Months (of `months`, if given) whose predictions and a summary of them as they are now are written."""
    return set(_consistent_summaries(store, None if months is None else months.__contains__))


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
    return history.month_numbers(parse_dates(raw[schema.DATE]).dropna())


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
    predictions, cleaned = score_rows(bundle, raw, source, history_for(store, bundle, raw))
    written = write_scored_months(store, predictions)
    write_drift_reports(store, bundle, cleaned, predictions, source)
    try:
        update_state(store, bundle.run_id, lambda: bundle.labelled)
    except ArtifactChanged as err:  # the predictions are written; the next reader catches the state up
        log.warning("%s", err)
    return predictions, written


def write_drift_reports(store: ArtifactStore, bundle: ModelBundle, cleaned: pd.DataFrame, predictions: pd.DataFrame,
                        source: str) -> list[str]:
    """Each scored month's drift report (shared.drift) against the champion's training data; none for a
    bundle made before drift monitoring (said once)."""
    if bundle.drift_reference is None:
        log.info("no drift report: champion %s was trained before drift monitoring (`housing run --force` "
                 "trains one that has its reference)", bundle.run_id)
        return []
    settings = get_settings()
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


def _remedy(year: int, month: int) -> str:
    return f"score it again with `housing batch --month {year:04d}-{month:02d}`"


def read_summary(store: ArtifactStore, year: int | None = None, month: int | None = None) -> pd.DataFrame | None:
    """The pre-aggregated metrics per metro and month, optionally of one year or month only (only those
    files are read); None before any batch scoring."""
    summaries = _consistent_summaries(store, lambda m: (year is None or m[0] == year) and (month is None or m[1] == month))
    if not summaries:
        return None
    return pd.concat(summaries.values(), ignore_index=True).sort_values(["year", "month", "metro"], ignore_index=True)


def read_predictions(store: ArtifactStore, year: int | None = None, month: int | None = None,
                     metro: str | None = None, unreadable: list[str] | None = None,
                     since: int | None = None, columns: list[str] | None = None) -> pd.DataFrame:
    """Scored rows of the matching month partitions (only those are read: of `year`, `month`, from month
    number `since` on; only `columns` of them if given), optionally one metro's. A month
    whose file cannot be read (empty, truncated, not Parquet) is skipped with a warning, and named in
    `unreadable` ("YYYY-MM: why and the remedy") when the caller passes a list: one broken month must not
    take down everything that reads the others."""
    months = [m for key in store.list(PREDICTIONS_PREFIX) if (m := month_of_key(key, "predictions"))]
    parts = []
    for y, m in months:
        if (year is not None and y != year) or (month is not None and m != month) or (since or 0) > history.month_of(y, m):
            continue
        key = month_predictions_key(y, m)
        try:
            parts.append(read_table(store, key, columns))
        except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
            problem = f"{y:04d}-{m:02d}: {key} cannot be read ({type(err).__name__}); {_remedy(y, m)}"
            log.warning("skipped %s", problem)
            if unreadable is not None:
                unreadable.append(problem)
    if not parts:
        return pd.DataFrame(columns=columns or PREDICTION_COLUMNS)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if metro is not None and metro != ALL_REGIONS:
        frame = frame.loc[same_metro(frame["metro"], metro)].reset_index(drop=True)
    return frame


def _loose(name: str) -> str:
    """A metro name as a filter compares it: its letters and digits only (case, dashes and spacing ignored:
    "atlanta sandy springs roswell" is Atlanta-Sandy Springs-Roswell)."""
    return re.sub(r"[^0-9a-z]", "", metro_key(name))


def same_metro(names: pd.Series, wanted: str) -> np.ndarray:
    """Which names mean the metro `wanted`, whatever its case, dashes or spacing."""
    key = _loose(wanted)
    return names.map({n: _loose(str(n)) == key for n in names.dropna().unique()}).fillna(False).to_numpy(dtype=bool)


def close_metros(names: pd.Series, wanted: str, n: int = 3) -> list[str]:
    """The names most like `wanted` (for an error that says what was meant)."""
    known = {_loose(str(name)): str(name) for name in names.dropna().unique()}
    return [known[k] for k in difflib.get_close_matches(_loose(wanted), list(known), n=n, cutoff=0.5)]
