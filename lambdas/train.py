"""train: Optuna tuning tracked in MLflow, a refit, and the sealed model bundle. Runs as the ECS Fargate
task on AWS (`python -m lambdas.train` reads the event from $STAGE_EVENT), as a plain call locally."""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import mlflow
import xgboost as xgb

from lambdas.logs import structured
from lambdas.stage_event import StageEvent, log
from shared import schema
from shared.bundle import ModelBundle
from shared.features import FeatureBuilder, Features, feature_schema
from shared.history import ZipHistory
from shared.layout import Artifact, bundle_prefix
from shared.runs import now
from shared.settings import get_settings
from shared.split import SPLITS
from shared.store import read_json, read_table
from shared.tune import tune


@structured
def handler(event: dict, context=None) -> dict:
    ev = StageEvent(**event)
    store = ev.open()
    settings = get_settings()
    matrix = read_table(store, ev.artifact(Artifact.FEATURES_TRAIN))
    feats = Features.from_matrix(matrix)
    tracking_uri = settings.tracking_uri(ev.store)
    log.info("tuning: %d trials or %.0f s, MLflow at %s", ev.config.trials, ev.config.tune_timeout, tracking_uri)
    result = tune(
        feats, matrix[schema.TARGET], read_table(store, ev.artifact(Artifact.FEATURES_TUNING)),
        trials=ev.config.trials, timeout=ev.config.tune_timeout, seed=ev.config.seed, threads=settings.threads,
        baseline_params=ev.config.baseline_params,
        tracking_uri=tracking_uri, artifact_location=settings.artifact_location(ev.store),
        experiment=settings.mlflow_experiment, run_name=ev.run_id,
        on_trial=lambda r: log.info(
            "trial %d/%d %s  val MAE %s  best %s  (%.0f s)", r["number"] + 1, r["of"], r["state"].lower(),
            f"{r['mae']:,.0f}" if r["mae"] is not None else "-", f"{r['best_mae']:,.0f}", r["elapsed_s"]),
    )
    done = result.validation
    if done["stopped_by_timeout"]:
        log.warning("tuning stopped at its %g s budget after %d of %d trials (HOUSING_TUNE_TIMEOUT sets it)",
                    ev.config.tune_timeout, done["trials_run"], ev.config.trials)
    log.info("tuning done: %d trials (%d pruned), best validation MAE %s", done["trials_run"], done["trials_pruned"],
             f"{done['mae']:,.0f}")
    bundle = ModelBundle(
        run_id=ev.run_id,
        booster=result.booster,
        features=FeatureBuilder.from_dict(read_json(store, ev.artifact(Artifact.FEATURE_BUILDER))),
        schema=feature_schema(),
        metros=read_table(store, ev.artifact(Artifact.METROS)),
        params={**result.params, "rounds": result.rounds},
        metrics={"validation": result.validation, "trials": result.trials},
        # Every labelled month the run saw: the zips' history when the model serves.
        history=ZipHistory(*(read_table(store, ev.artifact(Artifact.of_split("clean", name))) for name in SPLITS)),
        metadata={
            "run_id": ev.run_id,
            "trained_at": now(),
            "train_rows": len(matrix),
            "price_range": [float(matrix[schema.TARGET].min()), float(matrix[schema.TARGET].max())],
            "mlflow_run_id": result.mlflow_run_id,
            "mlflow_model_uri": result.mlflow_model_uri,
            # Only a configured server is recorded: the default SQLite file moves with a copied store.
            "mlflow_tracking_uri": settings.mlflow_tracking_uri,
            "xgboost_version": xgb.__version__,
            "python": platform.python_version(),
            "config": ev.config.model_dump(mode="json"),
        },
    )
    files = bundle.save(store)
    _log_bundle(tracking_uri, result.mlflow_run_id, files)
    log.info("bundle sealed at %s", store.locate(bundle_prefix(ev.run_id)))
    # The event passes on unchanged: on AWS this runs as a Fargate task, which returns no event, and the
    # bundle's keys follow from the run id (evaluate records them).
    return ev.with_artifacts()


def _log_bundle(tracking_uri: str, mlflow_run_id: str, files: dict[str, bytes]) -> None:
    """Attach the bundle's files to the MLflow run, so the tracking server holds what serving uses."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        mlflow.MlflowClient(tracking_uri).log_artifacts(mlflow_run_id, tmp, artifact_path="bundle")


if __name__ == "__main__":  # the Fargate task's entrypoint
    print(json.dumps(handler(json.loads(os.environ.get("STAGE_EVENT") or sys.argv[1]), None)))
