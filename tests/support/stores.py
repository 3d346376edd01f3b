"""Copying a trained store's served state (champion, bundles, run records, scored months) into another
store, as the S3 tests start from the local pipeline's result."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shared.layout import PREDICTIONS_PREFIX
from shared.serving.predictions import read_predictions, write_scored_months


def copy_served_state(source, target) -> None:
    """Models and runs byte for byte (but not MLflow's database or the run's data); the scored months
    through `write_scored_months`, since a month's summary names its predictions by the target store's
    own version tag."""
    for key in source.list(""):
        if key.startswith(("models/", "runs/")) and not key.endswith(".db") and "/data/" not in key:
            target.write_bytes(key, source.read_bytes(key))
    if source.list(PREDICTIONS_PREFIX):
        write_scored_months(target, read_predictions(source))


def with_a_month_not_known_yet(source, root, only: bool = False):
    """A copy of `source` (a LocalStore) at `root` where 2024-01 is scored without its prices, as the
    README's `housing batch --input 2024-01.csv` leaves it (`only`: every other scored month removed)."""
    import shutil

    from shared.serving.batch import batch_score
    from shared.store import LocalStore

    shutil.copytree(source.root, root)
    store = LocalStore(root)
    raw = source_rows(store)
    january = raw.loc[raw["date"].astype("str").str.startswith("2023-12")].drop(columns=["price"])
    if only:
        shutil.rmtree(store.root / PREDICTIONS_PREFIX)
    batch_score(store, january.assign(date="2024-01-31", year=2024), "2024-01.csv")
    return store


def source_rows(store):
    """The raw rows the store's champion was trained on."""
    from shared.layout import Artifact, artifact_key
    from shared.serving.champion import read_champion
    from shared.store import read_table

    return read_table(store, artifact_key(read_champion(store).run_id, Artifact.VALIDATED))


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

    def delete(self, key):
        self._note("write", key)
        self.inner.delete(key)

    def modified(self, key):
        self._note("read", key)
        return self.inner.modified(key)

    def locate(self, key):
        return self.inner.locate(key)

    def __getattr__(self, name):  # what is not a store access (an S3 store's bucket, relative_key, ...)
        return getattr(self.inner, name)


def predictions(zips, price: float = 300_000.0, month: int = 6) -> pd.DataFrame:
    """Scored rows of June (or `month`) 2023, one per zip code of `zips`, as batch scoring writes them."""
    n = len(zips)
    return pd.DataFrame({
        "zipcode": np.asarray(zips, dtype="int64"), "metro": "Atlanta", "city": "ATL", "lat": 33.7, "lng": -84.4,
        "date": pd.Timestamp(2023, month, 1) + pd.offsets.MonthEnd(0), "year": 2023, "month": month,
        "actual": price, "predicted": price * 1.01, "low": price * 0.95, "high": price * 1.05,
        "model_run_id": "r1", "trained_through": "2021-12", "median_ppsf": 150.0, "median_list_ppsf": 160.0,
        "median_list_price": price,
    }, index=range(n))


def ungranted(log: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The accesses of `log` (component, operation, key) that the component's grants do not cover: a stage's
    or a function's outside the graph, from the one access table the deployment grants."""
    from shared.layout import covered
    from stepfunctions.graph import access_table

    table = access_table()
    out = []
    for name, op, key in log:
        access = table[name]
        grants = access.writes if op == "write" else access.reads + access.writes
        if op != "list" and not covered(key, grants):
            out.append((name, op, key))
    return out
