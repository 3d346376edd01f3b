"""The plausibility rules for a scored file's prices (shared.data.plausibility), on rows built by hand against a
small history: zips with their own index, and zips the system has never seen."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shared import schema
from shared.data.history import ZipHistory
from shared.data.plausibility import check_scored_file
from shared.data.preprocess import clean_for_training
from shared.data.synthetic import generate
from shared.data.validation import ValidationReport, validate_metros


@pytest.fixture(scope="module")
def panel():
    rows, metros = generate(zips=12, seed=3)
    rows[schema.DATE] = pd.to_datetime(rows[schema.DATE])
    cleaned, _ = clean_for_training(rows, metros)
    return cleaned, metros


def _next_month(panel) -> pd.DataFrame:
    """The newest month's rows a month later, with prices a plausible month apart."""
    cleaned, _ = panel
    newest = cleaned.loc[cleaned[schema.DATE] == cleaned[schema.DATE].max()].copy()
    return newest.assign(**{schema.DATE: newest[schema.DATE] + pd.offsets.MonthEnd(1),
                            schema.TARGET: newest[schema.TARGET] * 1.004}).reset_index(drop=True)


def _problems(panel, rows: pd.DataFrame) -> list:
    report = ValidationReport(source="test", rows=len(rows), columns=rows.shape[1])
    return check_scored_file(report, rows, ZipHistory(panel[0])).problems


def test_a_plausible_month_passes(panel):
    assert _problems(panel, _next_month(panel)) == []


def test_prices_of_zips_never_seen_are_checked_against_their_own_market(panel):
    month = _next_month(panel)
    new = month.assign(**{schema.ZIPCODE: month[schema.ZIPCODE] + 50_000})  # zips the history never saw
    assert _problems(panel, new) == []  # their prices sit near their market's medians
    cents = new.assign(**{schema.TARGET: new[schema.TARGET] * 100})  # prices sent in cents
    [problem] = _problems(panel, cents)
    assert problem.rule == "implausible_price" and "no index history" in problem.message
    assert str(int(new[schema.ZIPCODE].iloc[0])) in problem.message and problem.count == len(new)
    no_market = new.assign(**{schema.TARGET: 0.01, "median_sale_price": np.nan, "median_list_price": np.nan})
    [problem] = _problems(panel, no_market)
    assert "below $1,000" in problem.message  # nothing to compare with: the floor still holds


def test_a_training_file_with_a_month_far_off_its_zip_s_index_is_refused():
    """The file's own months, zip by zip: one month 1e5x too high (or in cents) names that zip; the
    generator's own months, boom and downturn included, all pass."""
    from shared.data.plausibility import check_training_file
    from shared.data.synthetic import ASSUMPTIONS

    for name in ASSUMPTIONS:
        rows, _ = generate(zips=12, seed=3, assumptions=ASSUMPTIONS[name])
        rows[schema.DATE] = pd.to_datetime(rows[schema.DATE])
        assert check_training_file(_report(rows), rows).problems == [], name
    poisoned = rows.copy()
    poisoned.loc[40, schema.TARGET] *= 1e5
    poisoned.loc[90, schema.TARGET] /= 100  # one month in hundreds of dollars
    [problem] = check_training_file(_report(poisoned), poisoned).problems
    zips = {int(poisoned.loc[i, schema.ZIPCODE]) for i in (40, 90)}
    assert problem.rule == "implausible_price" and all(str(z) in problem.message for z in zips)
    assert problem.examples[0]["row"] == 42  # the file's line: a header, then rows from 1


def _report(rows: pd.DataFrame) -> ValidationReport:
    return ValidationReport(source="test", rows=len(rows), columns=rows.shape[1])


def test_a_metros_table_with_lat_and_lng_swapped_is_refused(panel):
    _, metros = panel
    report, _ = validate_metros(metros.rename(columns={"lat": "lng", "lng": "lat"}))
    assert [p.rule for p in report.problems] == ["swapped"] and "lat and lng swapped" in report.problems[0].message
    one = metros.copy()
    one.loc[0, "lat"] = -one.loc[0, "lat"]  # the southern hemisphere: no US metro
    report, _ = validate_metros(one)
    assert [(p.rule, p.column, p.count) for p in report.problems] == [("out_of_range", "lat", 1)]
