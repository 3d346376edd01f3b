"""What the rolling-origin backtest teaches a model: how much of its booster to trust, and how wide its
intervals are, per horizon bucket.

The booster learns corrections to the extrapolation on the training months; when the market's regime
changes those corrections can hurt (trees only know the regimes they saw). So per bucket, the prediction
is `anchor + shrink * correction` (log prices) with shrink in [0, 1] chosen on the eval backtest's months,
which the model never learned. The interval per bucket is split conformal on the absolute log residuals of
those months (the finite-sample quantile at `level`), so an 80% interval is one that held for 80% of the
backtest's predictions. It is symmetric in log price on purpose: the backtest's months may all have erred
one way (a boom the model under-called), and the next regime may err the other.

A row's bucket is the age of its last allowed index value (the horizon: 1 is a nowcast), or NO_INDEX for a
zip without one (the model anchors it on the price-level reference). Figures reported for the months the
calibration was fitted on are cross-fitted: each origin's rows are calibrated on the other origins only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shared.reports import FORECASTERS

NO_INDEX = "no index"
CALIBRATION_SPLIT = "eval"  # the split whose backtest a run's calibration is fitted on
# Horizon buckets (months ahead of the last known index value), as tables and the gate name them.
BUCKETS = (("1", 1, 1), ("2-3", 2, 3), ("4-6", 4, 6), ("7-12", 7, 12), ("13-24", 13, 24))
MAX_HORIZON = 24
SHRINK_GRID = np.round(np.linspace(0.0, 1.0, 21), 2)
MIN_ROWS = 30  # a bucket with fewer backtest rows takes the widest fitted interval and the full booster


def horizon_bucket(horizon: np.ndarray) -> np.ndarray:
    """The bucket label of each horizon in months (1..MAX_HORIZON; a longer one is in the last bucket)."""
    horizon = np.clip(np.asarray(horizon), 1, MAX_HORIZON)
    labels = np.full(len(horizon), "", dtype=object)
    for label, low, high in BUCKETS:
        labels[(horizon >= low) & (horizon <= high)] = label
    return labels


def bucket_of(age: np.ndarray) -> np.ndarray:
    """Each row's calibration bucket from its index age (NaN: NO_INDEX)."""
    age = np.asarray(age, dtype="float64")
    known = ~np.isnan(age)
    out = np.full(len(age), NO_INDEX, dtype=object)
    out[known] = horizon_bucket(age[known].astype("int64"))
    return out


@dataclass
class Forecast:
    """Prices and their interval, per row, and the naive forecasters' prices for the same rows (NaN where
    the zip has no index value): what monitoring measures the model's skill against once the truth is in."""

    price: np.ndarray
    low: np.ndarray
    high: np.ndarray
    naive: dict[str, np.ndarray] = field(default_factory=dict)

    def where(self, rows: np.ndarray, other: Forecast) -> Forecast:
        """This forecast for `rows`, `other` for the rest."""
        return Forecast(price=np.where(rows, self.price, other.price), low=np.where(rows, self.low, other.low),
                        high=np.where(rows, self.high, other.high),
                        naive={k: np.where(rows, v, other.naive[k]) for k, v in self.naive.items() if k in other.naive})


@dataclass(frozen=True)
class BucketCalibration:
    """How one bucket's prediction is made from its parts, and its interval's half-width (log price)."""

    shrink: float = 1.0  # weight of the booster's correction to the anchor
    naive: str | None = None  # the naive forecaster blended in (the bucket's best on the backtest)
    blend: float = 0.0  # its weight in the blend
    spread: float = 0.0

    def log_price(self, anchor: np.ndarray, correction: np.ndarray, naive: dict[str, np.ndarray]) -> np.ndarray:
        if self.naive is None or self.blend == 0:
            return combine(anchor, correction, self.shrink, np.zeros(len(anchor)), np.full(len(anchor), np.nan))
        other = naive[self.naive]
        return combine(anchor, correction, self.shrink, np.where(np.isnan(other), 0.0, self.blend), other)


def combine(anchor: np.ndarray, correction: np.ndarray, shrink, blend: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The log price from its parts: the anchor plus the booster's correction at weight `shrink`, blended
    with the naive forecaster's log price `other` at weight `blend` where that is above 0. The one rule:
    calibration fits with it, `Calibration.apply` predicts with it, shared.model.explain takes it apart."""
    model = anchor + shrink * correction
    return np.where(blend > 0, (1 - blend) * model + blend * other, model)


def _mae(log_price: np.ndarray, actual: np.ndarray) -> float:
    return float(np.mean(np.abs(np.exp(log_price) - actual)))


def _best(grid: np.ndarray, error) -> float:
    return float(grid[int(np.argmin([error(x) for x in grid]))])


@dataclass
class Calibration:
    level: float = 0.8
    buckets: dict[str, BucketCalibration] = field(default_factory=dict)

    def apply(self, anchor: np.ndarray, correction: np.ndarray, naive: dict[str, np.ndarray], age: np.ndarray) -> Forecast:
        """Prices and intervals of rows with these parts (log anchor, booster correction, the naive
        forecasters' log prices, the last index value's age). A bucket the backtest had too few rows for
        takes the full booster and the widest interval fitted."""
        buckets = bucket_of(age)
        shrink, blend, _, other = self.terms(age, naive)
        log_price = combine(anchor, correction, shrink, blend, other)
        spread = np.full(len(anchor), max((b.spread for b in self.buckets.values()), default=0.0))
        for name, fitted in self.buckets.items():
            spread[buckets == name] = fitted.spread
        return Forecast(price=np.exp(log_price), low=np.exp(log_price - spread), high=np.exp(log_price + spread),
                        naive={name: np.exp(values) for name, values in naive.items()})

    def terms(self, age: np.ndarray, naive: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[str | None], np.ndarray]:
        """Per row, what `apply` weighs its parts with: the booster's weight, the blended naive forecaster's
        weight (0 where none is blended, or it has no forecast), its name and its log price."""
        buckets = bucket_of(age)
        shrink, blend, other = np.ones(len(age)), np.zeros(len(age)), np.full(len(age), np.nan)
        names: list[str | None] = [None] * len(age)
        for name, fitted in self.buckets.items():
            rows = np.flatnonzero(buckets == name)
            shrink[rows] = fitted.shrink
            if fitted.naive is not None and fitted.blend > 0:
                rows = rows[~np.isnan(naive[fitted.naive][rows])]
                blend[rows], other[rows] = fitted.blend, naive[fitted.naive][rows]
                for i in rows:
                    names[i] = fitted.naive
        return shrink, blend, names, other

    @classmethod
    def fit(cls, table: pd.DataFrame, level: float) -> Calibration:
        """From backtest rows (shared.model.backtest: actual, anchor, correction, age, each naive forecaster's
        price) of months the model did not learn. Per bucket: the booster's weight, then the weight of the
        bucket's best naive forecaster in a blend with the model, then the booster's weight again (each
        the least absolute error on a grid), and the half-width that held for `level` of the rows."""
        calibration = cls(level=level)
        anchor, correction, naive, age = parts(table)
        buckets = bucket_of(age)
        actual = table["actual"].to_numpy(dtype="float64")
        for bucket in pd.unique(buckets):
            rows = (buckets == bucket) & np.isfinite(actual) & (actual > 0)
            if rows.sum() >= MIN_ROWS:
                known = {k: v[rows] for k, v in naive.items() if np.isfinite(v[rows]).all()}
                calibration.buckets[str(bucket)] = _fit_bucket(anchor[rows], correction[rows], actual[rows], known, level)
        return calibration

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "buckets": {b: asdict(f) for b, f in self.buckets.items()}}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Calibration:
        return cls(level=float(state["level"]), buckets={b: BucketCalibration(**f) for b, f in state["buckets"].items()})


def _fit_bucket(anchor: np.ndarray, correction: np.ndarray, actual: np.ndarray, naive: dict[str, np.ndarray],
                level: float) -> BucketCalibration:
    """One bucket's calibration (see `Calibration.fit`) from its rows' parts and actual prices."""
    shrink = _best(SHRINK_GRID, lambda s: _mae(anchor + s * correction, actual))
    best = min(naive, key=lambda k: _mae(naive[k], actual)) if naive else None
    blend = 0.0
    if best is not None:
        other = naive[best]
        blend = _best(SHRINK_GRID, lambda w: _mae((1 - w) * (anchor + shrink * correction) + w * other, actual))
        shrink = _best(SHRINK_GRID, lambda s: _mae((1 - blend) * (anchor + s * correction) + blend * other, actual))
    fitted = BucketCalibration(shrink=shrink, naive=best, blend=blend)
    residual = np.abs(np.log(actual) - fitted.log_price(anchor, correction, naive))
    return BucketCalibration(shrink, best, blend, _conformal(np.sort(residual), level))


def _conformal(ordered: np.ndarray, level: float) -> float:
    """The split-conformal quantile of sorted scores: the one of rank ceil((n + 1) level)."""
    n = len(ordered)
    return float(ordered[min(max(int(np.ceil((n + 1) * level)) - 1, 0), n - 1)])


def parts(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """The arguments of `Calibration.apply` from a backtest table's columns."""
    naive = {name: np.log(table[name].to_numpy(dtype="float64")) for name in FORECASTERS if name in table}
    return table["anchor"].to_numpy(), table["correction"].to_numpy(), naive, table["age"].to_numpy()


def cross_fitted(table: pd.DataFrame, level: float) -> Forecast:
    """Per row of a backtest table, the forecast calibrated on the other origins' rows only (a nowcast row
    belongs to the last origin before its month), so figures of the calibration months stay out of sample."""
    groups = table["group"].to_numpy()
    price, low, high = (np.full(len(table), np.nan) for _ in range(3))
    for group in np.unique(groups):
        mine = groups == group
        calibration = Calibration.fit(table.loc[~mine], level)
        part = table.loc[mine]
        forecast = calibration.apply(*parts(part))
        price[mine], low[mine], high[mine] = forecast.price, forecast.low, forecast.high
    return Forecast(price=price, low=low, high=high)
