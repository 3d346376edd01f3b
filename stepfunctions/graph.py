"""The training pipeline as data. The local runner walks it in-process; the CDK app turns the same data
into a Step Functions state machine (LambdaInvoke / EcsRunTask states, a Choice for the gate, Retry and
Catch). Nothing here runs anything."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from shared.layout import (
    BUNDLES,
    CARDS_PREFIX,
    CHAMPION_KEY,
    DRIFT_PREFIX,
    INCOMING_PREFIX,
    PREDICTIONS_PREFIX,
    PROMOTIONS_PREFIX,
    QUARANTINE_PREFIX,
    RAW_PREFIX,
    REFERENCE_PREFIX,
    RUNS_PREFIX,
    SERVING_PREFIX,
    Artifact,
)
from shared.reports import GateDecision
from shared.store import ArtifactChanged

LAMBDA = "lambda"
FARGATE = "fargate"


@dataclass(frozen=True)
class RetryPolicy:
    """Retry transient faults (throttling, the Lambda service's own errors, a lost container, a write that
    lost a compare-and-swap race: the errors that say they are `retryable`, shared.errors); never a
    rejected input, a bug, or a timeout (a deterministic stage that ran out of time once will again)."""

    errors: tuple[str, ...] = ("Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                               "Lambda.TooManyRequestsException", "Lambda.ClientExecutionTimeoutException",
                               ArtifactChanged.__name__)
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
    # The artifacts (names in the event) the stage reads from earlier stages and the ones it adds.
    needs: tuple[Artifact, ...] = ()
    makes: tuple[Artifact, ...] = ()

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


# Where the gate stage puts its `GateDecision` in the event, and the JSON path the state machine's Choice
# reads (the local runner reads the same field through the model).
GATE_FIELD = "gate"
GATE_PASSED_PATH = f"$.{GATE_FIELD}.passed"


class ArtifactOrderError(ValueError):
    """The graph has a stage read an artifact before any stage makes it."""


@dataclass(frozen=True)
class Gate:
    """After `after`, go to `on_pass` if the event's GateDecision passed, else to `on_fail`."""

    after: str
    on_pass: str
    on_fail: str

    def passed(self, event: dict) -> bool:
        return GateDecision.model_validate(event[GATE_FIELD]).passed


@dataclass(frozen=True)
class PipelineGraph:
    stages: tuple[Stage, ...]
    gate: Gate
    finish: str  # the stage every path ends in (rejection and failure included)

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def paths(self) -> list[list[str]]:
        """Every order the stages run in when nothing fails: through the gate's pass and its fail branch."""
        def walk(name: str | None, passed: bool) -> list[str]:
            order = []
            while name:
                order.append(name)
                name = (self.gate.on_pass if passed else self.gate.on_fail) if name == self.gate.after else self.next_of(name)
            return order
        return [walk(self.stages[0].name, True), walk(self.stages[0].name, False)]

    def check_artifacts(self) -> None:
        """Every artifact a stage needs is made by a stage before it, on every path (ArtifactOrderError)."""
        problems = []
        for path in self.paths():
            made: set[Artifact] = set()
            for name in path:
                stage = self.stage(name)
                problems += [f"{name} needs {a.value!r}, which no stage before it makes ({' -> '.join(path)})"
                             for a in stage.needs if a not in made]
                made.update(stage.makes)
        if problems:
            raise ArtifactOrderError("; ".join(dict.fromkeys(problems)))

    def next_of(self, name: str) -> str | None:
        """The stage after `name` on the straight path (the gate decides after its own stage)."""
        names = [s.name for s in self.stages]
        if name == self.finish:
            return None
        i = names.index(name) + 1
        return names[i] if i < len(names) else None


TRAINING_PIPELINE = PipelineGraph(
    stages=(
        Stage("validate", "lambdas.validate:handler", memory_mb=3008, timeout_s=300,
              reads=(RAW_PREFIX, REFERENCE_PREFIX, INCOMING_PREFIX), writes=(RUNS_PREFIX, QUARANTINE_PREFIX),
              makes=(Artifact.VALIDATED, Artifact.METROS)),
        Stage("split", "lambdas.split:handler", memory_mb=3008, timeout_s=300, reads=(RUNS_PREFIX,), writes=(RUNS_PREFIX,),
              needs=(Artifact.VALIDATED,), makes=(Artifact.SPLIT_TRAIN, Artifact.SPLIT_EVAL, Artifact.SPLIT_HOLDOUT)),
        Stage("preprocess", "lambdas.preprocess:handler", memory_mb=3008, timeout_s=300,
              reads=(RUNS_PREFIX,), writes=(RUNS_PREFIX,),
              needs=(Artifact.METROS, Artifact.SPLIT_TRAIN, Artifact.SPLIT_EVAL, Artifact.SPLIT_HOLDOUT),
              makes=(Artifact.CLEAN_TRAIN, Artifact.CLEAN_EVAL, Artifact.CLEAN_HOLDOUT, Artifact.CLEANING_REPORT)),
        Stage("features", "lambdas.features:handler", memory_mb=3008, timeout_s=300,
              reads=(RUNS_PREFIX,), writes=(RUNS_PREFIX,), needs=(Artifact.CLEAN_TRAIN,),
              makes=(Artifact.FEATURES_TRAIN, Artifact.FEATURES_TUNING, Artifact.FEATURE_BUILDER, Artifact.FEATURE_SCHEMA)),
        # The training task's result is not an event (see Stage.passes_result): the bundle's key follows
        # from the run id, and evaluate records it.
        Stage("train", "lambdas.train:handler", compute=FARGATE, memory_mb=16384, vcpu=4, timeout_s=3600,
              # RunTask's own failures, capacity among them (AmazonECS.Unknown), with back-off.
              retry=RetryPolicy(errors=("ECS.AmazonECSException", "AmazonECS.Unknown"), attempts=3, interval_s=60),
              reads=(RUNS_PREFIX,), writes=(RUNS_PREFIX, BUNDLES),  # the only stage that writes a bundle
              needs=(Artifact.FEATURES_TRAIN, Artifact.FEATURES_TUNING, Artifact.FEATURE_BUILDER, Artifact.METROS,
                     Artifact.CLEAN_TRAIN, Artifact.CLEAN_EVAL, Artifact.CLEAN_HOLDOUT, Artifact.SPLIT_HOLDOUT)),
        Stage("evaluate", "lambdas.evaluate:handler", memory_mb=3008, timeout_s=300,
              reads=(RUNS_PREFIX, CHAMPION_KEY), writes=(RUNS_PREFIX,),
              needs=(Artifact.CLEAN_TRAIN, Artifact.CLEAN_EVAL, Artifact.CLEAN_HOLDOUT),
              makes=(Artifact.BUNDLE, Artifact.EVALUATION)),
        # The new champion's record in the promotion history, its model card, and its serving state.
        Stage("promote", "lambdas.promote:handler", memory_mb=1024, timeout_s=120,
              reads=(RUNS_PREFIX, CHAMPION_KEY, PREDICTIONS_PREFIX, SERVING_PREFIX),
              writes=(CHAMPION_KEY, PROMOTIONS_PREFIX, CARDS_PREFIX, SERVING_PREFIX),
              needs=(Artifact.BUNDLE,), makes=(Artifact.CHAMPION,)),
        Stage("batch", "lambdas.batch:handler", memory_mb=3008, timeout_s=300,
              reads=(RUNS_PREFIX, CHAMPION_KEY, PREDICTIONS_PREFIX, SERVING_PREFIX),
              writes=(PREDICTIONS_PREFIX, SERVING_PREFIX, DRIFT_PREFIX),
              needs=(Artifact.SPLIT_HOLDOUT, Artifact.CHAMPION), makes=(Artifact.PREDICTIONS,)),
        # record runs after any failure too, so it needs nothing: it records what the event has.
        Stage("record", "lambdas.record:handler", memory_mb=512, timeout_s=60, reads=(RUNS_PREFIX,), writes=(RUNS_PREFIX,)),
    ),
    gate=Gate(after="evaluate", on_pass="promote", on_fail="record"),
    finish="record",
)
