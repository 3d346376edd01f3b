import datetime as dt

import numpy as np
import pandas as pd
import pytest

from shared import schema
from shared.data.preprocess import clean_for_scoring, clean_for_training, metro_coordinates, normalize_metro_name
from shared.data.split import EmptySplitError, split_by_date
from shared.data.validation import ensure_valid, validate_housing


@pytest.mark.parametrize("raw, expected", [
    ("Denver-Aurora-Lakewood", "denver-aurora-centennial"),
    ("DC_Metro", "washington-arlington-alexandria"),
    ("ATLANTA-SANDY SPRINGS-ALPHARETTA", "atlanta-sandy springs-roswell"),
    ("Las Vegas\u2013Henderson\u2013Paradise", "las vegas-henderson-north las vegas"),
    ("  houston - the woodlands - sugar land ", "houston-pasadena-the woodlands"),
    ("Nashville-Davidson--Murfreesboro--Franklin", "nashville-davidson--murfreesboro--franklin"),
    ("Pittsburgh", "pittsburgh"),
])
def test_metro_names_normalize_to_the_metros_table(raw, expected):
    assert normalize_metro_name(pd.Series([raw]))[0] == expected


def test_coordinates_exact_and_by_principal_city(metros):
    names = normalize_metro_name(pd.Series(["DC_Metro", "pittsburgh", "St. Louis", "Atlantis-Nowhere"]))
    coords = metro_coordinates(metros, names)
    assert coords.loc[0, "lat"] == pytest.approx(38.91)
    assert coords.loc[1:2, "lat"].notna().all()
    assert np.isnan(coords.loc[3, "lat"])


def typed(rows):
    return ensure_valid(validate_housing(rows))


def test_missing_list_price_is_not_an_outlier(rows, metros):
    rows.loc[rows["median_list_price"] > 19_000_000, "median_list_price"] = 1e6
    rows.loc[:99, "median_list_price"] = np.nan
    rows.loc[100:104, "median_list_price"] = 25_000_000
    cleaned, report = clean_for_training(typed(rows), metros)
    assert report.list_price_outliers == 5
    assert cleaned["median_list_price"].isna().sum() >= 100
    assert (cleaned["median_list_price"].dropna() <= 19_000_000).all()


def test_duplicates_ignoring_date_and_year_are_removed(rows, metros):
    frame = typed(rows)
    stale = frame.iloc[[3]].assign(date=pd.Timestamp("2030-01-31"), year=2030.0)
    cleaned, report = clean_for_training(pd.concat([frame, stale], ignore_index=True), metros)
    assert report.duplicates_removed >= 1
    assert report.rows_out == report.rows_in - report.duplicates_removed - report.list_price_outliers


def test_scoring_keeps_a_stale_copy_but_not_its_price_or_market_medians(rows, metros):
    """Training drops a republished month; scoring must predict every row, so the copy is predicted from the
    history alone and neither counts an actual price nor joins the zip's history (one rule for both)."""
    from shared.schema import MARKET_LEVELS

    frame = typed(rows)
    stale = frame.iloc[[3]].assign(date=pd.Timestamp("2030-01-31"), year=2030.0)
    both = pd.concat([frame, stale], ignore_index=True)
    trained, trained_report = clean_for_training(both, metros)
    cleaned, report = clean_for_scoring(both, metros)
    assert len(cleaned) == len(both) and report.stale_copies_ignored == trained_report.duplicates_removed >= 1
    copy = cleaned.iloc[-1]
    assert copy[[schema.TARGET, *MARKET_LEVELS]].isna().all() and copy["zipcode"] == frame["zipcode"].iloc[3]
    assert cleaned.iloc[3][schema.TARGET] == frame[schema.TARGET].iloc[3]  # the original keeps its price


def test_unknown_metro_is_reported_not_invented(rows, metros):
    rows.loc[rows["zipcode"] == rows["zipcode"].iloc[0], "city_full"] = "Atlantis-Nowhere"
    cleaned, report = clean_for_training(typed(rows), metros)
    assert report.metros_without_coordinates == ["atlantis-nowhere"]
    assert 0 < report.rows_without_coordinates <= 142
    assert cleaned.loc[cleaned["metro"] == "atlantis-nowhere", "lat"].isna().all()


def test_scoring_keeps_every_row_in_order(rows, metros):
    rows.loc[7, "median_list_price"] = 30_000_000
    frame = typed(rows)
    cleaned, report = clean_for_scoring(frame, metros)
    assert len(cleaned) == len(frame) and cleaned["zipcode"].equals(frame["zipcode"])
    assert np.isnan(cleaned.loc[7, "median_list_price"]) and report.list_price_outliers >= 1


def test_split_by_date_cutoffs(rows):
    parts = split_by_date(typed(rows), dt.date(2020, 1, 1), dt.date(2022, 1, 1))
    assert parts["train"]["date"].max() < pd.Timestamp("2020-01-01") <= parts["eval"]["date"].min()
    assert parts["eval"]["date"].max() < pd.Timestamp("2022-01-01") <= parts["holdout"]["date"].min()
    assert sum(len(p) for p in parts.values()) == len(rows)


def test_split_refuses_an_empty_split(rows):
    early = typed(rows[rows["date"] < "2021-01-01"])
    with pytest.raises(EmptySplitError, match="holdout"):
        split_by_date(early, dt.date(2020, 1, 1), dt.date(2022, 1, 1))


@pytest.mark.parametrize("last, given, expected", [
    ("2023-12-31", (None, None), ("2020-01-01", "2022-01-01")),  # the HouseTS file: eval 2020-21, holdout 2022-23
    ("2025-06-30", (None, None), ("2021-07-01", "2023-07-01")),  # a newer file: the split moves with it
    ("2025-06-30", (None, "2024-01-01"), ("2022-01-01", "2024-01-01")),
    ("2025-06-30", ("2019-01-01", "2021-01-01"), ("2019-01-01", "2021-01-01")),  # explicit dates still win
])
def test_split_dates_default_to_the_data_s_last_months(last, given, expected):
    from shared.data.split import cutoffs

    dates = pd.Series(pd.date_range("2012-03-31", last, freq="ME"))
    given = tuple(dt.date.fromisoformat(d) if d else None for d in given)
    assert cutoffs(dates, *given) == tuple(dt.date.fromisoformat(d) for d in expected)
    parts = split_by_date(pd.DataFrame({"date": dates}), *given)
    assert parts["holdout"]["date"].min() == pd.Timestamp(expected[1]) + pd.offsets.MonthEnd(0)
