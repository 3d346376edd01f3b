"""The small JSON every pipeline stage receives and returns (Step Functions caps payloads at 256 KB, so
data never travels here: only the run id, the store URL and artifact keys)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from shared.data.input_rows import input_rows
from shared.errors import NotReady
from shared.layout import REFERENCE_PREFIX, Artifact, artifact_key
from shared.reports import GateDecision
from shared.runs import input_identity, run_id_for
from shared.serving.incoming import labelled_incoming
from shared.settings import RunConfig
from shared.store import ArtifactStore, newest_file, open_store

log = logging.getLogger("housing.stage")


class StageEvent(BaseModel):
    run_id: str
    store: str
    config: RunConfig
    input_key: str
    metros_key: str
    incoming_keys: list[str] = Field(
        default_factory=list, description="incoming/ files there when the run started: their labelled rows join the input")
    trigger: str | None = Field(None, description="what started the run: an upload, the monthly retraining, a "
                                                  "model-health alarm, `housing run` (not part of its identity)")
    input_rows: int | None = Field(None, description="the rows of the input and incoming files, told before they "
                                                     "are read (shared.data.input_rows: an upper estimate for CSV): "
                                                     "validate is sized from it")
    rows: int | None = Field(None, description="the rows the run learns from (the input with the incoming months "
                                               "joined), counted by validate: the stages after it are sized from it")
    artifacts: dict[Artifact, str] = Field(default_factory=dict, description="what earlier stages made, and where")
    gate: GateDecision | None = None
    error: dict[str, Any] | None = Field(None, description='{"Error", "Cause"}: set by the Catch on failure')
    failed_stage: str | None = Field(None, description="the stage that failed: set beside `error`")
    status: str | None = Field(None, description="how the run ended (promoted, rejected, failed): set by the last stage")

    def open(self) -> ArtifactStore:
        return open_store(self.store)

    def key(self, artifact: Artifact) -> str:
        """Where this run writes `artifact`."""
        return artifact_key(self.run_id, artifact)

    def artifact(self, artifact: Artifact) -> str:
        """The key of an artifact an earlier stage made; MissingArtifact if none did."""
        if artifact not in self.artifacts:
            raise MissingArtifact(f"run {self.run_id}: no stage before this one made {artifact.value!r} "
                                  f"(made so far: {', '.join(self.artifacts) or 'nothing'})")
        return self.artifacts[artifact]


class MissingArtifact(KeyError):
    """A stage asked for an artifact no earlier stage made (the graph's declarations catch this first)."""

    def __str__(self) -> str:
        return self.args[0]


class NoMetrosTable(NotReady):
    """Training needs a metros table under reference/."""


def prepare_run(store: ArtifactStore, input_key: str, config: RunConfig, metros_key: str | None = None,
                tags: Mapping[str, str | None] | None = None, trigger: str | None = None) -> dict:
    """The first stage's event for training on `input_key`, the one rule for every way a run starts (an
    upload, the monthly schedule, `housing run`): the metros table given, else the newest file under
    reference/ (the one uploaded last); the incoming/ files with prices; the run id from all of them and
    the config (`tags`: version tags the caller already has, e.g. an S3 event's ETag); `trigger` says what
    started it, for the run record."""
    metros_key = metros_key or newest_file(store, REFERENCE_PREFIX)
    if metros_key is None:
        raise NoMetrosTable(f"no metros table under {store.locate(REFERENCE_PREFIX)}: upload one (columns metro_full, "
                            "lat, lng)")
    incoming = labelled_incoming(store)
    inputs = input_identity(store, [input_key, metros_key, *incoming], tags)
    return {**new_run_event(store.url, input_key, metros_key, config, inputs, incoming_keys=incoming), "trigger": trigger,
            "input_rows": input_rows(store, [input_key, *incoming])}


def new_run_event(store_url: str, input_key: str, metros_key: str, config: RunConfig, input_fingerprint: str,
                  run_id: str | None = None, incoming_keys: Sequence[str] = ()) -> dict:
    """The first stage's event; the run id follows from the inputs' fingerprint (`input_identity`) and the
    config unless given (a claimed attempt, see `claim_attempt`)."""
    return StageEvent(
        run_id=run_id or run_id_for(input_fingerprint, config), store=store_url, config=config,
        input_key=input_key, metros_key=metros_key, incoming_keys=list(incoming_keys),
    ).model_dump(mode="json")
