"""split: time-aware train / eval / holdout."""

from __future__ import annotations

import pandas as pd

from lambdas.stage import stage_handler
from lambdas.stage_event import StageEvent, log
from shared.data.split import split_by_date
from shared.layout import Artifact


def split(run: StageEvent, validated: pd.DataFrame) -> dict[Artifact, pd.DataFrame]:
    train_end, eval_end = run.config.train_end, run.config.eval_end  # decided by validate
    parts = split_by_date(validated, train_end, eval_end)
    log.info("split: train < %s <= eval < %s <= holdout: %s", train_end, eval_end,
             ", ".join(f"{n} {len(p)} rows" for n, p in parts.items()))
    return {Artifact.of_split("split", name): part for name, part in parts.items()}


handler = stage_handler("split", split)
