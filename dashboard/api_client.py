"""The single-prediction form's call to the API: a result, or a message a user can act on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

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


def predict_one(api_url: str, record: dict[str, Any], api_key: str | None = None) -> ApiAnswer:
    """POST one record; `api_key` goes in the x-api-key header when the API asks for one."""
    url = api_url.rstrip("/") + "/predict"
    headers = {"x-api-key": api_key} if api_key else {}
    try:
        response = requests.post(url, json={"records": [record]}, headers=headers, timeout=TIMEOUT_S)
    except requests.RequestException as exc:
        return ApiAnswer(error=f"the prediction API at {api_url} is not reachable ({type(exc).__name__}); "
                               "start it with `housing serve` or set API_URL")
    try:
        body = response.json()
    except ValueError:
        return ApiAnswer(error=f"the API answered {response.status_code} without JSON")
    if response.status_code != 200:
        return ApiAnswer(error=f"the API answered {response.status_code}: {body.get('detail', body)}")
    interval = (body.get("intervals") or [{}])[0]
    return ApiAnswer(price=body["predictions"][0], low=interval.get("low"), high=interval.get("high"),
                     level=body.get("interval_level"), model_run_id=body["model_run_id"],
                     warnings=[w["message"] for w in body.get("warnings", [])])
