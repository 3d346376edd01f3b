"""promote: move the champion pointer to this run's verified bundle (if the champion is still the one the
gate compared with), then register it in MLflow. The same `promote` as `housing promote`."""

from __future__ import annotations

from lambdas.stage import stage_handler
from lambdas.stage_event import MissingArtifact, StageEvent, log
from shared.serving.champion import promote
from shared.settings import get_settings
from shared.store import ArtifactStore


def promote_candidate(run: StageEvent, store: ArtifactStore) -> dict:
    if run.gate is None:
        raise MissingArtifact(f"run {run.run_id}: promote runs after the gate, but the event has no gate decision")
    result = promote(store, run.run_id, "gate passed", get_settings(), compared_with=run.gate.champion_run_id,
                     by="the pipeline's promote stage")
    log.info("champion is now %s (was %s); MLflow registry: %s", result.pointer.run_id,
             result.pointer.previous_run_id, result.registry)
    return {}


handler = stage_handler("promote", promote_candidate)
