"""The forecasting parts on data whose answers are known: the naive forecasters' formulas, the damping and
extrapolation fits, the calibration's booster weight, blend and intervals, and the backtest's origins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shared.data.history import FEATURES, GROWTH_LAGS, HistoryFeatures, ZipHistory, month_numbers
from shared.model import baselines
from shared.model.backtest import HORIZON, NOWCAST_MODE, backtest, origins
from shared.model.calibration import (
    MARKET_SOURCES,
    NO_INDEX,
    Calibration,
    Parts,
    bucket_of,
    cross_fitted,
    horizon_bucket,
)
from shared.model.extrapolation import AUTOREGRESSION_INPUTS, LAGS, SHORT_HORIZON, Extrapolation
from shared.model.features import FeatureBuilder
from shared.model.seal import OutdatedBundle
from shared.reports import DAMPED, MOMENTUM, PERSISTENCE, SEASONAL


def past(last, growth, age, metro_move=None, metro_growth=None) -> HistoryFeatures:
    n = len(last)
    columns = {name: np.full(n, np.nan) for name in FEATURES}
    columns["index_age"] = np.asarray(age, dtype="float64")
    if metro_move is not None:
        columns["metro_since_index"] = np.asarray(metro_move, dtype="float64")
    metro_growth = np.full((n, GROWTH_LAGS), np.nan) if metro_growth is None else metro_growth
    return HistoryFeatures(last_index=np.asarray(last, dtype="float64"), columns=columns,
                           growth=np.asarray(growth, dtype="float64").reshape(n, GROWTH_LAGS),
                           metro_growth=np.asarray(metro_growth, dtype="float64").reshape(n, GROWTH_LAGS))


def test_the_naive_forecasters_follow_their_definitions():
    growth = np.arange(1, GROWTH_LAGS + 1) / 1000  # column j: the growth j months before the origin's month
    seen = past([np.log(100_000)] * 3, np.tile(growth, 3), [1, 5, 14])
    got = baselines.forecasts(seen, damping=0.9)
    last = np.log(100_000)
    np.testing.assert_allclose(got[PERSISTENCE], last)
    np.testing.assert_allclose(got[MOMENTUM], last + np.array([1, 5, 14]) * 0.001)
    trend = growth[:3].mean()
    np.testing.assert_allclose(got[DAMPED], last + trend * np.array([0.9, sum(0.9 ** k for k in range(1, 6)),
                                                                    sum(0.9 ** k for k in range(1, 15))]))
    # Seasonal naive: the growth of the h mod 12 months after the same month a year before, plus a year's
    # growth per full year: lags 11 (h = 1); 7..11 (h = 5); a year and lags 10..11 (h = 14).
    np.testing.assert_allclose(got[SEASONAL], last + np.array([growth[11], growth[7:].sum(), growth.sum() + growth[10:].sum()]))


def test_a_zip_without_an_index_value_gets_no_naive_forecast_and_missing_growth_counts_as_none():
    seen = past([np.nan, np.log(2e5)], np.full((2, GROWTH_LAGS), np.nan), [np.nan, 3])
    got = baselines.forecasts(seen, damping=0.9)
    assert all(np.isnan(v[0]) for v in got.values())
    assert all(v[1] == pytest.approx(np.log(2e5)) for v in got.values())


def test_the_damping_is_the_one_that_fits_the_training_rows():
    rng = np.random.default_rng(0)
    n, phi = 2_000, 0.8
    trend = rng.normal(0.01, 0.005, n)
    growth = np.tile(trend[:, None], (1, GROWTH_LAGS))
    age = rng.integers(1, 25, n)
    last = np.log(rng.uniform(1e5, 1e6, n))
    truth = last + trend * phi * (1 - phi ** age) / (1 - phi)
    assert baselines.fit_damping(past(last, growth, age), truth) == pytest.approx(phi, abs=0.02)


def _moves_data(n: int, rng, short_move):
    """Training rows over 24 months (the last 12 choose the forms): growth lags, the metro's, a market move, and the truth: short
    horizons move by `short_move(age, growth, metro_growth)`, longer ones by the market's move."""
    age = rng.integers(1, 25, n)
    growth, metro_growth = rng.normal(0.01, 0.004, (n, GROWTH_LAGS)), rng.normal(0.01, 0.004, (n, GROWTH_LAGS))
    market = rng.normal(0.03, 0.02, n)
    last = np.log(rng.uniform(1e5, 1e6, n))
    truth = last + np.where(age <= SHORT_HORIZON, short_move(age, growth, metro_growth), market)
    return past(last, growth, age, market, metro_growth), truth, rng.integers(24_000, 24_024, n)


def test_the_extrapolation_learns_which_moves_to_trust_at_each_horizon():
    rng = np.random.default_rng(1)
    seen, truth, months = _moves_data(60_000, rng, lambda age, g, m: age * (0.5 * g[:, 0] + 0.3 * g[:, 1] + 0.2 * m[:, 0]))
    model = Extrapolation().fit(seen, truth, months)
    for h in (1, 3):  # the autoregression wins on the last training months, and finds the lags
        # beyond momentum h g0: h (-0.5 g0 + 0.3 g1 + 0.2 m0) = h (-0.3 (g0 - g1) + 0.2 (m0 - g0))
        expected = np.zeros(AUTOREGRESSION_INPUTS)
        expected[[0, LAGS - 1]] = h * np.array([-0.3, 0.2])
        np.testing.assert_allclose(model.coefficients[h - 1], expected, atol=0.02 * h)
    shifted = past(seen.last_index, seen.growth + 0.02, seen.age, seen.columns["metro_since_index"] + 0.02 * seen.age,
                   seen.metro_growth + 0.02)
    short = seen.age <= SHORT_HORIZON  # growth 2 points higher every month: the move is 2 points a month higher
    np.testing.assert_allclose((model.move(shifted) - model.move(seen))[short], 0.02 * seen.age[short], atol=1e-9)
    for h in (4, 12, 24):  # further ahead the blend: all market
        np.testing.assert_allclose(model.coefficients[h - 1], [0.0], atol=0.01)
    again = Extrapolation.from_dict(model.to_dict())
    np.testing.assert_allclose(again.move(seen), model.move(seen), atol=1e-6)
    with pytest.raises(OutdatedBundle, match="growth levels"):  # an older version's fit on growth levels
        Extrapolation.from_dict({"coefficients": [[0.1] * (AUTOREGRESSION_INPUTS + 1)] + [[0.5]] * 23})


def test_a_short_horizon_keeps_the_blend_where_the_autoregression_does_not_beat_it():
    rng = np.random.default_rng(2)
    seen, truth, months = _moves_data(60_000, rng, lambda age, g, m: age * g[:, 0])  # plain momentum
    model = Extrapolation().fit(seen, truth, months)
    assert [len(c) for c in model.coefficients[:SHORT_HORIZON]] == [1] * SHORT_HORIZON
    np.testing.assert_allclose(model.coefficients[0], [1.0], atol=1e-6)


def test_before_a_fit_and_beyond_the_fitted_horizons_the_move_is_momentum_or_the_nearest_blend():
    growth = np.full((2, GROWTH_LAGS), 0.01)
    seen = past(np.log([1e5, 1e5]), growth, [2, 20], metro_move=[0.5, 0.5])
    np.testing.assert_allclose(Extrapolation().move(seen), [0.02, 0.2])
    rng = np.random.default_rng(5)
    n = 2_000  # only 1-month rows: every horizon takes their blend
    fitted = Extrapolation().fit(past(np.zeros(n), rng.normal(0.01, 0.004, (n, GROWTH_LAGS)), np.ones(n)),
                                 np.zeros(n), np.full(n, 24_000))
    assert len(fitted.coefficients) == 24 and all(np.array_equal(c, fitted.coefficients[0]) for c in fitted.coefficients)


def _table(n: int, rng, shrink: float, noise: float) -> pd.DataFrame:
    anchor = np.log(rng.uniform(1e5, 1e6, n))
    correction = rng.normal(0, 0.05, n)
    actual = np.exp(anchor + shrink * correction + rng.normal(0, noise, n))
    naive = np.exp(anchor + rng.normal(0, 0.2, n))  # a poor naive forecaster: never worth blending in
    return pd.DataFrame({"actual": actual, "anchor": anchor, "correction": correction, "age": np.full(n, 1.0),
                         "group": rng.integers(0, 6, n), PERSISTENCE: naive, MOMENTUM: naive, DAMPED: naive,
                         SEASONAL: naive})


def test_the_calibration_finds_the_booster_s_weight_and_intervals_that_hold():
    rng = np.random.default_rng(2)
    fitted = Calibration.fit(_table(20_000, rng, shrink=0.4, noise=0.01), level=0.8)
    bucket = fitted.buckets["1"]
    assert bucket.shrink == pytest.approx(0.4, abs=0.05) and bucket.blend == 0.0
    fresh = _table(20_000, rng, shrink=0.4, noise=0.01)
    forecast = fitted.apply(Parts.of_table(fresh))
    inside = ((forecast.low <= fresh["actual"]) & (fresh["actual"] <= forecast.high)).mean()
    assert 0.78 <= inside <= 0.82
    assert Calibration.from_dict(fitted.to_dict()) == fitted


def test_a_naive_forecaster_better_than_the_model_is_blended_in():
    rng = np.random.default_rng(3)
    table = _table(5_000, rng, shrink=1.0, noise=0.02)
    table[MOMENTUM] = table["actual"] * np.exp(rng.normal(0, 0.002, len(table)))  # nearly the truth
    bucket = Calibration.fit(table, level=0.8).buckets["1"]
    assert bucket.naive == MOMENTUM and bucket.blend >= 0.9


def test_cross_fitting_calibrates_each_origin_on_the_others_only():
    rng = np.random.default_rng(4)
    table = _table(3_000, rng, shrink=0.5, noise=0.01)
    far = table["group"] == 0
    table.loc[far, "actual"] *= 1.5  # one origin unlike the others: its own rows cannot widen its interval
    forecast = cross_fitted(table, level=0.8)
    inside = (forecast.low <= table["actual"]) & (table["actual"] <= forecast.high)
    assert inside[~far].mean() > 0.7 and inside[far].mean() < 0.05


def _turn(n: int, rng, premium: float) -> pd.DataFrame:
    """Backtest rows 13-24 months ahead across a turn: the index moved by the sale-based market measure
    (plus noise), while the list-based ones also carry a premium change of `premium` and momentum carries
    the old regime's growth forward. The model's anchor follows the list-based move."""
    age = rng.integers(13, 25, n).astype("float64")
    last = np.log(rng.uniform(1e5, 1e6, n))
    sale = rng.normal(0.05, 0.08, n)  # some zips' metros rose, some fell
    truth = last + sale + rng.normal(0, 0.01, n)
    table = pd.DataFrame({"actual": np.exp(truth), "anchor": last + sale + premium, "correction": np.zeros(n),
                          "age": age, "group": rng.integers(0, 6, n), PERSISTENCE: np.exp(last),
                          MOMENTUM: np.exp(last + 0.01 * age), DAMPED: np.exp(last), SEASONAL: np.exp(last)})
    table[MARKET_SOURCES[0]] = sale
    table[MARKET_SOURCES[1]] = table[MARKET_SOURCES[2]] = sale + premium
    return table


def test_the_calibration_follows_the_market_measure_that_tracked_the_index_through_a_turn():
    rng = np.random.default_rng(6)
    bucket = Calibration.fit(_turn(5_000, rng, premium=0.05), level=0.8).buckets["13-24"]
    assert bucket.mix == dict(zip(MARKET_SOURCES, (1.0, 0.0, 0.0))) and bucket.market == 1.0
    fresh = _turn(5_000, rng, premium=-0.05)  # the premium moves the other way in the next regime
    forecast = Calibration.fit(_turn(5_000, rng, premium=0.05), level=0.8).apply(Parts.of_table(fresh))
    error = np.abs(np.log(forecast.price) - np.log(fresh["actual"]))
    assert np.median(error) < 0.01  # the list-based anchor would err by the premium, 0.05
    # A measure a store lacks is left out of the mixes tried; with none, the anchor stands.
    alone = Calibration.fit(_turn(2_000, rng, 0.05).drop(columns=list(MARKET_SOURCES)), level=0.8).buckets["13-24"]
    assert alone.market == 0.0 and alone.mix == {}


def test_intervals_widen_where_the_market_parts_from_momentum():
    """Errors twice as large where the market's move is far from momentum: a plain interval would cover
    the calm rows too often and the parted rows too rarely; the scaled one covers both near its level."""
    rng = np.random.default_rng(7)

    def rows(n):
        table = _turn(n, rng, premium=0.0)
        gap = np.abs(table[MARKET_SOURCES[0]] - 0.01 * table["age"])
        table["actual"] = np.exp(table["anchor"] + rng.normal(0, 0.01 + 0.25 * gap))
        return table, gap > np.median(gap)

    fitted = Calibration.fit(rows(20_000)[0], level=0.8)
    fresh, parted = rows(20_000)
    forecast = fitted.apply(Parts.of_table(fresh))
    inside = (forecast.low <= fresh["actual"]) & (fresh["actual"] <= forecast.high)
    assert 0.74 <= inside[parted].mean() <= 0.86 and 0.74 <= inside[~parted].mean() <= 0.86
    width = np.log(forecast.high / forecast.low)
    assert np.median(width[parted]) > 1.5 * np.median(width[~parted])


def test_a_correction_beyond_the_range_it_took_on_the_calibration_months_counts_only_up_to_it():
    """The booster helped on the calibration months (corrections within +-0.1); after a turn its inputs
    leave what it saw and it corrects by 0.5 the wrong way. Bounded, the prediction stays near the anchor,
    and an explanation still adds up to it."""
    from shared.model.explain import explanations

    rng = np.random.default_rng(9)
    fitted = Calibration.fit(_table(5_000, rng, shrink=1.0, noise=0.01), level=0.8)
    bucket = fitted.buckets["1"]
    low, high = bucket.bounds
    assert -0.1 < low < -0.05 and 0.05 < high < 0.1 and bucket.shrink == pytest.approx(1.0, abs=0.05)
    turned = _table(200, rng, shrink=0.0, noise=0.01).assign(correction=0.5)  # the truth: the anchor
    forecast = fitted.apply(Parts.of_table(turned))
    error = np.log(forecast.price) - turned["anchor"]
    np.testing.assert_allclose(error, bucket.shrink * high)  # not 0.5: the correction at the bound
    within = turned.assign(correction=0.5 * low)  # inside the range: the full correction, as before
    np.testing.assert_allclose(np.log(fitted.apply(Parts.of_table(within)).price) - within["anchor"],
                               bucket.shrink * 0.5 * low)
    contributions = np.tile([0.3, 0.15, 0.05], (len(turned), 1))  # they sum to the correction, 0.5
    terms = fitted.terms(Parts.of_table(turned))
    explained = explanations(turned["anchor"].to_numpy(), contributions, ["a", "b"], terms)
    np.testing.assert_allclose([e.log_price for e in explained], np.log(forecast.price))
    assert Calibration.from_dict(fitted.to_dict()) == fitted


def test_a_calibration_sealed_before_the_market_mix_predicts_as_it_did():
    old = Calibration.from_dict({"level": 0.8, "buckets": {"1": {"shrink": 0.5, "naive": MOMENTUM, "blend": 0.2,
                                                                  "spread": 0.03}}})
    table = _turn(50, np.random.default_rng(8), premium=0.0).assign(age=1.0, correction=0.1)
    forecast = old.apply(Parts.of_table(table))
    expected = 0.8 * (table["anchor"] + 0.05) + 0.2 * np.log(table[MOMENTUM])
    np.testing.assert_allclose(np.log(forecast.price), expected)
    np.testing.assert_allclose(np.log(forecast.high / forecast.price), 0.03)


def test_an_explanation_adds_up_with_the_market_move_in_it():
    from shared.model.calibration import Terms
    from shared.model.explain import MARKET, explanations

    contributions = np.array([[0.02, -0.01, 0.005]])
    terms = Terms(base=np.array([12.1]), shrink=np.array([0.5]), blend=np.array([0.25]), names=[MOMENTUM],
                  other=np.array([12.3]), half=np.array([0.01]))
    [explained] = explanations(np.array([12.0]), contributions, ["a", "b"], terms)
    expected = 0.75 * (12.1 + 0.5 * 0.015) + 0.25 * 12.3
    assert explained.log_price == pytest.approx(expected)
    assert explained.parts[MARKET] == pytest.approx(0.75 * 0.1)


def test_buckets_follow_the_horizon_and_a_zip_without_index_has_its_own():
    assert horizon_bucket(np.array([1, 2, 3, 4, 6, 7, 12, 13, 24, 30])).tolist() == [
        "1", "2-3", "2-3", "4-6", "4-6", "7-12", "7-12", "13-24", "13-24", "13-24"]
    assert bucket_of(np.array([np.nan, 5.0])).tolist() == [NO_INDEX, "4-6"]


def test_the_backtest_predicts_every_month_from_every_origin_within_two_years(small_data):
    from shared.data.preprocess import clean_for_training
    from shared.data.split import split_by_date
    from shared.data.validation import ensure_valid, validate_housing

    rows, metros = small_data
    cleaned, _ = clean_for_training(ensure_valid(validate_housing(rows)), metros)
    splits = split_by_date(cleaned, None, None)
    builder = FeatureBuilder(0)
    builder.fit_transform(splits["train"])
    calls = []

    def predict(part, known, origin):
        calls.append(origin)
        feats = builder.transform(part, known, origin)
        return feats, np.zeros(len(part))

    table = backtest(splits["eval"], ZipHistory(splits["train"]), predict, lambda f: builder.baselines(f.past))
    months = month_numbers(splits["eval"]["date"])
    starts = origins(months)
    assert starts == list(range(months.min() - 1, months.max(), 3)) and len(starts) == 8
    assert calls == [None, *starts]
    nowcast, horizon = table.loc[table["mode"] == NOWCAST_MODE], table.loc[table["mode"] == HORIZON]
    assert len(nowcast) == len(splits["eval"]) and (nowcast["horizon"] == 1).all()
    assert horizon["horizon"].between(1, 24).all() and (horizon["horizon"] == horizon["month"] - horizon["origin"]).all()
    # From an origin, what the row saw is no later than the origin: its index age is at least its horizon.
    assert (horizon["age"].dropna() >= horizon.loc[horizon["age"].notna(), "horizon"]).all()


@pytest.mark.slow  # statsforecast compiles with numba: seconds
def test_auto_theta_extrapolates_each_zip_from_what_it_knew_at_the_origin():
    from shared.model.statistical import MIN_MONTHS, theta_forecasts

    months = pd.date_range("2015-01-31", periods=60, freq="ME")
    trend = pd.DataFrame({"zipcode": 1001.0, "date": months, "price": 200_000 * np.exp(0.01 * np.arange(60))})
    short = pd.DataFrame({"zipcode": 1002.0, "date": months[-MIN_MONTHS + 1:], "price": 300_000.0})
    origin = month_numbers(pd.Series(months[47:48]))[0]
    fitted = theta_forecasts(pd.concat([trend, short]), [origin], horizon=6)
    assert set(fitted["zipcode"]) == {1001} and fitted["month"].tolist() == list(range(origin + 1, origin + 7))
    # The theta method's drift is half the fitted trend's: a steady rise goes on, at about half its pace.
    steps = np.diff(np.concatenate([[np.log(trend["price"].iloc[47])], fitted["auto_theta"].to_numpy()]))
    assert abs(steps[0]) < 0.01 and ((steps[1:] > 0.003) & (steps[1:] < 0.007)).all()  # the trend: 0.01 a month
    later = trend.assign(price=np.where(trend["date"] > months[47], 1.0, trend["price"]))  # what came after the origin
    pd.testing.assert_frame_equal(theta_forecasts(later, [origin], horizon=6), fitted.loc[fitted["zipcode"] == 1001])
