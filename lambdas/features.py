"""features: fit the encoders on the cleaned training split; write its feature matrix, the fitted state, and
the tuning matrix (encoders fitted again without the split's last months, which judge the trials)."""

from __future__ import annotations

from lambdas.logs import structured
from lambdas.stage_event import StageEvent, log
from shared.features import FeatureBuilder, feature_schema, tuning_matrix
from shared.layout import Artifact
from shared.store import read_table, write_json, write_table


@structured
def handler(event: dict, context=None) -> dict:
    ev = StageEvent(**event)
    store = ev.open()
    train = read_table(store, ev.artifact(Artifact.CLEAN_TRAIN))
    builder = FeatureBuilder(seed=ev.config.seed)
    log.info("features: fitting the encoders and the extrapolation on %d training rows", len(train))
    feats = builder.fit_transform(train)
    write_table(store, ev.key(Artifact.FEATURES_TRAIN), feats.to_matrix(train))
    log.info("features: the tuning matrix (encoders fitted again without the last training months)")
    write_table(store, ev.key(Artifact.FEATURES_TUNING), tuning_matrix(train, ev.config.seed))
    write_json(store, ev.key(Artifact.FEATURE_BUILDER), builder.to_dict())
    write_json(store, ev.key(Artifact.FEATURE_SCHEMA), feature_schema().model_dump())
    log.info("features: %d rows x %d features", *feats.X.shape)
    return ev.with_artifacts(Artifact.FEATURES_TRAIN, Artifact.FEATURES_TUNING, Artifact.FEATURE_BUILDER,
                             Artifact.FEATURE_SCHEMA)
