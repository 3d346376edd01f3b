"""Evaluation and the promotion gate.

The candidate is scored on eval and holdout (each the data's 24 months in turn, by default) beside a
DummyRegressor(median) baseline, persistence, the price-level reference alone and the current champion,
each on the same cleaned rows, in two modes:

- horizon (the split's own name): every month predicted from what was known when the split began: no
  index value after the month before it (the rows' own market statistics and their history are fine);
- nowcast (name + NOWCAST): each month predicted with the index values published up to the month before,
  as `housing predict` does on a store holding those months.

The models compared are the ones each run's gate judged (fitted on its training split, so every figure is
out of sample), not the refits that serve. The gate compares eval MAE with margins from the run's
configuration.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.dummy import DummyRegressor

from shared import schema
from shared.bundle import ModelBundle
from shared.history import ZipHistory, month_numbers
from shared.metrics import metrics_by_group, regression_metrics
from shared.preprocess import METRO
from shared.reports import LABELS, NAIVE, NOWCAST, EvaluationReport, GateDecision


def evaluate_models(
    train: pd.DataFrame,
    splits: dict[str, pd.DataFrame],
    candidate: ModelBundle,
    champion: ModelBundle | None,
) -> EvaluationReport:
    """Metrics per split (in time order) and mode for the candidate, the naive predictors and the champion,
    plus the candidate's per-metro metrics. Each split is scored as the model would meet it (see MODES):
    under its own name in horizon mode, with NOWCAST appended in nowcast mode. The history grows split by
    split (the rule in `shared.history` says what of it each row may see)."""
    report = EvaluationReport(champion={} if champion else None, champion_run_id=champion.run_id if champion else None)
    baseline = DummyRegressor(strategy="median").fit(np.zeros((len(train), 1)), train[schema.TARGET])
    seen = ZipHistory(train)
    for split, rows in splits.items():
        actual = rows[schema.TARGET].to_numpy()
        median = baseline.predict(np.zeros((len(rows), 1)))
        reference = candidate.reference_prices(rows)
        before_split = int(month_numbers(rows[schema.DATE]).min()) - 1
        for name, known_through in ((split, before_split), (split + NOWCAST, None)):
            predicted = candidate.predict_judged(rows, seen, known_through)
            report.candidate[name] = regression_metrics(actual, predicted)
            report.baseline[name] = regression_metrics(actual, median)
            report.persistence[name] = regression_metrics(actual, carried_forward(seen, rows, known_through, median))
            report.reference[name] = regression_metrics(actual, reference)
            report.per_metro[name] = metrics_by_group(rows[METRO], actual, predicted)
            if champion:
                report.champion[name] = regression_metrics(actual, champion.predict_judged(rows, seen, known_through))
        seen = seen.extended(rows)
    return report


def _beats_naive(report: EvaluationReport, split: str, margin: float | None, reasons: list[str]) -> bool:
    """Whether the candidate's MAE on `split` is within `margin` of the best naive predictor's (True when
    there is nothing to compare or no margin is enforced); says why in `reasons`."""
    naive = [(who, getattr(report, who)[split].mae) for who in NAIVE if split in getattr(report, who)]
    if not naive or split not in report.candidate:
        return True
    mae = report.candidate[split].mae
    who, best = min(naive, key=lambda item: item[1])
    if margin is None:
        reasons.append(f"{split} MAE {mae:,.0f} vs best naive predictor ({LABELS[who]}) {best:,.0f}: "
                       f"{'better' if mae < best else 'NOT better'} (not enforced)")
        return True
    return _within(split, mae, f"best naive predictor, {LABELS[who]},", best, margin, reasons)


def _within(split: str, mae: float, what: str, reference: float, margin: float, reasons: list[str]) -> bool:
    """Whether `mae` is at most `reference` less `margin`; says so in `reasons`."""
    limit = reference * (1 - margin)
    ok = bool(mae <= limit)
    reasons.append(f"{split} MAE {mae:,.0f} {'<=' if ok else '>'} {limit:,.0f} ({what} {reference:,.0f} less {margin:.0%})")
    return ok


def carried_forward(seen: ZipHistory, rows: pd.DataFrame, known_through: int | None, fallback: np.ndarray) -> np.ndarray:
    """Each row's zip's last index value the history rule allows, carried forward (persistence); `fallback`
    for a zip with none."""
    last = np.exp(seen.features(rows, known_through).last_index)
    return np.where(np.isnan(last), fallback, last)


def decide(report: EvaluationReport, vs_baseline: float, vs_champion: float, vs_naive: float | None = 0.0,
           split: str = "eval") -> GateDecision:
    """Promote only if the candidate beats the median baseline (horizon mode), the best naive predictor
    (persistence or the reference alone) in both modes, and the champion, if there is one (horizon mode),
    each by its margin. `vs_naive=None` reports the naive comparison without enforcing it."""
    mae = report.candidate[split].mae
    reasons, passed, champion = [], True, report.champion_run_id
    if not np.isfinite(mae):
        return GateDecision(passed=False, reasons=[f"candidate {split} MAE is not a number"], champion_run_id=champion)
    passed &= _within(split, mae, "baseline", report.baseline[split].mae, vs_baseline, reasons)
    for mode in (split, split + NOWCAST):  # the naive predictors are beaten in both modes
        passed &= _beats_naive(report, mode, vs_naive, reasons)
    if report.champion:
        passed &= _within(split, mae, f"champion {champion}", report.champion[split].mae, vs_champion, reasons)
    else:
        reasons.append("no champion yet")
    return GateDecision(passed=bool(passed), reasons=reasons, champion_run_id=champion)
