"""Intervals adapted month by month to the months they missed (shared.model.adaptation), on forecasts whose
misses are known; and the bundle's nowcast of several months learning from the prices the history knows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shared import schema
from shared.data.history import ZipHistory, month_numbers
from shared.model.adaptation import LIMIT, RATE, adapted
from shared.model.calibration import Forecast

ROWS = 10  # per month


def _forecast(months: int, half: float = 0.1) -> tuple[Forecast, np.ndarray]:
    """`months` months of ROWS rows, each priced 100 with the interval exp(-+half) around it."""
    price = np.full(months * ROWS, 100.0)
    return (Forecast(price=price, low=price * np.exp(-half), high=price * np.exp(half)),
            np.repeat(np.arange(months), ROWS))


def _log_half(forecast: Forecast, months: np.ndarray) -> list[float]:
    return [float(np.log(forecast.high[months == m][0] / forecast.price[months == m][0])) for m in np.unique(months)]


def test_a_month_that_missed_more_than_the_level_allows_widens_the_months_after_it():
    forecast, months = _forecast(3)
    actual = np.full(len(months), 100.0)
    actual[:5] = 150.0  # half of the first month's prices outside: 0.3 more than the 0.2 allowed
    out = adapted(forecast, months, actual, level=0.8)
    factor = np.exp(RATE * (0.5 - 0.2))
    assert _log_half(out, months)[0] == pytest.approx(0.1)  # the first month has nothing earlier to learn from
    assert _log_half(out, months)[1] == pytest.approx(0.1 * factor)
    # The second month missed nothing: 0.2 fewer misses than allowed narrows the third back.
    assert _log_half(out, months)[2] == pytest.approx(0.1 * factor * np.exp(RATE * (0.0 - 0.2)))
    np.testing.assert_array_equal(out.price, forecast.price)


def test_prices_unknown_or_not_to_count_teach_nothing_and_the_width_stays_within_its_limit():
    forecast, months = _forecast(3)
    unknown = adapted(forecast, months, np.full(len(months), np.nan), level=0.8)
    np.testing.assert_allclose(unknown.low, forecast.low)
    np.testing.assert_allclose(unknown.high, forecast.high)
    forecast, months = _forecast(12)
    always = adapted(forecast, months, np.full(len(months), 1e6), level=0.8)  # every price outside, every month
    assert max(_log_half(always, months)) == pytest.approx(0.1 * np.exp(LIMIT))


def test_rows_in_any_order_and_horizon_rows_beside_them():
    forecast, months = _forecast(4)
    actual = np.where(np.arange(len(months)) % 3 == 0, 130.0, 100.0)
    ordered = adapted(forecast, months, actual, level=0.8)
    shuffle = np.random.default_rng(0).permutation(len(months))
    mixed = adapted(Forecast(forecast.price[shuffle], forecast.low[shuffle], forecast.high[shuffle]), months[shuffle],
                    actual[shuffle], level=0.8)
    np.testing.assert_allclose(mixed.high, ordered.high[shuffle])
    horizon = months % 2 == 1  # rows in horizon mode are neither scaled nor counted
    partly = adapted(forecast, months, actual, level=0.8, nowcast=~horizon)
    np.testing.assert_array_equal(partly.high[horizon], forecast.high[horizon])
    assert not np.allclose(partly.high[~horizon], forecast.high[~horizon])


def test_the_history_knows_each_zip_s_index_value_by_month():
    frame = pd.DataFrame({schema.ZIPCODE: [6007.0, 6007.0, 30301.0],
                          schema.DATE: pd.to_datetime(["2020-01-31", "2020-02-29", "2020-01-31"]),
                          schema.METRO: ["a", "a", "b"], schema.TARGET: [100.0, np.nan, 300.0],
                          **{c: [1.0, 1.0, 1.0] for c in schema.MARKET_LEVELS}})
    history = ZipHistory(frame)
    months = month_numbers(pd.Series(pd.to_datetime(["2020-01-31", "2020-02-29", "2020-01-31", "2020-03-31"])))
    found = history.index_values(np.array([6007.0, 6007.0, 30301.0, 30301.0]), months)
    np.testing.assert_array_equal(found, [100.0, np.nan, 300.0, np.nan])
    assert np.isnan(ZipHistory().index_values(np.array([6007.0]), months[:1])).all()


def test_months_judged_live_before_a_prediction_adapt_it_and_count_instead_of_its_own():
    forecast, months = _forecast(1)
    months = months + 10  # one month, the 10th
    recorded = {8: 0.5, 9: 0.0, 10: 0.9, 12: 1.0}  # the 10th's own and later ones cannot teach it
    alone = adapted(forecast, months, np.full(len(months), np.nan), level=0.8, recorded=recorded)
    width = RATE * (0.5 - 0.2)
    width += RATE * (0.0 - 0.2)
    assert _log_half(alone, months) == [pytest.approx(0.1 * np.exp(width))]
    two, months2 = _forecast(2)
    actual = np.full(len(months2), 100.0)  # the first month's own prices all inside ...
    both = adapted(two, months2, actual, level=0.8, recorded={0: 0.5})  # ... but judged live with half outside
    assert _log_half(both, months2)[1] == pytest.approx(0.1 * np.exp(RATE * (0.5 - 0.2)))
