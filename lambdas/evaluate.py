"""evaluate: the rolling-origin backtest of the candidate beside the median, the naive forecasters and the
current champion, per split, mode, horizon bucket and metro; the gate."""

from __future__ import annotations

from lambdas.logs import structured
from lambdas.stage_event import StageEvent, log
from shared.bundle import load_bundle
from shared.champion import read_champion
from shared.evaluate import decide, evaluate_models
from shared.layout import Artifact
from shared.seal import OutdatedBundle
from shared.store import read_table, write_json


@structured
def handler(event: dict, context=None) -> dict:
    ev = StageEvent(**event)
    store = ev.open()
    candidate = load_bundle(store, ev.run_id)
    pointer = read_champion(store)
    champion = None
    try:
        champion = load_bundle(store, pointer.run_id) if pointer else None  # always the current champion
    except OutdatedBundle as err:  # an older version's champion: the candidate is judged on its own, and replaces it
        log.warning("the champion cannot be compared with: %s", err)
    splits = {name: read_table(store, ev.artifact(Artifact.of_split("clean", name))) for name in ("eval", "holdout")}
    report = evaluate_models(read_table(store, ev.artifact(Artifact.CLEAN_TRAIN)), splits, candidate, champion)
    report.champion_run_id = pointer.run_id if pointer else None  # promotion checks it is still the champion
    report.gate = decide(report, ev.config.gate_vs_baseline, ev.config.gate_vs_champion, ev.config.gate_vs_naive,
                         ev.config.gate_coverage, recent_vs_champion=ev.config.gate_recent_vs_champion)
    write_json(store, ev.key(Artifact.EVALUATION), report.model_dump(mode="json"))
    for line in report.gate.reasons:
        log.info("gate: %s", line)
    log.info("gate %s", "PASSED" if report.gate.passed else "FAILED")
    return ev.model_copy(update={"gate": report.gate}).with_artifacts(Artifact.BUNDLE, Artifact.EVALUATION)
