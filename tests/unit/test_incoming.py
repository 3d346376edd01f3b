"""Labelled incoming/ months join the next run's training data; the run's identity names them."""

from __future__ import annotations

import pandas as pd
import pytest

from lambdas.stage_event import new_run_event
from lambdas.stages.split import handler as split
from lambdas.stages.validate import handler as validate
from shared import schema
from shared.data.validation import validate_housing
from shared.runs import input_identity, run_id_for
from shared.serving.incoming import labelled_incoming, with_labelled_months
from shared.settings import Settings
from shared.store import LocalStore, read_table, write_table


@pytest.fixture()
def store(tmp_path, small_data) -> LocalStore:
    """The small set's months up to 2023-10 as the training input; its last two months kept back."""
    rows, metros = small_data
    store = LocalStore(tmp_path / "store")
    write_table(store, "raw/data.parquet", rows.loc[rows["date"] <= "2023-10-31"])
    write_table(store, "reference/metros.parquet", metros)
    return store


def month(rows: pd.DataFrame, date: str) -> pd.DataFrame:
    return rows.loc[rows["date"] == date]


def typed_input(store: LocalStore) -> pd.DataFrame:
    report, typed = validate_housing(read_table(store, "raw/data.parquet"))
    assert report.ok
    return typed


def test_labelled_rows_join_and_the_input_wins_where_both_have_a_month(store, small_data):
    rows = small_data[0]
    november, october = month(rows, "2023-11-30"), month(rows, "2023-10-31")
    write_table(store, "incoming/2023-10.parquet", october.assign(price=1.0))  # the input's own month, restated
    write_table(store, "incoming/2023-11.parquet", november)
    typed = typed_input(store)

    merged, joined = with_labelled_months(store, typed, labelled_incoming(store))

    assert joined.rows == len(november) and joined.files == ["incoming/2023-10.parquet", "incoming/2023-11.parquet"]
    assert len(merged) == len(typed) + len(november) and not merged.duplicated(schema.KEY).any()
    assert (merged.loc[merged["date"] == "2023-10-31", "price"] > 1).all()  # the input's prices, not the restatement
    assert merged["date"].max() == pd.Timestamp("2023-11-30")


def test_files_that_teach_nothing_are_left_out_with_the_reason(store, small_data):
    rows = small_data[0]
    november = month(rows, "2023-11-30")
    write_table(store, "incoming/2023-11.parquet", november.assign(price=float("nan")))
    write_table(store, "incoming/2023-12.parquet", month(rows, "2023-12-31").drop(columns=["price"]))
    store.write_bytes("incoming/broken.csv", b"\x00\x01 not a table")
    write_table(store, "incoming/negative.parquet", november.assign(homes_sold=-1.0))
    typed = typed_input(store)

    assert labelled_incoming(store) == ["incoming/negative.parquet"]  # the one with prices: in the run's identity
    merged, joined = with_labelled_months(store, typed, [*store.list("incoming/"), "incoming/deleted-since.csv"])

    assert merged is typed and joined.rows == 0 and joined.files == []
    assert "nothing to train on" in joined.skipped["incoming/2023-11.parquet"]
    assert "price" in joined.skipped["incoming/2023-12.parquet"]
    assert "not a CSV or Parquet" in joined.skipped["incoming/broken.csv"]
    assert "homes_sold" in joined.skipped["incoming/negative.parquet"]
    assert "not found" in joined.skipped["incoming/deleted-since.csv"]


def test_a_new_or_changed_labelled_file_is_a_new_run(store, small_data):
    config = Settings(store=store.url).run_config()

    def run_id() -> str:
        keys = ["raw/data.parquet", "reference/metros.parquet", *labelled_incoming(store)]
        return run_id_for(input_identity(store, keys), config)

    before = run_id()
    assert run_id() == before
    november = month(small_data[0], "2023-11-30")
    write_table(store, "incoming/2023-12.parquet", november.drop(columns=["price"]).assign(date="2023-12-31"))
    assert run_id() == before  # a month sent only to be scored teaches nothing
    write_table(store, "incoming/2023-11.parquet", november)
    with_november = run_id()
    assert with_november != before
    write_table(store, "incoming/2023-11.parquet", november.assign(price=november["price"] * 1.01))
    assert run_id() not in (before, with_november)


def test_validate_joins_the_files_the_run_started_with(store, small_data):
    rows = small_data[0]
    write_table(store, "incoming/2023-11.parquet", month(rows, "2023-11-30"))
    event = new_run_event(store.url, "raw/data.parquet", "reference/metros.parquet", Settings(store=store.url).run_config(),
                          "fp", incoming_keys=labelled_incoming(store))
    write_table(store, "incoming/2023-12.parquet", month(rows, "2023-12-31"))  # arrived after the start: next run's

    after = validate(event)
    validated = read_table(store, after["artifacts"]["validated"])

    assert validated["date"].max() == pd.Timestamp("2023-11-30")
    assert len(validated) == len(rows.loc[rows["date"] <= "2023-11-30"])
    # The split dates are decided here, once, from the data with its joined month; split takes them as given.
    assert (after["config"]["train_end"], after["config"]["eval_end"]) == ("2019-12-01", "2021-12-01")
    holdout = read_table(store, split(after)["artifacts"]["split_holdout"])
    assert holdout["date"].min() == pd.Timestamp("2021-12-31")
