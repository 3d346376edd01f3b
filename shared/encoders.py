"""Encoders fitted on the training split only, with their state exportable as plain JSON.

They follow scikit-learn's fit/transform shape but are written on pandas alone: serving must load them
without scikit-learn (and without pickle). Encoders whose values come from the target cross-fit: a
training row's value is computed from the other folds, so no row ever sees its own target.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

FOLDS = 5


def _fold_ids(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(n) % FOLDS


def _lookup(keys: pd.Series, table: dict[str, float], default: float) -> np.ndarray:
    return keys.astype("str").map(table).astype("float64").fillna(default).to_numpy()


class FrequencyEncoder:
    """Share of training rows that carry each value; 0 for values never seen in training."""

    def __init__(self, column: str):
        self.column = column
        self.frequencies_: dict[str, float] = {}

    def fit(self, frame: pd.DataFrame) -> FrequencyEncoder:
        shares = frame[self.column].astype("str").value_counts(normalize=True)
        self.frequencies_ = {str(k): float(v) for k, v in shares.items()}
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        return _lookup(frame[self.column], self.frequencies_, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "frequencies": self.frequencies_}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> FrequencyEncoder:
        encoder = cls(state["column"])
        encoder.frequencies_ = state["frequencies"]
        return encoder


class TargetEncoder:
    """Smoothed mean of a target-derived value per category, cross-fitted on the training rows.

    `statistic` is "mean" (a classic target encoding, shrunk towards the global mean by `smoothing` rows)
    or "median" (robust, used for per-zip price-level offsets). Categories unseen in training get the
    global value.
    """

    def __init__(self, column: str, statistic: str = "mean", smoothing: float = 20.0):
        if statistic not in ("mean", "median"):
            raise ValueError(f"statistic must be 'mean' or 'median', not {statistic!r}")
        self.column = column
        self.statistic = statistic
        self.smoothing = smoothing
        self.encoding_: dict[str, float] = {}
        self.default_: float = 0.0

    def _table(self, keys: pd.Series, values: pd.Series) -> tuple[dict[str, float], float]:
        known = values.notna()
        keys, values = keys[known], values[known]
        default = float(values.mean() if self.statistic == "mean" else values.median())
        grouped = values.groupby(keys.to_numpy())
        if self.statistic == "mean":
            stats = grouped.agg(["sum", "count"])
            encoded = (stats["sum"] + self.smoothing * default) / (stats["count"] + self.smoothing)
        else:
            encoded = grouped.median()
        return {str(k): float(v) for k, v in encoded.items()}, default

    def fit_transform(self, frame: pd.DataFrame, values: pd.Series, seed: int = 0) -> np.ndarray:
        """Fit on all rows; return each row's out-of-fold encoding."""
        keys = frame[self.column].astype("str")
        folds = _fold_ids(len(frame), seed)
        out = np.empty(len(frame))
        for fold in range(FOLDS):
            held = folds == fold
            table, default = self._table(keys[~held], values[~held])
            out[held] = _lookup(keys[held], table, default)
        self.encoding_, self.default_ = self._table(keys, values)
        return out

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        return _lookup(frame[self.column], self.encoding_, self.default_)

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "statistic": self.statistic, "smoothing": self.smoothing,
                "encoding": self.encoding_, "default": self.default_}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> TargetEncoder:
        encoder = cls(state["column"], state["statistic"], state["smoothing"])
        encoder.encoding_, encoder.default_ = state["encoding"], state["default"]
        return encoder
