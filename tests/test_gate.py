from shared.evaluate import decide
from shared.reports import EvaluationReport, Metrics


def _eval(mae: float) -> dict[str, Metrics]:
    return {"eval": Metrics(mae=mae, rmse=mae, r2=0.0, mape=0.0)}


def report(candidate, baseline, champion=None) -> EvaluationReport:
    return EvaluationReport(candidate=_eval(candidate), baseline=_eval(baseline),
                            champion=_eval(champion) if champion is not None else None,
                            champion_run_id="run-old" if champion is not None else None)


def test_first_model_needs_only_to_beat_the_baseline_by_the_margin():
    assert decide(report(40, 100), vs_baseline=0.5, vs_champion=0.0).passed
    assert not decide(report(60, 100), vs_baseline=0.5, vs_champion=0.0).passed


def test_must_beat_the_champion_by_its_margin():
    assert decide(report(40, 100, champion=41), 0.5, 0.0).passed
    assert not decide(report(40, 100, champion=39), 0.5, 0.0).passed
    assert not decide(report(40, 100, champion=41), 0.5, 0.05).passed


def _with_naive(report: EvaluationReport, persistence: float, reference: float) -> EvaluationReport:
    return report.model_copy(update={"persistence": _eval(persistence), "reference": _eval(reference)})


def test_the_best_naive_predictor_is_enforced_unless_the_margin_is_unset():
    both = _with_naive(report(40, 100), persistence=60, reference=38)
    assert not decide(both, 0.5, 0.0).passed  # enforced by default, with no margin
    shown = decide(both, 0.5, 0.0, vs_naive=None)  # reported only
    assert shown.passed and "reference alone" in shown.reasons[1] and "NOT better" in shown.reasons[1]
    assert decide(_with_naive(report(40, 100), 60, 45), 0.5, 0.0, vs_naive=0.1).passed  # 40 <= 45 * 0.9
    assert not decide(_with_naive(report(42, 100), 60, 45), 0.5, 0.0, vs_naive=0.1).passed


def test_the_naive_predictors_are_beaten_in_both_modes():
    nowcast = {"eval_nowcast": Metrics(mae=10, rmse=10, r2=0.0, mape=0.0)}
    beaten = report(40, 100).model_copy(update={
        "candidate": {**_eval(40), **nowcast}, "persistence": {**_eval(60), "eval_nowcast": Metrics(mae=9, rmse=9, r2=0.0, mape=0.0)},
        "reference": {**_eval(45), "eval_nowcast": Metrics(mae=45, rmse=45, r2=0.0, mape=0.0)}})
    decision = decide(beaten, 0.5, 0.0)
    assert not decision.passed and any("eval_nowcast MAE 10 > 9" in r for r in decision.reasons)


def test_a_broken_candidate_never_passes():
    decision = decide(report(float("nan"), 100), 0.5, 0.0)
    assert not decision.passed and "not a number" in decision.reasons[0]
