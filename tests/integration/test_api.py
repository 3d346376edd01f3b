"""The API through FastAPI's test client, on a store with a real champion and real batch predictions."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from lambdas.api.app import create_app
from lambdas.api.schemas import MAX_BODY_BYTES, MAX_RECORDS, PredictRequest
from shared.data.validation import validate_housing
from shared.layout import bundle_prefix
from shared.model.bundle import load_bundle
from shared.serving.champion import promote, read_champion
from shared.serving.predictions import read_predictions
from shared.settings import Settings
from shared.store import LocalStore
from tests.support.api import records_from, serving, strict_json


@pytest.fixture()
def store(trained_store, tmp_path):
    """A private copy of the trained store (some tests promote or break things)."""
    source, _ = trained_store
    copy = LocalStore(tmp_path / "api-store")
    for key in source.list(""):
        if not key.endswith(".db"):
            copy.write_bytes(key, source.read_bytes(key))
    return copy


@pytest.fixture()
def client(store):
    return TestClient(create_app(store.url, refresh_seconds=0))


@pytest.fixture()
def holdout_month(store):
    """The last scored month's rows as raw records, and what batch scoring predicted for them."""
    scored = read_predictions(store, 2023, 12)
    raw = pd.read_parquet(store.locate("raw/data.parquet"))
    raw = raw.loc[raw["date"].astype("str").str.startswith("2023-12")].reset_index(drop=True)
    return raw, scored


def test_health_and_model(client, store):
    champion = read_champion(store).run_id
    assert client.get("/health").json() == {"status": "ok", "champion_run_id": champion, "champion_error": None}
    info = client.get("/model").json()
    assert info["run_id"] == champion
    assert info["feature_schema"]["names"] and info["params"]["rounds"] > 0
    assert info["metrics"]["candidate"]["holdout"]["mae"] > 0


def test_predict_matches_batch_scoring_in_order(client, holdout_month):
    raw, scored = holdout_month
    records = records_from(raw.iloc[::-1])  # reversed: the answer must follow the request's order
    response = client.post("/predict", json={"records": records})
    assert response.status_code == 200, response.text
    body = strict_json(response.text)
    expected = scored.set_index("zipcode").loc[[r["zipcode"] for r in records], "predicted"].to_numpy()
    np.testing.assert_allclose(body["predictions"], expected, rtol=1e-9)
    assert body["model_run_id"] == scored["model_run_id"].iloc[0]


def test_only_date_zipcode_and_metro_are_required(client):
    response = client.post("/predict", json={"records": [
        {"date": "2023-06-01", "zipcode": 30301, "city_full": "Atlanta-Sandy Springs-Alpharetta"}]})
    assert response.status_code == 200, response.text
    assert np.isfinite(response.json()["predictions"][0])


def test_unknown_metro_is_predicted_with_a_warning(client):
    response = client.post("/predict", json={"records": [
        {"date": "2023-06-01", "zipcode": 30301, "city_full": "Atlantis", "median_ppsf": 200}]})
    body = response.json()
    assert response.status_code == 200 and body["warnings"][0]["index"] == 0
    assert "atlantis" in body["warnings"][0]["message"]


@pytest.mark.parametrize("record, field, words", [
    ({"zipcode": 30301, "city_full": "Atlanta"}, "body.records[0].date", "required"),
    ({"date": "2023-13-01", "zipcode": 30301, "city_full": "Atlanta"}, "body.records[0].date", "date"),
    ({"date": "2023-06-01", "zipcode": -1, "city_full": "Atlanta"}, "body.records[0].zipcode", "greater than"),
    ({"date": "2023-06-01", "zipcode": 30301, "city_full": "Atlanta", "homes_sold": -3},
     "body.records[0].homes_sold", "greater than"),
    ({"date": "2023-06-01", "zipcode": 30301, "city_full": "Atlanta", "sold_above_list": 1.5},
     "body.records[0].sold_above_list", "less than"),
    ({"date": "2023-06-01", "zipcode": 30301, "city_full": "Atlanta", "Median Age": "old"},
     "body.records[0].Median Age", "number"),
    ({"date": "2023-06-01", "zipcode": 30301, "city_full": "Atlanta", "median_ppsff": 10},
     "body.records[0].median_ppsff", "not permitted"),
    ({"date": "2023-06-01", "zipcode": 30301, "city_full": "Atlanta", "price": 0}, "body.records[0].price", "greater than"),
])
def test_bad_records_get_a_422_naming_the_field(client, record, field, words):
    response = client.post("/predict", json={"records": [record]})
    assert response.status_code == 422
    body = response.json()
    assert field in [e["field"] for e in body["errors"]], body
    assert words in body["detail"].lower()


def test_nan_and_infinity_are_refused_and_never_echoed(client):
    text = '{"records": [{"date": "2023-06-01", "zipcode": 1, "city_full": "x", "median_ppsf": NaN, "inventory": Infinity}]}'
    response = client.post("/predict", content=text, headers={"content-type": "application/json"})
    assert response.status_code == 422
    fields = {e["field"] for e in strict_json(response.text)["errors"]}
    assert fields == {"body.records[0].median_ppsf", "body.records[0].inventory"}


@pytest.mark.parametrize("body", ['{"records": []}', "{}", "not json", '{"records": {"a": 1}}'])
def test_malformed_bodies_are_422(client, body):
    assert client.post("/predict", content=body, headers={"content-type": "application/json"}).status_code == 422


def test_record_limit_fits_the_load_balancer(client, holdout_month):
    raw, _ = holdout_month
    records = (records_from(raw) * (MAX_RECORDS // len(raw) + 1))[:MAX_RECORDS]
    request = json.dumps({"records": records}).encode()
    assert len(request) < MAX_BODY_BYTES * 0.6  # room for longer names and pretty-printing
    response = client.post("/predict", content=request, headers={"content-type": "application/json"})
    assert response.status_code == 200 and len(response.content) < MAX_BODY_BYTES
    too_many = client.post("/predict", json={"records": records + records[:1]})
    assert too_many.status_code == 413 and str(MAX_RECORDS) in too_many.json()["detail"]
    huge = client.post("/predict", content=b"{" + b" " * MAX_BODY_BYTES + b"}", headers={"content-type": "application/json"})
    assert huge.status_code == 413


def test_a_chunked_body_is_cut_off_at_the_limit_while_it_is_read(store):
    """No Content-Length (chunked transfer), over real HTTP: the 413 comes once the limit is passed, while
    the client is still sending, not after 50 MB were read and parsed."""
    import select
    import socket
    from urllib.parse import urlparse

    with serving(create_app(store.url)) as url:
        address = urlparse(url)
        with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b" " * 250_000
            sent, answer = 0, b""
            while sent < 50_000_000 and not answer:
                try:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += len(chunk)
                if select.select([sock], [], [], 0.01)[0]:
                    answer = sock.recv(65536)
            answer = answer or sock.recv(65536)
            while b"\r\n\r\n{" not in answer and (more := sock.recv(65536)):  # the body may come apart
                answer += more
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"request body over" in answer and sent <= 3 * MAX_BODY_BYTES, sent


@pytest.mark.parametrize("name", ["predictions", "summary"])
@pytest.mark.parametrize("damage", [lambda data: b"", lambda data: data[: len(data) // 2]])
def test_an_unreadable_month_is_left_out_and_named_while_the_others_are_served(store, name, damage):
    key = f"predictions/year=2023/month=12/{name}.parquet"
    everything = read_predictions(store)
    store.write_bytes(key, damage(store.read_bytes(key)))
    client = TestClient(create_app(store.url))
    page = client.get("/predictions", params={"page_size": 1000}).json()
    summary = client.get("/summary").json()["rows"]
    # Either damage leaves 2023-12 out of the summary (unreadable, or no longer summing up its predictions).
    assert summary and not any(r["year"] == 2023 and r["month"] == 12 for r in summary)
    if name == "predictions":
        assert page["total"] == (everything["date"] < "2023-12-01").sum()
        (problem,) = page["unreadable_months"]
        assert problem.startswith("2023-12") and key in problem and "housing batch --month 2023-12" in problem
        assert str(store.root) not in problem
    else:
        assert page["total"] == len(everything) and page["unreadable_months"] == []
    record = {"zipcode": int(everything["zipcode"].iloc[0]), "date": "2024-01-31", "city_full": everything["metro"].iloc[0]}
    assert client.post("/predict", json={"records": [record]}).status_code == 200


def test_no_champion_is_503_saying_how_to_train(tmp_path):
    client = TestClient(create_app(str(tmp_path / "empty"), refresh_seconds=0))
    assert client.get("/health").json() == {"status": "unavailable", "champion_run_id": None, "champion_error": None}
    for response in (client.get("/model"), client.post("/predict", json={"records": [
            {"date": "2023-06-01", "zipcode": 1, "city_full": "x"}]})):
        assert response.status_code == 503 and "housing run" in response.json()["detail"]


def test_a_deleted_pointer_keeps_the_last_champion_serving_and_health_says_so(store, holdout_month):
    from shared.serving.predictions import write_scored_months

    client = TestClient(create_app(store.url, refresh_seconds=0))
    champion = read_champion(store).run_id
    Path(store.locate("models/champion.json")).unlink()
    _, scored = holdout_month
    write_scored_months(store, scored.head(3))  # a month scored since: the served state is rebuilt
    model = client.get("/model")
    assert model.status_code == 200 and model.json()["run_id"] == champion
    health = client.get("/health").json()
    assert health["status"] == "degraded" and health["champion_run_id"] == champion
    assert "models/champion.json is missing" in health["champion_error"] and "housing promote" in health["champion_error"]


def test_new_champion_is_served_without_restart_and_a_broken_one_is_refused(client, store):
    old = read_champion(store).run_id
    record = {"date": "2023-06-01", "zipcode": 30301, "city_full": "Atlanta"}
    assert client.post("/predict", json={"records": [record]}).json()["model_run_id"] == old
    # A second bundle (same files under another run id) promoted the way `housing promote` does it.
    second, third = "run-" + "5" * 16, "run-" + "7" * 16
    for key in store.list(bundle_prefix(old)):
        store.write_bytes(key.replace(old, second), store.read_bytes(key))
    promote(store, second, "manual rollback test", Settings(mlflow_registry=False), by="a test")
    assert client.post("/predict", json={"records": [record]}).json()["model_run_id"] == second
    promotions = client.get("/model").json()["promotions"]  # newest first, the pipeline's own promotion after it
    assert [(p["run_id"], p["reason"], p["promoted_by"], p["previous_run_id"]) for p in promotions[:2]] == [
        (second, "manual rollback test", "a test", old), (old, "gate passed", "the pipeline's promote stage", None)]
    # Now the pointer names a bundle whose model file was damaged: keep serving, say why in /health.
    store.write_bytes(bundle_prefix(third) + "manifest.json", store.read_bytes(bundle_prefix(second) + "manifest.json"))
    store.write_bytes("models/champion.json", store.read_bytes("models/champion.json").replace(second.encode(), third.encode()))
    assert client.post("/predict", json={"records": [record]}).json()["model_run_id"] == second
    health = client.get("/health").json()
    assert health["champion_run_id"] == second and third in health["champion_error"]


def test_refresh_interval_is_respected(store):
    from lambdas.api.served import ServedChampion

    now = [0.0]
    served = ServedChampion(store, refresh_seconds=10, clock=lambda: now[0])
    first = served.current()
    store.write_bytes("models/champion.json", b"{broken")
    now[0] = 5.0
    assert served.current() is first and served.last_error is None  # not due: the pointer is not read
    now[0] = 11.0
    assert served.current() is first and served.last_error  # due: the broken pointer is read and refused


def test_predictions_paginate_and_filter(client, store):
    scored = read_predictions(store, 2023, 12)
    metro = scored["metro"].iloc[0]
    page = client.get("/predictions", params={"year": 2023, "month": 12, "page_size": 7, "page": 2}).json()
    assert page["total"] == len(scored) and len(page["items"]) == 7 and page["page"] == 2
    only = client.get("/predictions", params={"year": 2023, "month": 12, "metro": metro, "page_size": 1000}).json()
    assert {i["metro"] for i in only["items"]} == {metro} and only["total"] == (scored["metro"] == metro).sum()
    everything = client.get("/predictions", params={"metro": "All regions", "page_size": 1}).json()
    assert everything["total"] == len(read_predictions(store))
    assert client.get("/predictions", params={"month": 13}).status_code == 422


def test_metro_names_are_canonical_and_filters_ignore_case(client, store):
    scored = read_predictions(store, 2023, 12)
    names = set(scored["metro"])
    assert "Atlanta-Sandy Springs-Roswell" in names  # the metros table's spelling, as the dashboard shows it
    for spelling in ("Atlanta-Sandy Springs-Roswell", "atlanta-sandy springs-roswell", "ATLANTA - SANDY SPRINGS - ROSWELL",
                     "atlanta sandy springs roswell"):
        page = client.get("/predictions", params={"year": 2023, "month": 12, "metro": spelling, "page_size": 1000}).json()
        assert page["total"] == (scored["metro"] == "Atlanta-Sandy Springs-Roswell").sum() > 0
        assert {i["metro"] for i in page["items"]} == {"Atlanta-Sandy Springs-Roswell"}
        rows = client.get("/summary", params={"metro": spelling}).json()["rows"]
        assert rows and {r["metro"] for r in rows} == {"Atlanta-Sandy Springs-Roswell"}


def test_implausible_inputs_are_ignored_with_a_warning_that_says_so(client, holdout_month):
    raw, _ = holdout_month
    [record] = records_from(raw.head(1))
    absurd = {"median_ppsf": 1e12, "median_sale_price": 1e12, "median_list_price": 1e12, "median_list_ppsf": 1e12}
    # A known zip (anchored on its index) and one with no history: the absurd values are ignored, said per field.
    records = [record, {**record, **absurd}, {**record, **absurd, "zipcode": 501},
               {**record, "date": "0001-06-01"}, {**record, "date": "9999-06-01"}]
    body = client.post("/predict", json={"records": records}).json()
    for index in (1, 2):
        said = [w["message"] for w in body["warnings"] if w["index"] == index]
        assert len(said) == 4 and all("is outside the plausible range" in m and m.endswith("ignored") for m in said)
        assert any(m.startswith("median_ppsf 1e+12 is outside the plausible range 1 to 20000") for m in said)
    assert body["predictions"][1] == pytest.approx(body["predictions"][0], rel=0.05)  # the index still anchors it
    assert [w["index"] for w in body["warnings"] if "the date is outside" in w["message"]] == [3, 4]


def test_a_prediction_never_leaves_the_prices_the_model_supports(client, holdout_month):
    raw, _ = holdout_month
    records = records_from(raw.head(3))
    client.get("/health")
    served = client.app.state.served.bundle
    served.metadata["price_range"] = [1.0, 10.0]  # as if trained on prices of $1-10: it supports $0.1-100
    body = client.post("/predict", json={"records": records}).json()
    assert body["predictions"] == [100.0] * 3 and all(i["high"] <= 100.0 for i in body["intervals"])
    assert [w["index"] for w in body["warnings"] if "the edge of the prices the model supports" in w["message"]] == [0, 1, 2]


def test_error_bodies_never_show_the_store_s_location(client, store):
    store.write_bytes("models/champion.json", store.read_bytes("models/champion.json").replace(b'"run-', b'"run-0'))
    client.app.state.served.bundle = None  # as a fresh process would find it
    body = client.get("/model").text
    assert "could not be loaded" in body and store.url not in body


def test_summary_filters_and_is_strict_json(client):
    response = client.get("/summary", params={"year": 2023, "month": 12})
    rows = strict_json(response.text)["rows"]
    assert {r["metro"] for r in rows} >= {"All regions"} and len(rows) > 2
    all_regions = [r for r in rows if r["metro"] == "All regions"][0]
    assert all_regions["lat"] is None and all_regions["mae"] > 0



@pytest.mark.parametrize("path", ["/summary", "/predictions"])
def test_an_unknown_metro_is_a_404_naming_the_closest(client, path):
    response = client.get(path, params={"metro": "Atlanta-Sandy Spring"})
    assert response.status_code == 404 and "'Atlanta-Sandy Springs-Roswell'" in response.json()["detail"]
    assert client.get(path, params={"metro": "nowhere at all"}).status_code == 404


def test_openapi_docs_are_served(client):
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn" not in docs.text and "https://" not in docs.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert client.get(f"/static-offline-docs/{asset}").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/health", "/model", "/predict", "/predictions", "/summary"} <= set(spec["paths"])


def test_api_agrees_with_bundle_on_raw_rows(store, holdout_month):
    raw, _ = holdout_month
    bundle = load_bundle(store, read_champion(store).run_id)
    client = TestClient(create_app(store.url))
    answer = client.post("/predict", json={"records": records_from(raw.head(5))}).json()
    forecast = bundle.predict_raw(raw.head(5))[0]
    np.testing.assert_allclose(answer["predictions"], forecast.price, rtol=1e-9)
    np.testing.assert_allclose([i["low"] for i in answer["intervals"]], forecast.low, rtol=1e-9)
    np.testing.assert_allclose([i["high"] for i in answer["intervals"]], forecast.high, rtol=1e-9)
    assert all(i["low"] < p < i["high"] for i, p in zip(answer["intervals"], answer["predictions"]))
    assert answer["interval_level"] == bundle.calibration.level


def test_records_are_typed_as_file_validation_types_the_same_rows(holdout_month):
    """The API takes its records' types from HouseRecord (which carries file validation's rules) instead of
    validating a frame of them again: the frame must be the one validation makes of the same JSON rows."""
    raw, _ = holdout_month
    records = records_from(raw.head(20)) + [
        {"date": "2023-06-01", "zipcode": 30301, "city_full": "Atlanta-Sandy Springs-Alpharetta"},
        {"date": "2024-01-31", "zipcode": 501, "city_full": "Atlantis", "city": None, "median_ppsf": 0,
         "price": 1.5, "year": 2024, "Total Population": 0.0},
    ]
    report, typed = validate_housing(pd.DataFrame(json.loads(json.dumps(records))), for_prediction=True)
    assert report.ok, report.problems
    pd.testing.assert_frame_equal(PredictRequest(records=records).typed(), typed)


def test_api_keys_guard_everything_but_health_and_docs(store, holdout_month):
    client = TestClient(create_app(store.url, api_keys=frozenset({"first-key", "rotated-key"})))
    body = {"records": records_from(holdout_month[0].head(2))}
    assert client.get("/health").status_code == 200 and client.get("/openapi.json").status_code == 200
    for headers in ({}, {"x-api-key": "wrong"}, {"x-api-key": ""}):
        answer = client.post("/predict", json=body, headers=headers)
        assert answer.status_code == 401 and "x-api-key" in answer.json()["detail"]
        assert client.get("/summary", headers=headers).status_code == 401
        assert client.get("/model", headers=headers).status_code == 401
    assert client.post("/predict", json=body, headers={"x-api-key": "rotated-key"}).status_code == 200
    assert client.get("/predictions", headers={"x-api-key": "first-key"}).status_code == 200
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert schemes == {"APIKeyHeader": {"type": "apiKey", "in": "header", "name": "x-api-key",
                                        "description": "one of the API keys (ask the operator)"}}


@pytest.mark.slow  # ten years of monthly summaries written and paged: seconds
def test_the_summary_is_paged_and_ten_years_of_months_stay_under_the_alb_limit(tmp_path):
    """120 scored months of 36 metros: every page, even the largest allowed, fits the ALB's 1 MB."""
    from shared.serving.predictions import write_scored_months
    from shared.store import LocalStore
    from tests.support.stores import predictions

    store = LocalStore(tmp_path / "store")
    months = pd.date_range("2014-01-31", periods=120, freq="ME")
    frames = [predictions(range(36 * i, 36 * i + 36)).assign(metro=[f"Metro {k}" for k in range(36)],
                                                              date=d, year=d.year, month=d.month)
              for i, d in enumerate(months)]
    write_scored_months(store, pd.concat(frames, ignore_index=True))
    client = TestClient(create_app(store.url))
    first = client.get("/summary")
    body = first.json()
    assert body["total"] == 120 * 37 and len(body["rows"]) == body["page_size"] == 500
    largest = client.get("/summary", params={"page_size": 2000})
    assert len(largest.content) < 1_000_000
    assert client.get("/summary", params={"page_size": 2001}).status_code == 422
    pages = [client.get("/summary", params={"page": p, "page_size": 1000}).json()["rows"] for p in range(1, 6)]
    assert sum(map(len, pages)) == 120 * 37 and pages[-1][-1]["year"] == 2023


def test_explain_takes_each_price_apart_into_parts_that_sum_to_it(client, store, holdout_month):
    """?explain=true: per record the anchor and the largest contributions (XGBoost's own, weighed as the
    prediction weighs them), plus the rest summed; they add up to the log of the prediction."""
    raw, _ = holdout_month
    records = records_from(raw.head(3).assign(date="2024-01-31"))  # the month after the data: production's
    answer = client.post("/predict?explain=true", json={"records": records})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [e["index"] for e in body["explanations"]] == [0, 1, 2]
    for price, explained in zip(body["predictions"], body["explanations"]):
        parts = explained["parts"]
        assert parts[0]["name"] == "anchor" and 1e4 < parts[0]["factor"] < 1e7  # the price level it starts from
        assert sum(p["log_contribution"] for p in parts) == pytest.approx(explained["log_price"], abs=1e-9)
        assert explained["log_price"] == pytest.approx(math.log(price), abs=1e-5)
        assert all(p["description"] for p in parts) and len(parts) <= 12
    assert client.post("/predict", json={"records": records}).json()["explanations"] is None  # only when asked
    many = client.post("/predict?explain=true", json={"records": records_from(raw.head(11))})
    assert many.status_code == 422 and "at most 10" in many.json()["detail"]


def test_the_model_card_s_figures_are_the_evaluation_s(client, store):
    from shared.reports import EvaluationReport, backtest_rows

    champion = read_champion(store).run_id
    card = client.get("/model/card")
    assert card.status_code == 200, card.text
    card = card.json()
    evaluation = EvaluationReport.model_validate_json(store.read_bytes(f"runs/{champion}/evaluation.json"))
    assert card["run_id"] == champion and card["known_limits"]
    assert card["metrics"]["holdout"]["XGBoost (this run)"]["mae"] == evaluation.candidate["holdout"].mae
    assert card["per_metro"] == {m: f.model_dump() for m, f in evaluation.per_metro["holdout"].items()}
    expected = [(split, mode, bucket, fig.mae["candidate"], fig.skill, fig.coverage)
                for split, mode, bucket, fig in backtest_rows(evaluation.headline())]
    assert [(f["split"], f["mode"], f["horizon"], f["mae"], f["skill"], f["coverage"]) for f in card["by_horizon"]] == expected
    dates = pd.read_parquet(store.locate(f"runs/{champion}/model/history.parquet"))["date"]
    assert card["training_window"] == [f"{dates.min():%Y-%m}", f"{dates.max():%Y-%m}"]
    assert card["trained_through"] == card["training_window"][1] and "calendar month" in card["drift_reference"]
    # A champion promoted without a card (an older store) is a 404 that names the remedy.
    Path(store.locate(f"models/cards/{champion}.json")).unlink()
    missing = client.get("/model/card")
    assert missing.status_code == 404 and f"housing promote {champion}" in missing.json()["detail"]


def test_the_system_s_own_errors_answer_with_the_status_they_name(tmp_path):
    """A HousingError reaching the app: its status and message for a caller's fault or a conflict; a
    server-side one says where to look, never its message (which may name the store's paths)."""
    from fastapi.testclient import TestClient

    from shared.errors import Conflict, HousingError

    app = create_app(str(tmp_path / "store"))

    @app.get("/conflict")
    def conflict():
        raise Conflict("another writer moved it first")

    @app.get("/broken")
    def broken():
        raise HousingError("/secret/store/path/runs/x/model/manifest.json is unreadable")

    client = TestClient(app, raise_server_exceptions=False)
    moved = client.get("/conflict")
    assert moved.status_code == 409 and moved.json()["detail"] == "another writer moved it first"
    answer = client.get("/broken")
    assert answer.status_code == 500 and "secret" not in answer.text and "HousingError" in answer.json()["detail"]

