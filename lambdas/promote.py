"""promote: move the champion pointer to this run's verified bundle (if the champion is still the one the
gate compared with), then register it in MLflow. The same `promote` as `housing promote`."""

from __future__ import annotations

from lambdas.logs import structured
from lambdas.stage_event import MissingArtifact, StageEvent, log
from shared.champion import promote
from shared.layout import Artifact
from shared.settings import get_settings


@structured
def handler(event: dict, context=None) -> dict:
    ev = StageEvent(**event)
    if ev.gate is None:
        raise MissingArtifact(f"run {ev.run_id}: promote runs after the gate, but the event has no gate decision")
    result = promote(ev.open(), ev.run_id, "gate passed", get_settings(), compared_with=ev.gate.champion_run_id,
                     by="the pipeline's promote stage")
    log.info("champion is now %s (was %s); MLflow registry: %s", result.pointer.run_id,
             result.pointer.previous_run_id, result.registry)
    return ev.with_artifacts(Artifact.CHAMPION)
