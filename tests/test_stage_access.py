"""The S3 permissions the deployment grants each stage come from `Stage.reads` / `Stage.writes` in the
graph; this runs the real pipeline and checks that every key each stage touches is inside what it declares
(so the least-privilege policies are not just narrow, but enough)."""

from __future__ import annotations

import fnmatch

import pytest

import lambdas.stage_event
import stepfunctions.local_runner as local_runner
from lambdas.stage_event import new_run_event
from shared.layout import BUNDLES
from shared.settings import Settings
from shared.store import LocalStore, write_table
from stepfunctions.graph import TRAINING_PIPELINE

pytestmark = pytest.mark.slow


class AuditedStore:
    """A store that records which stage read, listed or wrote which key."""

    def __init__(self, inner, log, stage):
        self.inner, self.log, self.stage = inner, log, stage
        self.url = inner.url

    def _note(self, op, key):
        self.log.append((self.stage[0], op, key))

    def read_bytes(self, key):
        self._note("read", key)
        return self.inner.read_bytes(key)

    def exists(self, key):
        self._note("read", key)
        return self.inner.exists(key)

    def list(self, prefix):
        self._note("list", prefix)
        return self.inner.list(prefix)

    def tags(self, prefix):
        self._note("list", prefix)
        return self.inner.tags(prefix)

    def tag(self, key):
        self._note("read", key)
        return self.inner.tag(key)

    def write_bytes(self, key, data, create_only=False):
        self._note("write", key)
        self.inner.write_bytes(key, data, create_only=create_only)

    def read_tagged(self, key):
        self._note("read", key)
        return self.inner.read_tagged(key)

    def replace(self, key, data, tag):
        self._note("write", key)
        return self.inner.replace(key, data, tag)

    def modified(self, key):
        self._note("read", key)
        return self.inner.modified(key)

    def locate(self, key):
        return self.inner.locate(key)


def covered(key: str, grants: tuple[str, ...]) -> bool:
    """As IAM matches object ARNs: a prefix ("runs/", "runs/*/model/") covers its keys, a key only itself."""
    return any(fnmatch.fnmatchcase(key, g + "*") if g.endswith("/") else key == g for g in grants)


def test_every_stage_stays_inside_its_declared_prefixes(monkeypatch, tmp_path, small_data):
    store = LocalStore(tmp_path / "store")
    rows, metros = small_data
    write_table(store, "raw/data.parquet", rows)
    write_table(store, "reference/metros.parquet", metros)
    log, stage = [], [None]
    real_resolve = local_runner.resolve

    def resolve(handler_path):
        handler = real_resolve(handler_path)
        name = next(s.name for s in TRAINING_PIPELINE.stages if s.handler == handler_path)

        def in_stage(event, context=None):
            stage[0] = name
            return handler(event, context)
        return in_stage

    monkeypatch.setattr(local_runner, "resolve", resolve)
    monkeypatch.setattr(lambdas.stage_event, "open_store", lambda url: AuditedStore(LocalStore(url), log, stage))
    event = new_run_event(store.url, "raw/data.parquet", "reference/metros.parquet",
                          Settings(store=store.url, trials=2).run_config(), "audit")
    local_runner.run_graph(TRAINING_PIPELINE, event)

    assert {name for name, _, _ in log} == {s.name for s in TRAINING_PIPELINE.stages}
    outside = []
    for name, op, key in log:
        declared = TRAINING_PIPELINE.stage(name)
        grants = declared.writes if op == "write" else declared.reads + declared.writes
        if op != "list" and not covered(key, grants):
            outside.append((name, op, key))
    assert not outside, outside
    # Only the stage declaring BUNDLES writes a model bundle (the deployment denies it to every other role).
    bundle_writers = {name for name, op, key in log if op == "write" and covered(key, (BUNDLES,))}
    assert bundle_writers == {s.name for s in TRAINING_PIPELINE.stages if BUNDLES in s.writes} == {"train"}
