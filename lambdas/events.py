"""The small JSON every pipeline stage receives and returns (Step Functions caps payloads at 256 KB, so
data never travels here: only the run id, the store URL and artifact keys)."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, Field

from shared.runs import run_id_for
from shared.settings import RunConfig
from shared.store import ArtifactStore, open_store

log = logging.getLogger("housing.stage")


class StageEvent(BaseModel):
    run_id: str
    store: str
    config: RunConfig
    input_key: str
    metros_key: str
    artifacts: dict[str, str] = Field(default_factory=dict)
    gate: dict[str, Any] | None = None
    error: dict[str, Any] | None = Field(None, description='{"Error", "Cause"}: set by the Catch on failure')
    failed_stage: str | None = Field(None, description="the stage that failed: set beside `error`")

    def open(self) -> ArtifactStore:
        return open_store(self.store)

    def with_artifacts(self, **keys: str) -> dict[str, Any]:
        """The event for the next stage: this one plus the new artifacts' keys."""
        return self.model_copy(update={"artifacts": {**self.artifacts, **keys}}).model_dump(mode="json")


def new_run_event(store_url: str, input_key: str, metros_key: str, config: RunConfig, input_fingerprint: str,
                  run_id: str | None = None) -> dict:
    """The first stage's event; the run id follows from the input's fingerprint and the config unless given
    (a claimed attempt, see `claim_attempt`)."""
    return StageEvent(
        run_id=run_id or run_id_for(input_fingerprint, config), store=store_url, config=config,
        input_key=input_key, metros_key=metros_key,
    ).model_dump(mode="json")
