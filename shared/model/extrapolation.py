"""The model's linear part: how far a zip's log index moves from its last allowed value in h months.

Two forms of the move, fitted per horizon h (the last index value's age, 1..MAX_HORIZON months) on
training rows whose index was cut at drawn ages:

- the *blend*: `market + w_h (momentum - market)`, w_h in [0, 1] by least squares. Momentum is the last
  monthly growth times h; the market's move is the smoothed medians of sales and listings since the last
  index value, pooled over the zip's metro (`metro_since_index`), which are published with each month and
  so know about a turn the index has not shown yet. A convex blend: least squares on the noisy market
  move alone would shrink its coefficient towards 0 and under-predict every move.
- the *autoregression* (up to SHORT_HORIZON months): momentum plus a ridge fit, without intercept, on
  how the zip's monthly index growth changed over the LAGS months up to its last value, how far its
  metro's growth (the median over the metro's zips) lies from the zip's last, and how far the market's
  move lies from momentum. Every input is a *difference* of growths, so the fit learns how growth bends,
  never how large it was: adding the same growth to every month moves the prediction by exactly that
  growth. Fitted on growth levels instead, it learned the training boom's levels and carried them into a
  fall (nowcast MAE over momentum's, downturn holdout at 600 zips: 1.06 with levels, 1.02 with
  differences). A smoothed index's growth persists in ways one month's growth misses (smooth-index data:
  nowcast skill 0.56 against the blend's 0.91); further ahead, and with few zips per metro, the fit is
  noise, so a short horizon takes it only where it beats the blend on the training split's last
  VALIDATION_MONTHS months, fitted on the months before them.

Without an intercept nothing carries the training years' average growth into a year that falls, and
being linear the move extrapolates: a fall the training months never showed still moves it, which a tree
ensemble alone cannot do. Momentum is what stands in before a fit. The booster learns the rest.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shared.data.history import HistoryFeatures
from shared.model.calibration import MAX_HORIZON  # an older last value uses the coefficients of this horizon
from shared.model.seal import OutdatedBundle

LAGS = 6  # months of the zip's and the metro's growth the autoregression is linear in
SHORT_HORIZON = 3
VALIDATION_MONTHS = 12
MIN_ROWS_PER_COEFFICIENT = 50  # fewer rows: the blend's weight of the nearest fitted horizon; no autoregression
RIDGE = 1e-3  # the autoregression's penalty, relative to the mean diagonal of its Gram matrix
AUTOREGRESSION_INPUTS = (LAGS - 1) + LAGS + 1  # the zip's growth changes, the metro's gaps, the market's gap


def _horizons(past: HistoryFeatures) -> np.ndarray:
    return np.clip(np.nan_to_num(past.age), 1, MAX_HORIZON).astype("int64")


def _blend_moves(past: HistoryFeatures) -> tuple[np.ndarray, np.ndarray]:
    """(momentum move, market move) per row, 0 where unknown (a zip without a metro move keeps its momentum)."""
    momentum = np.nan_to_num(past.age) * np.nan_to_num(past.growth[:, 0])
    market = past.columns["metro_since_index"]
    return momentum, np.where(np.isnan(market), momentum, market)


def _lags(past: HistoryFeatures) -> np.ndarray:
    """The autoregression's inputs, differences of growths (a missing month's growth counts as 0)."""
    growth, metro = np.nan_to_num(past.growth[:, :LAGS]), np.nan_to_num(past.metro_growth[:, :LAGS])
    momentum, market = _blend_moves(past)
    last = growth[:, :1]
    return np.hstack([growth[:, :-1] - growth[:, 1:], metro - last, (market - momentum)[:, None]])


def _fit_blend(past: HistoryFeatures, target: np.ndarray, rows: np.ndarray) -> np.ndarray:
    momentum, market = _blend_moves(past)
    gap, rest = (momentum - market)[rows], (target - market)[rows]
    weight = gap @ rest / (gap @ gap) if gap @ gap > 0 else 1.0
    return np.array([float(np.clip(weight, 0.0, 1.0))])


def _fit_autoregression(past: HistoryFeatures, target: np.ndarray, rows: np.ndarray) -> np.ndarray:
    x = _lags(past)[rows]
    gram = x.T @ x
    penalty = RIDGE * max(float(np.mean(np.diag(gram))), 1e-12)
    beyond_momentum = target[rows] - _blend_moves(past)[0][rows]
    return np.linalg.solve(gram + penalty * np.eye(len(gram)), x.T @ beyond_momentum)


def _apply(coefficients: np.ndarray, past: HistoryFeatures, rows: np.ndarray) -> np.ndarray:
    """The move of `rows` by one horizon's coefficients (the form is told by their number)."""
    momentum, market = _blend_moves(past)
    if len(coefficients) == AUTOREGRESSION_INPUTS:
        return momentum[rows] + _lags(past)[rows] @ coefficients
    return market[rows] + coefficients[0] * (momentum[rows] - market[rows])


class Extrapolation:
    """Per horizon, the move's coefficients: one (the blend's weight) or AUTOREGRESSION_INPUTS."""

    def __init__(self, coefficients: list[np.ndarray] | None = None):
        self.coefficients = coefficients  # entry h-1 for horizon h; None: momentum only

    def fit(self, past: HistoryFeatures, log_price: np.ndarray, months: np.ndarray) -> Extrapolation:
        """Fit on training rows of these month numbers (their last VALIDATION_MONTHS months choose the forms)."""
        h = _horizons(past)
        target = log_price - past.last_index
        usable = np.isfinite(target)
        held = months > months.max() - VALIDATION_MONTHS
        blends = {}
        for horizon in range(1, MAX_HORIZON + 1):
            rows = usable & (h == horizon)
            if rows.sum() >= MIN_ROWS_PER_COEFFICIENT:
                blends[horizon] = _fit_blend(past, target, rows)
        if not blends:
            self.coefficients = None
            return self
        known = np.array(sorted(blends))
        self.coefficients = [blends[int(known[np.argmin(np.abs(known - horizon))])] for horizon in range(1, MAX_HORIZON + 1)]
        for horizon in range(1, SHORT_HORIZON + 1):
            rows = usable & (h == horizon)
            early, late = rows & ~held, rows & held
            if min(early.sum(), late.sum()) < MIN_ROWS_PER_COEFFICIENT * AUTOREGRESSION_INPUTS:
                continue
            candidates = [_fit_blend(past, target, early), _fit_autoregression(past, target, early)]
            errors = [np.mean(np.abs(_apply(c, past, late) - target[late])) for c in candidates]
            if errors[1] < errors[0]:
                self.coefficients[horizon - 1] = _fit_autoregression(past, target, rows)
        return self

    def move(self, past: HistoryFeatures) -> np.ndarray:
        """The predicted log move since the last index value."""
        if self.coefficients is None:
            return _blend_moves(past)[0]
        h = _horizons(past)
        momentum, market = _blend_moves(past)
        weights = np.array([c[0] if len(c) == 1 else np.nan for c in self.coefficients])[h - 1]
        out = market + weights * (momentum - market)
        for horizon in np.unique(h[np.isnan(weights)]):  # the autoregressions
            rows = h == horizon
            out[rows] = _apply(self.coefficients[horizon - 1], past, rows)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"coefficients": None if self.coefficients is None
                else [[round(float(c), 8) for c in row] for row in self.coefficients]}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Extrapolation:
        values = state.get("coefficients")
        if values is not None and any(len(row) not in (1, AUTOREGRESSION_INPUTS) for row in values):
            raise OutdatedBundle("the bundle's extrapolation was fitted on growth levels by an older version: train "
                                 "a new model with `housing run --force`")
        return cls(None if values is None else [np.asarray(row, dtype="float64") for row in values])
