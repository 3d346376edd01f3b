"""record: the run's last step, whatever the outcome: write `runs/<id>/run.json` (promoted, rejected or
failed). The champion is never touched here."""

from __future__ import annotations

import json
from typing import Any

from lambdas.stage import Made, stage_handler
from lambdas.stage_event import StageEvent, log
from shared.clock import utc_now
from shared.layout import Artifact, bundle_prefix
from shared.reports import EvaluationReport
from shared.runs import Failure, RunRecord, write_run_record
from shared.store import ArtifactStore, read_json


def record(run: StageEvent, store: ArtifactStore) -> Made:
    if run.error:
        status = "failed"
    else:
        status = "promoted" if run.gate and run.gate.passed else "rejected"
    metrics = None
    if Artifact.EVALUATION in run.artifacts:  # absent when an earlier stage failed
        metrics = EvaluationReport.model_validate(read_json(store, run.artifact(Artifact.EVALUATION))).headline()
    tuned = bundle_prefix(run.run_id) + "metrics.json"
    tuning = read_json(store, tuned).get("validation") if store.exists(tuned) else None
    failure = failure_of(run.failed_stage or "unknown", run.error) if run.error else None
    # promote adds the champion's key once the pointer names this run: a later failure (in batch, say) leaves
    # the run the champion, and the record says so.
    write_run_record(store, RunRecord(
        run_id=run.run_id, status=status, promoted=Artifact.CHAMPION in run.artifacts, input_key=run.input_key,
        incoming_keys=run.incoming_keys, rows=run.rows, trigger=run.trigger, finished_at=utc_now(), gate=run.gate,
        metrics=metrics, error=failure, artifacts=run.artifacts, tuning=tuning))
    log.info("run %s %s", run.run_id, status)
    return Made(run=run.model_copy(update={"status": status}))


handler = stage_handler("record", record)


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
