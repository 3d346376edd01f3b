"""Walk the pipeline graph in-process: the same handlers, the same events, the same store as on AWS.

Like the state machine, it retries transient faults per the stage's policy, routes on the gate, and on any
failure runs the finishing stage with the error in the event before giving up (champion untouched).
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from typing import Any

from stepfunctions.graph import PipelineGraph, Stage, caught

log = logging.getLogger("housing.runner")
# Local stand-ins for the faults Step Functions retries (throttling, lost connections).
TRANSIENT = (ConnectionError, TimeoutError)  # and any error that says it is `retryable` (shared.errors)


class StageFailed(RuntimeError):
    """A stage's error; `unrecorded` is the finishing stage's own error when recording the failure failed too
    (a full disk fails both), so neither is lost."""

    def __init__(self, stage: str, error: BaseException, unrecorded: BaseException | None = None):
        also = f" (and recording the failure failed: {type(unrecorded).__name__}: {unrecorded})" if unrecorded else ""
        super().__init__(f"stage {stage!r} failed: {error}{also}")
        self.stage = stage
        self.error = error
        self.unrecorded = unrecorded


def resolve(handler_path: str) -> Callable[[dict, Any], dict]:
    module, _, function = handler_path.partition(":")
    return getattr(importlib.import_module(module), function)


def _call(stage: Stage, event: dict, sleep: Callable[[float], None]) -> dict:
    handler = resolve(stage.handler)
    delay: float = stage.retry.interval_s
    for attempt in range(stage.retry.attempts + 1):
        try:
            result = handler(event, None)
            missing = [a.value for a in stage.makes if a.value not in result.get("artifacts", {})]
            if missing:
                raise RuntimeError(f"stage {stage.name!r} declares that it makes {missing} but its event lacks them")
            return result
        except Exception as err:
            if not (isinstance(err, TRANSIENT) or getattr(err, "retryable", False)) or attempt == stage.retry.attempts:
                raise
            log.warning("%s: transient error (%s); retry %d in %ss", stage.name, err, attempt + 1, delay)
            sleep(delay)
            delay *= stage.retry.backoff
    raise AssertionError("unreachable")


def run_graph(
    graph: PipelineGraph,
    event: dict,
    on_stage: Callable[[str, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """Run every stage on the path the events choose; return the finishing stage's output."""
    graph.check_artifacts()
    name: str | None = graph.stages[0].name
    while name:
        started = time.monotonic()
        try:
            event = _call(graph.stage(name), event, sleep)
        except Exception as err:
            if name != graph.finish:
                failed = {**event, **caught(name, err)}
                try:
                    _call(graph.stage(graph.finish), failed, sleep)
                except Exception as unrecorded:
                    raise StageFailed(name, err, unrecorded) from err
            raise StageFailed(name, err) from err
        if on_stage:
            on_stage(name, time.monotonic() - started)
        name = graph.following(name, event)
    return event
