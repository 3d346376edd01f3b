"""The single-prediction form's call to the API: a result, or a message a user can act on. The API is an
http(s) address, or `lambda:<alias ARN>` on AWS, where the dashboard invokes the function directly
(shared.lambda_http) instead of going out to the load balancer, which `allowed_cidr` may close to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from shared.lambda_http import API_KEY_HEADER, LAMBDA_SCHEME, ask, lambda_invoker

TIMEOUT_S = 10


@dataclass
class ApiAnswer:
    price: float | None = None
    low: float | None = None
    high: float | None = None
    level: float | None = None
    model_run_id: str | None = None
    warnings: list[str] | None = None
    error: str | None = None


def predict_one(api_url: str, record: dict[str, Any], api_key: str | None = None, invoke=None) -> ApiAnswer:
    """POST one record; `api_key` goes in the x-api-key header when the API asks for one. For a `lambda:`
    address `invoke` (default: boto3's Lambda client) carries the request."""
    if api_url.startswith(LAMBDA_SCHEME):
        function = api_url[len(LAMBDA_SCHEME):]
        try:
            status, body = ask(invoke or lambda_invoker(function), "POST", "/predict", {"records": [record]}, api_key)
        except Exception as exc:  # the function's own error, or botocore's (no credentials or permission, throttled)
            return ApiAnswer(error=f"the prediction API function {function} could not answer: {exc}")
    else:
        try:
            response = requests.post(api_url.rstrip("/") + "/predict", json={"records": [record]},
                                     headers={API_KEY_HEADER: api_key} if api_key else {}, timeout=TIMEOUT_S)
        except requests.RequestException as exc:
            return ApiAnswer(error=f"the prediction API at {api_url} is not reachable ({type(exc).__name__}); "
                                   "start it with `housing serve` or set API_URL")
        try:
            status, body = response.status_code, response.json()
        except ValueError:
            return ApiAnswer(error=f"the API answered {response.status_code} without JSON")
    if status != 200 or not isinstance(body, dict):
        detail = body.get("detail", body) if isinstance(body, dict) else body
        return ApiAnswer(error=f"the API answered {status}: {detail}")
    interval = (body.get("intervals") or [{}])[0]
    return ApiAnswer(price=body["predictions"][0], low=interval.get("low"), high=interval.get("high"),
                     level=body.get("interval_level"), model_run_id=body["model_run_id"],
                     warnings=[w["message"] for w in body.get("warnings", [])])
