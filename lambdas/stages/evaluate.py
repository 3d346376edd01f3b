"""evaluate: the rolling-origin backtest of the candidate beside the median, the naive forecasters and the
current champion, per split, mode, horizon bucket and metro; the gate."""

from __future__ import annotations

import pandas as pd

from lambdas.stage import Made, stage_handler
from lambdas.stage_event import StageEvent, log
from shared.layout import Artifact
from shared.model.bundle import load_bundle
from shared.model.evaluate import decide, evaluate_models
from shared.model.seal import OutdatedBundle
from shared.serving.champion import read_champion
from shared.store import ArtifactStore


def evaluate(run: StageEvent, store: ArtifactStore, clean_train: pd.DataFrame, clean_eval: pd.DataFrame,
             clean_holdout: pd.DataFrame) -> Made:
    candidate = load_bundle(store, run.run_id)
    pointer = read_champion(store)
    champion = None
    try:
        champion = load_bundle(store, pointer.run_id) if pointer else None  # always the current champion
    except OutdatedBundle as err:  # an older version's champion: the candidate is judged on its own, and replaces it
        log.warning("the champion cannot be compared with: %s", err)
    report = evaluate_models(clean_train, {"eval": clean_eval, "holdout": clean_holdout}, candidate, champion)
    report.champion_run_id = pointer.run_id if pointer else None  # promotion checks it is still the champion
    config = run.config
    report.gate = decide(report, config.gate_vs_baseline, config.gate_vs_champion, config.gate_vs_naive,
                         config.gate_coverage, recent_vs_champion=config.gate_recent_vs_champion)
    for line in report.gate.reasons:
        log.info("gate: %s", line)
    log.info("gate %s", "PASSED" if report.gate.passed else "FAILED")
    return Made({Artifact.EVALUATION: report}, run=run.model_copy(update={"gate": report.gate}))


handler = stage_handler("evaluate", evaluate)
