"""XGBoost training on the feature matrix (the model's target is the log ratio to the anchor), and the
candidate's bundle around a judged booster: its calibration, the refit that serves, what serving needs."""

from __future__ import annotations

import logging
import os
import platform
import time
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from shared import schema
from shared.clock import utc_now
from shared.data.history import ZipHistory
from shared.model.bundle import FittedModel, ModelBundle
from shared.model.calibration import CALIBRATION_SPLIT, Calibration
from shared.model.drift import DriftReference
from shared.model.features import PASSTHROUGH, FeatureBuilder, feature_schema
from shared.model.smoke import record_smoke
from shared.settings import RunConfig

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


def fit_bundle(run_id: str, judged: FittedModel, splits: dict[str, pd.DataFrame], metros: pd.DataFrame,
               raw_holdout: pd.DataFrame, config: RunConfig, params: dict[str, Any], rounds: int, threads: int = 0,
               metrics: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None) -> ModelBundle:
    """The run's bundle (not yet saved) around `judged`, the booster fitted on the training split that the
    gate will judge: its calibration from a backtest on the eval months (which it never learned), the served
    model refitted with the same `params` and `rounds` on every labelled month (`splits`), and what serving
    needs (the zips' history, the drift reference, the rollout check's requests from `raw_holdout`)."""
    calibration = calibrate(judged, splits, config.interval_level)
    labelled = pd.concat(splits.values(), ignore_index=True)
    log.info("refit: the chosen parameters on every labelled month (%d rows, through %s)", len(labelled),
             last_month(labelled))
    served, served_features = refit(labelled, params, rounds, config.seed, threads)
    bundle = ModelBundle(
        run_id=run_id,
        served=FittedModel(served, served_features, last_month(labelled)),
        judged=judged,
        schema=feature_schema(),
        metros=metros,
        params={**params, "rounds": rounds},
        metrics=metrics or {},
        labelled=labelled,  # every labelled month the run saw: the zips' history when serving
        calibration=calibration,
        drift_reference=DriftReference.fit(labelled, PASSTHROUGH),
        metadata={
            "run_id": run_id,
            "trained_at": utc_now(),
            "served_rows": len(labelled),
            "trained_through": last_month(labelled),
            "judged_trained_through": judged.trained_through,
            "price_range": [float(labelled[schema.TARGET].min()), float(labelled[schema.TARGET].max())],
            "xgboost_version": xgb.__version__,
            "python": platform.python_version(),
            "config": config.model_dump(mode="json"),
            **(metadata or {}),
        },
    )
    # The rollout check's requests: the newest labelled month's raw rows (the holdout's last), as a caller sends them.
    bundle.smoke = record_smoke(bundle, raw_holdout)
    return bundle


def calibrate(judged: FittedModel, splits: dict[str, pd.DataFrame], level: float) -> Calibration:
    """The booster shrink and intervals per horizon bucket, from the judged model's backtest on the eval
    months; both models of the bundle use them."""
    rows = splits[CALIBRATION_SPLIT]
    log.info("backtest on %s (%d rows) for the calibration", CALIBRATION_SPLIT, len(rows))
    table = judged.backtest(rows, ZipHistory(splits["train"]), feature_schema().names)
    calibration = Calibration.fit(table, level)
    for bucket, fitted in calibration.buckets.items():
        log.info("calibration, horizon %s: market move weight %.2f (%s), booster weight %.2f (its correction "
                 "trusted within %+.1f%%..%+.1f%%), %s weight %.2f, %.0f%% interval +-%.1f%% where the market agrees "
                 "with momentum", bucket, fitted.market,
                 ", ".join(f"{name} {w:.2f}" for name, w in fitted.mix.items() if w) or "none", fitted.shrink,
                 *(100 * np.expm1(b) for b in fitted.bounds or (-np.inf, np.inf)),
                 fitted.naive or "no naive forecaster", fitted.blend, 100 * level, 100 * np.expm1(fitted.spread * fitted.scale))
    return calibration
