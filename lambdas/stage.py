"""The one adapter between a stage function and the pipeline: it parses the stage event, loads the artifacts
the stage needs, calls the function, writes the artifacts it makes and returns the next stage's event.

A stage function is a plain function of its inputs. Its parameters are named after the artifacts it needs
(as the graph declares them: `stepfunctions.graph.TRAINING_PIPELINE`), plus `run` (the stage event: the run
id and its config) and `store` where it reads or writes through a protocol of its own (a sealed bundle, the
champion pointer). It returns the values of the artifacts it makes that the catalog stores as tables or
JSON (`shared.layout.CATALOG`); it writes the others itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from lambdas.logs import structured
from lambdas.stage_event import StageEvent
from shared.layout import CATALOG, Artifact, Codec
from shared.store import ArtifactStore, read_json, read_table, write_json, write_table
from stepfunctions.graph import TRAINING_PIPELINE, PipelineGraph, with_made

CONTEXT = ("run", "store")  # what a stage function may take besides its artifacts

_LOAD: dict[Codec, Callable[[ArtifactStore, str], Any]] = {Codec.TABLE: read_table, Codec.JSON: read_json}


def _save(store: ArtifactStore, key: str, codec: Codec, value: Any) -> None:
    if codec is Codec.TABLE:
        write_table(store, key, value)
    else:
        write_json(store, key, value.model_dump(mode="json") if isinstance(value, BaseModel) else value)


@dataclass
class Made:
    """What a stage function returns when it also changes the event for the stages after it (validate
    decides the split dates, evaluate the gate); otherwise it returns the artifacts' values alone."""

    values: Mapping[Artifact, Any] = field(default_factory=dict)
    run: StageEvent | None = None


class StageDeclarationError(TypeError):
    """A stage function does not match what the graph declares for its stage."""


StageFunction = Callable[..., "Mapping[Artifact, Any] | Made"]


def stage_handler(name: str, function: StageFunction, graph: PipelineGraph = TRAINING_PIPELINE
                  ) -> Callable[[dict, LambdaContext | None], dict]:
    """The `(event, context)` entry point of stage `name`, which runs `function` (checked against the
    graph's declaration now, at import, so a mismatch never reaches a deployment)."""
    stage = graph.stage(name)
    taken = list(inspect.signature(function).parameters)
    artifacts = {a.value: a for a in stage.needs if CATALOG[a].codec is not Codec.OWN}
    unknown = [p for p in taken if p not in CONTEXT and p not in artifacts]
    if unknown:
        raise StageDeclarationError(
            f"stage {name!r}: {function.__qualname__} takes {unknown}, which are neither artifacts the graph says it "
            f"needs and the catalog stores ({', '.join(artifacts) or 'none'}) nor {' / '.join(CONTEXT)}")
    written = {a for a in stage.makes if CATALOG[a].codec is not Codec.OWN}

    @structured
    def handler(event: dict, context: LambdaContext | None = None) -> dict:
        run = StageEvent(**event)
        store = run.open()
        keys = {a: run.artifact(a) for a in stage.needs}  # MissingArtifact names any no earlier stage made
        given: dict[str, Any] = {"run": run, "store": store}
        for parameter in taken:
            if parameter in artifacts:
                artifact = artifacts[parameter]
                given[parameter] = _LOAD[CATALOG[artifact].codec](store, keys[artifact])
        result = function(**{p: given[p] for p in taken})
        made = result if isinstance(result, Made) else Made(result)
        if set(made.values) != written:
            raise StageDeclarationError(f"stage {name!r} returned {sorted(map(str, made.values))}; the graph says it "
                                        f"makes {sorted(map(str, written))} (and the catalog stores them)")
        after = made.run or run
        for artifact, value in made.values.items():
            _save(store, after.key(artifact), CATALOG[artifact].codec, value)
        return with_made(after.model_dump(mode="json"), stage)

    return handler
