"""evaluate: candidate vs DummyRegressor(median) vs current champion, per split and per metro; the gate."""

from __future__ import annotations

from lambdas.events import StageEvent, log
from lambdas.logs import structured
from shared.bundle import load_bundle
from shared.champion import read_champion
from shared.evaluate import decide, evaluate_models
from shared.layout import bundle_prefix, run_key
from shared.store import read_table, write_json


@structured
def handler(event: dict, context=None) -> dict:
    ev = StageEvent(**event)
    store = ev.open()
    candidate = load_bundle(store, ev.run_id)
    pointer = read_champion(store)
    champion = load_bundle(store, pointer.run_id) if pointer else None  # always the current champion
    splits = {name: read_table(store, ev.artifacts[f"clean_{name}"]) for name in ("eval", "holdout")}
    report = evaluate_models(read_table(store, ev.artifacts["clean_train"]), splits, candidate, champion)
    gate = decide(report, ev.config.gate_vs_baseline, ev.config.gate_vs_champion)
    report["gate"] = gate.model_dump()
    key = run_key(ev.run_id, "evaluation.json")
    write_json(store, key, report)
    for line in gate.reasons:
        log.info("gate: %s", line)
    log.info("gate %s", "PASSED" if gate.passed else "FAILED")
    out = ev.with_artifacts(bundle=bundle_prefix(ev.run_id), evaluation=key)
    out["gate"] = gate.model_dump()
    return out
