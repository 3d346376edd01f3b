"""train: Optuna tuning tracked in MLflow, the judged model (fitted on the training split: evaluation and the
gate judge it), the served model (refitted with the chosen parameters on every labelled month), and the
sealed model bundle holding both. The refit runs here, before the gate, while the tuning's data is loaded; a
run the gate rejects is never served, so its refit is simply never used. Runs as an ECS Fargate task on AWS
(`python3 -m lambdas.task train`), as a plain call locally."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import pandas as pd

from lambdas.stage import stage_handler
from lambdas.stage_event import StageEvent, log
from shared import schema
from shared.layout import bundle_prefix
from shared.model.bundle import FittedModel
from shared.model.features import FeatureBuilder, Features
from shared.model.train import fit_bundle, last_month
from shared.model.tune import tune
from shared.settings import get_settings
from shared.store import ArtifactStore


def train(run: StageEvent, store: ArtifactStore, features_train: pd.DataFrame, features_tuning: pd.DataFrame,
          feature_builder: dict, metros: pd.DataFrame, clean_train: pd.DataFrame, clean_eval: pd.DataFrame,
          clean_holdout: pd.DataFrame, split_holdout: pd.DataFrame) -> dict:
    settings = get_settings()
    feats = Features.from_matrix(features_train)
    tracking_uri = settings.tracking_uri(run.store)
    log.info("tuning: %d trials or %.0f s, MLflow at %s", run.config.trials, run.config.tune_timeout, tracking_uri)
    result = tune(
        feats, features_train[schema.TARGET], features_tuning,
        trials=run.config.trials, timeout=run.config.tune_timeout, seed=run.config.seed, threads=settings.threads,
        baseline_params=run.config.baseline_params,
        tracking_uri=tracking_uri, artifact_location=settings.artifact_location(run.store),
        experiment=settings.mlflow_experiment, run_name=run.run_id,
        on_trial=lambda r: log.info(
            "trial %d/%d %s  val MAE %s  best %s  (%.0f s)", r["number"] + 1, r["of"], r["state"].lower(),
            f"{r['mae']:,.0f}" if r["mae"] is not None else "-", f"{r['best_mae']:,.0f}", r["elapsed_s"]),
    )
    done = result.validation
    if done["stopped_by_timeout"]:
        log.warning("tuning stopped at its %g s budget after %d of %d trials (HOUSING_TUNE_TIMEOUT sets it)",
                    run.config.tune_timeout, done["trials_run"], run.config.trials)
    log.info("tuning done: %d trials (%d pruned), best validation MAE %s", done["trials_run"], done["trials_pruned"],
             f"{done['mae']:,.0f}")
    judged = FittedModel(result.booster, FeatureBuilder.from_dict(feature_builder), last_month(clean_train))
    bundle = fit_bundle(
        run.run_id, judged, {"train": clean_train, "eval": clean_eval, "holdout": clean_holdout}, metros, split_holdout,
        run.config, params=result.params, rounds=result.rounds, threads=settings.threads,
        metrics={"validation": result.validation, "trials": result.trials},
        metadata={"train_rows": len(features_train), "mlflow_run_id": result.mlflow_run_id,
                  "mlflow_model_uri": result.mlflow_model_uri,
                  # Only a configured server is recorded: the default SQLite file moves with a copied store.
                  "mlflow_tracking_uri": settings.mlflow_tracking_uri})
    files = bundle.save(store)
    _log_bundle(tracking_uri, result.mlflow_run_id, files)
    log.info("bundle sealed at %s", store.locate(bundle_prefix(run.run_id)))
    return {}  # the bundle is written create-only through its own protocol (ModelBundle.save)


handler = stage_handler("train", train)


def _log_bundle(tracking_uri: str, mlflow_run_id: str, files: dict[str, bytes]) -> None:
    """Attach the bundle's files to the MLflow run, so the tracking server holds what serving uses."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        mlflow.MlflowClient(tracking_uri).log_artifacts(mlflow_run_id, tmp, artifact_path="bundle")

