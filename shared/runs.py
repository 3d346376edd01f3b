"""Run identity and the run record: a run id comes from the input and the configuration, so the same
upload delivered twice maps to the same run (and on AWS, to the same execution name)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from pydantic import BaseModel, Field

from shared.layout import run_record_key
from shared.settings import RunConfig
from shared.store import ArtifactStore, read_json, write_json

FINISHED = ("promoted", "rejected")


def run_id_for(input_fingerprint: str, config: RunConfig) -> str:
    """`run-<16 hex>`: a digest of the input's fingerprint (content hash, or S3 ETag/version) and the config."""
    digest = hashlib.sha256(f"{input_fingerprint}\n{config.model_dump_json()}".encode()).hexdigest()
    return f"run-{digest[:16]}"


def fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class RunRecord(BaseModel):
    run_id: str
    status: str = Field(description="promoted | rejected | failed")
    input_key: str
    finished_at: str
    gate: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    artifacts: dict[str, str] = Field(default_factory=dict)


def write_run_record(store: ArtifactStore, record: RunRecord) -> None:
    write_json(store, run_record_key(record.run_id), record.model_dump())


def read_run_record(store: ArtifactStore, run_id: str) -> RunRecord | None:
    key = run_record_key(run_id)
    return RunRecord(**read_json(store, key)) if store.exists(key) else None


def list_runs(store: ArtifactStore) -> list[RunRecord]:
    records = [RunRecord(**read_json(store, k)) for k in store.list("runs/") if k.endswith("/run.json")]
    return sorted(records, key=lambda r: r.finished_at, reverse=True)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
