"""Feature engineering: one fitted `FeatureBuilder` turns cleaned rows into the model's matrix, the same
way for train, eval, holdout, batch months and API requests.

Beyond the original's features (date parts, zip frequency, metro target encoding, market statistics,
points of interest, census, coordinates) it adds a *price level reference*: the row's own same-month
market prices (per square foot, listed per square foot, listed) each lifted to the zip's price-index scale
by a per-zip offset learned on training rows. The model then learns the log ratio of the index to that
reference. A tree ensemble cannot predict values above those it was trained on, so learning the level
directly fails in 2022-23 when prices left the training range; the ratio stays in range. Every input is
known when a month's market statistics are published, before the index for that month is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from shared import schema
from shared.encoders import FrequencyEncoder, TargetEncoder
from shared.preprocess import METRO

ZIP_KEY = "zip_key"
# (feature name, market column it scales, volume column that says how noisy that column is)
LEVEL_SOURCES = [
    ("level_ppsf", "median_ppsf", "homes_sold"),
    ("level_list_ppsf", "median_list_ppsf", "new_listings"),
    ("level_list_price", "median_list_price", "new_listings"),
]
# Money-valued market columns enter the model as log ratios to the reference, not as levels: levels leave
# the training range as prices rise, ratios do not.
RELATIVE = ["median_list_price", "median_ppsf", "median_list_ppsf"]
# Columns that only drift upward with time (the year itself; census money figures, which also trail the
# market by years). As inputs to a ratio model they teach it that "later" means "lower ratio", which was
# true of no year in training and costs 20-40% of holdout MAE on the synthetic data; so they are dropped.
DRIFTING = ["year", "Median Home Value", "Per Capita Income", "Median Rent"]
DROPPED = [schema.DATE, schema.CITY_FULL, schema.CITY, schema.ZIPCODE, "median_sale_price", *DRIFTING]
# Columns taken from the cleaned rows as they are (the RELATIVE ones are rescaled afterwards).
PASSTHROUGH = [
    *[c for c in schema.MARKET_STATS if c not in DROPPED],
    *schema.POI, *[c for c in schema.CENSUS if c not in DROPPED],
    "lat", "lng",
]
FEATURES = ["quarter", "month", *PASSTHROUGH, "zipcode_freq", "metro_target_enc", *(name for name, _, _ in LEVEL_SOURCES)]


@dataclass
class Features:
    """The model's input matrix and, per row, the log price level its output is relative to."""

    X: pd.DataFrame
    reference: np.ndarray

    def to_price(self, model_output: np.ndarray) -> np.ndarray:
        return np.exp(self.reference + model_output)

    def target(self, prices: pd.Series) -> np.ndarray:
        return np.log(prices.to_numpy(dtype="float64")) - self.reference


class FeatureSchema(BaseModel):
    names: list[str]
    dtypes: dict[str, str]
    target: str = schema.TARGET
    target_transform: str = "log(price) - reference"


def feature_schema() -> FeatureSchema:
    return FeatureSchema(names=FEATURES, dtypes={n: "float64" for n in FEATURES})


def _with_keys(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(**{ZIP_KEY: frame[schema.ZIPCODE].round().astype("Int64").astype("str")})


def _log(values: pd.Series) -> pd.Series:
    return np.log(values.where(values > 0))


class FeatureBuilder:
    def __init__(self, seed: int = 0):
        self.seed = seed
        self.zip_freq = FrequencyEncoder(ZIP_KEY)
        self.metro_enc = TargetEncoder(METRO, statistic="mean")
        self.level_offsets = {name: TargetEncoder(ZIP_KEY, statistic="median") for name, _, _ in LEVEL_SOURCES}
        self.zip_level = TargetEncoder(ZIP_KEY, statistic="median")  # last resort: the zip's usual level

    def fit_transform(self, train: pd.DataFrame) -> Features:
        """Fit every encoder on the training rows; return their out-of-fold features."""
        frame = _with_keys(train)
        log_price = np.log(frame[schema.TARGET])
        self.zip_freq.fit(frame)
        metro_enc = self.metro_enc.fit_transform(frame, log_price, seed=self.seed)
        offsets = {
            name: self.level_offsets[name].fit_transform(frame, log_price - _log(frame[column]), seed=self.seed)
            for name, column, _ in LEVEL_SOURCES
        }
        zip_level = self.zip_level.fit_transform(frame, log_price, seed=self.seed)
        return self._assemble(frame, metro_enc, offsets, zip_level)

    def transform(self, frame: pd.DataFrame) -> Features:
        frame = _with_keys(frame)
        offsets = {name: enc.transform(frame) for name, enc in self.level_offsets.items()}
        return self._assemble(frame, self.metro_enc.transform(frame), offsets, self.zip_level.transform(frame))

    def _assemble(self, frame: pd.DataFrame, metro_enc, offsets, zip_level) -> Features:
        dates = frame[schema.DATE]
        out = pd.DataFrame({"quarter": dates.dt.quarter.astype("float64"), "month": dates.dt.month.astype("float64")})
        for col in PASSTHROUGH:
            out[col] = frame[col].astype("float64").to_numpy()
        out["zipcode_freq"] = self.zip_freq.transform(frame)
        out["metro_target_enc"] = metro_enc
        # Each source's estimate of the zip's log price level, and their volume-weighted mean; with no
        # source at all (no sales, no listings) the zip's usual level from training.
        weighted_sum = np.zeros(len(frame))
        weights = np.zeros(len(frame))
        levels = {}
        for name, column, volume in LEVEL_SOURCES:
            level = (_log(frame[column]) + offsets[name]).to_numpy()
            weight = np.maximum(frame[volume].fillna(1).to_numpy(), 1)
            known = ~np.isnan(level)
            weighted_sum += np.where(known, level * weight, 0)
            weights += np.where(known, weight, 0)
            levels[name] = level
        reference = np.where(weights > 0, weighted_sum / np.where(weights > 0, weights, 1), zip_level)
        for name, level in levels.items():
            out[name] = level - reference
        for col in RELATIVE:
            out[col] = _log(out[col]).to_numpy() - reference
        return Features(X=out[FEATURES], reference=reference)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "zip_freq": self.zip_freq.to_dict(),
            "metro_enc": self.metro_enc.to_dict(),
            "level_offsets": {name: enc.to_dict() for name, enc in self.level_offsets.items()},
            "zip_level": self.zip_level.to_dict(),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> FeatureBuilder:
        builder = cls(state["seed"])
        builder.zip_freq = FrequencyEncoder.from_dict(state["zip_freq"])
        builder.metro_enc = TargetEncoder.from_dict(state["metro_enc"])
        builder.level_offsets = {n: TargetEncoder.from_dict(s) for n, s in state["level_offsets"].items()}
        builder.zip_level = TargetEncoder.from_dict(state["zip_level"])
        return builder
