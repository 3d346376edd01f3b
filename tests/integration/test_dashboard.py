"""The dashboard through Streamlit's AppTest: filters change what is shown, All regions works, the API
form answers (or says the API is down), and an empty store says what to do."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from lambdas.api.app import create_app
from shared.serving.predictions import read_summary
from shared.settings import get_settings
from tests.support.api import serving
from tests.support.stores import with_a_month_not_known_yet

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


def open_dashboard(monkeypatch, store_url: str, api_url: str = "http://127.0.0.1:9") -> AppTest:
    monkeypatch.setenv("HOUSING_STORE", store_url)
    monkeypatch.setenv("API_URL", api_url)
    get_settings.cache_clear()
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    return app


def metric(app: AppTest, label: str) -> str:
    return next(m.value for m in app.metric if m.label == label)


def why_table(app: AppTest):
    """The zip page's table of what makes up its price, if shown."""
    return next((d.value for d in app.dataframe if "part" in d.value.columns), None)


@pytest.fixture()
def summary(trained_store):
    return read_summary(trained_store[0])


def test_all_regions_is_the_default_and_shows_everything(monkeypatch, trained_store, summary):
    app = open_dashboard(monkeypatch, trained_store[0].url)
    last = summary.sort_values(["year", "month"]).iloc[-1]
    shown = (summary["year"] == last["year"]) & (summary["month"] == last["month"])
    row = summary.loc[(summary["metro"] == "All regions") & shown].iloc[0]
    assert app.selectbox(key="metro").value == "All regions"
    assert metric(app, "MAE") == f"${row['mae']:,.0f}"
    assert metric(app, "Zip codes") == f"{row['with_actual']:,}"
    assert len(app.get("plotly_chart")) == 6  # the series, scatter, yearly trend, map, a zip's history, skill by horizon
    assert len(app.dataframe[0].value) == ((summary["metro"] != "All regions") & shown).sum()


def test_a_month_whose_prices_are_not_known_yet_shows_its_predictions_and_never_nan(monkeypatch, trained_store, tmp_path):
    """The README's `housing batch --input 2024-01.csv` scores a month before its prices are published: the
    dashboard still opens on the newest month with actuals, and the new month shows what is known."""
    store = with_a_month_not_known_yet(trained_store[0], tmp_path / "store")
    app = open_dashboard(monkeypatch, store.url)
    assert (app.selectbox(key="year").value, app.selectbox(key="month").value) == (2023, 12)
    assert metric(app, "MAE").startswith("$")
    app.selectbox(key="year").set_value(2024).run()
    assert not app.exception and app.selectbox(key="month").value == 1
    shown = [m.value for m in app.metric] + [i.value for i in app.info] + [str(d.value) for d in app.dataframe[:1]]
    assert metric(app, "Actuals") == "not known yet" and metric(app, "Zip codes predicted") != "0"
    assert metric(app, "Mean predicted").startswith("$") and "k to $" in metric(app, "Mean interval")
    assert not any("nan" in text.lower() for text in shown), shown
    assert len(app.get("plotly_chart")) == 6
    assert metric(app, "Actual") == "not known yet" and len(why_table(app))  # its price taken apart


def test_the_yearly_trend_compares_like_with_like(trained_store, tmp_path):
    from dashboard.data import yearly

    store = with_a_month_not_known_yet(trained_store[0], tmp_path / "store")
    per_year = yearly(read_summary(store), "All regions").set_index("year")
    assert per_year.loc[2023, "months"] == 12 and per_year.loc[2023, "months_ahead"] == 0
    # 2024 has only January, predicted: no actual mean, no like-for-like prediction, the month said apart.
    assert np.isnan(per_year.loc[2024, "mean_actual"]) and np.isnan(per_year.loc[2024, "mean_predicted"])
    assert per_year.loc[2024, "months_ahead"] == 1 and per_year.loc[2024, "mean_predicted_ahead"] > 0


def test_the_model_is_shown_against_the_naive_predictors(monkeypatch, trained_store):
    app = open_dashboard(monkeypatch, trained_store[0].url)
    [table] = [d.value for d in app.dataframe if {"model", "MAE"} <= set(d.value.columns)]
    assert {"XGBoost (this run)", "DummyRegressor(median)", "last known index (persistence)",
            "last growth carried forward (momentum)", "damped trend (3-month growth)",
            "seasonal naive (last year's growth)", "price-level reference alone"} <= set(table["model"])
    assert (table["MAE"] > 0).all()


def test_skill_by_horizon_is_charted_and_tabled_from_the_champion_s_backtest(monkeypatch, trained_store):
    from shared.serving.champion import read_champion

    app = open_dashboard(monkeypatch, trained_store[0].url)
    [table] = [d.value for d in app.dataframe if "skill" in d.value.columns]
    backtest = read_champion(trained_store[0]).metrics.backtest
    assert set(table["split"]) == set(backtest) and set(table["mode"]) == {"horizon", "nowcast"}
    first = table.loc[(table["split"] == "eval") & (table["mode"] == "horizon") & (table["horizon"] == "13-24")].iloc[0]
    assert first["skill"] == backtest["eval"]["horizon"]["13-24"].skill
    assert table["coverage"].between(0, 1).all()
    [chart] = [c for c in app.get("plotly_chart") if "Skill by horizon" in c.proto.spec]
    assert '"13-24"' in chart.proto.spec


def test_filters_change_what_is_shown(monkeypatch, trained_store, summary):
    app = open_dashboard(monkeypatch, trained_store[0].url)
    before = (metric(app, "MAE"), app.subheader[0].value)
    metro = sorted(m for m in summary["metro"].unique() if m != "All regions")[0]
    app.selectbox(key="metro").set_value(metro).run()
    assert not app.exception
    assert metro.title() in app.subheader[0].value and metric(app, "MAE") != before[0]
    app.selectbox(key="year").set_value(2022).run()
    app.selectbox(key="month").set_value(3).run()
    assert "March 2022" in app.subheader[0].value
    row = summary.loc[(summary["metro"] == metro) & (summary["year"] == 2022) & (summary["month"] == 3)].iloc[0]
    assert metric(app, "MAE") == f"${row['mae']:,.0f}"


def test_prediction_form_reports_the_api_being_down(monkeypatch, trained_store):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = open_dashboard(monkeypatch, trained_store[0].url, api_url=dead)
    app.button[0].click().run()
    assert not app.exception
    assert "not reachable" in app.error[0].value and dead in app.error[0].value


def test_prediction_form_asks_the_api(monkeypatch, trained_store):
    store, final = trained_store
    with serving(create_app(store.url)) as url:
        app = open_dashboard(monkeypatch, store.url, api_url=url)
        app.button[0].click().run()
    assert not app.exception and not app.error
    assert "Predicted value: $" in app.success[0].value and final["run_id"] in app.success[0].value
    assert "80% interval $" in app.success[0].value


def test_on_aws_the_form_invokes_the_api_s_alias_through_the_lambda_api(monkeypatch, trained_store):
    """API_URL=lambda:<alias ARN>, as the stack sets it: the request is the ALB event the function answers
    through Mangum, sent with boto3's Lambda Invoke (to tests/support/aws_control.py on loopback, which hands it to
    the real app), so a load balancer closed to the dashboard's address does not matter."""
    import asyncio

    from mangum import Mangum

    from tests.support.aws_control import control_plane

    store, final = trained_store
    handler = Mangum(create_app(store.url, refresh_seconds=0), lifespan="off")
    alias = "arn:aws:lambda:us-east-1:123456789012:function:housing-api:live"
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    def function(event):  # each request on its own server thread, which has no event loop yet (Lambda's has one)
        asyncio.set_event_loop(asyncio.new_event_loop())
        return handler(event, None)
    with control_plane({alias: function}) as plane:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", plane.url)
        app = open_dashboard(monkeypatch, store.url, api_url="lambda:" + alias)
        app.button[0].click().run()
        assert not app.exception and not app.error
        assert "Predicted value: $" in app.success[0].value and final["run_id"] in app.success[0].value
        wrong = open_dashboard(monkeypatch, store.url, api_url="lambda:" + alias.replace(":live", ":gone"))
        wrong.button[0].click().run()
    assert "could not answer" in wrong.error[0].value and "ResourceNotFoundException" in wrong.error[0].value


def test_empty_store_says_how_to_fill_it(monkeypatch, tmp_path):
    app = open_dashboard(monkeypatch, str(tmp_path / "nothing"))
    assert "housing run" in app.info[0].value


def test_model_health_shows_live_accuracy_and_the_newest_month_s_drift(monkeypatch, trained_store, tmp_path, small_data):
    import shutil

    import pandas as pd

    from shared.serving.incoming import score_incoming
    from shared.serving.monitoring import live_accuracy
    from shared.store import LocalStore, write_table

    shutil.copytree(trained_store[0].root, tmp_path / "store")
    store = LocalStore(tmp_path / "store")
    rows = small_data[0]
    last = rows.loc[rows["date"] == rows["date"].max()]
    write_table(store, "incoming/2024-01.parquet", last.assign(date="2024-01-31", price=last["price"] * 1.005))
    score_incoming(store, "incoming/2024-01.parquet")
    january = rows.loc[rows["date"] == "2023-01-31"]
    shifted = january.assign(date="2024-02-29", price=np.nan, homes_sold=january["homes_sold"] * 5)
    write_table(store, "incoming/2024-02.parquet", shifted)
    score_incoming(store, "incoming/2024-02.parquet")

    app = open_dashboard(monkeypatch, store.url)
    assert "Model health" in [h.value for h in app.subheader]
    [table] = [d.value for d in app.dataframe if "best_naive" in d.value.columns]
    recorded = live_accuracy(store, metro="All regions").iloc[0]
    assert table["month"].tolist() == ["2024-01"] and table["skill"].iloc[0] == pytest.approx(recorded["skill"])
    assert any("Live accuracy" in c.proto.spec for c in app.get("plotly_chart"))
    [warning] = [w.value for w in app.warning if "Drift of the newest scored month" in w.value]
    assert "incoming/2024-02.parquet" in warning and "homes_sold" in warning
    [drift] = [d.value for d in app.dataframe if "PSI" in d.value.columns]
    assert drift.loc[drift["input"] == "homes_sold", "level"].iloc[0] == "alert"
    assert isinstance(drift, pd.DataFrame) and drift["PSI"].iloc[0] >= drift["PSI"].iloc[-1]
    # The months an alarm watches are named, with their count in a row (January's conditions, from its
    # own skill, coverage and drift report).
    from shared.model.drift import read_drift_report

    expected = [what for what, on in (("lost to the naive forecasters", recorded["skill"] > 1.0),
                                      ("under-covered", recorded["coverage"] < 0.6),
                                      ("inputs drifted", bool(read_drift_report(store, 2024, 1).alerts))) if on]
    assert table["alarms"].iloc[0] == "; ".join(f"{what} (1 in a row)" for what in expected)


def test_a_zip_code_s_page_shows_its_history_and_why_its_newest_price(monkeypatch, trained_store):
    """Batch scoring took the newest month's prices apart; the zip page shows them, and says where to look
    for a month it did not explain."""
    import json
    import math

    from shared.serving.predictions import read_predictions

    store = trained_store[0]
    app = open_dashboard(monkeypatch, store.url)
    picked = app.selectbox(key="zip").value
    newest = read_predictions(store, 2023, 12)
    row = newest.loc[newest["zipcode"] == picked].iloc[0]
    assert metric(app, "Predicted") == f"${row['predicted']:,.0f}" and metric(app, "Actual") == f"${row['actual']:,.0f}"
    parts = why_table(app)
    assert parts["part"].iloc[0].startswith("the price level it starts from")
    logs = json.loads(row["why"])
    assert math.isclose(sum(v for _, v in logs), math.log(row["predicted"]), abs_tol=1e-9)  # they add up to the price
    history = next(c for c in app.get("plotly_chart") if "Zip code" in c.proto.spec)
    assert f"{picked:05d}" in history.proto.spec
    app.selectbox(key="month").set_value(6).run()  # a holdout month rescored in the same batch: not explained
    assert not app.exception and why_table(app) is None
    assert any("not taken apart" in c.value for c in app.caption)


def test_the_model_card_is_shown(monkeypatch, trained_store):
    app = open_dashboard(monkeypatch, trained_store[0].url)
    shown = " ".join(m.value for m in app.markdown)
    assert "Known limits" in shown and "Drift is measured against" in shown
    [metros] = [d.value for d in app.dataframe if list(d.value.columns) == ["metro", "MAE", "MAPE", "rows"]]
    assert len(metros) >= 10 and (metros["MAE"] > 0).all()


def test_the_dashboard_reads_the_store_without_the_model_stack():
    """It reads scored months and summaries only: importing xgboost would add seconds to every start."""
    import subprocess
    import sys

    code = ("import sys, dashboard.data; bad = [m for m in ('xgboost', 'shared.model.bundle') if m in sys.modules];"
            "sys.exit(str(bad) if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
