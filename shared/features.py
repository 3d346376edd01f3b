"""Feature engineering: one fitted `FeatureBuilder` turns cleaned rows into the model's matrix, the same
way for train, eval, holdout, batch months and API requests.

Beyond the usual features (date parts, zip frequency, metro target encoding, market statistics, points
of interest, census, coordinates) it adds a *price level reference*: the row's own same-month
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
from shared.encoders import FrequencyEncoder, GroupStatisticEncoder
from shared.preprocess import METRO

ZIP_KEY = "zip_key"
# The training matrix (written by the features stage, read by training) carries each row's reference here.
REFERENCE_COLUMN = "_reference"
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

    def to_matrix(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The training matrix: the features, the reference, and the rows' price and date (for tuning's
        time-ordered validation months)."""
        return self.X.assign(**{REFERENCE_COLUMN: self.reference, schema.TARGET: rows[schema.TARGET].to_numpy(),
                                schema.DATE: rows[schema.DATE].to_numpy()})

    @classmethod
    def from_matrix(cls, matrix: pd.DataFrame) -> Features:
        return cls(X=matrix[FEATURES], reference=matrix[REFERENCE_COLUMN].to_numpy())


class FeatureSchema(BaseModel):
    names: list[str]
    dtypes: dict[str, str]
    target: str = schema.TARGET
    target_transform: str = "log(price) - reference"


def feature_schema() -> FeatureSchema:
    return FeatureSchema(names=FEATURES, dtypes={n: "float64" for n in FEATURES})


def _keys(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns the encoders are keyed on (a small frame: copying every row's 40 columns is not needed)."""
    return pd.DataFrame({ZIP_KEY: frame[schema.ZIPCODE].round().astype("Int64").astype("str"), METRO: frame[METRO]})


def _log(values: pd.Series) -> pd.Series:
    return np.log(values.where(values > 0))


def _log_array(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.where(values > 0, values, np.nan))


class FeatureBuilder:
    def __init__(self, seed: int = 0):
        self.seed = seed
        self.zip_freq = FrequencyEncoder(ZIP_KEY)
        self.metro_enc = GroupStatisticEncoder(METRO, statistic="mean")
        self.level_offsets = {name: GroupStatisticEncoder(ZIP_KEY, statistic="median") for name, _, _ in LEVEL_SOURCES}
        self.zip_level = GroupStatisticEncoder(ZIP_KEY, statistic="median")  # last resort: the zip's usual level

    def fit_transform(self, train: pd.DataFrame) -> Features:
        """Fit every encoder on the training rows; return their out-of-fold features."""
        keys = _keys(train)
        log_price = np.log(train[schema.TARGET])
        self.zip_freq.fit(keys)
        metro_enc = self.metro_enc.fit_transform(keys, log_price, seed=self.seed)
        offsets = {
            name: self.level_offsets[name].fit_transform(keys, log_price - _log(train[column]), seed=self.seed)
            for name, column, _ in LEVEL_SOURCES
        }
        zip_level = self.zip_level.fit_transform(keys, log_price, seed=self.seed)
        return self._assemble(train, keys, metro_enc, offsets, zip_level)

    def transform(self, frame: pd.DataFrame) -> Features:
        keys = _keys(frame)
        offsets = {name: enc.transform(keys) for name, enc in self.level_offsets.items()}
        return self._assemble(frame, keys, self.metro_enc.transform(keys), offsets, self.zip_level.transform(keys))

    def _assemble(self, frame: pd.DataFrame, keys: pd.DataFrame, metro_enc, offsets, zip_level) -> Features:
        dates = frame[schema.DATE]
        # Columns gathered as arrays and framed once: inserting 40 columns one by one costs more than the
        # model itself on a one-row API request.
        out = {"quarter": dates.dt.quarter.to_numpy(dtype="float64"), "month": dates.dt.month.to_numpy(dtype="float64")}
        out.update(zip(PASSTHROUGH, frame[PASSTHROUGH].to_numpy(dtype="float64").T))
        out["zipcode_freq"] = self.zip_freq.transform(keys)
        out["metro_target_enc"] = np.asarray(metro_enc, dtype="float64")
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
            out[col] = _log_array(out[col]) - reference
        X = pd.DataFrame({name: out[name] for name in FEATURES})
        return Features(X=X, reference=reference)

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
        builder.metro_enc = GroupStatisticEncoder.from_dict(state["metro_enc"])
        builder.level_offsets = {n: GroupStatisticEncoder.from_dict(s) for n, s in state["level_offsets"].items()}
        builder.zip_level = GroupStatisticEncoder.from_dict(state["zip_level"])
        return builder
