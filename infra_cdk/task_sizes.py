"""How a stage's compute follows the rows a run learns from (the event's `rows`, set by validate; for
validate itself `input_rows`, the input files' rows told when the run starts), so data
that grows past what the deployment was sized for gets a larger task instead of an out-of-memory kill
hours into a run:

- a Fargate stage picks from a ladder of sizes: its configured one first, then larger ones up to the
  deployment's `fargate_max_memory_mb`, each taken while the stage's modelled peak at that many rows
  (`stepfunctions.graph.PeakMemory`) stays under HEADROOM of it;
- a Lambda stage whose modelled peak outgrows its function runs as a Fargate task instead (its fallback,
  `fargate_fallback`), sized the same way."""

from __future__ import annotations

from dataclasses import dataclass

from infra_cdk.config import FARGATE_SIZES, fargate_offers
from stepfunctions.graph import FARGATE, PipelineGraph, Stage

# A task's memory over the stage's modelled peak: the model is a straight line through two runs, and a
# task at 0.91 of its memory (features at 10x) leaves too little for another run's data.
HEADROOM = 1.25
# The smallest task a Lambda stage's fallback starts from (its ladder climbs from here by the rows).
FALLBACK = {"vcpu": 2, "memory_mb": 8192, "timeout_s": 3600}


@dataclass(frozen=True)
class TaskSize:
    cpu: int
    memory_mb: int
    max_rows: int  # the most rows this size takes (the stage's modelled peak times HEADROOM within its memory)

    @property
    def name(self) -> str:
        return f"{self.cpu // 1024}vCpu{self.memory_mb // 1024}GB" if self.cpu >= 1024 else f"{self.cpu}Cpu{self.memory_mb}MB"


def size_ladder(stage: Stage, max_memory_mb: int) -> list[TaskSize]:
    """The sizes `stage` may run with, smallest first: its own, then for each CPU at least its own the
    middle and the top of the memory range that CPU allows (steps of 1.3-1.6x, on the smallest CPU that
    offers each), then `max_memory_mb`; only sizes that take more rows than the one before. One size when
    the stage's peak does not grow with the data or `max_memory_mb` is at most its own memory."""
    cpu = int(stage.vcpu * 1024)
    ladder = [TaskSize(cpu, stage.memory_mb, _rows_within(stage, stage.memory_mb))]
    if stage.peak.per_million_rows_mb == 0:
        return ladder
    ranges = [FARGATE_SIZES[c] for c in FARGATE_SIZES if c >= cpu]
    memories = {low + round((high - low) / 2 / step) * step for low, high, step in ranges} | {
        high for _, high, _ in ranges} | {max_memory_mb}
    for memory in sorted(m for m in memories if stage.memory_mb < m <= max_memory_mb):
        offering = [c for c in FARGATE_SIZES if c >= cpu and fargate_offers(c, memory)]
        if offering and _rows_within(stage, memory) > ladder[-1].max_rows:
            ladder.append(TaskSize(min(offering), memory, _rows_within(stage, memory)))
    return ladder


def size_for(ladder: list[TaskSize], rows: int | None) -> TaskSize:
    """The size a run of `rows` gets (the state machine's Choice decides the same): the first that takes
    them, else the largest; without a row count (none told: an input that is no table), the configured one."""
    if rows is None:
        return ladder[0]
    return next((size for size in ladder if rows <= size.max_rows), ladder[-1])


def function_capacity(stage: Stage) -> int:
    """The most rows a Lambda stage's function takes."""
    return _rows_within(stage, stage.memory_mb)


def _rows_within(stage: Stage, memory_mb: int) -> int:
    """The most rows whose modelled peak, with HEADROOM, stays within `memory_mb`."""
    return stage.peak.rows_within(memory_mb / HEADROOM)


def fargate_fallbacks(graph: PipelineGraph) -> dict[str, Stage]:
    """The Lambda stages that run as a Fargate task (of FALLBACK's size, then sized by the rows) when a run's
    rows outgrow their function: each one whose peak grows with the data but the finishing one (the failure
    path invokes it). The first stage (validate) goes by the input files' rows, told before it runs
    (`StageEvent.input_rows`), the others by the rows it counted."""
    names = [s.name for s in graph.stages if s.compute != FARGATE and s.name != graph.finish
             and s.peak.per_million_rows_mb]
    moved = graph.on_fargate({name: FALLBACK for name in names})
    return {name: moved.stage(name) for name in names}


@dataclass(frozen=True)
class Placement:
    compute: str  # "lambda" or "fargate"
    memory_mb: int
    timeout_s: int
    cpu: int | None = None  # Fargate only


def placement(stage: Stage, fallback: Stage | None, rows: int | None, max_memory_mb: int) -> Placement:
    """Where and with what the state machine runs `stage` for a run of `rows` (None: not counted yet): its
    task sized from the rows, its function while they fit, else its fallback task (`fargate_fallbacks`)."""
    if stage.compute != FARGATE and (fallback is None or rows is None or rows <= function_capacity(stage)):
        return Placement(stage.compute, stage.memory_mb, stage.timeout_s)
    task = stage if stage.compute == FARGATE else fallback
    size = size_for(size_ladder(task, max_memory_mb), rows)
    return Placement(FARGATE, size.memory_mb, task.timeout_s, size.cpu)
