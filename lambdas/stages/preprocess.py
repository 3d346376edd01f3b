"""preprocess: metro names and coordinates, duplicate and outlier removal, every count reported."""

from __future__ import annotations

import pandas as pd

from lambdas.stage import stage_handler
from lambdas.stage_event import log
from shared.data.preprocess import clean_for_training
from shared.layout import Artifact


def preprocess(metros: pd.DataFrame, split_train: pd.DataFrame, split_eval: pd.DataFrame,
               split_holdout: pd.DataFrame) -> dict[Artifact, object]:
    made: dict[Artifact, object] = {}
    reports = {}
    for name, rows in (("train", split_train), ("eval", split_eval), ("holdout", split_holdout)):
        made[Artifact.of_split("clean", name)], report = clean_for_training(rows, metros)
        reports[name] = report.model_dump()
        log.info("preprocess %s: %s", name, report)
    return {**made, Artifact.CLEANING_REPORT: reports}


handler = stage_handler("preprocess", preprocess)
