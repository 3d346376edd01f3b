"""What the dashboard reads: the pre-aggregated summary and one month's scored rows, never the raw holdout.

Every figure for a selection comes from the summary (a few thousand rows even at full size), so "All
regions" costs the same as one metro; only the scatter reads scored rows, one month's partition.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from shared.layout import model_card_key
from shared.model.drift import drift_reports_by_month, read_drift_report
from shared.model.explain import ANCHOR, describe
from shared.reports import BASELINES, CANDIDATE, LABELS, backtest_rows
from shared.schema import ALL_REGIONS
from shared.serving.card import ModelCard
from shared.serving.champion import read_champion
from shared.serving.monitoring import in_a_row, live_accuracy
from shared.serving.predictions import read_predictions, read_summary
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
         **{LABELS[w]: fig.mae.get(w) for w in BASELINES}, "best naive": LABELS[fig.best_naive], "skill": fig.skill,
         "coverage": fig.coverage, "median width": fig.median_width}
        for split, mode, bucket, fig in backtest_rows(pointer.metrics)])


def load_summary(store_url: str) -> pd.DataFrame | None:
    return read_summary(open_store(store_url))


def load_month(store_url: str, year: int, month: int, metro: str) -> pd.DataFrame:
    return read_predictions(open_store(store_url), year, month, metro)


ZIP_COLUMNS = ["zipcode", "date", "actual", "predicted", "low", "high"]


def load_zip(store_url: str, zipcode: int) -> pd.DataFrame:
    """One zip code's scored months, oldest first: its actual price (where known), prediction and interval."""
    rows = read_predictions(open_store(store_url), columns=ZIP_COLUMNS)
    return rows.loc[rows["zipcode"] == zipcode].sort_values("date").reset_index(drop=True)


def contributions(why: str | None) -> pd.DataFrame | None:
    """A scored row's price taken apart (batch scoring's `why` column): the level it starts from, then each
    part's effect on the price in percent, largest first; None for a row whose month was not explained."""
    if not isinstance(why, str):
        return None
    parts = json.loads(why)
    return pd.DataFrame([{"part": describe(name),
                          "effect": f"${math.exp(value):,.0f} (the level)" if name == ANCHOR else f"{math.expm1(value):+.2%}"}
                         for name, value in parts])


def load_card(store_url: str) -> ModelCard | None:
    """The champion's model card (written at promotion); None without a champion or a card."""
    store = open_store(store_url)
    pointer = read_champion(store)
    key = model_card_key(pointer.run_id) if pointer else None
    return ModelCard.model_validate_json(store.read_bytes(key)) if key and store.exists(key) else None


def load_live(store_url: str, metro: str, skill_above: float, coverage_below: float) -> pd.DataFrame:
    """The live accuracy series of one metro (or All regions): per month, the record of the model serving
    when its prices arrived (the first one recorded), and what the model-health alarms watch in it: the
    month lost to the best naive forecaster (skill above `skill_above`), its intervals covered too few
    prices (below `coverage_below`), or its inputs drifted; `alarms` says which, with the months in a row
    (an alarm fires at its context's count: `alarm_skill_months`, ...)."""
    store = open_store(store_url)
    live = live_accuracy(store, metro=metro).drop_duplicates(subset=["year", "month"], keep="first").reset_index(drop=True)
    if live.empty:  # no month sent in with its prices yet
        return live.assign(alarms=pd.Series(dtype="object"), alarmed=pd.Series(dtype="bool"))
    drifted = {month for month, report in drift_reports_by_month(store, last=len(live) + 12).items() if report.alerts}
    flags = {"lost to the naive forecasters": (live["skill"] > skill_above).to_numpy(),
             "under-covered": (live["coverage"] < coverage_below).to_numpy(),
             "inputs drifted": np.array([(y, m) in drifted for y, m in zip(live["year"], live["month"])], dtype=bool)}
    said: list[list[str]] = [[] for _ in range(len(live))]
    for what, flagged in flags.items():
        for i, run in enumerate(in_a_row(flagged)):
            if run:
                said[i].append(f"{what} ({run} in a row)")
    return live.assign(alarms=["; ".join(s) for s in said], alarmed=[bool(s) for s in said])


def load_drift(store_url: str) -> tuple[dict, pd.DataFrame] | None:
    """The newest scored month's drift report: its header (month, source, unseen zips and metros) and one
    row per input, the most drifted first; None before any."""
    report = read_drift_report(open_store(store_url))
    if report is None:
        return None
    rows = pd.DataFrame([{"input": name, "level": f.level, "PSI": f.psi, "missing": f.missing, "outside range": f.outside_range}
                         for name, f in {**report.features, "prediction": report.prediction}.items()])
    header = {"source": report.source, "rows": report.rows, "recorded_at": report.recorded_at,
              "alerts": report.alerts, "warnings": report.warnings, "unseen_zipcodes": len(report.unseen_zipcodes),
              "unseen_metros": report.unseen_metros, "thresholds": report.thresholds}
    return header, rows.sort_values("PSI", ascending=False, na_position="last", ignore_index=True)


def landing_month(summary: pd.DataFrame) -> tuple[int, int]:
    """(year, month) the dashboard opens on: the newest with actual prices, else the newest."""
    total = summary.loc[summary["metro"] == ALL_REGIONS].sort_values(["year", "month"])
    known = total.loc[total["with_actual"] > 0]
    row = (known if len(known) else total).iloc[-1]
    return int(row["year"]), int(row["month"])


def combine(rows: pd.DataFrame) -> dict[str, float]:
    """Exact MAE / RMSE / mean % error over several summary rows (weighted by rows with an actual: `rows`,
    0 for a month whose prices are not known yet), and the mean prediction and interval bounds (weighted by
    rows predicted: `predicted`)."""
    count = rows["count"].to_numpy(dtype="float64")
    predicted = count.sum()
    weighted = lambda column, w, total: float(np.nansum(rows[column].to_numpy(dtype="float64") * w) / total)  # noqa: E731
    out = {"predicted": int(predicted), **{c: weighted(c, count, predicted) if predicted and c in rows else np.nan
                                           for c in ("mean_predicted", "mean_low", "mean_high")}}
    weight = rows["with_actual"].to_numpy(dtype="float64")
    total = weight.sum()
    if total == 0:
        return {**out, "mae": np.nan, "rmse": np.nan, "mean_pct_error": np.nan, "rows": 0}
    return {
        **out,
        "mae": weighted("mae", weight, total),
        "rmse": float(np.sqrt(np.nansum(rows["rmse"].to_numpy(dtype="float64") ** 2 * weight) / total)),
        "mean_pct_error": weighted("mean_pct_error", weight, total),
        "rows": int(total),
    }


def yearly(summary: pd.DataFrame, metro: str) -> pd.DataFrame:
    """Per year for one metro (or All regions), like with like: the mean actual and predicted value over the
    months whose prices are known (weighted by row counts), and apart from them the mean prediction of the
    months not known yet, with how many months each mean covers (a year with only January predicted is
    not a year's mean)."""
    rows = summary.loc[summary["metro"] == metro]
    known = rows["with_actual"] > 0
    weighted = rows.assign(actual_sum=(rows["mean_actual"] * rows["with_actual"]).where(known, 0.0),
                           predicted_sum=(rows["mean_predicted"] * rows["count"]).where(known, 0.0),
                           ahead_sum=(rows["mean_predicted"] * rows["count"]).where(~known, 0.0),
                           known_count=rows["count"].where(known, 0), ahead_count=rows["count"].where(~known, 0),
                           known_months=known.astype("int64"), ahead_months=(~known).astype("int64"))
    per_year = weighted.groupby("year", as_index=False)[
        ["actual_sum", "predicted_sum", "ahead_sum", "with_actual", "known_count", "ahead_count", "known_months",
         "ahead_months"]].sum()
    return pd.DataFrame({
        "year": per_year["year"],
        "mean_actual": per_year["actual_sum"] / per_year["with_actual"].where(per_year["with_actual"] > 0),
        "mean_predicted": per_year["predicted_sum"] / per_year["known_count"].where(per_year["known_count"] > 0),
        "months": per_year["known_months"],
        "mean_predicted_ahead": per_year["ahead_sum"] / per_year["ahead_count"].where(per_year["ahead_count"] > 0),
        "months_ahead": per_year["ahead_months"],
    })
