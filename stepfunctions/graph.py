"""The training pipeline as data. The local runner walks it in-process; the CDK app turns the same data
into a Step Functions state machine (LambdaInvoke / EcsRunTask states, a Choice for the gate, Retry and
Catch). Nothing here runs anything."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.layout import (
    BUNDLES,
    CARDS_PREFIX,
    CATALOG,
    CHAMPION_KEY,
    COMPONENTS,
    DRIFT_PREFIX,
    INCOMING_PREFIX,
    LIVE_MISSES_KEY,
    PREDICTIONS_PREFIX,
    PROMOTIONS_PREFIX,
    QUARANTINE_PREFIX,
    RAW_PREFIX,
    REFERENCE_PREFIX,
    RUNS_PREFIX,
    SERVING_PREFIX,
    STAGE_EVENTS,
    Access,
    Artifact,
    artifact_key,
    covered,
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


# RunTask's own failures, capacity among them (AmazonECS.Unknown), with back-off.
FARGATE_RETRY = RetryPolicy(errors=("ECS.AmazonECSException", "AmazonECS.Unknown"), attempts=3, interval_s=60)


@dataclass(frozen=True)
class PeakMemory:
    """How a stage's peak memory grows with the rows a run learns from: `base_mb` plus `per_million_rows_mb`
    per million rows, fitted on `benchmarks/scale.py`'s 1x and 3x runs (its table in the README; at 10x it
    over-states the measured peaks by 8-16%). A Fargate stage's task is sized from it at run time."""

    base_mb: int
    per_million_rows_mb: int

    def mb(self, rows: int) -> float:
        return self.base_mb + self.per_million_rows_mb * rows / 1e6

    def rows_within(self, memory_mb: float) -> int:
        """The most rows whose peak stays within `memory_mb` (0 when even the base does not)."""
        if self.per_million_rows_mb == 0:
            return 0 if memory_mb < self.base_mb else 10**12
        return max(0, int((memory_mb - self.base_mb) * 1e6 / self.per_million_rows_mb))


@dataclass(frozen=True)
class Stage:
    """One step of the graph, declared once: what runs it, with what resources, the artifacts it needs from
    earlier stages and the ones it makes (`shared.layout.CATALOG` says where each lives and how it is
    stored), and the store keys it touches beyond those (its input files, quarantine, the champion)."""

    name: str
    handler: str  # "module:function", called with (event, context): lambdas.stage.stage_handler makes it
    compute: str = LAMBDA
    memory_mb: int = 2048
    timeout_s: int = 300
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    vcpu: float | None = None  # Fargate only
    peak: PeakMemory = PeakMemory(0, 0)
    needs: tuple[Artifact, ...] = ()
    makes: tuple[Artifact, ...] = ()
    also_reads: tuple[str, ...] = ()
    also_writes: tuple[str, ...] = ()

    @property
    def writes(self) -> tuple[str, ...]:
        """The keys and prefixes it writes: where its artifacts live, and its extras. The deployment grants
        exactly these (least privilege); BUNDLES among them marks the stage that makes the bundle, the only
        one allowed to write a sealed model bundle (create-only)."""
        return tuple(dict.fromkeys([CATALOG[a].grant for a in self.makes] + list(self.also_writes) + self._events))

    @property
    def reads(self) -> tuple[str, ...]:
        """The keys and prefixes it reads beyond its writes: where its needs live, and its extras."""
        wanted = [CATALOG[a].grant for a in self.needs] + list(self.also_reads) + self._events
        return tuple(g for g in dict.fromkeys(wanted) if not covered(g, self.writes) and not covered(g, [
            other for other in wanted if other != g]))

    @property
    def _events(self) -> list[str]:
        """A Fargate task reads the event it is handed and puts the one it returns (lambdas.task)."""
        return [STAGE_EVENTS] if self.compute == FARGATE else []

    @property
    def access(self) -> Access:
        return Access(reads=self.reads, writes=self.writes)


ARTIFACTS_FIELD = "artifacts"  # where the event keeps what the stages made (StageEvent.artifacts)


def with_made(event: dict, stage: Stage) -> dict:
    """The event with the artifacts `stage` makes recorded at their keys (the run id fixes them): what a
    stage's adapter returns."""
    made = {a.value: artifact_key(event["run_id"], a) for a in stage.makes}
    return {**event, ARTIFACTS_FIELD: {**event.get(ARTIFACTS_FIELD, {}), **made}}


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

    def made_before(self, name: str) -> tuple[Artifact, ...]:
        """The artifacts every path to `name` has made before it (in the order they are made)."""
        made: list[Artifact] | None = None
        for path in self.paths():
            if name in path:
                before = [a for earlier in path[:path.index(name)] for a in self.stage(earlier).makes]
                made = before if made is None else [a for a in made if a in before]
        return tuple(made or ())

    def replaced(self, changes: Mapping[str, Mapping[str, Any]]) -> PipelineGraph:
        """This graph with the fields of the stages named in `changes` replaced ({"memory_mb": 6144}); the
        stages, their order and what they read and make are unchanged."""
        unknown = sorted(set(changes) - {s.name for s in self.stages})
        if unknown:
            raise ValueError(f"no stage named {unknown}: the stages are {[s.name for s in self.stages]}")
        return dataclasses.replace(self, stages=tuple(
            dataclasses.replace(s, **changes[s.name]) if s.name in changes else s for s in self.stages))

    def on_fargate(self, tasks: Mapping[str, Mapping[str, Any]]) -> PipelineGraph:
        """This graph with the stages named in `tasks` run as Fargate tasks, each with its fields replaced
        ({"vcpu": 2, "memory_mb": 16384, "timeout_s": 3600}): for data that outgrows a Lambda's memory or its
        15 minutes."""
        return self.replaced({name: {"compute": FARGATE, "retry": FARGATE_RETRY, **fields} for name, fields in tasks.items()})

    def next_of(self, name: str) -> str | None:
        """The stage after `name` on the straight path (the gate decides after its own stage)."""
        names = [s.name for s in self.stages]
        if name == self.finish:
            return None
        i = names.index(name) + 1
        return names[i] if i < len(names) else None

    def following(self, name: str, event: dict) -> str | None:
        """The stage to run after `name` returned `event`: the gate's choice after its stage, else the next."""
        if name == self.gate.after:
            return self.gate.on_pass if self.gate.passed(event) else self.gate.on_fail
        return self.next_of(name)


TRAINING_PIPELINE = PipelineGraph(
    stages=(
        Stage("validate", "lambdas.stages.validate:handler", memory_mb=3008, timeout_s=300, peak=PeakMemory(150, 1200),
              makes=(Artifact.VALIDATED, Artifact.METROS),
              also_reads=(RAW_PREFIX, REFERENCE_PREFIX, INCOMING_PREFIX), also_writes=(QUARANTINE_PREFIX,)),
        Stage("split", "lambdas.stages.split:handler", memory_mb=3008, timeout_s=300, peak=PeakMemory(400, 800),
              needs=(Artifact.VALIDATED,), makes=(Artifact.SPLIT_TRAIN, Artifact.SPLIT_EVAL, Artifact.SPLIT_HOLDOUT)),
        Stage("preprocess", "lambdas.stages.preprocess:handler", memory_mb=3008, timeout_s=300, peak=PeakMemory(200, 900),
              needs=(Artifact.METROS, Artifact.SPLIT_TRAIN, Artifact.SPLIT_EVAL, Artifact.SPLIT_HOLDOUT),
              makes=(Artifact.CLEAN_TRAIN, Artifact.CLEAN_EVAL, Artifact.CLEAN_HOLDOUT, Artifact.CLEANING_REPORT)),
        Stage("features", "lambdas.stages.features:handler", memory_mb=3008, timeout_s=300, peak=PeakMemory(250, 2250),
              needs=(Artifact.CLEAN_TRAIN,),
              makes=(Artifact.FEATURES_TRAIN, Artifact.FEATURES_TUNING, Artifact.FEATURE_BUILDER, Artifact.FEATURE_SCHEMA)),
        Stage("train", "lambdas.stages.train:handler", compute=FARGATE, memory_mb=16384, vcpu=4, timeout_s=3600,
              peak=PeakMemory(600, 3100), retry=FARGATE_RETRY,
              needs=(Artifact.FEATURES_TRAIN, Artifact.FEATURES_TUNING, Artifact.FEATURE_BUILDER, Artifact.METROS,
                     Artifact.CLEAN_TRAIN, Artifact.CLEAN_EVAL, Artifact.CLEAN_HOLDOUT, Artifact.SPLIT_HOLDOUT),
              makes=(Artifact.BUNDLE,)),
        # The backtests and AutoTheta: 129 s at 1x, 440 s at 3x (benchmarks/scale.py); Lambda allows 900 s.
        Stage("evaluate", "lambdas.stages.evaluate:handler", memory_mb=3008, timeout_s=900, peak=PeakMemory(450, 1550),
              needs=(Artifact.BUNDLE, Artifact.CLEAN_TRAIN, Artifact.CLEAN_EVAL, Artifact.CLEAN_HOLDOUT),
              makes=(Artifact.EVALUATION,), also_reads=(CHAMPION_KEY,)),  # the champion's bundle is one of BUNDLES
        # The new champion's record in the promotion history, its model card, and its serving state.
        Stage("promote", "lambdas.stages.promote:handler", memory_mb=1024, timeout_s=120, peak=PeakMemory(250, 225),
              needs=(Artifact.BUNDLE, Artifact.EVALUATION), makes=(Artifact.CHAMPION,),
              also_reads=(PREDICTIONS_PREFIX,), also_writes=(PROMOTIONS_PREFIX, CARDS_PREFIX, SERVING_PREFIX)),
        Stage("batch", "lambdas.stages.batch:handler", memory_mb=3008, timeout_s=300, peak=PeakMemory(250, 750),
              needs=(Artifact.SPLIT_HOLDOUT, Artifact.CHAMPION), makes=(Artifact.PREDICTIONS,),
              # the champion's bundle, and the live months' misses its intervals adapt to
              also_reads=(BUNDLES, LIVE_MISSES_KEY), also_writes=(SERVING_PREFIX, DRIFT_PREFIX)),
        # record runs after any failure too, so it needs nothing: it records what the event has.
        Stage("record", "lambdas.stages.record:handler", memory_mb=512, timeout_s=60, peak=PeakMemory(128, 0),
              makes=(Artifact.RUN_RECORD,),
              also_reads=(RUNS_PREFIX,)),
    ),
    gate=Gate(after="evaluate", on_pass="promote", on_fail="record"),
    finish="record",
)


def access_table(graph: PipelineGraph | None = None) -> dict[str, Access]:
    """What every component reads and writes of the store, the graph's stages and the functions outside it
    alike: the deployment's grants, and what the access audit (tests/integration/test_stage_access.py) checks against."""
    graph = graph or TRAINING_PIPELINE
    return {**{stage.name: stage.access for stage in graph.stages}, **COMPONENTS}
