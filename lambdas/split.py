"""split: time-aware train / eval / holdout."""

from __future__ import annotations

from lambdas.logs import structured
from lambdas.stage_event import StageEvent, log
from shared.layout import Artifact
from shared.split import split_by_date
from shared.store import read_table, write_table


@structured
def handler(event: dict, context=None) -> dict:
    ev = StageEvent(**event)
    store = ev.open()
    validated = read_table(store, ev.artifact(Artifact.VALIDATED))
    train_end, eval_end = ev.config.train_end, ev.config.eval_end  # decided by validate
    parts = split_by_date(validated, train_end, eval_end)
    for name, part in parts.items():
        write_table(store, ev.key(Artifact.of_split("split", name)), part)
    log.info("split: train < %s <= eval < %s <= holdout: %s", train_end, eval_end,
             ", ".join(f"{n} {len(p)} rows" for n, p in parts.items()))
    return ev.with_artifacts(*(Artifact.of_split("split", name) for name in parts))
