import io

import numpy as np
import pytest

from shared import schema
from shared.data.tables import InputFormatError, read_frame
from shared.data.validation import ensure_valid, validate_housing, validate_metros


def rules(frame, **kw):
    report, _ = validate_housing(frame, **kw)
    return {(p.column, p.rule) for p in report.problems}


def test_clean_data_passes_with_types(rows):
    report, typed = validate_housing(rows)
    assert report.ok, report.summary()
    assert str(typed["date"].dtype).startswith("datetime64")
    assert all(typed[c].dtype == "float64" for c in schema.NUMERIC)


def test_missing_column(rows):
    assert ("price", "missing_column") in rules(rows.drop(columns=["price"]))


def test_wrong_type_names_column_and_examples(rows):
    rows["homes_sold"] = rows["homes_sold"].astype("object")
    rows.loc[5, "homes_sold"] = "lots"
    report, _ = validate_housing(rows)
    [problem] = report.problems
    assert (problem.column, problem.rule, problem.count) == ("homes_sold", "not_numeric", 1)
    assert problem.examples[0]["homes_sold"] == "lots" and problem.examples[0]["row"] == 7


def test_unparseable_dates(rows):
    rows.loc[[0, 1], "date"] = ["2020-13-45", "last march"]
    report, _ = validate_housing(rows)
    assert [(p.rule, p.count) for p in report.problems] == [("unparseable_date", 2)]


def test_all_missing_target(rows):
    rows["price"] = np.nan
    assert ("price", "all_missing") in rules(rows)


def test_ranges_and_duplicate_keys(rows):
    rows.loc[0, "sold_above_list"] = 1.7
    rows.loc[1, "inventory"] = -3
    rows.loc[2, "median_ppsf"] = 1e300
    dup = rows.iloc[[10]].copy()
    found = rules(__import__("pandas").concat([rows, dup], ignore_index=True))
    assert {("sold_above_list", "out_of_range"), ("inventory", "negative"), ("zipcode,date", "duplicate_key"),
            ("median_ppsf", "implausible")} <= found


def test_prediction_needs_only_key_columns(rows):
    keep = rows[["date", "zipcode", "city_full", "median_list_price"]].head(3)
    report, typed = validate_housing(keep, for_prediction=True)
    assert report.ok and typed["price"].isna().all() and list(typed.columns) == schema.COLUMNS


def test_reads_csv_and_parquet_alike(rows):
    csv, parquet = io.BytesIO(), io.BytesIO()
    rows.head(50).to_csv(csv, index=False)
    rows.head(50).to_parquet(parquet, index=False)
    a = ensure_valid(validate_housing(read_frame(csv.getvalue())))
    b = ensure_valid(validate_housing(read_frame(parquet.getvalue())))
    assert a.equals(b)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    (b"PAR1 not really parquet", "Parquet"),
])
def test_not_a_table(data, message):
    with pytest.raises(InputFormatError, match=message):
        read_frame(data, "upload.bin")


def test_header_only_csv_is_empty(rows):
    frame = read_frame((",".join(schema.COLUMNS) + "\n").encode())
    assert ("non_empty" in {p.rule for p in validate_housing(frame)[0].problems})


def test_metros_table(metros):
    assert validate_metros(metros)[0].ok
    metros.loc[0, "lat"] = 123
    assert [p.rule for p in validate_metros(metros)[0].problems] == ["out_of_range"]


def test_a_metro_without_a_name_is_refused_in_validate(metros):
    """It joined nothing and training failed on it minutes later."""
    metros = metros.astype({"metro_full": "object"})
    metros.loc[0, "metro_full"] = None
    metros.loc[1, "metro_full"] = "  "
    [problem] = validate_metros(metros)[0].problems
    assert problem.column == "metro_full" and problem.count == 2 and "no metro name" in problem.message
