"""batch: after a promotion, score the run's holdout months with the (new) champion."""

from __future__ import annotations

from lambdas.logs import structured
from lambdas.stage_event import StageEvent, log
from shared.batch import batch_score
from shared.layout import Artifact
from shared.store import read_table


@structured
def handler(event: dict, context=None) -> dict:
    ev = StageEvent(**event)
    store = ev.open()
    predictions, keys = batch_score(store, read_table(store, ev.artifact(Artifact.SPLIT_HOLDOUT)), source="holdout")
    log.info("batch: %d predictions in %d month(s) under %s", len(predictions), len(keys),
             store.locate(ev.key(Artifact.PREDICTIONS)))
    return ev.with_artifacts(Artifact.PREDICTIONS)
