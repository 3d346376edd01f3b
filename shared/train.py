"""XGBoost training on the feature matrix (the model's target is the log ratio to the anchor)."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from shared import schema
from shared.features import FeatureBuilder

# A sound baseline: used as-is by `train_booster`, and as Optuna's first trial so tuning can only improve it.
DEFAULT_PARAMS: dict[str, Any] = {
    "max_depth": 7,
    "learning_rate": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 5.0,
    "reg_lambda": 1.0,
    "reg_alpha": 0.001,
}
DEFAULT_ROUNDS = 400
PROGRESS_SECONDS = 15  # a fit longer than this says how far it is, about this often

log = logging.getLogger("housing.train")


class Progress(xgb.callback.TrainingCallback):
    """Logs "<what>: round i/n (s)" every PROGRESS_SECONDS: a fit of minutes is not silent."""

    def __init__(self, what: str, rounds: int):
        self.what, self.rounds = what, rounds
        self.started = self.last = time.monotonic()

    def after_iteration(self, model, epoch: int, evals_log) -> bool:
        now = time.monotonic()
        if now - self.last >= PROGRESS_SECONDS:
            self.last = now
            log.info("%s: round %d/%d (%.0f s)", self.what, epoch + 1, self.rounds, now - self.started)
        return False


def booster_params(params: dict[str, Any], seed: int, threads: int = 0) -> dict[str, Any]:
    return {
        "objective": "reg:squarederror",
        "eval_metric": "rmse",
        "tree_method": "hist",
        "seed": seed,
        "nthread": threads or os.cpu_count() or 1,
        **params,
    }


def train_booster(
    X: pd.DataFrame,
    y: np.ndarray,
    params: dict[str, Any] | None = None,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = 0,
    threads: int = 0,
    what: str = "fit",
) -> xgb.Booster:
    """Fit one booster with fixed parameters (the judged model and the refit after tuning); `what` names it
    in the progress lines."""
    dtrain = xgb.QuantileDMatrix(X, label=y, nthread=threads or -1)
    return xgb.train(booster_params(params or DEFAULT_PARAMS, seed, threads), dtrain, num_boost_round=rounds,
                     callbacks=[Progress(what, rounds)])


def refit(rows: pd.DataFrame, params: dict[str, Any], rounds: int, seed: int = 0,
          threads: int = 0) -> tuple[xgb.Booster, FeatureBuilder]:
    """The served model: encoders and booster fitted again, with the parameters tuning chose, on every
    labelled month (`rows`), so a model promoted today has learned the latest months too."""
    builder = FeatureBuilder(seed)
    feats = builder.fit_transform(rows)
    return train_booster(feats.X, feats.target(rows[schema.TARGET]), params, rounds, seed, threads, what="refit"), builder


def last_month(rows: pd.DataFrame) -> str:
    return rows[schema.DATE].max().strftime("%Y-%m")
