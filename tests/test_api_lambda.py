"""The Lambda entrypoint (Mangum) with the events an ALB target group really sends, the store on moto's S3."""

from __future__ import annotations

import base64
import importlib
import json
import sys

import boto3
import pytest
from moto import mock_aws

from tests.api_support import strict_json

TARGET_GROUP = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/housing-api/73e2d6bc24d8a067"


def alb_event(method: str, path: str, query: dict[str, str] | None = None, body: str | None = None,
              multi_value: bool = False, base64_body: bool = False) -> dict:
    """An ALB -> Lambda request as documented: query values arrive still URL-encoded, headers lower-cased."""
    headers = {"host": "housing-alb-123.us-east-1.elb.amazonaws.com", "user-agent": "curl/8.5.0",
               "x-forwarded-for": "203.0.113.7", "x-forwarded-port": "80", "x-forwarded-proto": "http",
               "x-amzn-trace-id": "Root=1-67891233-abcdef012345678912345678"}
    if body is not None:
        headers["content-type"] = "application/json"
        headers["content-length"] = str(len(body.encode()))
    event = {
        "requestContext": {"elb": {"targetGroupArn": TARGET_GROUP}},
        "httpMethod": method,
        "path": path,
        "body": (base64.b64encode(body.encode()).decode() if base64_body else body) if body is not None else "",
        "isBase64Encoded": base64_body,
    }
    if multi_value:
        event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()}
    else:
        event["headers"] = headers
        event["queryStringParameters"] = query or {}
    return event


@pytest.fixture()
def handler(trained_store, monkeypatch):
    """lambdas.api.handler imported fresh (as a new execution environment would) with HOUSING_STORE on S3."""
    store, _ = trained_store
    for var, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="housing-data")
        for key in store.list(""):
            if key.startswith(("models/", "runs/", "predictions/")) and not key.endswith(".db"):
                s3.put_object(Bucket="housing-data", Key=f"env/{key}", Body=store.read_bytes(key))
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
