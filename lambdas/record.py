"""record: the run's last step, whatever the outcome: write `runs/<id>/run.json` (promoted, rejected or
failed). The champion is never touched here."""

from __future__ import annotations

import json
from typing import Any

from lambdas.logs import structured
from lambdas.stage_event import StageEvent, log
from shared.clock import utc_now
from shared.layout import Artifact, bundle_prefix
from shared.reports import EvaluationReport
from shared.runs import Failure, RunRecord, write_run_record
from shared.store import read_json


@structured
def handler(event: dict, context=None) -> dict:
    ev = StageEvent(**event)
    store = ev.open()
    if ev.error:
        status = "failed"
    else:
        status = "promoted" if ev.gate and ev.gate.passed else "rejected"
    metrics = None
    if Artifact.EVALUATION in ev.artifacts:  # absent when an earlier stage failed
        metrics = EvaluationReport.model_validate(read_json(store, ev.artifact(Artifact.EVALUATION))).headline()
    tuned = bundle_prefix(ev.run_id) + "metrics.json"
    tuning = read_json(store, tuned).get("validation") if store.exists(tuned) else None
    failure = failure_of(ev.failed_stage or "unknown", ev.error) if ev.error else None
    # promote adds the champion's key once the pointer names this run: a later failure (in batch, say) leaves
    # the run the champion, and the record says so.
    record = RunRecord(run_id=ev.run_id, status=status, promoted=Artifact.CHAMPION in ev.artifacts, input_key=ev.input_key,
                       incoming_keys=ev.incoming_keys, trigger=ev.trigger, finished_at=utc_now(), gate=ev.gate, metrics=metrics,
                       error=failure,
                       artifacts=ev.artifacts, tuning=tuning)
    write_run_record(store, record)
    log.info("run %s %s", ev.run_id, status)
    return {**ev.model_dump(mode="json"), "status": status}


def failure_of(stage: str, error: dict[str, Any]) -> Failure:
    """The failure from what a Catch puts in the state (`{"Error", "Cause"}`). For a Lambda the Cause is the
    runtime's JSON (errorType, errorMessage); for an ECS task, the task's description (why it stopped, the
    exit code: the program's own message is in the task's log stream)."""
    kind, cause = error.get("Error", "Unknown"), error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        return Failure(stage=stage, type=kind, message=cause or kind)
    if "errorMessage" in parsed:
        return Failure(stage=stage, type=parsed.get("errorType") or kind, message=parsed["errorMessage"])
    containers = parsed.get("Containers") or [{}]
    exit_codes = [c["ExitCode"] for c in containers if c.get("ExitCode") is not None]
    reason = parsed.get("StoppedReason") or containers[0].get("Reason") or cause
    codes = f" (exit code {', '.join(map(str, exit_codes))})" if exit_codes else ""
    return Failure(stage=stage, type=kind, message=f"{reason}{codes}; the task's log stream has the program's output")
