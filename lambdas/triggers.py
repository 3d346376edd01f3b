"""EventBridge -> the pipeline: an S3 `Object Created` under raw/, or the monthly retraining schedule,
starts one training execution.

The execution is named after the run id, a digest of the inputs' identity (the training file's key and
ETag, the metros table's, each incoming/ file's that has prices) and the run config: a repeated or
duplicated event, or a schedule with nothing new to learn, asks for the same name, which Step Functions
refuses, so the same inputs never train twice.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

from lambdas.logs import structured
from lambdas.s3_events import is_object_created, uploaded_object
from lambdas.stage_event import log, new_run_event
from shared.incoming import labelled_incoming
from shared.layout import RAW_PREFIX, REFERENCE_PREFIX
from shared.runs import input_identity
from shared.settings import get_settings
from shared.store import S3Store, newest_file

STATE_MACHINE_ENV = "TRAINING_STATE_MACHINE_ARN"


class NoMetrosTable(RuntimeError):
    """Training needs the metros table under reference/."""


@structured
def start_training(event: dict[str, Any], context=None) -> dict[str, Any]:
    """An upload under raw/ trains on that file, the monthly retraining on the newest one; both with the
    labelled months under incoming/ (nothing new since the last run: the same run id, so nothing starts)."""
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
        tags = {key: upload.etag}
    else:  # the monthly retraining schedule
        key, tags = newest_file(store, RAW_PREFIX), {}
        if key is None:
            log.info("no file under %s: nothing to retrain on", store.locate(RAW_PREFIX))
            return {"started": False, "reason": "nothing under raw/"}
    tables = [k for k in store.list(REFERENCE_PREFIX) if not k.endswith("/")]
    if len(tables) != 1:
        raise NoMetrosTable(f"expected one metros table under {store.locate(REFERENCE_PREFIX)}, found {tables or 'none'}")
    incoming = labelled_incoming(store)
    inputs = input_identity(store, [key, tables[0], *incoming], tags)
    run_event = new_run_event(store.url, key, tables[0], get_settings().run_config(), inputs, incoming_keys=incoming)
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
