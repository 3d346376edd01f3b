"""split: time-aware train / eval / holdout."""

from __future__ import annotations

from lambdas.events import StageEvent, log
from lambdas.logs import structured
from shared.layout import run_key
from shared.split import split_by_date
from shared.store import read_table, write_table


@structured
def handler(event: dict, context=None) -> dict:
    ev = StageEvent(**event)
    store = ev.open()
    parts = split_by_date(read_table(store, ev.artifacts["validated"]), ev.config.train_end, ev.config.eval_end)
    keys = {}
    for name, part in parts.items():
        keys[f"split_{name}"] = run_key(ev.run_id, f"splits/{name}.parquet")
        write_table(store, keys[f"split_{name}"], part)
    log.info("split: %s", ", ".join(f"{n} {len(p)} rows" for n, p in parts.items()))
    return ev.with_artifacts(**keys)
