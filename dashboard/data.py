"""What the dashboard reads: the pre-aggregated summary and one month's scored rows, never the raw holdout.

Every figure for a selection comes from the summary (a few thousand rows even at full size), so "All
regions" costs the same as one metro; only the scatter reads scored rows, one month's partition.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shared.batch import read_predictions, read_summary
from shared.champion import read_champion
from shared.reports import CANDIDATE, FORECASTERS, LABELS, backtest_rows
from shared.store import open_store


def metro_label(name: str) -> str:
    """Display form of a metro name: batch scoring writes the metros table's spelling; months scored before
    it did carry the normalized lower-case form, shown title-cased."""
    return name.title() if name == name.lower() else name


def champion_metrics(store_url: str) -> pd.DataFrame | None:
    """The champion's evaluation figures (model, naive predictors, previous champion) as a table."""
    pointer = read_champion(open_store(store_url))
    if pointer is None:
        return None
    return pd.DataFrame([{"model": LABELS[who], "split": split, "MAE": m.mae, "MAPE": m.mape, "R²": m.r2}
                         for who, split, m in pointer.metrics.rows()])


def champion_backtest(store_url: str) -> pd.DataFrame | None:
    """The champion's rolling-origin backtest, one row per split, mode and horizon bucket: the model's and
    each naive forecaster's MAE, the skill against the best of them, the interval's coverage and width."""
    pointer = read_champion(open_store(store_url))
    if pointer is None or not pointer.metrics.backtest:
        return None
    return pd.DataFrame([
        {"split": split, "mode": mode, "horizon": bucket, "rows": fig.rows, "model": fig.mae[CANDIDATE],
         **{LABELS[w]: fig.mae.get(w) for w in FORECASTERS}, "best naive": LABELS[fig.best_naive], "skill": fig.skill,
         "coverage": fig.coverage, "median width": fig.median_width}
        for split, mode, bucket, fig in backtest_rows(pointer.metrics)])


def load_summary(store_url: str) -> pd.DataFrame | None:
    return read_summary(open_store(store_url))


def load_month(store_url: str, year: int, month: int, metro: str) -> pd.DataFrame:
    return read_predictions(open_store(store_url), year, month, metro)


def combine(rows: pd.DataFrame) -> dict[str, float]:
    """Exact MAE / RMSE / mean % error over several summary rows (weighted by rows with an actual)."""
    weight = rows["with_actual"].to_numpy(dtype="float64")
    total = weight.sum()
    if total == 0:
        return {"mae": np.nan, "rmse": np.nan, "mean_pct_error": np.nan, "rows": 0}
    mean = lambda column: float(np.nansum(rows[column].to_numpy(dtype="float64") * weight) / total)  # noqa: E731
    return {
        "mae": mean("mae"),
        "rmse": float(np.sqrt(np.nansum(rows["rmse"].to_numpy(dtype="float64") ** 2 * weight) / total)),
        "mean_pct_error": mean("mean_pct_error"),
        "rows": int(total),
    }


def yearly(summary: pd.DataFrame, metro: str) -> pd.DataFrame:
    """Mean actual and predicted value per year for one metro (or All regions), weighted by row counts."""
    rows = summary.loc[summary["metro"] == metro]
    weighted = rows.assign(actual_sum=rows["mean_actual"] * rows["with_actual"],
                           predicted_sum=rows["mean_predicted"] * rows["count"])
    per_year = weighted.groupby("year", as_index=False).agg(
        actual_sum=("actual_sum", "sum"), predicted_sum=("predicted_sum", "sum"),
        with_actual=("with_actual", "sum"), count=("count", "sum"))
    return pd.DataFrame({
        "year": per_year["year"],
        "mean_actual": per_year["actual_sum"] / per_year["with_actual"].where(per_year["with_actual"] > 0),
        "mean_predicted": per_year["predicted_sum"] / per_year["count"],
    })
