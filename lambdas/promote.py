"""promote: verify the candidate's bundle, move the champion pointer to it, register it in MLflow."""

from __future__ import annotations

from lambdas.events import StageEvent, log
from lambdas.logs import structured
from shared.champion import promote_run
from shared.evaluate import headline_metrics
from shared.registry import register_champion
from shared.settings import get_settings
from shared.store import read_json


@structured
def handler(event: dict, context=None) -> dict:
    ev = StageEvent(**event)
    store = ev.open()
    evaluation = read_json(store, ev.artifacts["evaluation"])
    pointer = promote_run(store, ev.run_id, headline_metrics(evaluation), reason="gate passed")
    settings = get_settings()
    version = register_champion(store, ev.run_id, settings) if settings.mlflow_registry else "none (registry off)"
    log.info("champion is now %s (was %s); MLflow model version %s", pointer.run_id, pointer.previous_run_id, version)
    return ev.with_artifacts(champion="models/champion.json")
