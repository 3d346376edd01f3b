"""Live accuracy: a month sent in with its prices records how the serving model did on it, equal to a
computation straight from the scored rows; a month without prices, or rescored by a later model's batch
stage, records nothing; `housing status` and GET /monitoring show the series."""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from housing.cli import app as cli
from lambdas.api.app import create_app
from shared.batch import ALL_REGIONS, NAIVE_COLUMNS, batch_score
from shared.champion import read_champion
from shared.incoming import score_incoming
from shared.layout import LIVE_PREFIX, month_predictions_key
from shared.monitoring import live_accuracy
from shared.store import LocalStore, read_table, write_table
from tests.api_support import serving

pytestmark = pytest.mark.slow


@pytest.fixture()
def store(trained_store, tmp_path) -> LocalStore:
    source, _ = trained_store
    shutil.copytree(source.root, tmp_path / "store")
    return LocalStore(tmp_path / "store")


def _next_month(small_data, priced: bool) -> pd.DataFrame:
    """The data's last month moved a month on (2024-01), with prices 0.5% up or none."""
    rows = small_data[0]
    last = rows.loc[rows["date"] == rows["date"].max()]
    return last.assign(date="2024-01-31", price=last["price"] * 1.005 if priced else np.nan)


def test_a_month_s_prices_record_the_serving_model_s_live_accuracy(store, small_data):
    write_table(store, "incoming/2024-01-nowcast.parquet", _next_month(small_data, priced=False))
    assert score_incoming(store, "incoming/2024-01-nowcast.parquet")["live"] == []  # no prices yet: nothing to judge
    write_table(store, "incoming/2024-01.parquet", _next_month(small_data, priced=True))
    result = score_incoming(store, "incoming/2024-01.parquet")
    champion = read_champion(store).run_id
    assert result["live"] == [f"{LIVE_PREFIX}year=2024/month=01/{champion}.parquet"]

    scored = read_table(store, month_predictions_key(2024, 1))
    live = live_accuracy(store, metro=ALL_REGIONS)
    assert len(live) == 1 and live.loc[0, "model_run_id"] == champion
    error = scored["predicted"] - scored["actual"]
    assert live.loc[0, "mae"] == pytest.approx(error.abs().mean())
    assert live.loc[0, "mean_pct_error"] == pytest.approx((error.abs() / scored["actual"]).mean() * 100)
    assert live.loc[0, "coverage"] == pytest.approx(((scored["actual"] >= scored["low"]) & (scored["actual"] <= scored["high"])).mean())
    same = scored.dropna(subset=list(NAIVE_COLUMNS.values()))
    naive = min((same[c] - same["actual"]).abs().mean() for c in NAIVE_COLUMNS.values())
    assert live.loc[0, "skill"] == pytest.approx((same["predicted"] - same["actual"]).abs().mean() / naive)

    # The batch stage's rescoring of the holdout (months the champion learned or judged) is no live record.
    batch_score(store, read_table(store, f"runs/{champion}/splits/holdout.parquet"), source="holdout")
    assert store.list(LIVE_PREFIX) == result["live"]


def test_status_and_the_api_show_the_live_series(store, small_data):
    runner = CliRunner()
    assert "live accuracy: none yet" in runner.invoke(cli, ["status", "--store", str(store.root)]).output
    write_table(store, "incoming/2024-01.parquet", _next_month(small_data, priced=True))
    score_incoming(store, "incoming/2024-01.parquet")
    shown = runner.invoke(cli, ["status", "--store", str(store.root)]).output
    assert "live accuracy" in shown and "2024-01" in shown and "skill vs best naive" in shown

    recorded = live_accuracy(store, metro=ALL_REGIONS)
    with serving(create_app(store.url)) as url:
        body = json.load(urllib.request.urlopen(f"{url}/monitoring"))
        metro = next(m for m in live_accuracy(store)["metro"] if m != ALL_REGIONS)
        one_metro = json.load(urllib.request.urlopen(f"{url}/monitoring?metro={urllib.parse.quote(metro)}"))
    assert body["total"] == 1 and body["rows"][0]["mae"] == pytest.approx(recorded.loc[0, "mae"])
    assert body["rows"][0]["year"] == 2024 and body["rows"][0]["month"] == 1
    assert one_metro["total"] == 1 and one_metro["rows"][0]["metro"] == metro
