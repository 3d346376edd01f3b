"""features: fit the encoders on the cleaned training split; write its feature matrix and the fitted state."""

from __future__ import annotations

from lambdas.events import StageEvent, log
from lambdas.logs import structured
from shared import schema
from shared.features import FeatureBuilder, feature_schema
from shared.layout import run_key
from shared.store import read_table, write_json, write_table

REFERENCE_COLUMN = "_reference"


@structured
def handler(event: dict, context=None) -> dict:
    ev = StageEvent(**event)
    store = ev.open()
    train = read_table(store, ev.artifacts["clean_train"])
    builder = FeatureBuilder(seed=ev.config.seed)
    feats = builder.fit_transform(train)
    matrix = feats.X.assign(**{
        REFERENCE_COLUMN: feats.reference,
        schema.TARGET: train[schema.TARGET].to_numpy(),
        schema.DATE: train[schema.DATE].to_numpy(),
    })
    keys = {
        "features_train": run_key(ev.run_id, "features/train.parquet"),
        "feature_builder": run_key(ev.run_id, "features/builder.json"),
        "feature_schema": run_key(ev.run_id, "features/schema.json"),
    }
    write_table(store, keys["features_train"], matrix)
    write_json(store, keys["feature_builder"], builder.to_dict())
    write_json(store, keys["feature_schema"], feature_schema().model_dump())
    log.info("features: %d rows x %d features", *feats.X.shape)
    return ev.with_artifacts(**keys)
