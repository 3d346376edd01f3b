"""The serving state gives every row it serves exactly the history features the full history gives, in both
modes, while its size stays bounded and it catches up with months scored behind its back."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest

from shared import schema
from shared.data.history import LOOKBACK, MARKET_LEVELS, ZipHistory, month_number, month_numbers
from shared.data.preprocess import clean_for_training
from shared.data.synthetic import generate
from shared.layout import month_predictions_key, serving_state_key
from shared.schema import METRO_NAME
from shared.serving import serving_state
from shared.serving.serving_state import REACH, ServingState, current_state, scored_as_history, update_state
from shared.serving.system_history import history_for, seen_history
from shared.store import LocalStore, parquet_bytes, read_table

LAST_LABELLED = "2021-12"


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    rows, metros = generate(zips=40, seed=5)
    rows[schema.DATE] = pd.to_datetime(rows[schema.DATE])
    cleaned, _ = clean_for_training(rows, metros)
    return cleaned


def _labelled(panel: pd.DataFrame) -> pd.DataFrame:
    return panel.loc[month_numbers(panel[schema.DATE]) <= month_number(LAST_LABELLED)].reset_index(drop=True)


def _predictions(panel: pd.DataFrame, month: str, labelled: bool = True) -> pd.DataFrame:
    """A scored month as batch scoring writes it (the columns the history reads)."""
    rows = panel.loc[panel[schema.DATE].dt.strftime("%Y-%m") == month]
    return pd.DataFrame({
        "zipcode": rows[schema.ZIPCODE].round().astype("int64"), "metro": rows[METRO_NAME], "date": rows[schema.DATE],
        "actual": rows[schema.TARGET] if labelled else np.nan, "predicted": rows[schema.TARGET] * 1.01,
        **{c: rows[c] for c in MARKET_LEVELS},
    }).reset_index(drop=True)


def _score(store: LocalStore, panel: pd.DataFrame, month: str, labelled: bool = True) -> pd.DataFrame:
    year, number = map(int, month.split("-"))
    key = month_predictions_key(year, number)
    predictions = _predictions(panel, month, labelled)
    store.write_bytes(key, parquet_bytes(predictions))
    return predictions


def _full(panel: pd.DataFrame, store: LocalStore) -> ZipHistory:
    """The whole history as it is defined: the bundle's months, then every scored month."""
    return seen_history(store, _bundle(panel))


def _bundle(panel: pd.DataFrame) -> types.SimpleNamespace:
    """What the history functions read of a champion's bundle whose labelled months end at LAST_LABELLED."""
    labelled = _labelled(panel)
    return types.SimpleNamespace(run_id="run-a", labelled=labelled, history=ZipHistory(labelled),
                                 served=types.SimpleNamespace(trained_through=LAST_LABELLED))


def _same_features(a: ZipHistory, b: ZipHistory, rows: pd.DataFrame, known_through=None) -> None:
    fa, fb = a.features(rows, known_through), b.features(rows, known_through)
    np.testing.assert_array_equal(fa.last_index, fb.last_index)
    np.testing.assert_array_equal(fa.growth, fb.growth)
    np.testing.assert_array_equal(fa.metro_growth, fb.metro_growth)
    for name in fa.columns:
        np.testing.assert_array_equal(fa.columns[name], fb.columns[name], err_msg=name)


def _months(start: str, end: str) -> list[str]:
    return [p.strftime("%Y-%m") for p in pd.period_range(start, end, freq="M")]


def test_the_state_gives_the_rows_it_serves_the_full_history_s_features_in_both_modes(panel, tmp_path):
    store = LocalStore(tmp_path)
    labelled = _labelled(panel)
    # Months scored one by one, the state updated after each (as scoring does); two come without prices,
    # and one month is scored again with other market values (a re-scoring replaces what the state held).
    for month in _months("2022-01", "2023-06"):
        _score(store, panel, month, labelled=month not in ("2023-05", "2023-06"))
        update_state(store, "run-a", lambda: labelled)
    redone = _predictions(panel, "2022-09")
    redone[MARKET_LEVELS] *= 1.1
    store.write_bytes(month_predictions_key(2022, 9), parquet_bytes(redone))
    state = update_state(store, "run-a", lambda: labelled)

    newest = month_number("2023-06")
    assert state.floor == newest - LOOKBACK - REACH + 1 and state.reach == newest - REACH + 1
    assert month_numbers(state.frame[schema.DATE]).min() >= state.floor  # bounded: older months dropped
    full = _full(panel, store)
    served = panel.loc[month_numbers(panel[schema.DATE]) >= state.reach].reset_index(drop=True)
    ahead = served.assign(**{schema.DATE: served[schema.DATE] + pd.offsets.MonthEnd(6), schema.TARGET: np.nan})
    for rows in (served, ahead):
        assert state.serves(month_numbers(rows[schema.DATE]))
        _same_features(state.history, full, rows)  # nowcast
        _same_features(state.history, full, rows, known_through=month_number("2023-02"))  # horizon
    earlier = panel.loc[month_numbers(panel[schema.DATE]) == state.reach - 1]
    assert not state.serves(month_numbers(earlier[schema.DATE]))


def test_a_reader_folds_in_months_scored_after_the_state_was_written_reading_only_those(panel, tmp_path, monkeypatch):
    store = LocalStore(tmp_path)
    labelled = _labelled(panel)
    _score(store, panel, "2022-01")
    written = update_state(store, "run-a", lambda: labelled)
    _score(store, panel, "2022-02")  # a scoring that stopped before updating the state
    read = []
    monkeypatch.setattr(serving_state, "read_table", lambda store, key: read.append(key) or read_table(store, key))
    state = current_state(store, "run-a", lambda: pytest.fail("the state exists: no rebuild"))
    assert read == [month_predictions_key(2022, 2)]
    assert set(state.folded) == {month_predictions_key(2022, 1), month_predictions_key(2022, 2)}
    assert written.folded.keys() == {month_predictions_key(2022, 1)}
    rows = panel.loc[panel[schema.DATE].dt.strftime("%Y-%m") == "2022-03"]
    _same_features(state.history, _full(panel, store), rows)


def test_a_missing_unreadable_or_other_champion_s_state_is_rebuilt(panel, tmp_path):
    store = LocalStore(tmp_path)
    labelled = _labelled(panel)
    _score(store, panel, "2022-01")
    key = serving_state_key("run-a")
    store.write_bytes(key, b"not parquet")
    state = update_state(store, "run-a", lambda: labelled)
    assert ServingState.from_bytes(store.read_bytes(key)).folded == state.folded == {
        month_predictions_key(2022, 1): store.tag(month_predictions_key(2022, 1))}
    other = current_state(store, "run-b", lambda: labelled.iloc[:0])  # run-b's bundle: nothing labelled
    assert other.run_id == "run-b" and len(other.frame) == len(scored_as_history(_predictions(panel, "2022-01"), 0))


def test_rows_before_the_state_s_reach_take_the_full_history(panel, tmp_path):
    store = LocalStore(tmp_path)
    labelled = _labelled(panel)
    for month in _months("2022-01", "2022-03"):
        _score(store, panel, month)
    bundle = _bundle(panel)
    state = update_state(store, "run-a", lambda: labelled)
    old = panel.loc[panel[schema.DATE].dt.strftime("%Y-%m") == "2015-06"].assign(**{schema.DATE: "2015-06-30"})
    recent = panel.loc[panel[schema.DATE].dt.strftime("%Y-%m") == "2022-04"].assign(**{schema.DATE: "2022-04-30"})
    assert history_for(store, bundle, recent) is state.history or history_for(store, bundle, recent).frame.equals(
        state.history.frame)
    fallback = history_for(store, bundle, old)
    assert len(fallback.frame) > len(state.history.frame)
    cleaned_old = panel.loc[panel[schema.DATE].dt.strftime("%Y-%m") == "2015-06"]
    _same_features(fallback, _full(panel, store), cleaned_old)
