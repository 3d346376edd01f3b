"""The champion pointer: the one artifact that moves. Serving and batch scoring read it; promote writes it
in a single PUT after verifying the bundle it names."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from shared.bundle import verify_bundle
from shared.layout import CHAMPION_KEY, bundle_prefix
from shared.store import ArtifactStore, read_json, write_json


class ChampionPointer(BaseModel):
    run_id: str
    bundle_prefix: str
    promoted_at: str
    reason: str = Field(description="'gate passed' or a manual promotion note")
    metrics: dict[str, Any] = Field(description="eval and holdout metrics of the model and of the baseline")
    previous_run_id: str | None = None


def read_champion(store: ArtifactStore) -> ChampionPointer | None:
    if not store.exists(CHAMPION_KEY):
        return None
    return ChampionPointer(**read_json(store, CHAMPION_KEY))


def promote_run(store: ArtifactStore, run_id: str, metrics: dict[str, Any], reason: str) -> ChampionPointer:
    """Verify the run's bundle against its manifest, then point the champion at it."""
    verify_bundle(store, run_id)
    previous = read_champion(store)
    pointer = ChampionPointer(
        run_id=run_id,
        bundle_prefix=bundle_prefix(run_id),
        promoted_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        reason=reason,
        metrics=metrics,
        previous_run_id=previous.run_id if previous else None,
    )
    write_json(store, CHAMPION_KEY, pointer.model_dump())
    return pointer
