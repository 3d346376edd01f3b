"""record: the run's last step, whatever the outcome: write `runs/<id>/run.json` (promoted, rejected or
failed). The champion is never touched here."""

from __future__ import annotations

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
    failure = Failure.from_step_functions(ev.failed_stage or "unknown", ev.error) if ev.error else None
    # promote adds the champion's key once the pointer names this run: a later failure (in batch, say) leaves
    # the run the champion, and the record says so.
    record = RunRecord(run_id=ev.run_id, status=status, promoted=Artifact.CHAMPION in ev.artifacts, input_key=ev.input_key,
                       incoming_keys=ev.incoming_keys, trigger=ev.trigger, finished_at=utc_now(), gate=ev.gate, metrics=metrics,
                       error=failure,
                       artifacts=ev.artifacts, tuning=tuning)
    write_run_record(store, record)
    log.info("run %s %s", ev.run_id, status)
    return {**ev.model_dump(mode="json"), "status": status}
