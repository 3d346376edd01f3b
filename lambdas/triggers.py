"""EventBridge -> the pipeline: an S3 `Object Created` under raw/, or the monthly retraining schedule,
starts one training execution.

The execution is named after the run id, a digest of the inputs' identity (the training file's key and
ETag, the metros table's, each incoming/ file's that has prices) and the run config: a repeated or
duplicated event, or a schedule with nothing new to learn, asks for the same name, which Step Functions
refuses, so the same inputs never train twice. A run whose executions all failed, timed out or were
aborted is retried by the next upload or schedule, as `<run id>-attempt-<n>` (a Standard workflow's name
stays taken for 90 days); one running or succeeded starts nothing.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

from lambdas.logs import structured
from lambdas.s3_events import is_object_created, uploaded_object
from lambdas.stage_event import log, prepare_run
from shared.layout import RAW_PREFIX
from shared.settings import get_settings
from shared.store import S3Store, newest_file

STATE_MACHINE_ENV = "TRAINING_STATE_MACHINE_ARN"


@structured
def start_training(event: dict[str, Any], context=None) -> dict[str, Any]:
    """An upload under raw/ trains on that file; the monthly retraining and a model-health alarm (sustained
    drift or decay, see infra_cdk/monitoring.py) on the newest one; all with the labelled months under
    incoming/. Nothing new since the last run: the same run id, so nothing starts (an alarm's cooldown)."""
    store = S3Store(get_settings().store)
    if is_object_created(event):
        upload = uploaded_object(event, store)
        key = upload.file_under(RAW_PREFIX)
        if key is None:
            log.info("ignored %s: not a file under %s", upload.s3_key, RAW_PREFIX)
            return {"started": False, "reason": "not a raw/ upload"}
        if not store.exists(key):  # deleted or overwritten-and-removed since the event was sent
            log.warning("ignored %s: the object no longer exists", upload.s3_key)
            return {"started": False, "reason": "the object no longer exists"}
        tags, trigger = {key: upload.etag}, f"upload of {key}"
    else:  # the monthly retraining schedule, or a model-health alarm
        key, tags, trigger = newest_file(store, RAW_PREFIX), {}, _scheduled_trigger(event)
        if key is None:
            log.info("no file under %s: nothing to retrain on", store.locate(RAW_PREFIX))
            return {"started": False, "reason": "nothing under raw/"}
    run_event = prepare_run(store, key, get_settings().run_config(), tags=tags, trigger=trigger)
    client = boto3.client("stepfunctions")
    machine, run_id = os.environ[STATE_MACHINE_ENV], run_event["run_id"]
    for attempt in range(1, MAX_ATTEMPTS + 1):
        name = run_id if attempt == 1 else f"{run_id}-attempt-{attempt}"
        status = _status(client, machine, name)
        if status in LIVE:
            log.info("run %s was already started for %s (%s %s): nothing to do", run_id, key, name, status.lower())
            return {"started": False, "run_id": run_id, "reason": "already started"}
        if status is not None:  # failed, timed out or aborted: the next name is a retry
            continue
        try:
            started = client.start_execution(stateMachineArn=machine, name=name, input=json.dumps(run_event))
        except client.exceptions.ExecutionAlreadyExists:  # a concurrent duplicate got there first
            log.info("run %s was already started for %s: nothing to do", run_id, key)
            return {"started": False, "run_id": run_id, "reason": "already started"}
        log.info("started run %s for %s%s", run_id, key, f" (attempt {attempt}: the earlier ones ended without success)"
                 if attempt > 1 else "")
        return {"started": True, "run_id": run_id, "execution_arn": started["executionArn"], "attempt": attempt}
    raise RuntimeError(f"run {run_id} ended without success {MAX_ATTEMPTS} times: see its executions' errors "
                       "before starting it again")


def _scheduled_trigger(event: dict[str, Any]) -> str:
    """What started a run that is not an upload: an alarm (EventBridge's alarm state change) or the schedule."""
    if event.get("detail-type") == "CloudWatch Alarm State Change":
        return f"alarm {event.get('detail', {}).get('alarmName', '(unnamed)')}"
    return "monthly retraining"


MAX_ATTEMPTS = 10
LIVE = ("RUNNING", "SUCCEEDED", "PENDING_REDRIVE")  # an execution in any other status is over without success


def _status(client, machine: str, name: str) -> str | None:
    """The status of this state machine's execution `name`; None if there is none (ARNs follow from names)."""
    try:
        return client.describe_execution(executionArn=f"{machine.replace(':stateMachine:', ':execution:')}:{name}")["status"]
    except client.exceptions.ExecutionDoesNotExist:
        return None
