"""A pipeline stage run as an ECS Fargate task: `python3 -m lambdas.task <stage>`.

A task takes no payload and returns none, so its event travels through the store: the state machine puts the
stage event at `stage_event_key(run_id, stage, "in")` and names the run in STAGE_RUN_ID; the task runs the
stage's handler (the same one a Lambda or the local runner calls) on it and puts the event it returns at
`stage_event_key(run_id, stage, "out")`, which the state machine reads back as its next state. A stage that
fails exits non-zero: the task stops with that exit code and the state's Catch records the failure.
"""

from __future__ import annotations

import os
import sys

from lambdas.logs import task_logging
from shared.layout import stage_event_key
from shared.settings import get_settings
from shared.store import ArtifactStore, open_store, read_json, write_json
from stepfunctions.graph import TRAINING_PIPELINE, PipelineGraph
from stepfunctions.local_runner import resolve

RUN_ID_VARIABLE = "STAGE_RUN_ID"


def run_task(stage: str, run_id: str, store: ArtifactStore, graph: PipelineGraph = TRAINING_PIPELINE) -> dict:
    """Run `stage` on the event put for `run_id`; put the event it returns and return it."""
    event = read_json(store, stage_event_key(run_id, stage, "in"))
    returned = resolve(graph.stage(stage).handler)(event, None)
    write_json(store, stage_event_key(run_id, stage, "out"), returned)
    return returned


if __name__ == "__main__":
    task_logging()
    [name] = sys.argv[1:]
    run_task(name, os.environ[RUN_ID_VARIABLE], open_store(get_settings().store))
