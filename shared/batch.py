"""Batch scoring with the champion: predictions partitioned by year/month, each month with a pre-aggregated
summary per metro (plus an all-regions row) so the dashboard never recomputes anything."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shared import history, schema
from shared.bundle import ModelBundle, load_bundle
from shared.champion import read_champion
from shared.history import ZipHistory
from shared.layout import PREDICTIONS_PREFIX, month_of_key, month_predictions_key, month_summary_key
from shared.preprocess import METRO, METRO_NAME, metro_key
from shared.store import ArtifactNotFound, ArtifactStore, read_table, write_table

ALL_REGIONS = "All regions"
PREDICTION_COLUMNS = ["zipcode", "metro", "city", "lat", "lng", "date", "year", "month", "actual", "predicted",
                      "low", "high", "model_run_id", "trained_through", *history.MARKET_LEVELS]


def score_rows(bundle: ModelBundle, raw: pd.DataFrame, source: str, seen: ZipHistory | None = None) -> pd.DataFrame:
    """One prediction row per input row: zipcode, metro, coordinates, date, actual (where known), predicted
    with its interval (low, high), and the market medians the zips' history keeps (a scored month joins what
    the system has seen)."""
    forecast, _, cleaned = bundle.predict_raw(raw, source=source, seen=seen)
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
        "model_run_id": bundle.run_id,
        # The last month the scoring model learned from: a month after it is scored out of sample.
        "trained_through": bundle.trained_through(cleaned),
        **{c: cleaned[c].astype("float64") for c in history.MARKET_LEVELS},
    })


def seen_history(store: ArtifactStore, bundle: ModelBundle) -> ZipHistory:
    """What the system has seen: the labelled months the champion knows, then every scored month (with its
    actual prices where the scored file had them)."""
    scored = read_predictions(store)
    months = pd.DataFrame({
        schema.ZIPCODE: scored["zipcode"], schema.DATE: scored["date"], schema.TARGET: scored["actual"],
        METRO: scored["metro"].map({n: metro_key(str(n)) for n in scored["metro"].dropna().unique()}),
        **{c: scored.get(c, np.nan) for c in history.MARKET_LEVELS},
    })
    return bundle.history.extended(months) if len(months) else bundle.history


def summarize(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per (metro, year, month) and per (All regions, year, month): count, MAE, RMSE, mean % error, means
    (of the interval's bounds too) and the interval's coverage of the actual prices."""
    low, high = (predictions[c] if c in predictions else np.nan for c in ("low", "high"))
    frame = predictions.assign(
        low=low, high=high,
        inside=((predictions["actual"] >= low) & (predictions["actual"] <= high)).where(predictions["actual"].notna()),
        abs_err=(predictions["predicted"] - predictions["actual"]).abs(),
        sq_err=(predictions["predicted"] - predictions["actual"]) ** 2,
        pct_err=(predictions["predicted"] - predictions["actual"]).abs() / predictions["actual"] * 100,
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
        ).reset_index()
        if not by_metro:
            grouped.insert(0, "metro", ALL_REGIONS)
            grouped[["lat", "lng"]] = np.nan
        parts.append(grouped)
    summary = pd.concat(parts, ignore_index=True)
    summary["rmse"] = np.sqrt(summary["rmse"])
    # The model that scored most of the rows (a month topped up by a partial file has a few from another).
    for column in ("model_run_id", "trained_through"):
        summary[column] = predictions[column].mode().iloc[0] if column in predictions and len(predictions) else None
    return summary


def write_scored_months(store: ArtifactStore, predictions: pd.DataFrame) -> list[str]:
    """Write each month's predictions, then its summary.

    The new rows replace the same zip codes' earlier predictions of that month and every other zip's stay:
    a file with a few of a month's rows tops the month up instead of wiping it. Each month has its own
    summary file: a scoring writes only the months it scored and never rewrites a shared file, so scorings
    that run at the same time (a training run's batch stage and an incoming/ month on AWS) cannot undo
    each other."""
    keys = []
    for (year, month), part in predictions.groupby(["year", "month"], sort=True):
        key = month_predictions_key(int(year), int(month))
        earlier = _readable(store, key)
        if earlier is not None:
            kept = earlier.loc[~earlier["zipcode"].isin(part["zipcode"])]
            part = pd.concat([kept, part], ignore_index=True) if len(kept) else part
        part = part.sort_values("zipcode", kind="stable", ignore_index=True)
        write_table(store, key, part)
        write_table(store, month_summary_key(int(year), int(month)), summarize(part))
        keys.append(key)
    return keys


def _readable(store: ArtifactStore, key: str) -> pd.DataFrame | None:
    """A month's earlier predictions; None when there are none or they cannot be read (then rescoring
    replaces them, which is the remedy the API's 503 for an unreadable month names)."""
    try:
        return read_table(store, key)
    except (ArtifactNotFound, OSError, ValueError):
        return None


def scored_months(store: ArtifactStore) -> set[tuple[int, int]]:
    """Months whose predictions and summary are both written."""
    return {m for key in store.list(PREDICTIONS_PREFIX) if (m := month_of_key(key, "summary"))}


def row_months(raw: pd.DataFrame) -> pd.Series:
    """(year, month) of each raw row's date; None where the date does not parse."""
    dates = pd.to_datetime(raw[schema.DATE].astype("str"), errors="coerce")
    return pd.Series([(d.year, d.month) if not pd.isna(d) else None for d in dates], index=raw.index, dtype=object)


class NoChampion(RuntimeError):
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
    predictions = score_rows(bundle, raw, source, seen_history(store, bundle))
    return predictions, write_scored_months(store, predictions)


class UnreadableMonth(RuntimeError):
    """A month's predictions or summary file is there but cannot be read (empty, truncated, not Parquet)."""


def _read_month(store: ArtifactStore, key: str, year: int, month: int) -> pd.DataFrame:
    try:
        return read_table(store, key)
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise UnreadableMonth(f"{key} ({year:04d}-{month:02d}) cannot be read ({type(err).__name__}): score the "
                              f"month again with `housing batch --month {year:04d}-{month:02d}`") from err


def read_summary(store: ArtifactStore, year: int | None = None, month: int | None = None) -> pd.DataFrame | None:
    """The pre-aggregated metrics per metro and month, optionally of one year or month only (only those
    files are read); None before any batch scoring."""
    months = sorted(m for m in scored_months(store) if (year is None or m[0] == year) and (month is None or m[1] == month))
    if not months:
        return None
    parts = [_read_month(store, month_summary_key(y, m), y, m) for y, m in months]
    return pd.concat(parts, ignore_index=True).sort_values(["year", "month", "metro"], ignore_index=True)


def read_predictions(store: ArtifactStore, year: int | None = None, month: int | None = None,
                     metro: str | None = None) -> pd.DataFrame:
    """Scored rows of the matching month partitions (only those are read), optionally one metro's."""
    months = [m for key in store.list(PREDICTIONS_PREFIX) if (m := month_of_key(key, "predictions"))]
    parts = [_read_month(store, month_predictions_key(y, m), y, m) for y, m in months
             if (year is None or y == year) and (month is None or m == month)]
    if not parts:
        return pd.DataFrame(columns=PREDICTION_COLUMNS)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if metro is not None and metro != ALL_REGIONS:
        frame = frame.loc[same_metro(frame["metro"], metro)].reset_index(drop=True)
    return frame


def same_metro(names: pd.Series, wanted: str) -> np.ndarray:
    """Which names mean the metro `wanted`, whatever its case, dashes or spacing."""
    key = metro_key(wanted)
    return names.map({n: metro_key(str(n)) == key for n in names.dropna().unique()}).fillna(False).to_numpy(dtype=bool)
