"""Run identity and the run record: a run id comes from the input and the configuration, so the same
upload delivered twice maps to the same run (and on AWS, to the same execution name)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from shared.clock import utc_now
from shared.layout import RUNS_PREFIX, run_key, run_record_key
from shared.reports import GateDecision, Headline
from shared.settings import RunConfig
from shared.store import ArtifactExists, ArtifactStore, digest, read_json, write_json

log = logging.getLogger(__name__)

FINISHED = ("promoted", "rejected")
# An attempt without a record is running until this old: a training task is stopped after hours, not days.
ABANDONED_AFTER_DAYS = 1.0
# A run id: `run-<16 hex>` (the input and config's identity), then `-<n>` for the identity's n-th attempt.
RUN_ID = re.compile(r"(run-[0-9a-f]{16})(?:-([0-9]+))?")


def run_id_for(input_fingerprint: str, config: RunConfig) -> str:
    """`run-<16 hex>`: a digest of the input's fingerprint (content hash, or S3 ETag/version) and the config."""
    identity = f"{input_fingerprint}\n{config.model_dump_json()}"
    return f"run-{digest(identity.encode())[:16]}"


def input_identity(store: ArtifactStore, keys: Sequence[str], tags: Mapping[str, str | None] | None = None) -> str:
    """What a run learns from, as the fingerprint `run_id_for` takes: each input key with its version tag
    (as given, e.g. the ETag an S3 event carries, else the store's), so new or changed data is a new run."""
    tags = tags or {}
    return "|".join(f"{key}@{(tags.get(key) or store.tag(key)).strip(chr(34))}" for key in keys)


def check_run_id(run_id: str) -> str:
    """`run_id` if it is one (it becomes part of store keys, so nothing else may pass)."""
    if not RUN_ID.fullmatch(run_id):
        raise ValueError(f"{run_id!r} is not a run id (run-<16 hex digits>, maybe -<attempt>; see `housing status`)")
    return run_id


def claim_attempt(store: ArtifactStore, identity: str) -> str:
    """A run id no earlier attempt at `identity` has used: the identity itself, then `<identity>-2`, ...

    Every training attempt writes under its own prefix, so a forced re-run or a re-run after a crash never
    writes over an earlier attempt's (maybe serving) bundle. The claim is a create-only write, so two
    processes can never claim the same id."""
    for attempt in itertools.count(1):
        run_id = identity if attempt == 1 else f"{identity}-{attempt}"
        try:
            store.write_bytes(run_key(run_id, "attempt.json"), json.dumps({"claimed_at": utc_now()}).encode(), create_only=True)
            return run_id
        except ArtifactExists:
            continue
    raise AssertionError("unreachable")


def finished_attempt(store: ArtifactStore, identity: str) -> RunRecord | None:
    """The newest attempt at `identity` that finished (promoted or rejected), if any."""
    keys = [k for k in store.list(RUNS_PREFIX + identity) if k.endswith("/run.json")
            and (m := RUN_ID.fullmatch(k.split("/")[1])) and m[1] == identity]
    records = [RunRecord(**read_json(store, k)) for k in keys]
    done = sorted((r for r in records if r.status in FINISHED), key=lambda r: r.finished_at)
    return done[-1] if done else None


class Failure(BaseModel):
    """Why a run failed, the same whichever executor ran it: the stage, the error's type, its message."""

    stage: str
    type: str
    message: str


class RunRecord(BaseModel):
    run_id: str
    status: str = Field(description="promoted | rejected | failed")
    promoted: bool = Field(False, description="whether the champion names this run (a failure after promote keeps it)")
    input_key: str
    incoming_keys: list[str] = Field(default_factory=list, description="incoming/ files whose labelled rows it could learn")
    rows: int | None = Field(None, description="the rows it learned from, the incoming months' included (validate's "
                                               "count, which sized its Fargate tasks); none when validate did not finish")
    trigger: str | None = Field(None, description="what started it (an upload, the schedule, a model-health alarm, the CLI)")
    finished_at: str
    gate: GateDecision | None = None
    metrics: Headline | None = None
    error: Failure | None = None
    artifacts: dict[str, str] = Field(default_factory=dict)
    tuning: dict[str, Any] | None = Field(
        None, description="what tuning did: trials_run of trials_asked, pruned, and stopped_by_timeout (then the "
                          "result depends on the machine's speed, not only on the config)")


def write_run_record(store: ArtifactStore, record: RunRecord) -> None:
    write_json(store, run_record_key(record.run_id), record.model_dump())


def read_run_record(store: ArtifactStore, run_id: str) -> RunRecord | None:
    key = run_record_key(run_id)
    return RunRecord(**read_json(store, key)) if store.exists(key) else None


def list_runs(store: ArtifactStore, unreadable: list[str] | None = None) -> list[RunRecord]:
    """Every run's record, newest first. A record that is not a run record (not JSON, truncated, another
    shape) is left out with a warning, and its key named in `unreadable` when the caller passes a list: one
    broken file must not hide every other run."""
    records = []
    for key in store.list(RUNS_PREFIX):
        if not key.endswith("/run.json"):
            continue
        try:
            records.append(RunRecord(**read_json(store, key)))
        except (ValueError, TypeError, ValidationError) as err:  # json's JSONDecodeError is a ValueError
            log.warning("%s is not a run record (%s): left out", key, type(err).__name__)
            if unreadable is not None:
                unreadable.append(f"{key} ({type(err).__name__})")
    return sorted(records, key=lambda r: r.finished_at, reverse=True)


@dataclass
class Prunable:
    """A training attempt whose files nothing reads again, and why."""

    run_id: str
    why: str
    keys: list[str]


def prunable_attempts(store: ArtifactStore, keep: set[str], older_than_days: float,
                      now_s: float | None = None) -> list[Prunable]:
    """Attempts under runs/ that failed, or were claimed and never finished (a killed process), more than
    `older_than_days` ago; never a run in `keep` (the champion and every run a promotion named), never a
    promoted, rejected or unreadable one (a rejected run's figures explain a gate decision; an unreadable
    record is `housing status`'s to name). Why a command and not a lifecycle rule: S3 rules select by
    prefix or tag, a run's failure is known only from its record, and a rule on runs/ would also expire the
    bundles a rollback needs."""
    now_s = time.time() if now_s is None else now_s
    by_run: dict[str, list[str]] = {}
    for key in store.list(RUNS_PREFIX):
        by_run.setdefault(key[len(RUNS_PREFIX):].split("/", 1)[0], []).append(key)
    out = []
    for run_id, keys in sorted(by_run.items()):
        if run_id in keep or not RUN_ID.fullmatch(run_id):
            continue
        try:
            record = read_run_record(store, run_id)
        except (ValueError, TypeError, ValidationError):
            continue
        if record is not None:
            age = (now_s - dt.datetime.fromisoformat(record.finished_at).timestamp()) / 86400
            if record.status == "failed" and not record.promoted and age >= older_than_days:
                stage = record.error.stage if record.error else "an unknown stage"
                out.append(Prunable(run_id, f"failed in {stage} {age:.0f} day(s) ago", keys))
            continue
        claim = run_key(run_id, "attempt.json")
        claimed = (now_s - store.modified(claim)) / 86400 if claim in keys else None
        if claimed is not None and claimed >= max(older_than_days, ABANDONED_AFTER_DAYS):
            out.append(Prunable(run_id, f"claimed {claimed:.0f} day(s) ago and never finished (a stopped process)", keys))
    return out
