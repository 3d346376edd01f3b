"""Optuna search over XGBoost parameters, every trial tracked in MLflow, then a refit on all training rows.

Trials are fitted and judged on the tuning matrix (`shared.model.features.tuning_matrix`): the training split's
last months, featurised by encoders fitted on the months before them only, judge trials fitted on those
earlier months (the eval split stays untouched for the gate). Each trial stops early when the validation error stops
improving, and is pruned when it falls behind the median of earlier trials.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mlflow
import mlflow.xgboost
import numpy as np
import optuna
import pandas as pd
import xgboost as xgb

from shared import schema
from shared.model.features import VALIDATION_COLUMN, Features
from shared.model.metrics import regression_metrics
from shared.model.train import DEFAULT_PARAMS, booster_params, train_booster

# Never let MLflow read the project's lock file to describe the model's environment (inferring it from the
# environment can crash, and a training image need not carry the lock file): the requirements are given below.
os.environ.setdefault("MLFLOW_LOG_UV_FILES", "false")
os.environ.setdefault("MLFLOW_UV_AUTO_DETECT", "false")
# With the requirements given, MLflow still looks for pip (a uv environment has none) to pin it in the
# model's conda.yaml and warns "Failed to resolve installed pip version" on every run: nothing to act on.
logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)
log = logging.getLogger("housing.tune")
MAX_ROUNDS = 1000
# A trial stops once EARLY_STOP rounds in a row improve the validation RMSE (of the log ratio to the anchor)
# by less than MIN_DELTA: the anchor leaves a smooth target whose error creeps down for hundreds of rounds
# by amounts worth nothing in dollars (1e-4 is 0.01% of a price), at a cost of minutes per trial.
EARLY_STOP = 40
MIN_DELTA = 1e-4
PRUNE_EVERY = 20


@dataclass
class TuneResult:
    booster: xgb.Booster
    params: dict[str, Any]
    rounds: int
    validation: dict[str, Any]  # the best trial's MAE and how the search went (trials run, pruned, budget)
    mlflow_run_id: str
    mlflow_model_uri: str
    trials: list[dict[str, Any]] = field(default_factory=list)


def _search_space(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "max_depth": trial.suggest_int("max_depth", 4, 10),
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
        "subsample": trial.suggest_float("subsample", 0.6, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 100.0, log=True),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        "reg_alpha": trial.suggest_float("reg_alpha", 1e-3, 10.0, log=True),
    }


class _PruningCallback(xgb.callback.TrainingCallback):
    """Reports the validation RMSE to Optuna every few rounds and stops hopeless trials."""

    def __init__(self, trial: optuna.Trial):
        self.trial = trial

    def after_iteration(self, model, epoch: int, evals_log) -> bool:
        if epoch % PRUNE_EVERY == 0:
            self.trial.report(evals_log["valid"]["rmse"][-1], epoch)
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"pruned at round {epoch}")
        return False


class _Budget(xgb.callback.TrainingCallback):
    """Stops a trial's boosting when the tuning budget runs out (it still counts, with the rounds it had):
    the budget is kept within a trial, not only between trials."""

    def __init__(self, deadline: float, trial: optuna.Trial):
        self.deadline, self.trial = deadline, trial

    def after_iteration(self, model, epoch: int, evals_log) -> bool:
        if time.monotonic() < self.deadline:
            return False
        self.trial.set_user_attr("stopped_by_budget", True)
        return True


@dataclass
class _Validation:
    """The tuning matrix as XGBoost data: rows to fit trials on, rows to judge them on."""

    dfit: xgb.QuantileDMatrix
    dval: xgb.DMatrix
    prices: np.ndarray
    anchor: np.ndarray
    fit_rows: int

    @classmethod
    def of(cls, matrix: pd.DataFrame, threads: int) -> _Validation:
        held = matrix[VALIDATION_COLUMN].to_numpy(dtype=bool)
        features = Features.from_matrix(matrix)
        prices = matrix[schema.TARGET]
        target = features.target(prices)
        return cls(dfit=xgb.QuantileDMatrix(features.X[~held], label=target[~held], nthread=threads or -1),
                   dval=xgb.DMatrix(features.X[held], label=target[held], nthread=threads or -1),
                   prices=prices.to_numpy()[held], anchor=features.anchor[held], fit_rows=int((~held).sum()))


def _objective(validation: _Validation, seed: int, threads: int, deadline: float) -> Callable[[optuna.Trial], float]:
    """One trial: train with early stopping on the held-out year, log it as a nested MLflow run, return its MAE."""
    def objective(trial: optuna.Trial) -> float:
        params = _search_space(trial)
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
            booster = xgb.train(
                booster_params(params, seed, threads), validation.dfit, num_boost_round=MAX_ROUNDS,
                evals=[(validation.dval, "valid")], verbose_eval=False,
                callbacks=[xgb.callback.EarlyStopping(rounds=EARLY_STOP, min_delta=MIN_DELTA), _PruningCallback(trial),
                           _Budget(deadline, trial)],
            )
            rounds = booster.best_iteration + 1
            predicted = np.exp(validation.anchor + booster.predict(validation.dval, iteration_range=(0, rounds)))
            metrics = regression_metrics(validation.prices, predicted)
            trial.set_user_attr("rounds", rounds)
            mlflow.log_params({**params, "rounds": rounds})
            mlflow.log_metrics({f"val_{k}": v for k, v in metrics.model_dump(exclude={"rows"}).items()})
        return metrics.mae
    return objective


def _progress(records: list[dict[str, Any]], trials: int, on_trial: Callable[[dict[str, Any]], None] | None):
    """The study's callback: one record per finished trial (kept for the bundle, passed to `on_trial`)."""
    started = time.monotonic()

    def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        done = trial.state == optuna.trial.TrialState.COMPLETE
        record = {"number": trial.number, "state": trial.state.name, "mae": trial.value if done else None,
                  "best_mae": study.best_value if study.best_trial else None,
                  "elapsed_s": round(time.monotonic() - started, 1), "of": trials}
        records.append(record)
        if on_trial:
            on_trial(record)
    return report


def _use_experiment(tracking_uri: str, artifact_location: str | None, experiment: str) -> None:
    mlflow.set_tracking_uri(tracking_uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        mlflow.create_experiment(experiment, artifact_location=artifact_location)
    mlflow.set_experiment(experiment)


def tune(
    features: Features,
    prices: pd.Series,
    tuning: pd.DataFrame,
    *,
    trials: int,
    timeout: float,
    seed: int,
    threads: int = 0,
    baseline_params: dict[str, Any] | None = None,
    tracking_uri: str,
    artifact_location: str | None,
    experiment: str,
    run_name: str,
    on_trial: Callable[[dict[str, Any]], None] | None = None,
) -> TuneResult:
    """Search on the tuning matrix; refit the best parameters on every training row (`features`, `prices`)."""
    target = features.target(prices)
    validation = _Validation.of(tuning, threads)
    _use_experiment(tracking_uri, artifact_location, experiment)
    records: list[dict[str, Any]] = []

    with mlflow.start_run(run_name=run_name) as parent:
        mlflow.set_tags({"housing.run_id": run_name, "stage": "tune"})
        mlflow.log_params({"trials": trials, "timeout_s": timeout, "seed": seed, "train_rows": validation.fit_rows,
                           "validation_rows": len(validation.prices)})
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            direction="minimize",
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=60),
        )
        study.enqueue_trial({**DEFAULT_PARAMS, **(baseline_params or {})})  # the baseline goes first
        deadline = time.monotonic() + timeout
        study.optimize(_objective(validation, seed, threads, deadline), n_trials=trials, timeout=timeout,
                       callbacks=[_progress(records, trials, on_trial)])

        best = study.best_trial
        rounds = int(best.user_attrs["rounds"])
        log.info("fitting the chosen parameters on every training row (%d rounds): the model the gate judges", rounds)
        booster = train_booster(features.X, target, best.params, rounds=rounds, seed=seed, threads=threads, what="judged fit")
        # The trials a wall-clock budget allowed depend on the machine: a run is reproducible from its config
        # only when it ran every trial asked for (`stopped_by_timeout` false); the record says which.
        summary: dict[str, Any] = {
            "mae": best.value, "trials_run": len(study.trials), "trials_asked": trials, "budget_s": timeout,
            "trials_pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
            "stopped_by_timeout": len(study.trials) < trials or any(t.user_attrs.get("stopped_by_budget") for t in study.trials)}
        mlflow.log_params({f"best_{k}": v for k, v in best.params.items()} | {"best_rounds": rounds})
        mlflow.log_metrics({"best_val_mae": summary["mae"], "trials_run": summary["trials_run"],
                            "trials_pruned": summary["trials_pruned"]})
        # Explicit requirements: MLflow must not try to infer the environment (see MLFLOW_LOG_UV_FILES above).
        logged = mlflow.xgboost.log_model(booster, name="model", pip_requirements=[f"xgboost=={xgb.__version__}"])
        return TuneResult(booster=booster, params=best.params, rounds=rounds, validation=summary, trials=records,
                          mlflow_run_id=parent.info.run_id, mlflow_model_uri=logged.model_uri)
