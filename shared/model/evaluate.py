"""Evaluation and the promotion gate.

The candidate is judged on eval and holdout (each the data's 24 months in turn, by default) by a
rolling-origin backtest (shared.model.backtest): forecasts from origins every few months, in two modes:

- horizon (the split's own name): from each origin, every month up to 24 months ahead predicted from what
  was known at the origin (the rows' own market statistics and their history are fine, index values after
  the origin are not); the flat figures are the first origin's (the whole split from what was known when it
  began), the bucket figures pool every origin;
- nowcast (name + NOWCAST): each month predicted with the index values published up to the month before,
  as `housing predict` does on a store holding those months.

Beside it on the same rows: a DummyRegressor(median), the naive forecasters (shared.model.baselines), the
price-level reference alone and the current champion. The candidate's booster shrink and intervals were
fitted on the eval backtest (shared.model.calibration): its eval figures are cross-fitted over origins, its
holdout figures use the sealed calibration and nothing fitted on those months.

The models compared are the ones each run's gate judged (fitted on its training split, so every figure is
out of sample), not the refits that serve. The gate's margins come from the run's configuration.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.dummy import DummyRegressor

from shared import schema
from shared.data.history import ZipHistory
from shared.model.adaptation import adapted
from shared.model.backtest import HORIZON, NOWCAST_MODE
from shared.model.bundle import ModelBundle
from shared.model.calibration import CALIBRATION_SPLIT, Forecast, Parts, cross_fitted
from shared.model.metrics import metrics_by_group, regression_metrics
from shared.model.statistical import theta_forecasts
from shared.reports import (
    BASELINE,
    BASELINES,
    CANDIDATE,
    CHAMPION,
    FORECASTERS,
    LABELS,
    NOWCAST,
    REFERENCE,
    THETA,
    BucketFigures,
    EvaluationReport,
    GateDecision,
)
from shared.schema import METRO

ALL = "all"  # the bucket that pools every horizon of a mode
SIGNIFICANCE = 0.05  # the gate's one-sided test: a candidate worse than a naive forecaster by chance alone passes


def _forecast(bundle: ModelBundle, table: pd.DataFrame, split: str, cross_fit: bool) -> Forecast:
    """The bundle's calibrated forecast of each backtest row (cross-fitted over origins on the months its
    calibration was fitted on), the nowcast rows' intervals adapted month by month as `housing predict`
    adapts a file's (shared.model.adaptation)."""
    level = bundle.calibration.level
    forecast = (cross_fitted(table, level) if cross_fit and split == CALIBRATION_SPLIT
                else bundle.calibration.apply(Parts.of_table(table)))
    return adapted(forecast, table["month"].to_numpy(), table["actual"].to_numpy(dtype="float64"), level,
                   nowcast=(table["mode"] == NOWCAST_MODE).to_numpy())


def evaluate_models(
    train: pd.DataFrame,
    splits: dict[str, pd.DataFrame],
    candidate: ModelBundle,
    champion: ModelBundle | None,
) -> EvaluationReport:
    """Metrics per split (in time order) and mode for the candidate, the baselines and the champion, per
    horizon bucket of the backtest, plus the candidate's per-metro metrics. The history grows split by split
    (the rule in `shared.data.history` says what of it each row may see)."""
    report = EvaluationReport(champion={} if champion else None, champion_run_id=champion.run_id if champion else None)
    median = DummyRegressor(strategy="median").fit(np.zeros((len(train), 1)), train[schema.TARGET])
    seen = ZipHistory(train)
    for split, rows in splits.items():
        known = seen.extended(rows)  # what AutoTheta fits on, and the next split's history
        table = candidate.judged.backtest(rows, seen, candidate.schema.names)
        table[THETA] = _theta(table, rows, known)
        forecast = _forecast(candidate, table, split, cross_fit=True)
        table[CANDIDATE], table["low"], table["high"] = forecast.price, forecast.low, forecast.high
        table[BASELINE] = median.predict(np.zeros((len(table), 1)))
        table[REFERENCE] = np.exp(_reference(candidate, rows, table))
        if champion:
            champion_table = champion.judged.backtest(rows, seen, champion.schema.names)
            table[CHAMPION] = _forecast(champion, champion_table, split, cross_fit=False).price
        for name, part in _headline_rows(split, table).items():
            _flat_figures(report, name, part, champion is not None)
            report.per_metro[name] = metrics_by_group(_metros(rows, part), part["actual"], part[CANDIDATE])
        report.backtest[split] = _bucket_figures(table, champion is not None)
        seen = known
    return report


def _theta(table: pd.DataFrame, rows: pd.DataFrame, known: ZipHistory) -> np.ndarray:
    """AutoTheta's price for each horizon-mode row of the backtest, fitted on the zip's index (`known`: the
    history with the split's own months) up to the row's origin; NaN for nowcast rows and zips it could not fit."""
    horizon = (table["mode"] == HORIZON).to_numpy()
    fitted = theta_forecasts(known.frame, sorted(int(o) for o in table.loc[horizon, "origin"].unique()))
    keys = pd.DataFrame({schema.ZIPCODE: rows[schema.ZIPCODE].round().astype("int64").to_numpy()[table["row"].to_numpy()],
                         "origin": table["origin"].to_numpy(), "month": table["month"].to_numpy()})
    found = keys.merge(fitted, how="left", on=[schema.ZIPCODE, "origin", "month"])[THETA].to_numpy(dtype="float64")
    return np.where(horizon, np.exp(found), np.nan)


def _reference(bundle: ModelBundle, rows: pd.DataFrame, table: pd.DataFrame) -> np.ndarray:
    """The price-level reference (log) of each backtest row (the same for every origin: it is of the month)."""
    return bundle.judged.features.transform(rows).reference[table["row"].to_numpy()]


def _metros(rows: pd.DataFrame, part: pd.DataFrame) -> pd.Series:
    return rows[METRO].iloc[part["row"].to_numpy()].reset_index(drop=True)


def _headline_rows(split: str, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The backtest rows of the headline figures: horizon mode from the first origin (the whole split from
    what was known when it began) under the split's name, nowcast mode under name + NOWCAST."""
    horizon = table.loc[table["mode"] == HORIZON]
    return {split: horizon.loc[horizon["origin"] == horizon["origin"].min()],
            split + NOWCAST: table.loc[table["mode"] == NOWCAST_MODE]}


def _flat_figures(report: EvaluationReport, name: str, part: pd.DataFrame, with_champion: bool) -> None:
    """The headline figures of these rows for every forecaster on every row (a naive forecaster falls back
    to the median for a zip without an index value)."""
    actual = part["actual"].to_numpy()
    for who in (CANDIDATE, BASELINE, REFERENCE, *FORECASTERS, *((CHAMPION,) if with_champion else ())):
        predicted = part[who].to_numpy()
        if who in FORECASTERS:
            predicted = np.where(np.isnan(predicted), part[BASELINE].to_numpy(), predicted)
        getattr(report, who)[name] = regression_metrics(actual, predicted)


def _bucket_figures(table: pd.DataFrame, with_champion: bool) -> dict[str, dict[str, BucketFigures]]:
    """mode -> bucket -> figures, on the rows every baseline of the mode could forecast (AutoTheta in horizon
    mode only, where it forecast anything: a history too short for it leaves the naive forecasters)."""
    champion = (CHAMPION,) if with_champion else ()
    out: dict[str, dict[str, BucketFigures]] = {}
    for mode, rows in table.groupby("mode", sort=False):
        baselines = BASELINES if mode == HORIZON and rows[THETA].notna().any() else FORECASTERS
        rows = rows.loc[rows[list(baselines)].notna().all(axis=1) & (rows["actual"] > 0)]
        groups = [(str(b), part) for b, part in rows.groupby("bucket", sort=False)]
        if mode == HORIZON:
            groups.append((ALL, rows))
        out[str(mode)] = {bucket: _figures(part, (CANDIDATE, *baselines, *champion), baselines)
                          for bucket, part in groups if len(part)}
    return out


def _figures(part: pd.DataFrame, who: tuple[str, ...], baselines: tuple[str, ...]) -> BucketFigures:
    actual = part["actual"].to_numpy()
    mae = {w: float(np.mean(np.abs(part[w].to_numpy() - actual))) for w in who}
    mape = {w: float(np.mean(np.abs(part[w].to_numpy() - actual) / actual)) for w in who}
    best = min(baselines, key=lambda w: mae[w])
    inside = (part["low"].to_numpy() <= actual) & (actual <= part["high"].to_numpy())
    width = (part["high"].to_numpy() - part["low"].to_numpy()) / part[CANDIDATE].to_numpy()
    tested = [CANDIDATE, best, *((CHAMPION,) if CHAMPION in who else ())]
    monthly = (part[tested].sub(part["actual"], axis=0).abs().groupby(part["month"].to_numpy()).mean())
    return BucketFigures(rows=len(part), mae=mae, mape=mape, best_naive=best,
                         skill=mae[CANDIDATE] / mae[best] if mae[best] > 0 else float("inf"),
                         coverage=float(inside.mean()), median_width=float(np.median(width)),
                         monthly_mae={w: [round(float(v), 2) for v in monthly[w]] for w in tested})


def _within(split: str, mae: float, what: str, reference: float, margin: float, reasons: list[str]) -> bool:
    """Whether `mae` is at most `reference` less `margin`; says so in `reasons`."""
    limit = reference * (1 - margin)
    ok = bool(mae <= limit)
    reasons.append(f"{split} MAE {mae:,.0f} {'<=' if ok else '>'} {limit:,.0f} ({what} {reference:,.0f} less {margin:.0%})")
    return ok


def excess_t(fig: BucketFigures, margin: float, reference: str | None = None) -> float:
    """The t statistic of the candidate's monthly MAE in excess of (1 - margin) x the reference's (default:
    the best naive forecaster; positive: the candidate is worse), one observation per target month; +inf for
    a worse candidate whose months all agree, NaN for fewer than two months."""
    reference = reference or fig.best_naive
    excess = np.asarray(fig.monthly_mae.get(CANDIDATE, [])) - (1 - margin) * np.asarray(fig.monthly_mae.get(reference, []))
    if len(excess) < 2:
        return float("nan")
    spread = excess.std(ddof=1)
    if spread == 0:
        return float("inf") * np.sign(excess.mean()) if excess.mean() else 0.0
    return float(excess.mean() / (spread / np.sqrt(len(excess))))


def loses(fig: BucketFigures, margin: float, reference: str | None = None) -> bool:
    """Whether the candidate loses to the reference (default: the best naive forecaster) in this bucket: its
    MAE is above (1 - margin) x the reference's and, counting months, not by chance (one-sided t test at
    SIGNIFICANCE; with one month, any excess)."""
    reference = reference or fig.best_naive
    if fig.mae[CANDIDATE] <= (1 - margin) * fig.mae[reference]:
        return False
    t = excess_t(fig, margin, reference)
    months = len(fig.monthly_mae.get(CANDIDATE, []))
    return bool(np.isnan(t) or t > stats.t.ppf(1 - SIGNIFICANCE, max(months - 1, 1)))


def _skill(report: EvaluationReport, split: str, margin: float | None, reasons: list[str]) -> bool:
    """Whether the candidate loses (see `loses`) to the best naive forecaster in no bucket and mode of the
    split's backtest; says where it is above 1 - margin in `reasons`."""
    figures = [(f"{mode} {bucket}", fig) for mode, buckets in report.backtest.get(split, {}).items()
               for bucket, fig in buckets.items()]
    worst = max((fig.skill for _, fig in figures), default=float("nan"))
    if margin is None:
        reasons.append(f"{split} backtest skill (model MAE / best naive MAE): worst bucket {worst:.3f} (not enforced)")
        return True
    above = [(where, fig) for where, fig in figures if fig.skill > 1 - margin]
    lost = [f"{where}: {fig.skill:.3f} vs {LABELS[fig.best_naive]}" for where, fig in above if loses(fig, margin)]
    chance = [f"{where}: {fig.skill:.3f} vs {LABELS[fig.best_naive]}" for where, fig in above if not loses(fig, margin)]
    if lost:
        reasons.append(f"{split} backtest skill above {1 - margin:.2f} (model MAE / best naive MAE) in " + "; ".join(lost))
    elif chance:
        reasons.append(f"{split} backtest skill above {1 - margin:.2f} only within chance (t test over months) in "
                       + "; ".join(chance))
    else:
        reasons.append(f"{split} backtest skill <= {1 - margin:.2f} in every bucket and mode (worst {worst:.3f})")
    return not lost


def _coverage(report: EvaluationReport, split: str, bounds: tuple[float, float] | None, reasons: list[str]) -> bool:
    """Whether every bucket's interval coverage on the split's backtest lies within `bounds`."""
    figures = [(mode, bucket, fig) for mode, buckets in report.backtest.get(split, {}).items() for bucket, fig in buckets.items()]
    if not figures:
        return True
    low = min(f.coverage for _, _, f in figures)
    high = max(f.coverage for _, _, f in figures)
    if bounds is None:
        reasons.append(f"{split} backtest interval coverage {low:.2f}-{high:.2f} (not enforced)")
        return True
    outside = [f"{mode} {bucket}: {fig.coverage:.2f}" for mode, bucket, fig in figures
               if not bounds[0] <= fig.coverage <= bounds[1]]
    if outside:
        reasons.append(f"{split} backtest interval coverage outside {bounds[0]:.2f}-{bounds[1]:.2f} in " + "; ".join(outside))
        return False
    reasons.append(f"{split} backtest interval coverage {low:.2f}-{high:.2f}, within {bounds[0]:.2f}-{bounds[1]:.2f}")
    return True


def _vs_champion(report: EvaluationReport, split: str, margin: float, reasons: list[str]) -> bool:
    """Whether the candidate does not lose (see `loses`) to the champion on the split's backtest, both on the
    same rows: horizon mode over every bucket, and nowcast. A candidate worse only within chance passes: it
    learned from newer months, and a retrain must not be refused over noise."""
    ok = True
    for name, mode, bucket in ((split, HORIZON, ALL), (split + NOWCAST, NOWCAST_MODE, "1")):
        fig = report.backtest.get(split, {}).get(mode, {}).get(bucket)
        if fig is None or CHAMPION not in fig.monthly_mae:
            continue
        ours, theirs = fig.mae[CANDIDATE], fig.mae[CHAMPION]
        lost = loses(fig, margin, CHAMPION)
        verdict = ("worse than" if lost else "within chance (t test over months) of" if ours > (1 - margin) * theirs
                   else "at most")
        reasons.append(f"{name} backtest MAE {ours:,.0f} vs champion {report.champion_run_id} {theirs:,.0f} on the same "
                       f"{fig.rows:,} rows over {len(fig.monthly_mae[CANDIDATE])} months: {verdict} "
                       f"{1 - margin:.2f}x the champion's")
        ok &= not lost
    return ok


def _recent_vs_champion(report: EvaluationReport, tolerance: float | None, split: str, reasons: list[str]) -> bool:
    """Whether the candidate is at most `tolerance` worse than the champion on the holdout (the most recent
    months both can score; the same rows), in either mode: a model that learned from poisoned months is far
    worse there even when eval looks fine."""
    champion = report.champion or {}

    def ratio(name: str) -> float:
        theirs = champion[name].mae
        return report.candidate[name].mae / theirs if theirs > 0 else float("inf")

    recent = [name for name in champion if not name.startswith(split)]
    if not recent:
        return True
    name = max(recent, key=ratio)
    ours, theirs, worst = report.candidate[name].mae, champion[name].mae, ratio(name)
    if tolerance is None:
        reasons.append(f"{name} (the most recent months) MAE {ours:,.0f} vs champion {theirs:,.0f}: {worst:.2f}x (not enforced)")
        return True
    ok = bool(worst <= 1 + tolerance)
    reasons.append(f"{name} (the most recent months) MAE {ours:,.0f} {'<=' if ok else '>'} {(1 + tolerance) * theirs:,.0f} "
                   f"(champion {theirs:,.0f} plus {tolerance:.0%}, same rows)")
    return ok


def decide(report: EvaluationReport, vs_baseline: float, vs_champion: float, vs_naive: float | None = 0.0,
           coverage: tuple[float, float] | None = (0.7, 0.9), split: str = "eval",
           recent_vs_champion: float | None = 0.25) -> GateDecision:
    """Promote only if the candidate beats the median baseline (horizon mode), has skill against the best
    naive forecaster in every horizon bucket and mode of the backtest, intervals whose coverage is within
    `coverage`, does not lose to the champion, if there is one, on the backtest (each by its margin), and is
    not far worse than it on the most recent months. `vs_naive=None`, `coverage=None` and
    `recent_vs_champion=None` report those checks without enforcing them."""
    mae = report.candidate[split].mae
    reasons: list[str] = []
    passed, champion = True, report.champion_run_id
    if not np.isfinite(mae):
        return GateDecision(passed=False, reasons=[f"candidate {split} MAE is not a number"], champion_run_id=champion)
    passed &= _within(split, mae, "baseline", report.baseline[split].mae, vs_baseline, reasons)
    passed &= _skill(report, split, vs_naive, reasons)
    passed &= _coverage(report, split, coverage, reasons)
    if report.champion:
        passed &= _vs_champion(report, split, vs_champion, reasons)
        passed &= _recent_vs_champion(report, recent_vs_champion, split, reasons)
    elif champion:
        reasons.append(f"champion {champion} was made by an older version and cannot be scored: not compared")
    else:
        reasons.append("no champion yet")
    return GateDecision(passed=bool(passed), reasons=reasons, champion_run_id=champion)
