"""Intervals that learn from the months they missed: adaptive conformal inference (Gibbs and Candès, 2021)
on the interval's log width, in nowcast mode.

The calibration's intervals are fitted on the eval backtest, one regime. When the market turns, a whole
month's prices fall outside at once (on the synthetic downturn's holdout a month ahead, 0.29 of them
instead of 0.2), and no per-row measure said so beforehand (the README's forecasting section). But in
nowcast mode each month's prices are known by the next month: after month j, whose intervals missed a share
e_j of the prices known for it, every later month's log half-width is multiplied by exp(a), with
a += RATE * (e_j - (1 - level)) kept within +-LIMIT. More misses than the level allows widen the intervals
that follow, fewer narrow them back, so over a run of months the share covered tends to the level whatever
the regime.

It runs from a = 0 over every month before the one predicted that the system has judged: the live series
(shared.serving.monitoring: each month sent in with its prices, the share of them outside the intervals
served then), and the months of the prediction itself (a file or request of several months, an evaluation
split) where a price is known (the input's own, else the history's) for a month the scoring model did not
learn. So a month scored alone gets the widths the months before it taught, whichever champion served them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from shared.model.calibration import Forecast

# How far one month's miss rate moves the log width: 0.5 x (miss rate - allowed). Chosen once for the method
# on the synthetic data sets' holdouts at 2,000 zips (0 = plain split conformal; 0.5 brought every data set's
# nowcast coverage within 0.78-0.81, 1 and 2 oscillated more without covering more), like ADAPT and TRUSTED.
RATE = 0.5
LIMIT = float(np.log(4))  # at most 4x, or a quarter of, the calibrated width


def adapted(forecast: Forecast, months: np.ndarray, actual: np.ndarray, level: float,
            nowcast: np.ndarray | None = None, recorded: Mapping[int, float] | None = None) -> Forecast:
    """`forecast` (rows in any order) with each month's intervals scaled by what the misses of the months
    before it say. `actual`: the price known for each row, NaN where none is or it must not count;
    `nowcast`: the rows in nowcast mode (default all), the only ones scaled and counted; `recorded`: months
    (month numbers) whose miss rate is known already (the live series: the share of their prices outside
    the intervals served then), counted instead of the rows' own."""
    low, high = forecast.low.astype("float64").copy(), forecast.high.astype("float64").copy()
    nowcast = np.ones(len(months), dtype=bool) if nowcast is None else nowcast
    known = nowcast & np.isfinite(actual) & (actual > 0)
    asked = np.unique(months[nowcast])
    recorded = {m: rate for m, rate in (recorded or {}).items() if len(asked) and m < asked.max()}
    width = 0.0  # the log of the factor in force
    for month in sorted({*asked.tolist(), *recorded}):
        rows = nowcast & (months == month)
        price, factor = forecast.price[rows], np.exp(width)
        with np.errstate(invalid="ignore", divide="ignore"):
            low[rows] = price * (forecast.low[rows] / price) ** factor
            high[rows] = price * (forecast.high[rows] / price) ** factor
        counted = rows & known
        if month in recorded:
            missed = recorded[month]
        elif counted.any():
            missed = float(np.mean((actual[counted] < low[counted]) | (actual[counted] > high[counted])))
        else:
            continue
        width = float(np.clip(width + RATE * (missed - (1 - level)), -LIMIT, LIMIT))
    return Forecast(price=forecast.price, low=low, high=high, naive=forecast.naive)
