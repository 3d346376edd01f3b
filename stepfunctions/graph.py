"""The training pipeline as data. The local runner walks it in-process; the CDK app turns the same data
into a Step Functions state machine (LambdaInvoke / EcsRunTask states, a Choice for the gate, Retry and
Catch). Nothing here runs anything."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from shared.layout import BUNDLES, CHAMPION_KEY, PREDICTIONS_PREFIX, QUARANTINE_PREFIX, RAW_PREFIX, REFERENCE_PREFIX, RUNS_PREFIX

LAMBDA = "lambda"
FARGATE = "fargate"


@dataclass(frozen=True)
class RetryPolicy:
    """Retry transient faults (throttling, a lost container); never a rejected input or a bug."""

    errors: tuple[str, ...] = ("Lambda.ServiceException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException",
                               "States.Timeout")
    attempts: int = 2
    interval_s: int = 5
    backoff: float = 2.0


@dataclass(frozen=True)
class Stage:
    name: str
    handler: str  # "module:function", called with (event, context)
    compute: str = LAMBDA
    memory_mb: int = 2048
    timeout_s: int = 300
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    vcpu: float | None = None  # Fargate only
    # Store key prefixes the stage reads and writes: the deployment grants exactly these (least privilege).
    # BUNDLES among the writes marks the one stage allowed to write sealed model bundles (create-only).
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()

    @property
    def passes_result(self) -> bool:
        """Whether the stage's return value is the next stage's event. A Fargate task's is not: Step Functions
        receives the ECS task's description, so the event flows on unchanged (both executors do this)."""
        return self.compute != FARGATE


# What a stage's failure adds to the event before the finishing stage records it: Step Functions' Catch
# puts {"Error", "Cause"} at ERROR_FIELD and a Pass state names the stage at FAILED_STAGE_FIELD; the local
# runner adds the same, so the run record is written from one shape whichever executor ran the graph.
ERROR_FIELD, FAILED_STAGE_FIELD = "error", "failed_stage"


def caught(stage: str, error: BaseException) -> dict:
    """The fields a Catch and its Pass state add for `error` raised by a Lambda stage's handler."""
    cause = {"errorType": type(error).__name__, "errorMessage": str(error)}
    return {ERROR_FIELD: {"Error": cause["errorType"], "Cause": json.dumps(cause)}, FAILED_STAGE_FIELD: stage}


@dataclass(frozen=True)
class Gate:
    """After `after`, go to `on_pass` if the event's `gate.passed` is true, else to `on_fail`."""

    after: str
    on_pass: str
    on_fail: str


@dataclass(frozen=True)
class PipelineGraph:
    stages: tuple[Stage, ...]
    gate: Gate
    finish: str  # the stage every path ends in (rejection and failure included)

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def next_of(self, name: str) -> str | None:
        """The stage after `name` on the straight path (the gate decides after its own stage)."""
        names = [s.name for s in self.stages]
        if name == self.finish:
            return None
        i = names.index(name) + 1
        return names[i] if i < len(names) else None


TRAINING_PIPELINE = PipelineGraph(
    stages=(
        Stage("validate", "lambdas.validate:handler", memory_mb=6144, timeout_s=300,
              reads=(RAW_PREFIX, REFERENCE_PREFIX), writes=(RUNS_PREFIX, QUARANTINE_PREFIX)),
        Stage("split", "lambdas.split:handler", memory_mb=6144, timeout_s=300, reads=(RUNS_PREFIX,), writes=(RUNS_PREFIX,)),
        Stage("preprocess", "lambdas.preprocess:handler", memory_mb=6144, timeout_s=300,
              reads=(RUNS_PREFIX,), writes=(RUNS_PREFIX,)),
        Stage("features", "lambdas.features:handler", memory_mb=6144, timeout_s=300,
              reads=(RUNS_PREFIX,), writes=(RUNS_PREFIX,)),
        Stage("train", "lambdas.train:handler", compute=FARGATE, memory_mb=16384, vcpu=4, timeout_s=3600,
              retry=RetryPolicy(errors=("ECS.AmazonECSException",), attempts=1, interval_s=30),
              reads=(RUNS_PREFIX,), writes=(RUNS_PREFIX, BUNDLES)),  # the only stage that writes a bundle
        Stage("evaluate", "lambdas.evaluate:handler", memory_mb=4096, timeout_s=300,
              reads=(RUNS_PREFIX, CHAMPION_KEY), writes=(RUNS_PREFIX,)),
        Stage("promote", "lambdas.promote:handler", memory_mb=1024, timeout_s=120,
              reads=(RUNS_PREFIX, CHAMPION_KEY), writes=(CHAMPION_KEY,)),
        Stage("batch", "lambdas.batch:handler", memory_mb=4096, timeout_s=300,
              reads=(RUNS_PREFIX, CHAMPION_KEY, PREDICTIONS_PREFIX), writes=(PREDICTIONS_PREFIX,)),
        Stage("record", "lambdas.record:handler", memory_mb=512, timeout_s=60, reads=(RUNS_PREFIX,), writes=(RUNS_PREFIX,)),
    ),
    gate=Gate(after="evaluate", on_pass="promote", on_fail="record"),
    finish="record",
)
