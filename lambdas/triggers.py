"""EventBridge -> the pipeline: an S3 `Object Created` under raw/ starts one training execution.

The execution is named after the run id, a digest of the upload's identity (key and ETag, and the metros
table's) and the run config: a repeated or duplicated event asks for the same name, which Step Functions
refuses, so one upload never trains twice.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

from lambdas.logs import structured
from lambdas.s3_events import uploaded_object
from lambdas.stage_event import log, new_run_event
from shared.layout import RAW_PREFIX, REFERENCE_PREFIX
from shared.settings import get_settings
from shared.store import S3Store

STATE_MACHINE_ENV = "TRAINING_STATE_MACHINE_ARN"


class NoMetrosTable(RuntimeError):
    """Training needs the metros table under reference/."""


@structured
def start_training(event: dict[str, Any], context=None) -> dict[str, Any]:
    store = S3Store(get_settings().store)
    upload = uploaded_object(event, store)
    key = upload.file_under(RAW_PREFIX)
    if key is None:
        log.info("ignored %s: not a file under %s", upload.s3_key, RAW_PREFIX)
        return {"started": False, "reason": "not a raw/ upload"}
    if not store.exists(key):  # deleted or overwritten-and-removed since the event was sent
        log.warning("ignored %s: the object no longer exists", upload.s3_key)
        return {"started": False, "reason": "the object no longer exists"}
    tables = [k for k in store.list(REFERENCE_PREFIX) if not k.endswith("/")]
    if len(tables) != 1:
        raise NoMetrosTable(f"expected one metros table under {store.locate(REFERENCE_PREFIX)}, found {tables or 'none'}")
    identity = f"{key}@{upload.etag or store.etag(key)}|{tables[0]}@{store.etag(tables[0])}"
    run_event = new_run_event(store.url, key, tables[0], get_settings().run_config(), identity)
    client = boto3.client("stepfunctions")
    machine, name = os.environ[STATE_MACHINE_ENV], run_event["run_id"]
    already = {"started": False, "run_id": name, "reason": "already started"}
    try:
        # Execution ARNs follow from the name; an existing one (running or finished) means this event is a repeat.
        client.describe_execution(executionArn=f"{machine.replace(':stateMachine:', ':execution:')}:{name}")
        log.info("run %s was already started for %s: nothing to do", name, key)
        return already
    except client.exceptions.ExecutionDoesNotExist:
        pass
    try:
        started = client.start_execution(stateMachineArn=machine, name=name, input=json.dumps(run_event))
    except client.exceptions.ExecutionAlreadyExists:  # a concurrent duplicate got there first
        log.info("run %s was already started for %s: nothing to do", name, key)
        return already
    log.info("started run %s for %s", run_event["run_id"], key)
    return {"started": True, "run_id": run_event["run_id"], "execution_arn": started["executionArn"]}
