"""The MLflow model registry: each promoted bundle becomes a model version carrying the `champion` alias."""

from __future__ import annotations

import mlflow

from shared.layout import bundle_prefix
from shared.settings import Settings
from shared.store import ArtifactStore, read_json

ALIAS = "champion"


def register_champion(store: ArtifactStore, run_id: str, settings: Settings) -> str | None:
    """Register the model logged by the run's tuning and point the alias at it; None if it was never logged.
    Call it after `shared.serving.champion.promote`, which has verified the bundle and moved the pointer."""
    metadata = read_json(store, bundle_prefix(run_id) + "metadata.json")
    mlflow_run_id = metadata.get("mlflow_run_id")
    if not mlflow_run_id:
        return None
    client = mlflow.MlflowClient(metadata.get("mlflow_tracking_uri") or settings.tracking_uri(store.url))
    existing = client.search_model_versions(f"name='{settings.registered_model}' and run_id='{mlflow_run_id}'")
    if existing:
        version = existing[0].version
    else:
        if not client.search_registered_models(f"name='{settings.registered_model}'"):
            client.create_registered_model(settings.registered_model)
        source = metadata.get("mlflow_model_uri") or f"runs:/{mlflow_run_id}/model"
        version = client.create_model_version(settings.registered_model, source, run_id=mlflow_run_id).version
    client.set_registered_model_alias(settings.registered_model, ALIAS, version)
    client.set_model_version_tag(settings.registered_model, version, "housing.run_id", run_id)
    return str(version)
