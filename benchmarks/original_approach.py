"""The original project's approach, rebuilt for comparison: XGBoost on the price itself from the row's
same-month features (date parts, every numeric column, coordinates, zip-code frequency encoding and a
target encoding of the metro name), no history and no price-level reference. Trained here with this
project's cleaning and default XGBoost parameters (the original tuned its own with Optuna)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shared import schema
from shared.model.encoders import FrequencyEncoder, GroupStatisticEncoder
from shared.model.train import train_booster

SAME_MONTH = [c for c in schema.NUMERIC if c not in (schema.TARGET, schema.ZIPCODE)] + ["lat", "lng"]


class OriginalApproach:
    def __init__(self, seed: int = 0):
        self.seed = seed
        self.zip_freq = FrequencyEncoder("zip")
        self.metro_enc = GroupStatisticEncoder("city_full")

    def _matrix(self, rows: pd.DataFrame, encoded_metro: np.ndarray) -> pd.DataFrame:
        X = rows[SAME_MONTH].astype("float64").assign(
            quarter=rows[schema.DATE].dt.quarter, month=rows[schema.DATE].dt.month)
        return X.assign(zipcode_freq=self.zip_freq.transform(self._keys(rows)), city_full_enc=encoded_metro)

    @staticmethod
    def _keys(rows: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"zip": rows[schema.ZIPCODE].round().astype("int64").astype("str"),
                             "city_full": rows[schema.CITY_FULL]})

    def fit(self, train: pd.DataFrame, threads: int = 0) -> OriginalApproach:
        keys = self._keys(train)
        self.zip_freq.fit(keys)
        encoded = self.metro_enc.fit_transform(keys, train[schema.TARGET], seed=self.seed)
        X = self._matrix(train, encoded)
        self.booster = train_booster(X, train[schema.TARGET].to_numpy(), seed=self.seed, threads=threads)
        return self

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        X = self._matrix(rows, self.metro_enc.transform(self._keys(rows)))
        return self.booster.inplace_predict(X.to_numpy(dtype="float32"))
