from shared.model.evaluate import decide, excess_t, loses
from shared.reports import CANDIDATE, CHAMPION, MOMENTUM, PERSISTENCE, BucketFigures, EvaluationReport, Metrics


def _eval(mae: float) -> dict[str, Metrics]:
    return {"eval": Metrics(mae=mae, rmse=mae, r2=0.0, mape=0.0)}


def _bucket(model: list[float], naive: list[float], coverage: float = 0.8, best: str = MOMENTUM) -> BucketFigures:
    """A backtest bucket whose monthly MAEs are these (the best naive forecaster's under `best`)."""
    mae = {CANDIDATE: sum(model) / len(model), best: sum(naive) / len(naive), PERSISTENCE: 10 * max(naive)}
    return BucketFigures(rows=100 * len(model), mae=mae, mape={k: 0.0 for k in mae}, best_naive=best,
                         skill=mae[CANDIDATE] / mae[best], coverage=coverage, median_width=0.05,
                         monthly_mae={CANDIDATE: model, best: naive})


SKILLED = _bucket([9, 9.5, 8.5, 9], [10, 10, 10, 10])


def report(candidate, baseline, champion=None, buckets=None, recent=(40, 40)) -> EvaluationReport:
    """A report with these eval MAEs (and, with a champion, these monthly MAEs of its on the backtest's
    rows, and the holdout MAEs `recent` = (candidate's, champion's))."""
    buckets = buckets or {"1": SKILLED}
    if champion is not None:
        buckets = {**buckets, "all": _beside(SKILLED, champion)}
    backtest = {"eval": {"horizon": buckets, "nowcast": {"1": buckets["all"] if champion is not None else SKILLED}}}
    mean = sum(champion) / len(champion) if champion is not None else None
    return EvaluationReport(candidate={**_eval(candidate), "holdout": Metrics(mae=recent[0], rmse=0, r2=0, mape=0)},
                            baseline=_eval(baseline),
                            champion={**_eval(mean), "holdout": Metrics(mae=recent[1], rmse=0, r2=0, mape=0)}
                            if champion is not None else None,
                            champion_run_id="run-old" if champion is not None else None, backtest=backtest)


def _beside(bucket: BucketFigures, champion: list[float]) -> BucketFigures:
    """The bucket with the champion's monthly MAEs on the same rows."""
    return bucket.model_copy(update={"mae": {**bucket.mae, CHAMPION: sum(champion) / len(champion)},
                                     "monthly_mae": {**bucket.monthly_mae, CHAMPION: champion}})


def test_first_model_needs_only_to_beat_the_baseline_by_the_margin():
    assert decide(report(40, 100), vs_baseline=0.5, vs_champion=0.0).passed
    assert not decide(report(60, 100), vs_baseline=0.5, vs_champion=0.0).passed


def test_the_champion_is_compared_on_the_same_backtest_rows_and_noise_is_not_a_loss():
    # The candidate's months: 9, 9.5, 8.5, 9 (mean 9).
    better = decide(report(40, 100, champion=[9.5, 9.8, 9.0, 9.4]), 0.5, 0.0)
    assert better.passed and any("at most 1.00x the champion's" in r and "same 400 rows over 4 months" in r
                                 for r in better.reasons)
    noisy = decide(report(40, 100, champion=[8.5, 9.9, 8.0, 9.4]), 0.5, 0.0)  # 1% better on average, months disagree
    assert noisy.passed and any("within chance" in r for r in noisy.reasons)
    consistent = decide(report(40, 100, champion=[8.6, 9.1, 8.1, 8.6]), 0.5, 0.0)  # 4.5% better in every month
    assert not consistent.passed and any("worse than 1.00x the champion's" in r for r in consistent.reasons)
    # A stated tolerance (a negative margin) lets a candidate that learned from newer months be a little worse.
    assert decide(report(40, 100, champion=[8.6, 9.1, 8.1, 8.6]), 0.5, -0.05).passed
    assert not decide(report(40, 100, champion=[9.5, 9.8, 9.0, 9.4]), 0.5, 0.2).passed  # asks for 20% better


def test_a_candidate_far_worse_than_the_champion_on_the_most_recent_months_is_refused():
    poisoned = decide(report(40, 100, champion=[9.5, 9.8, 9.0, 9.4], recent=(2.6e9, 20_000)), 0.5, 0.0)
    assert not poisoned.passed and any("holdout (the most recent months)" in r and "plus 25%" in r
                                       for r in poisoned.reasons)
    assert decide(report(40, 100, champion=[9.5, 9.8, 9.0, 9.4], recent=(24_000, 20_000)), 0.5, 0.0).passed
    shown = decide(report(40, 100, champion=[9.5, 9.8, 9.0, 9.4], recent=(2.6e9, 20_000)), 0.5, 0.0,
                   recent_vs_champion=None)
    assert shown.passed and any("not enforced" in r for r in shown.reasons)


def test_a_candidate_that_loses_to_a_naive_forecaster_in_one_bucket_is_refused_unless_the_margin_is_unset():
    worse = _bucket([11, 12, 11.5, 12], [10, 10.5, 10, 10])  # worse in every month
    refused = decide(report(40, 100, buckets={"1": SKILLED, "13-24": worse}), 0.5, 0.0)
    assert not refused.passed and any("horizon 13-24" in r and "momentum" in r for r in refused.reasons)
    shown = decide(report(40, 100, buckets={"1": SKILLED, "13-24": worse}), 0.5, 0.0, vs_naive=None)
    assert shown.passed and any("not enforced" in r for r in shown.reasons)


def test_the_margin_asks_for_more_than_a_tie():
    assert decide(report(40, 100), 0.5, 0.0, vs_naive=0.05).passed  # skill 0.9 <= 0.95
    assert not decide(report(40, 100), 0.5, 0.0, vs_naive=0.2).passed  # 0.9 > 0.8, in every month


def test_a_tie_within_chance_is_not_a_loss_but_a_consistent_excess_is():
    """Months disagree: the model is a little worse on average, by less than the months vary."""
    tie = _bucket([10.4, 9.5, 10.6, 9.8, 10.3, 9.6], [10, 10, 10, 10, 10, 10])
    assert tie.skill > 1 and not loses(tie, 0.0) and excess_t(tie, 0.0) < 1
    decision = decide(report(40, 100, buckets={"2-3": tie}), 0.5, 0.0)
    assert decision.passed and any("within chance" in r for r in decision.reasons)
    consistent = _bucket([10.2, 10.3, 10.25, 10.2, 10.3, 10.2], [10, 10, 10, 10, 10, 10])
    assert loses(consistent, 0.0) and not decide(report(40, 100, buckets={"2-3": consistent}), 0.5, 0.0).passed


def test_intervals_must_cover_what_they_claim_on_the_backtest():
    narrow = _bucket([9, 9.5, 8.5, 9], [10, 10, 10, 10], coverage=0.55)
    refused = decide(report(40, 100, buckets={"1": SKILLED, "7-12": narrow}), 0.5, 0.0)
    assert not refused.passed and any("coverage outside 0.70-0.90" in r and "7-12: 0.55" in r for r in refused.reasons)
    assert decide(report(40, 100, buckets={"7-12": narrow}), 0.5, 0.0, coverage=None).passed
    wide = _bucket([9, 9.5, 8.5, 9], [10, 10, 10, 10], coverage=0.97)
    assert not decide(report(40, 100, buckets={"7-12": wide}), 0.5, 0.0).passed


def test_a_broken_candidate_never_passes():
    decision = decide(report(float("nan"), 100), 0.5, 0.0)
    assert not decision.passed and "not a number" in decision.reasons[0]


def test_auto_theta_counts_among_the_baselines_in_horizon_mode_only():
    import numpy as np
    import pandas as pd

    from shared.model.evaluate import _bucket_figures
    from shared.reports import BASELINES, FORECASTERS, LABELS, THETA

    rng = np.random.default_rng(0)
    n = 400
    actual = rng.uniform(1e5, 1e6, n)
    table = pd.DataFrame({"mode": np.repeat(["horizon", "nowcast"], n // 2), "bucket": "13-24", "month": np.tile(range(20), 20),
                          "actual": actual, "low": actual * 0.9, "high": actual * 1.1})
    table.loc[table["mode"] == "nowcast", "bucket"] = "1"
    table[CANDIDATE] = actual * 1.02
    for name in FORECASTERS:
        table[name] = actual * 1.05
    table[THETA] = np.where(table["mode"] == "horizon", actual * 1.01, np.nan)  # beats the model months ahead
    figures = _bucket_figures(table, with_champion=False)
    assert figures["horizon"]["13-24"].best_naive == THETA and set(figures["horizon"]["13-24"].mae) >= set(BASELINES)
    assert THETA not in figures["nowcast"]["1"].mae and figures["nowcast"]["1"].rows == n // 2
    rep = report(40, 100)
    rep.backtest["eval"] = figures
    refused = decide(rep, 0.5, 0.0)
    assert not refused.passed and any(LABELS[THETA] in r for r in refused.reasons)
