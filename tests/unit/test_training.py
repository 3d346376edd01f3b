"""Unit tests of the training core: metrics, one booster's fit, the Optuna search tracked in MLflow, and the
registry, each on its own (the pipeline tests run them together). The ones that start MLflow are slow."""

from __future__ import annotations

import logging

import mlflow
import numpy as np
import pandas as pd
import pytest

from shared.data.preprocess import clean_for_training
from shared.data.validation import ensure_valid, validate_housing
from shared.layout import bundle_prefix
from shared.model import train
from shared.model.features import FeatureBuilder, tuning_matrix
from shared.model.metrics import metrics_by_group, regression_metrics
from shared.model.registry import ALIAS, register_champion
from shared.model.tune import tune
from shared.settings import Settings
from shared.store import LocalStore, write_json


def test_the_metrics_are_the_textbook_ones():
    m = regression_metrics([100.0, 200.0, 400.0], [110.0, 180.0, 400.0])
    assert m.mae == pytest.approx(10.0) and m.rmse == pytest.approx(np.sqrt(500 / 3))
    assert m.mape == pytest.approx((0.1 + 0.1 + 0) / 3) and m.rows == 3
    assert m.r2 == pytest.approx(1 - 500 / (((np.array([100, 200, 400]) - 700 / 3) ** 2).sum()))
    assert regression_metrics([5.0], [4.0]).r2 == 0.0  # one row has no variance to explain
    groups = metrics_by_group(pd.Series(["b", "a", "b"]), [1.0, 2.0, 3.0], [1.0, 2.5, 2.0])
    assert list(groups) == ["a", "b"] and groups["a"].mae == 0.5 and groups["b"].mae == 0.5 and groups["b"].rows == 2


def test_a_booster_learns_its_target_and_says_how_far_it_is(caplog, monkeypatch):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=2_000), "b": rng.normal(size=2_000)})
    y = np.where(X["a"] > 0, 0.2, -0.1) + 0.05 * X["b"]
    monkeypatch.setattr(train, "PROGRESS_SECONDS", 0.0)
    with caplog.at_level(logging.INFO, logger="housing.train"):
        booster = train.train_booster(X, y, {"max_depth": 3, "learning_rate": 0.3}, rounds=50, threads=1, what="unit fit")
    import xgboost as xgb

    error = np.abs(booster.predict(xgb.DMatrix(X)) - y).mean()
    assert error < 0.01 and booster.num_boosted_rounds() == 50
    assert "unit fit: round 50/50" in caplog.text
    assert train.booster_params({"max_depth": 3}, seed=1, threads=2) == {
        **train.booster_params({}, seed=1, threads=2), "max_depth": 3}


@pytest.fixture(scope="module")
def tuning_inputs(small_data):
    rows, metros = small_data
    typed = ensure_valid(validate_housing(rows))
    cleaned = clean_for_training(typed.loc[typed["date"] < "2020-01-01"], metros)[0]
    feats = FeatureBuilder(seed=0).fit_transform(cleaned)
    return feats, cleaned["price"], tuning_matrix(cleaned, seed=0)


def _tune(tuning_inputs, tmp_path, **kwargs):
    feats, prices, matrix = tuning_inputs
    options = dict(trials=3, timeout=120.0, seed=0, threads=1, tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                   artifact_location=(tmp_path / "artifacts").as_uri(), experiment="unit", run_name="run-unit")
    return tune(feats, prices, matrix, **{**options, **kwargs})


@pytest.mark.slow  # MLflow and Optuna: seconds each
def test_tuning_starts_from_the_baseline_tracks_every_trial_and_refits_the_best(tuning_inputs, tmp_path):
    seen = []
    result = _tune(tuning_inputs, tmp_path, baseline_params={"max_depth": 5}, on_trial=seen.append)

    assert [r["number"] for r in result.trials] == [0, 1, 2] and seen == result.trials
    done = [r["mae"] for r in result.trials if r["mae"] is not None]
    assert result.validation["mae"] == min(done) <= result.trials[0]["mae"]  # never worse than the baseline
    assert result.validation["trials_run"] == 3 and not result.validation["stopped_by_timeout"]
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("unit").experiment_id])
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.mlflow_run_id]
    assert len(trials) == 3 and int(trials[-1].data.params["max_depth"]) == 5  # trial 0, listed last: the baseline
    assert result.booster.num_boosted_rounds() == result.rounds
    assert mlflow.xgboost.load_model(result.mlflow_model_uri).num_boosted_rounds() == result.rounds


@pytest.mark.slow  # MLflow and Optuna: seconds each
def test_a_spent_budget_still_gives_a_model_and_says_the_run_was_cut(tuning_inputs, tmp_path):
    result = _tune(tuning_inputs, tmp_path, timeout=1e-3)
    assert result.validation["stopped_by_timeout"] and result.validation["trials_run"] < 3
    assert result.rounds >= 1


@pytest.mark.slow  # MLflow and Optuna: seconds each
def test_the_registry_points_the_alias_at_the_champion_once(tuning_inputs, tmp_path):
    result = _tune(tuning_inputs, tmp_path, trials=1)
    store = LocalStore(tmp_path / "store")
    settings = Settings(store=store.url, mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    write_json(store, bundle_prefix("run-a") + "metadata.json",
               {"mlflow_run_id": result.mlflow_run_id, "mlflow_model_uri": result.mlflow_model_uri})
    write_json(store, bundle_prefix("run-b") + "metadata.json", {})  # never logged to MLflow

    first, again = register_champion(store, "run-a", settings), register_champion(store, "run-a", settings)

    assert first == again == "1"  # promoting the same bundle twice adds no version
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    version = client.get_model_version_by_alias(settings.registered_model, ALIAS)
    assert str(version.version) == "1" and version.tags["housing.run_id"] == "run-a"
    assert register_champion(store, "run-b", settings) is None
