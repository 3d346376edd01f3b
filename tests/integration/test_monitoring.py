"""Live accuracy: a month sent in with its prices records how the serving model did on it, equal to a
computation straight from the scored rows; a month without prices, or rescored by a later model's batch
stage, records nothing; `housing status` and GET /monitoring show the series; and the months after a live
month adapt their intervals to its misses, in scoring, the API and the rollout check alike."""

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
from shared.layout import LIVE_MISSES_KEY, LIVE_PREFIX, month_predictions_key
from shared.model.bundle import load_bundle
from shared.model.drift import read_drift_report
from shared.schema import ALL_REGIONS
from shared.serving.batch import batch_score
from shared.serving.champion import read_champion
from shared.serving.incoming import score_incoming
from shared.serving.monitoring import live_accuracy, live_misses
from shared.serving.summary import NAIVE_COLUMNS
from shared.store import LocalStore, read_table, write_table
from tests.support.api import records_from, serving

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
    inside = (scored["actual"] >= scored["low"]) & (scored["actual"] <= scored["high"])
    assert live.loc[0, "coverage"] == pytest.approx(inside.mean())
    same = scored.dropna(subset=list(NAIVE_COLUMNS.values()))
    naive = min((same[c] - same["actual"]).abs().mean() for c in NAIVE_COLUMNS.values())
    assert live.loc[0, "skill"] == pytest.approx((same["predicted"] - same["actual"]).abs().mean() / naive)

    # The batch stage's rescoring of the holdout (months the champion learned or judged) is no live record.
    batch_score(store, read_table(store, f"runs/{champion}/splits/holdout.parquet"), source="holdout")
    assert [k for k in store.list(LIVE_PREFIX) if k.endswith(".parquet")] == result["live"]


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


def test_a_month_with_shifted_inputs_raises_drift_and_names_unseen_zips(store, small_data):
    rows = small_data[0]
    month = rows.loc[rows["date"] == "2023-01-31"].assign(date="2024-01-31", price=np.nan)  # the season a year on
    write_table(store, "incoming/2024-01.parquet", month)
    score_incoming(store, "incoming/2024-01.parquet")
    calm = read_drift_report(store, 2024, 1)
    shifted = month.assign(median_ppsf=month["median_ppsf"] * 3, homes_sold=month["homes_sold"] * 5)
    shifted = pd.concat([shifted, shifted.iloc[:1].assign(zipcode=99_999)], ignore_index=True)  # a zip never seen
    write_table(store, "incoming/2024-02.parquet", shifted.assign(date="2024-02-29"))
    score_incoming(store, "incoming/2024-02.parquet")
    report = read_drift_report(store)  # the newest month's
    assert report.source == "incoming/2024-02.parquet" and report.model_run_id == read_champion(store).run_id
    for name in ("median_ppsf", "homes_sold"):
        assert report.features[name].level == "alert" and report.features[name].psi > calm.features[name].psi
        assert name in report.alerts and calm.features[name].level == "ok"
    assert calm.alerts == [] and calm.reference_month == 1
    assert report.unseen_zipcodes == [99_999] and calm.unseen_zipcodes == []
    # The index, computed again from the reference the bundle stores.
    reference = load_bundle(store, report.model_run_id).drift_reference.months[2]["homes_sold"]
    values = shifted["homes_sold"].dropna().to_numpy(dtype="float64")
    p = np.bincount(np.searchsorted(reference.edges, values, side="right"), minlength=len(reference.shares)) / len(values)
    p, q = np.maximum(p, 1e-4), np.maximum(reference.shares, 1e-4)
    assert report.features["homes_sold"].psi == pytest.approx(float(np.sum((p - q) * np.log(p / q))))
    shown = CliRunner().invoke(cli, ["status", "--store", str(store.root)]).output
    assert "PSI alerts:" in shown and "homes_sold" in shown
    with serving(create_app(store.url)) as url:
        body = json.load(urllib.request.urlopen(f"{url}/monitoring/drift?month=2024-02"))
    assert body["alerts"] == report.alerts and body["features"]["homes_sold"]["level"] == "alert"


def test_the_months_after_a_live_month_adapt_their_intervals_to_its_misses(store, small_data):
    """2024-01 arrives with its prices: the share of them outside the intervals served is kept
    (LIVE_MISSES_KEY), and 2024-02, scored alone, gets the bundle's intervals scaled by what 2024-01 taught
    (shared.model.adaptation); the API answers a 2024-02 record with the same interval, and the rollout check
    expects it."""
    from lambdas.api.rollout_check import check_version
    from shared.data.history import month_of
    from shared.model.adaptation import RATE
    from shared.serving.system_history import history_for
    from tests.integration.test_rollout_check import version

    write_table(store, "incoming/2024-01.parquet", _next_month(small_data, priced=True))
    score_incoming(store, "incoming/2024-01.parquet")
    coverage = live_accuracy(store, metro=ALL_REGIONS).loc[0, "coverage"]
    assert live_misses(store) == {month_of(2024, 1): pytest.approx(1 - coverage, abs=1e-6)}

    february = _next_month(small_data, priced=False).assign(date="2024-02-29").reset_index(drop=True)
    write_table(store, "incoming/2024-02.parquet", february)
    score_incoming(store, "incoming/2024-02.parquet")
    scored = read_table(store, month_predictions_key(2024, 2))
    bundle = load_bundle(store, read_champion(store).run_id)
    plain, _, _ = bundle.predict_raw(february, seen=history_for(store, bundle, february))  # nothing live
    factor = np.exp(RATE * ((1 - coverage) - (1 - bundle.calibration.level)))
    assert abs(factor - 1) > 1e-3
    np.testing.assert_allclose(scored["predicted"], plain.price, rtol=1e-9)
    np.testing.assert_allclose(np.log(scored["high"] / scored["predicted"]), factor * np.log(plain.high / plain.price),
                               rtol=1e-6)

    with serving(create_app(store.url)) as url:
        request = urllib.request.Request(f"{url}/predict", json.dumps({"records": records_from(february.head(3))}).encode(),
                                         {"content-type": "application/json"})
        answer = json.load(urllib.request.urlopen(request))
    np.testing.assert_allclose([i["high"] for i in answer["intervals"]], scored["high"].head(3), rtol=1e-6)
    assert check_version(version(store.url), store) == []

    # An unreadable file adapts nothing, and the next month scored with its prices rebuilds it from the live records.
    store.write_bytes(LIVE_MISSES_KEY, b"not json")
    assert live_misses(store) == {}
    write_table(store, "incoming/2024-03.parquet", _next_month(small_data, priced=True).assign(date="2024-03-31"))
    score_incoming(store, "incoming/2024-03.parquet")
    assert set(live_misses(store)) == {month_of(2024, 1), month_of(2024, 3)}
    assert live_misses(store)[month_of(2024, 1)] == pytest.approx(1 - coverage, abs=1e-6)
