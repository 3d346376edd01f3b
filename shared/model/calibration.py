"""What the rolling-origin backtest teaches a model, per horizon bucket: which of the market's measures
to follow, how much of its booster to trust, and how wide its intervals are.

Everything the model learned, it learned on the training months, one regime. The eval months the model
never learned are a different one (by default the 2020-21 boom), so per bucket the calibration chooses on
the eval backtest, by least absolute error:

- the *market mix*: how the metro's moves since the last index value of the market's medians (sale price
  per sq ft, list price per sq ft, list price) are weighed into one market move, and the weight `market` of
  the last index value moved by it against the model's anchor. List prices sit at a premium over sale
  prices that shrinks in a hot market and grows in a cool one, so across a turn they misstate the move of
  values (on the synthetic data a list-based move two years ahead erred 3-7% in the direction of the old
  regime, the sale-based one 1-3%); which measure tracked the index through a regime the model never saw is
  what the eval months can tell, and training months cannot;
- `shrink`, the weight of the booster's correction (trees only know the regimes they saw), and the
  range that correction took on those months (`bounds`, its central TRUSTED share, widened to hold 0).
  Beyond that range the correction has never been checked against prices the model did not learn, so it
  counts only up to the range's edge: its weight falls as the row's correction grows past it. In a turn the
  training months never showed, the booster's inputs leave everything it saw and its correction grows and
  errs (on the synthetic downturn a month ahead the full correction doubled the anchor's error); bounded,
  the model's nowcast there went from 1.07x to 1.00x momentum's error at 2,000 zips (1.025x to 0.951x at
  full size), and no other data set's bucket's skill moved by more than 0.02 (README);
- the bucket's best naive forecaster and its weight in a blend with the model.

The interval is split conformal on locally scaled residuals: each row's absolute log residual over
`scale + adapt * gap`, where `gap` is how far the market's move lies from the index's own momentum. Where
the two agree the interval is the bucket's usual one; where they part, which is a turn under way (a boom
or a fall that the index has not shown yet), the interval widens with the disagreement. With `adapt` 0
(plain split conformal) the intervals fitted on a boom covered 0.38-0.71 of the next two years' prices
4-24 months ahead on the full-size synthetic data sets whose market turned; with ADAPT, 0.77-0.91 (README).
It is symmetric in log price on purpose: the backtest's months may all have erred one way (a boom the
model under-called), and the next regime may err the other. In nowcast mode a prediction of several months
then scales each month's interval by the misses of the months before it (shared.model.adaptation).

A row's bucket is the age of its last allowed index value (the horizon: 1 is a nowcast), or NO_INDEX for a
zip without one (the model anchors it on the price-level reference). Figures reported for the months the
calibration was fitted on are cross-fitted: each origin's rows are calibrated on the other origins only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shared import schema
from shared.reports import FORECASTERS, MOMENTUM, PERSISTENCE

NO_INDEX = "no index"
CALIBRATION_SPLIT = "eval"  # the split whose backtest a run's calibration is fitted on
# Horizon buckets (months ahead of the last known index value), as tables and the gate name them.
BUCKETS = (("1", 1, 1), ("2-3", 2, 3), ("4-6", 4, 6), ("7-12", 7, 12), ("13-24", 13, 24))
MAX_HORIZON = 24
SHRINK_GRID = np.round(np.linspace(0.0, 1.0, 21), 2)
MIN_ROWS = 30  # a bucket with fewer backtest rows takes the widest fitted interval and the full booster
# The market's measures, as the history features name their metro moves since the last index value (log).
MARKET_SOURCES = tuple(f"metro_{column}_since_index" for column in schema.MARKET_LEVELS)
# The market mixes tried: weights in quarters that sum to 1.
MIXES = [(a / 4, b / 4, (4 - a - b) / 4) for a in range(5) for b in range(5 - a)]
# How much the gap between the market's move and the index's momentum widens an interval (in units of
# that gap, beside the bucket's median absolute residual). Chosen once for the method, across the
# synthetic assumptions, as the one whose holdout coverage after a turn came nearest 0.8 without widening
# the intervals of a calm market by more than a few tenths of a percent; the eval backtest alone cannot
# choose it (its months are one regime, where the plain interval is the narrowest that holds).
ADAPT = 0.25
# The share of the calibration months' booster corrections whose range bounds a correction at serving time
# (the central 90%). One constant of the method, like ADAPT: on the eval months, which are one regime, any
# bound only costs, so they cannot choose it; 0.9 was the widest that brought the synthetic downturn's nowcast
# level with momentum's, and it moved no other data set's bucket's skill by more than 0.02 (README).
TRUSTED = 0.9


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


@dataclass
class Parts:
    """What a prediction is made of, per row (log prices): the model's anchor and its booster's correction,
    each naive forecaster's log price, the last index value's age, and each market measure's metro move
    since that value (MARKET_SOURCES; NaN where unknown). The backtest table holds them as columns."""

    anchor: np.ndarray
    correction: np.ndarray
    naive: dict[str, np.ndarray]
    age: np.ndarray
    markets: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def of_table(cls, table: pd.DataFrame) -> Parts:
        return cls(anchor=table["anchor"].to_numpy(), correction=table["correction"].to_numpy(),
                   naive={name: np.log(table[name].to_numpy(dtype="float64")) for name in FORECASTERS if name in table},
                   age=table["age"].to_numpy(),
                   markets={name: table[name].to_numpy(dtype="float64") for name in MARKET_SOURCES if name in table})

    def take(self, rows: np.ndarray) -> Parts:
        return Parts(self.anchor[rows], self.correction[rows], {k: v[rows] for k, v in self.naive.items()},
                     self.age[rows], {k: v[rows] for k, v in self.markets.items()})

    def market_move(self, mix: dict[str, float]) -> np.ndarray:
        """The weighted mean of the known market moves (a missing measure's weight goes to the others);
        NaN where none of the weighted ones is known."""
        total, weights = np.zeros(len(self.anchor)), np.zeros(len(self.anchor))
        for name, weight in mix.items():
            move = self._of(self.markets, name)
            known = ~np.isnan(move) & (weight > 0)
            total += weight * np.where(known, move, 0.0)
            weights += np.where(known, weight, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(weights > 0, total / weights, np.nan)

    def moved(self, mix: dict[str, float]) -> np.ndarray:
        """The last index value moved by the market mix (log; NaN where either is unknown)."""
        return self._of(self.naive, PERSISTENCE) + self.market_move(mix)

    def base(self, mix: dict[str, float], market: float) -> np.ndarray:
        """The level the booster corrects: the anchor, moved `market` of the way to the last index value
        moved by the market mix (the anchor alone where there is no index value or no market move)."""
        if market == 0 or not mix:
            return self.anchor
        return _towards(self.anchor, self.moved(mix), market)

    def gap(self, mix: dict[str, float]) -> np.ndarray:
        """How far the market's move lies from the index's momentum (log; 0 where either is unknown)."""
        momentum = self._of(self.naive, MOMENTUM) - self._of(self.naive, PERSISTENCE)
        return np.nan_to_num(np.abs(self.market_move(mix) - momentum))

    def _of(self, values: dict[str, np.ndarray], name: str) -> np.ndarray:
        """values[name], or NaN for every row where these parts have none."""
        return values[name] if name in values else np.full(len(self.anchor), np.nan)


@dataclass(frozen=True)
class BucketCalibration:
    """How one bucket's prediction is made from its parts, and its interval's half-width (log price):
    `spread * (scale + adapt * gap)`. The defaults are what a bucket fitted before the market mix and the
    scaled intervals meant: the anchor as it is, and a half-width of `spread`."""

    shrink: float = 1.0  # weight of the booster's correction to the base
    naive: str | None = None  # the naive forecaster blended in (the bucket's best on the backtest)
    blend: float = 0.0  # its weight in the blend
    spread: float = 0.0
    mix: dict[str, float] = field(default_factory=dict)  # the market measures' weights (MARKET_SOURCES) in its move
    market: float = 0.0  # the weight of the market-moved last index value against the anchor
    scale: float = 1.0
    adapt: float = 0.0
    bounds: tuple[float, float] | None = None  # the correction's trusted range (low <= 0 <= high); None: unbounded

    def booster_weight(self, correction: np.ndarray) -> np.ndarray:
        """Per row, the weight of its booster correction: `shrink`, falling where the correction lies beyond
        `bounds` so that it counts only up to the bound."""
        if self.bounds is None:
            return np.full(len(correction), self.shrink)
        with np.errstate(invalid="ignore", divide="ignore"):  # a correction of 0 keeps the full weight
            inside = np.where(correction == 0, 1.0, np.clip(correction, *self.bounds) / correction)
        return self.shrink * inside

    def log_price(self, parts: Parts) -> np.ndarray:
        base = parts.base(self.mix, self.market)
        shrink = self.booster_weight(parts.correction)
        if self.naive is None or self.blend == 0 or self.naive not in parts.naive:
            return combine(base, parts.correction, shrink, np.zeros(len(base)), np.full(len(base), np.nan))
        other = parts.naive[self.naive]
        return combine(base, parts.correction, shrink, np.where(np.isnan(other), 0.0, self.blend), other)

    def half_width(self, parts: Parts) -> np.ndarray:
        return self.spread * (self.scale + self.adapt * parts.gap(self.mix))


def _towards(anchor: np.ndarray, moved: np.ndarray, market: float) -> np.ndarray:
    """The anchor moved `market` of the way to `moved`, where that is known."""
    return np.where(np.isnan(moved), anchor, (1 - market) * anchor + market * moved)


def combine(base: np.ndarray, correction: np.ndarray, shrink, blend: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The log price from its parts: the base plus the booster's correction at weight `shrink`, blended
    with the naive forecaster's log price `other` at weight `blend` where that is above 0. The one rule:
    calibration fits with it, `Calibration.apply` predicts with it, shared.model.explain takes it apart."""
    model = base + shrink * correction
    return np.where(blend > 0, (1 - blend) * model + blend * other, model)


def _mae(log_price: np.ndarray, actual: np.ndarray) -> float:
    return float(np.mean(np.abs(np.exp(log_price) - actual)))


def _best(grid: np.ndarray, error) -> float:
    return float(grid[int(np.argmin([error(x) for x in grid]))])


@dataclass
class Terms:
    """Per row, what `Calibration.apply` weighs the parts with: the base the booster corrects, the
    booster's weight, the blended naive forecaster's weight (0 where none is blended, or it has no
    forecast), its name and its log price; and the interval's half-width (log price)."""

    base: np.ndarray
    shrink: np.ndarray
    blend: np.ndarray
    names: list[str | None]
    other: np.ndarray
    half: np.ndarray


@dataclass
class Calibration:
    level: float = 0.8
    buckets: dict[str, BucketCalibration] = field(default_factory=dict)

    def apply(self, parts: Parts) -> Forecast:
        """Prices and intervals of rows with these parts. A bucket the backtest had too few rows for takes
        the anchor, the full booster and the widest interval fitted."""
        terms = self.terms(parts)
        log_price = combine(terms.base, parts.correction, terms.shrink, terms.blend, terms.other)
        return Forecast(price=np.exp(log_price), low=np.exp(log_price - terms.half), high=np.exp(log_price + terms.half),
                        naive={name: np.exp(values) for name, values in parts.naive.items()})

    def terms(self, parts: Parts) -> Terms:
        n = len(parts.anchor)
        buckets = bucket_of(parts.age)
        terms = Terms(base=parts.anchor.astype("float64").copy(), shrink=np.ones(n), blend=np.zeros(n), names=[None] * n,
                      other=np.full(n, np.nan),
                      half=np.full(n, max((b.spread * b.scale for b in self.buckets.values()), default=0.0)))
        for name, fitted in self.buckets.items():
            rows = np.flatnonzero(buckets == name)
            if not len(rows):  # a request's rows are mostly of one bucket
                continue
            mine = parts.take(rows)
            terms.shrink[rows] = fitted.booster_weight(mine.correction)
            terms.base[rows] = mine.base(fitted.mix, fitted.market)
            terms.half[rows] = fitted.half_width(mine)
            if fitted.naive is not None and fitted.blend > 0 and fitted.naive in parts.naive:
                other = parts.naive[fitted.naive]
                rows = rows[~np.isnan(other[rows])]
                terms.blend[rows], terms.other[rows] = fitted.blend, other[rows]
                for i in rows:
                    terms.names[i] = fitted.naive
        return terms

    @classmethod
    def fit(cls, table: pd.DataFrame, level: float) -> Calibration:
        """From backtest rows (shared.model.backtest: actual and the `Parts` columns) of months the model
        did not learn. Per bucket, each the least absolute error on a grid: the market mix and its weight,
        the booster's weight (its correction bounded to the range it took there), the weight of the bucket's
        best naive forecaster in a blend with the model, the booster's weight again; then the interval's
        scaled half-width that held for `level` of the rows."""
        calibration = cls(level=level)
        parts = Parts.of_table(table)
        buckets = bucket_of(parts.age)
        actual = table["actual"].to_numpy(dtype="float64")
        for bucket in pd.unique(buckets):
            rows = np.flatnonzero((buckets == bucket) & np.isfinite(actual) & (actual > 0))
            if len(rows) >= MIN_ROWS:
                calibration.buckets[str(bucket)] = _fit_bucket(parts.take(rows), actual[rows], level)
        return calibration

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "buckets": {b: asdict(f) for b, f in self.buckets.items()}}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Calibration:
        buckets = {b: BucketCalibration(**{**f, "bounds": tuple(f["bounds"]) if f.get("bounds") else None})
                   for b, f in state["buckets"].items()}
        return cls(level=float(state["level"]), buckets=buckets)


def _fit_bucket(parts: Parts, actual: np.ndarray, level: float) -> BucketCalibration:
    """One bucket's calibration (see `Calibration.fit`) from its rows' parts and actual prices."""
    mix: dict[str, float] = {}
    market = 0.0
    known = [name for name in MARKET_SOURCES if name in parts.markets]
    if known and PERSISTENCE in parts.naive:  # the mix that alone tracks the index best, then its weight
        mixes = [dict(zip(MARKET_SOURCES, weights)) for weights in MIXES]
        mixes = [m for m in mixes if all(m[name] == 0 for name in MARKET_SOURCES if name not in known)]
        mix = min(mixes, key=lambda m: _mae(parts.base(m, 1.0), actual))
        moved = parts.moved(mix)
        market = _best(SHRINK_GRID, lambda w: _mae(_towards(parts.anchor, moved, w), actual))
    base = parts.base(mix, market)
    tail = (1 - TRUSTED) / 2
    low, high = np.quantile(parts.correction, [tail, 1 - tail])
    bounds = (min(float(low), 0.0), max(float(high), 0.0))
    correction = np.clip(parts.correction, *bounds)
    shrink = _best(SHRINK_GRID, lambda s: _mae(base + s * correction, actual))
    naive = {k: v for k, v in parts.naive.items() if np.isfinite(v).all()}
    best = min(naive, key=lambda k: _mae(naive[k], actual)) if naive else None
    blend = 0.0
    if best is not None:
        other = naive[best]
        blend = _best(SHRINK_GRID, lambda w: _mae((1 - w) * (base + shrink * correction) + w * other, actual))
        shrink = _best(SHRINK_GRID, lambda s: _mae((1 - blend) * (base + s * correction) + blend * other, actual))
    fitted = BucketCalibration(shrink=shrink, naive=best, blend=blend, mix=mix, market=market, bounds=bounds)
    residual = np.abs(np.log(actual) - fitted.log_price(parts))
    scale = max(float(np.median(residual)), 1e-6)
    score = residual / (scale + ADAPT * parts.gap(fitted.mix))
    return dataclasses.replace(fitted, spread=_conformal(np.sort(score), level), scale=scale, adapt=ADAPT)


def _conformal(ordered: np.ndarray, level: float) -> float:
    """The split-conformal quantile of sorted scores: the one of rank ceil((n + 1) level)."""
    n = len(ordered)
    return float(ordered[min(max(int(np.ceil((n + 1) * level)) - 1, 0), n - 1)])


def cross_fitted(table: pd.DataFrame, level: float) -> Forecast:
    """Per row of a backtest table, the forecast calibrated on the other origins' rows only (a nowcast row
    belongs to the last origin before its month), so figures of the calibration months stay out of sample."""
    groups = table["group"].to_numpy()
    price, low, high = (np.full(len(table), np.nan) for _ in range(3))
    for group in np.unique(groups):
        mine = groups == group
        calibration = Calibration.fit(table.loc[~mine], level)
        part = table.loc[mine]
        forecast = calibration.apply(Parts.of_table(part))
        price[mine], low[mine], high[mine] = forecast.price, forecast.low, forecast.high
    return Forecast(price=price, low=low, high=high)
