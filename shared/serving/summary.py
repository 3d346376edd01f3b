"""The summary of scored rows per metro and month (plus an all-regions row): what the dashboard, `housing
status` and monitoring read instead of recomputing anything. Only pandas: its readers need no model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shared.reports import FORECASTERS
from shared.schema import ALL_REGIONS

NAIVE_COLUMNS = {name: f"naive_{name}" for name in FORECASTERS}  # each naive forecaster's price for the row
# Summary column -> the column of scored rows it is the mean of, per metro and month.
MEANS = {"mae": "abs_err", "rmse": "sq_err", "mean_pct_error": "pct_err", "mean_actual": "actual",
         "mean_predicted": "predicted", "mean_low": "low", "mean_high": "high", "coverage": "inside", "lat": "lat",
         "lng": "lng", "comparable_mae": "comparable_err"}


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
        inside=((predictions["actual"] >= low) & (predictions["actual"] <= high)).astype("float64")
        .where(predictions["actual"].notna()),
        abs_err=error.abs(), sq_err=error ** 2, pct_err=error.abs() / predictions["actual"] * 100,
        comparable_err=error.abs().where(comparable),
        **{f"_naive_{name}": (values - predictions["actual"]).abs().where(comparable) for name, values in naive.items()},
    )
    means = {**MEANS, **{f"_naive_{name}": f"_naive_{name}" for name in naive}}
    parts = []
    for by_metro in (True, False):
        keys = ["metro", "year", "month"] if by_metro else ["year", "month"]
        grouped = frame.groupby(keys, sort=True, dropna=False)
        # One pass for every mean (named aggregations would make one pass each: most of a month's scoring time).
        averaged = grouped[list(dict.fromkeys(means.values()))].mean()
        grouped = pd.DataFrame({"count": grouped.size(), "with_actual": grouped["actual"].count(),
                                **{name: averaged[column] for name, column in means.items()}}).reset_index()
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
