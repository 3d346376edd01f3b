"""The naive forecasters a practitioner tries first, under the history rule of `shared.data.history`.

Each forecasts a row's log price from what the rule lets the row see: the zip's last allowed index value
(its *origin*), that value's age h in months (the horizon), and the index's monthly growth in the year
before it. They need no training, except the damped trend's damping factor, fitted on training months.

- persistence: the last value carried forward;
- momentum (drift): the last month's log growth carried forward h months;
- damped trend: the last 3 months' mean growth, damped by phi per month (sum of phi^k, k = 1..h);
- seasonal naive: the same months' growth a year earlier (a year's growth per full year ahead).

A month missing from the growth counts as no growth, so a short history falls back towards persistence;
a zip with no index value at all gets no forecast (NaN: the caller says what stands in for it).
"""

from __future__ import annotations

import numpy as np

from shared.data.history import GROWTH_LAGS, HistoryFeatures
from shared.reports import DAMPED, MOMENTUM, PERSISTENCE, SEASONAL

YEAR = GROWTH_LAGS  # seasonal naive takes a year of growth

DAMPING_GRID = np.round(np.arange(0.50, 1.0001, 0.02), 2)
TREND_MONTHS = 3


def _damped_sum(phi: float, h: np.ndarray) -> np.ndarray:
    """sum_{k=1..h} phi^k (h where phi is 1)."""
    return h if phi >= 1 else phi * (1 - phi ** h) / (1 - phi)


def forecasts(past: HistoryFeatures, damping: float) -> dict[str, np.ndarray]:
    """Each forecaster's log price per row (NaN where the zip has no allowed index value)."""
    h = np.nan_to_num(past.age).astype("int64")
    growth = np.nan_to_num(past.growth)  # column j: the growth of the month j months before the origin's
    last = past.last_index
    years, rest = np.divmod(h, YEAR)
    # The growth of the (h mod 12) months after the same month a year before the origin: lags 12 - rest .. 11.
    same_months = (growth * (np.arange(YEAR)[None, :] >= YEAR - rest[:, None])).sum(axis=1)
    return {
        PERSISTENCE: last,
        MOMENTUM: last + h * growth[:, 0],
        DAMPED: last + growth[:, :TREND_MONTHS].mean(axis=1) * _damped_sum(damping, h),
        SEASONAL: last + years * growth.sum(axis=1) + same_months,
    }


def fit_damping(past: HistoryFeatures, log_price: np.ndarray) -> float:
    """The damping factor whose damped trend has the least absolute error on these (training) rows."""
    known = ~np.isnan(past.last_index) & np.isfinite(log_price)
    if not known.any():
        return 1.0
    h = np.nan_to_num(past.age[known])
    trend = np.nan_to_num(past.growth[known, :TREND_MONTHS]).mean(axis=1)
    price, last = np.exp(log_price[known]), past.last_index[known]
    errors = [np.mean(np.abs(np.exp(last + trend * _damped_sum(phi, h)) - price)) for phi in DAMPING_GRID]
    return float(DAMPING_GRID[int(np.argmin(errors))])
