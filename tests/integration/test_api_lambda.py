"""The Lambda entrypoint (Mangum) with the events an ALB target group really sends, the store on moto's S3."""

from __future__ import annotations

import importlib
import json
import sys

import boto3
import pytest
from moto import mock_aws

from shared.store import S3Store
from tests.support.api import alb_event, strict_json
from tests.support.stores import copy_served_state


@pytest.fixture(scope="module")
def handler(trained_store):
    """lambdas.api.handler imported fresh (as a new execution environment would) with HOUSING_STORE on S3;
    one execution environment for the module's requests, as Lambda keeps one warm."""
    store, _ = trained_store
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        for var, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_DEFAULT_REGION": "us-east-1"}.items():
            monkeypatch.setenv(var, value)
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        boto3.client("s3").create_bucket(Bucket="housing-data")
        copy_served_state(store, S3Store("s3://housing-data/env"))
        monkeypatch.setenv("HOUSING_STORE", "s3://housing-data/env")
        from shared.settings import get_settings
        get_settings.cache_clear()
        sys.modules.pop("lambdas.api.handler", None)
        module = importlib.import_module("lambdas.api.handler")
        yield module.handler
        sys.modules.pop("lambdas.api.handler", None)


def test_health_single_value_headers(handler, trained_store):
    response = handler(alb_event("GET", "/health"), None)
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"] == "application/json"
    assert strict_json(response["body"])["champion_run_id"] == trained_store[1]["run_id"]


def test_query_string_with_encoded_values(handler):
    # The ALB passes query values without decoding them: "All regions" arrives as "All%20regions".
    response = handler(alb_event("GET", "/summary", {"metro": "All%20regions", "year": "2023", "month": "12"}), None)
    rows = strict_json(response["body"])["rows"]
    assert response["statusCode"] == 200 and [r["metro"] for r in rows] == ["All regions"]


def test_multi_value_headers_and_query(handler):
    response = handler(alb_event("GET", "/predictions", {"year": "2023", "month": "12", "page_size": "3"},
                                 multi_value=True), None)
    assert response["statusCode"] == 200
    assert response["multiValueHeaders"]["content-type"] == ["application/json"]
    assert len(strict_json(response["body"])["items"]) == 3


@pytest.mark.parametrize("base64_body", [False, True])
def test_predict_with_a_json_body(handler, base64_body, trained_store):
    body = json.dumps({"records": [{"date": "2023-06-01", "zipcode": 30301, "city_full": "Atlanta-Sandy Springs-Roswell",
                                    "median_ppsf": 210.0, "homes_sold": 12}]})
    response = handler(alb_event("POST", "/predict", body=body, base64_body=base64_body), None)
    assert response["statusCode"] == 200, response["body"]
    answer = strict_json(response["body"])
    assert answer["model_run_id"] == trained_store[1]["run_id"] and answer["predictions"][0] > 0


def test_bad_body_is_a_422_through_the_alb(handler):
    response = handler(alb_event("POST", "/predict", body='{"records": [{"zipcode": "abc"}]}'), None)
    assert response["statusCode"] == 422
    fields = {e["field"] for e in strict_json(response["body"])["errors"]}
    assert {"body.records[0].zipcode", "body.records[0].date", "body.records[0].city_full"} <= fields
