"""The history rule: a row of month m sees market statistics of months <= m and index values of months
<= m - 1 (and none after `known_through`); never anything later. Checked by changing what a row must
not see and asserting its features do not move, and by changing what it may see and asserting they do."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from shared import schema
from shared.data.history import FEATURES, MARKET_LEVELS, ZipHistory, cutoff_months, month_numbers
from shared.data.preprocess import clean_for_training
from shared.data.synthetic import generate
from shared.model.calibration import MAX_HORIZON
from shared.model.extrapolation import AUTOREGRESSION_INPUTS, LAGS, Extrapolation
from shared.model.features import FEATURES as MODEL_FEATURES
from shared.model.features import FeatureBuilder


@pytest.fixture(scope="module")
def panel():
    rows, metros = generate(zips=60, seed=3)
    rows[schema.DATE] = pd.to_datetime(rows[schema.DATE])
    cleaned, _ = clean_for_training(rows, metros)
    train = cleaned.loc[cleaned[schema.DATE] < "2021-01-01"].reset_index(drop=True)
    builder = FeatureBuilder(seed=0)
    builder.fit_transform(train)
    return cleaned, builder


def _features(builder, cleaned, rows_mask, known_through=None):
    """Features and anchor of the rows in `rows_mask`, with everything in `cleaned` as history."""
    feats = builder.transform(cleaned.loc[rows_mask].reset_index(drop=True), ZipHistory(cleaned), known_through)
    return feats.X.to_numpy(), feats.anchor


def test_cutoff_is_the_month_before_and_never_after_known_through():
    months = np.array([100, 101, 130])
    assert cutoff_months(months).tolist() == [99, 100, 129]
    assert cutoff_months(months, known_through=110).tolist() == [99, 100, 110]


def test_nothing_of_the_row_s_own_month_index_or_any_later_month_is_seen(panel):
    cleaned, builder = panel
    month = pd.Timestamp("2022-06-30")
    rows = cleaned[schema.DATE] == month
    X, anchor = _features(builder, cleaned, rows)
    changed = cleaned.copy()
    later = changed[schema.DATE] > month
    changed.loc[rows | later, schema.TARGET] *= 3.0  # the row's own index and every later one
    changed.loc[later, MARKET_LEVELS] *= 5.0  # later months' market statistics
    X2, anchor2 = _features(builder, changed, rows)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(anchor, anchor2)


# An autoregression at every horizon (each input weighted differently), so a test sees each input's part.
AUTOREGRESSION = np.linspace(0.1, 1.3, AUTOREGRESSION_INPUTS)


def _with_autoregression(builder: FeatureBuilder) -> FeatureBuilder:
    builder = copy.deepcopy(builder)
    builder.extrapolation = Extrapolation([AUTOREGRESSION] * MAX_HORIZON)
    return builder


def test_the_month_before_s_index_and_the_own_month_s_market_statistics_are_seen(panel):
    """The same check can fail: what the rule allows does move the features."""
    cleaned, builder = panel
    month = pd.Timestamp("2022-06-30")
    rows = cleaned[schema.DATE] == month
    builder = _with_autoregression(builder)
    _, anchor = _features(builder, cleaned, rows)
    changed = cleaned.copy()
    changed.loc[changed[schema.DATE] == month - pd.offsets.MonthEnd(1), schema.TARGET] *= 1.1
    _, anchor2 = _features(builder, changed, rows)
    # The last value moves the anchor, and so does its last growth (momentum, and its change from the month
    # before); its metro's last growth moved as much (every zip moved), the metro's earlier months and the
    # market's move did not, so their gaps to the zip's last growth shrink.
    c = AUTOREGRESSION
    np.testing.assert_allclose(anchor2 - anchor, np.log(1.1) * (2 + c[0] - c[LAGS:].sum()), rtol=1e-9)
    X, _ = _features(builder, cleaned, rows)
    changed = cleaned.copy()
    changed.loc[rows, "median_ppsf"] *= 1.2
    X3, _ = _features(builder, changed, rows)
    assert not np.array_equal(X, X3)


def test_horizon_mode_sees_no_index_after_known_through(panel):
    cleaned, builder = panel
    known_through = int(month_numbers(pd.Series([pd.Timestamp("2021-12-31")]))[0])
    rows = cleaned[schema.DATE].dt.year == 2023
    X, anchor = _features(builder, cleaned, rows, known_through)
    changed = cleaned.copy()
    changed.loc[changed[schema.DATE] > "2021-12-31", schema.TARGET] *= 2.0
    X2, anchor2 = _features(builder, changed, rows, known_through)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(anchor, anchor2)
    ages = pd.DataFrame(X, columns=MODEL_FEATURES)["index_age"]
    assert ages.min() >= 13 and ages.max() <= 24


def test_a_zip_with_no_history_is_anchored_on_its_reference(panel):
    cleaned, builder = panel
    row = cleaned.loc[[len(cleaned) - 1]].assign(**{schema.ZIPCODE: 501.0}).reset_index(drop=True)
    feats = builder.transform(row, ZipHistory(cleaned))
    assert np.isnan(feats.X["index_age"]).all()
    np.testing.assert_array_equal(feats.anchor, feats.reference)
    assert np.isfinite(feats.anchor).all()


def test_a_request_may_carry_the_zip_s_preceding_months(panel):
    """A zip the system never saw, sent with its three preceding months (prices included): the last month
    is anchored on the month before's index, without any stored history."""
    cleaned, builder = panel
    zip_rows = cleaned.loc[cleaned[schema.ZIPCODE] == cleaned[schema.ZIPCODE].iloc[0]].tail(4)
    request = zip_rows.assign(**{schema.ZIPCODE: 501.0}).reset_index(drop=True)
    request.loc[3, schema.TARGET] = np.nan  # the month to predict
    feats = _with_autoregression(builder).transform(request, ZipHistory())
    assert feats.X["index_age"].tolist()[1:] == [1.0, 1.0, 1.0]
    prices = np.log(request[schema.TARGET].to_numpy()[:3])
    growth = np.zeros(LAGS)
    growth[:2] = prices[2] - prices[1], prices[1] - prices[0]
    market = np.nan_to_num(feats.X["metro_since_index"].iloc[3])
    # Its metro's growth is its own: no other zip of the metro is known. Momentum, then the growth's changes,
    # the metro's gaps to the last growth and the market's gap to momentum.
    design = np.concatenate([growth[:-1] - growth[1:], growth - growth[0], [market - growth[0]]])
    expected = prices[2] + growth[0] + design @ AUTOREGRESSION
    assert feats.anchor[3] == pytest.approx(expected, rel=1e-12)


def test_every_history_feature_is_in_the_model_s_features():
    assert set(FEATURES) <= set(MODEL_FEATURES)


def test_rows_dated_outside_the_data_s_range_get_no_history(panel):
    cleaned, builder = panel
    row = cleaned.loc[[0]].assign(**{schema.DATE: pd.Timestamp("2200-01-31")}).reset_index(drop=True)
    feats = builder.transform(row, ZipHistory(cleaned))
    assert np.isnan(feats.X["index_age"]).all() and np.isfinite(feats.anchor).all()


def test_the_metro_s_growth_is_the_median_of_its_zips_growth_up_to_the_last_allowed_month(panel):
    cleaned, _ = panel
    month = pd.Timestamp("2021-06-30")
    rows = cleaned.loc[cleaned[schema.DATE] == month].reset_index(drop=True)
    past = ZipHistory(cleaned).features(rows)
    metro = rows["metro"].iloc[0]
    of_metro = cleaned.loc[cleaned["metro"] == metro].pivot_table(index=schema.ZIPCODE, columns=schema.DATE,
                                                                 values=schema.TARGET)
    log_index = np.log(of_metro)
    for lag in (0, 3):
        end = month - pd.offsets.MonthEnd(1 + lag)  # the month before's index is the last allowed
        expected = (log_index[end] - log_index[end - pd.offsets.MonthEnd(1)]).median()
        assert past.metro_growth[0, lag] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("months", [1, 3])
def test_a_request_s_few_months_get_the_metro_medians_the_whole_table_gives(panel, monkeypatch, months):
    """The metro medians are computed at a request's few months only (FEW_MONTHS); they must equal the
    (metros x months) table's, which the training and backtest paths use, in both modes."""
    import shared.data.history as history

    cleaned, _ = panel
    newest = cleaned[schema.DATE].max()
    rows = cleaned.loc[cleaned[schema.DATE] > newest - pd.offsets.MonthEnd(months)].reset_index(drop=True)
    seen = ZipHistory(cleaned)
    for known_through in (None, int(month_numbers(rows[schema.DATE]).min()) - 4):
        few = seen.features(rows, known_through)
        monkeypatch.setattr(history, "FEW_MONTHS", 0)  # every median from the whole table
        whole = seen.features(rows, known_through)
        monkeypatch.undo()
        for name in FEATURES:
            np.testing.assert_allclose(few.columns[name], whole.columns[name], rtol=0, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(few.metro_growth, whole.metro_growth, rtol=0, atol=1e-12)


def test_requests_laid_over_a_kept_window_see_only_their_own_rows(panel):
    """A history keeps the grid of the window its requests ask for and lays each request's rows over a copy:
    a request's medians and metro names must not reach the next request of the same month, which gets what a
    fresh history gives it."""
    cleaned, _ = panel
    newest = cleaned[schema.DATE].max()
    last = cleaned.loc[cleaned[schema.DATE] == newest].reset_index(drop=True)
    ahead = last.assign(**{schema.DATE: newest + pd.offsets.MonthEnd(1), schema.TARGET: np.nan})
    first = ahead.iloc[:3].assign(median_ppsf=ahead["median_ppsf"].iloc[:3] * 4, metro="elsewhere")
    second = ahead.iloc[:5]
    kept = ZipHistory(cleaned)
    moved = kept.features(first)
    again = kept.features(second)
    fresh = ZipHistory(cleaned).features(second)
    assert not np.allclose(moved.columns["median_ppsf_change_3"],
                           fresh.columns["median_ppsf_change_3"][:3])  # the first request's rows did count
    for name in FEATURES:
        np.testing.assert_array_equal(again.columns[name], fresh.columns[name], err_msg=name)
    np.testing.assert_array_equal(again.last_index, fresh.last_index)
    np.testing.assert_array_equal(again.metro_growth, fresh.metro_growth)


def _requests(cleaned: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Requests of every kind a serving process meets, each laid over the kept window of its months."""
    newest = cleaned[schema.DATE].max()
    last = cleaned.loc[cleaned[schema.DATE] == newest].reset_index(drop=True)
    ahead = last.assign(**{schema.DATE: newest + pd.offsets.MonthEnd(1), schema.TARGET: np.nan})
    metros = ahead["metro"].unique()
    other = ahead.loc[ahead["metro"] == metros[1], "metro"].iloc[0]
    earlier = last.assign(**{schema.DATE: newest - pd.offsets.MonthEnd(2)})
    return {
        "one record": ahead.iloc[[0]],
        "a metro's zips and another's": ahead.loc[ahead["metro"].isin(metros[:2])],
        "a zip twice, its preceding month with a price": pd.concat([ahead.iloc[[3]], last.iloc[[3]].assign(
            **{schema.TARGET: last[schema.TARGET].iloc[3] * 1.2})]),
        "months already seen, prices and medians changed": earlier.iloc[:6].assign(
            **{schema.TARGET: earlier[schema.TARGET].iloc[:6] * 0.8, "median_ppsf": earlier["median_ppsf"].iloc[:6] * 3}),
        "a zip named in another metro": ahead.iloc[[0, 1]].assign(metro=other),
        "a metro the history lacks": ahead.iloc[[2]].assign(metro="nowhere"),
        "a zip the history lacks": ahead.iloc[[4]].assign(**{schema.ZIPCODE: 501.0}),
        "no metro": ahead.iloc[[5]].assign(metro=None),
        "no market medians": ahead.iloc[[6]].assign(**{c: np.nan for c in MARKET_LEVELS}),
    }


@pytest.mark.parametrize("kind", ["one record", "a metro's zips and another's", "a zip twice, its preceding month with a price",
                                  "months already seen, prices and medians changed", "a zip named in another metro",
                                  "a metro the history lacks", "a zip the history lacks", "no metro", "no market medians"])
def test_a_request_laid_over_the_kept_window_gets_what_the_whole_grid_gives(panel, monkeypatch, kind):
    """Requests are laid over the window's grid without copying it (history._Overlay), reading the base's
    metro tables where they do not change them; each must get exactly the features of a grid built from the
    window and the request's rows at once (the batch path), in both modes."""
    import shared.data.history as history

    cleaned, _ = panel
    rows = _requests(cleaned)[kind].reset_index(drop=True)
    kept = ZipHistory(cleaned)
    for known_through in (None, int(month_numbers(rows[schema.DATE]).min()) - 3):
        laid = kept.features(rows, known_through)
        monkeypatch.setattr(history, "FEW_ROWS", 0)
        whole = ZipHistory(cleaned).features(rows, known_through)
        monkeypatch.undo()
        for name in FEATURES:
            np.testing.assert_array_equal(laid.columns[name], whole.columns[name], err_msg=name)
        np.testing.assert_array_equal(laid.last_index, whole.last_index)
        np.testing.assert_array_equal(laid.growth, whole.growth)
        np.testing.assert_array_equal(laid.metro_growth, whole.metro_growth)
