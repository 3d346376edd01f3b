"""features: fit the encoders on the cleaned training split; write its feature matrix, the fitted state, and
the tuning matrix (encoders fitted again without the split's last months, which judge the trials)."""

from __future__ import annotations

import pandas as pd

from lambdas.stage import stage_handler
from lambdas.stage_event import StageEvent, log
from shared.layout import Artifact
from shared.model.features import FeatureBuilder, feature_schema, tuning_matrix


def features(run: StageEvent, clean_train: pd.DataFrame) -> dict[Artifact, object]:
    builder = FeatureBuilder(seed=run.config.seed)
    log.info("features: fitting the encoders and the extrapolation on %d training rows", len(clean_train))
    feats = builder.fit_transform(clean_train)
    log.info("features: %d rows x %d features; the tuning matrix (encoders fitted again without the last "
             "training months)", *feats.X.shape)
    return {
        Artifact.FEATURES_TRAIN: feats.to_matrix(clean_train),
        Artifact.FEATURES_TUNING: tuning_matrix(clean_train, run.config.seed),
        Artifact.FEATURE_BUILDER: builder.to_dict(),
        Artifact.FEATURE_SCHEMA: feature_schema(),
    }


handler = stage_handler("features", features)
