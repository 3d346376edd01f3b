"""A small trained store for the tests that need a champion but not the tuning that chose it: the real
graph with every stage as deployed except train, which fits a 50-round booster with the default parameters
(no Optuna, no MLflow) and seals the bundle the same way (`shared.model.train.fit_bundle`)."""

from __future__ import annotations

import dataclasses

import pandas as pd

from lambdas.stage import stage_handler
from lambdas.stage_event import StageEvent
from shared import schema
from shared.model.bundle import FittedModel
from shared.model.features import FeatureBuilder, Features
from shared.model.train import DEFAULT_PARAMS, fit_bundle, last_month, train_booster
from shared.store import ArtifactStore
from stepfunctions.graph import TRAINING_PIPELINE

ROUNDS = 50


def train(run: StageEvent, store: ArtifactStore, features_train: pd.DataFrame, feature_builder: dict,
          metros: pd.DataFrame, clean_train: pd.DataFrame, clean_eval: pd.DataFrame, clean_holdout: pd.DataFrame,
          split_holdout: pd.DataFrame) -> dict:
    feats = Features.from_matrix(features_train)
    booster = train_booster(feats.X, feats.target(features_train[schema.TARGET]), DEFAULT_PARAMS, ROUNDS,
                            run.config.seed, threads=1, what="tiny fit")
    judged = FittedModel(booster, FeatureBuilder.from_dict(feature_builder), last_month(clean_train))
    fit_bundle(run.run_id, judged, {"train": clean_train, "eval": clean_eval, "holdout": clean_holdout}, metros,
               split_holdout, run.config, params=DEFAULT_PARAMS, rounds=ROUNDS, threads=1,
               metrics={"validation": {"trials_run": 0, "rounds": ROUNDS}}).save(store)
    return {}


handler = stage_handler("train", train)

GRAPH = dataclasses.replace(TRAINING_PIPELINE, stages=tuple(
    dataclasses.replace(s, handler=f"{__name__}:handler") if s.name == "train" else s for s in TRAINING_PIPELINE.stages))
