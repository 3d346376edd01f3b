"""batch: after a promotion, score the run's holdout months with the (new) champion."""

from __future__ import annotations

import pandas as pd

from lambdas.stage import stage_handler
from lambdas.stage_event import log
from shared.layout import PREDICTIONS_PREFIX
from shared.serving.batch import batch_score
from shared.store import ArtifactStore


def batch(store: ArtifactStore, split_holdout: pd.DataFrame) -> dict:
    predictions, keys = batch_score(store, split_holdout, source="holdout")
    log.info("batch: %d predictions in %d month(s) under %s", len(predictions), len(keys),
             store.locate(PREDICTIONS_PREFIX))
    return {}


handler = stage_handler("batch", batch)
