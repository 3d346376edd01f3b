"""The model's linear part: how far a zip's log index moves from its last allowed value in h months.

Two estimates of that move are at hand. The index's own momentum (its last monthly growth times h) is
precise over a month or two and goes wrong when the market turns. The market's move since the last index
value (the smoothed medians of sales and listings, pooled over the zip's metro: `metro_since_index`) knows
about a turn, since those medians are published with each month, but is noisy over a month. Per horizon
h (the last index value's age, 1..MAX_HORIZON months) the move is a blend of the two,
`market + w_h * (momentum - market)`, with w_h in [0, 1] fitted by least squares on training rows whose
index was cut at drawn ages. Being a blend of two moves, it extrapolates: a fall the training months
never showed still moves it, which a tree ensemble alone cannot do. The booster learns the rest.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shared.calibration import MAX_HORIZON  # an older last value uses the weight of this horizon
from shared.history import HistoryFeatures

MIN_ROWS = 50  # a horizon with fewer training rows takes the nearest fitted horizon's weight


def _horizons(past: HistoryFeatures) -> np.ndarray:
    return np.clip(np.nan_to_num(past.age), 1, MAX_HORIZON).astype("int64")


def _moves(past: HistoryFeatures) -> tuple[np.ndarray, np.ndarray]:
    """(momentum move, market move) per row, 0 where unknown (a zip without a metro move keeps its momentum)."""
    momentum = np.nan_to_num(past.age) * np.nan_to_num(past.growth[:, 0])
    market = past.columns["metro_since_index"]
    return momentum, np.where(np.isnan(market), momentum, market)


class Extrapolation:
    """The per-horizon weight of momentum against the market's move."""

    def __init__(self, weights: np.ndarray | None = None):
        self.weights = weights  # (MAX_HORIZON,), entry h-1 for horizon h; None: momentum only

    def fit(self, past: HistoryFeatures, log_price: np.ndarray) -> Extrapolation:
        h = _horizons(past)
        momentum, market = _moves(past)
        gap, target = momentum - market, log_price - past.last_index - market
        usable = np.isfinite(target) & (gap != 0)
        fitted = {}
        for horizon in range(1, MAX_HORIZON + 1):
            rows = usable & (h == horizon)
            if rows.sum() >= MIN_ROWS:
                fitted[horizon] = float(np.clip(gap[rows] @ target[rows] / (gap[rows] @ gap[rows]), 0.0, 1.0))
        if not fitted:
            self.weights = None
            return self
        known = np.array(sorted(fitted))
        self.weights = np.array([fitted[int(known[np.argmin(np.abs(known - horizon))])]
                                 for horizon in range(1, MAX_HORIZON + 1)])
        return self

    def move(self, past: HistoryFeatures) -> np.ndarray:
        """The predicted log move since the last index value."""
        momentum, market = _moves(past)
        if self.weights is None:
            return momentum
        return market + self.weights[_horizons(past) - 1] * (momentum - market)

    def to_dict(self) -> dict[str, Any]:
        return {"weights": None if self.weights is None else [round(float(w), 6) for w in self.weights]}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Extrapolation:
        values = state.get("weights")
        return cls(None if values is None else np.asarray(values, dtype="float64"))
