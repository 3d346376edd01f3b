from shared.evaluate import decide


def report(candidate, baseline, champion=None):
    out = {"candidate": {"eval": {"mae": candidate}}, "baseline": {"eval": {"mae": baseline}}, "champion": None}
    if champion is not None:
        out["champion"] = {"eval": {"mae": champion}}
        out["champion_run_id"] = "run-old"
    return out


def test_first_model_needs_only_to_beat_the_baseline_by_the_margin():
    assert decide(report(40, 100), vs_baseline=0.5, vs_champion=0.0).passed
    assert not decide(report(60, 100), vs_baseline=0.5, vs_champion=0.0).passed


def test_must_beat_the_champion_by_its_margin():
    assert decide(report(40, 100, champion=41), 0.5, 0.0).passed
    assert not decide(report(40, 100, champion=39), 0.5, 0.0).passed
    assert not decide(report(40, 100, champion=41), 0.5, 0.05).passed


def test_a_broken_candidate_never_passes():
    decision = decide(report(float("nan"), 100), 0.5, 0.0)
    assert not decision.passed and "not a number" in decision.reasons[0]
