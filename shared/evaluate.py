"""Evaluation and the promotion gate.

The candidate is scored on eval (2020-21) and holdout (2022-23) beside a DummyRegressor(median) baseline
and the current champion, each on the same cleaned rows; the gate compares eval MAE with margins from
the run's configuration.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.dummy import DummyRegressor

from shared import schema
from shared.bundle import ModelBundle
from shared.metrics import metrics_by_group, regression_metrics
from shared.preprocess import METRO
from shared.reports import EvaluationReport, GateDecision


def evaluate_models(
    train: pd.DataFrame,
    splits: dict[str, pd.DataFrame],
    candidate: ModelBundle,
    champion: ModelBundle | None,
) -> EvaluationReport:
    """Metrics per split for candidate, baseline and champion, plus the candidate's per-metro metrics."""
    report = EvaluationReport(champion={} if champion else None, champion_run_id=champion.run_id if champion else None)
    baseline = DummyRegressor(strategy="median").fit(np.zeros((len(train), 1)), train[schema.TARGET])
    for name, rows in splits.items():
        actual = rows[schema.TARGET].to_numpy()
        predicted = candidate.predict_clean(rows)
        report.candidate[name] = regression_metrics(actual, predicted)
        report.baseline[name] = regression_metrics(actual, baseline.predict(np.zeros((len(rows), 1))))
        report.per_metro[name] = metrics_by_group(rows[METRO], actual, predicted)
        if champion:
            report.champion[name] = regression_metrics(actual, champion.predict_clean(rows))
    return report


def decide(report: EvaluationReport, vs_baseline: float, vs_champion: float, split: str = "eval") -> GateDecision:
    """Promote only if the candidate beats the baseline, and the champion if there is one, by the margins."""
    mae = report.candidate[split].mae
    reasons, passed, champion = [], True, report.champion_run_id
    if not np.isfinite(mae):
        return GateDecision(passed=False, reasons=[f"candidate {split} MAE is not a number"], champion_run_id=champion)
    limit = report.baseline[split].mae * (1 - vs_baseline)
    ok = mae <= limit
    passed &= ok
    reasons.append(f"{split} MAE {mae:,.0f} {'<=' if ok else '>'} {limit:,.0f} "
                   f"(baseline {report.baseline[split].mae:,.0f} less {vs_baseline:.0%})")
    if report.champion:
        limit = report.champion[split].mae * (1 - vs_champion)
        ok = mae <= limit
        passed &= ok
        reasons.append(f"{split} MAE {mae:,.0f} {'<=' if ok else '>'} {limit:,.0f} "
                       f"(champion {champion} {report.champion[split].mae:,.0f} less {vs_champion:.0%})")
    else:
        reasons.append("no champion yet")
    return GateDecision(passed=bool(passed), reasons=reasons, champion_run_id=champion)
