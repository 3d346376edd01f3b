"""Encoders fitted on the training split only, with their state exportable as plain JSON.

They follow scikit-learn's fit/transform shape but are written on pandas alone: serving must load them
without scikit-learn (and without pickle). Encoders whose values come from the target cross-fit: a
training row's value is computed from the other folds, so no row ever sees its own target.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

FOLDS = 5


@dataclass(frozen=True)
class Keyed:
    """A column the encoders are keyed on, factorized once for all of them: each row's code (-1: missing)
    and the distinct values as text."""

    codes: np.ndarray
    values: list[str]

    @classmethod
    def of(cls, column: pd.Series) -> Keyed:
        codes, distinct = pd.factorize(column)
        return cls(codes, [str(value) for value in distinct])


Keys = Mapping[str, Keyed]


def _fold_ids(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(n) % FOLDS


def _lookup(keys: Keyed, table: dict[str, float], default: float) -> np.ndarray:
    """The table's value per key (default for unseen or missing keys), looked up once per distinct key."""
    values = np.array([table.get(key, default) for key in keys.values] + [default], dtype="float64")
    return values[keys.codes]  # code -1 (missing) picks the trailing default


class FrequencyEncoder:
    """Share of training rows that carry each value; 0 for values never seen in training."""

    def __init__(self, column: str):
        self.column = column
        self.frequencies_: dict[str, float] = {}

    def fit(self, keys: Keys) -> FrequencyEncoder:
        keyed = keys[self.column]
        counts = np.bincount(keyed.codes[keyed.codes >= 0], minlength=len(keyed.values))
        self.frequencies_ = {key: float(n / max(counts.sum(), 1)) for key, n in zip(keyed.values, counts)}
        return self

    def transform(self, keys: Keys) -> np.ndarray:
        return _lookup(keys[self.column], self.frequencies_, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "frequencies": self.frequencies_}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> FrequencyEncoder:
        encoder = cls(state["column"])
        encoder.frequencies_ = state["frequencies"]
        return encoder


class GroupStatisticEncoder:
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

    def _stats(self, codes: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, float]:
        """Encoding per category code (NaN where a category has no rows) and the global value."""
        default = float(values.mean() if self.statistic == "mean" else np.median(values))
        if self.statistic == "mean":
            sums = np.bincount(codes, weights=values, minlength=n)
            counts = np.bincount(codes, minlength=n)
            return (sums + self.smoothing * default) / (counts + self.smoothing), default
        medians = pd.Series(values).groupby(codes).median()
        return medians.reindex(range(n)).to_numpy(), default

    def fit_transform(self, keys: Keys, values: pd.Series | np.ndarray, seed: int = 0) -> np.ndarray:
        """Fit on all rows; return each row's out-of-fold encoding."""
        codes, categories = keys[self.column].codes, keys[self.column].values
        values = np.asarray(values, dtype="float64")
        known = ~np.isnan(values) & (codes >= 0)
        folds = _fold_ids(len(codes), seed)
        out = np.empty(len(codes))
        for fold in range(FOLDS):
            held = folds == fold
            fit = known & ~held
            table, default = self._stats(codes[fit], values[fit], len(categories))
            encoded = table[codes[held]]
            out[held] = np.where(np.isnan(encoded), default, encoded)
        table, self.default_ = self._stats(codes[known], values[known], len(categories))
        self.encoding_ = {str(c): float(v) for c, v in zip(categories, table) if not np.isnan(v)}
        return out

    def transform(self, keys: Keys) -> np.ndarray:
        return _lookup(keys[self.column], self.encoding_, self.default_)

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "statistic": self.statistic, "smoothing": self.smoothing,
                "encoding": self.encoding_, "default": self.default_}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> GroupStatisticEncoder:
        encoder = cls(state["column"], state["statistic"], state["smoothing"])
        encoder.encoding_, encoder.default_ = state["encoding"], state["default"]
        return encoder
