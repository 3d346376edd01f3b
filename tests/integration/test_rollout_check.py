"""The API's pre-traffic hook (lambdas/api/rollout_check.py) against the real app through Mangum, as a new
version is invoked with ALB events: it passes a version that serves the champion's bundle as it was sealed
and fails one that answers other prices, errors or serves another model. (Against the built image:
tests/deploy/test_images_run.py.)"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from botocore.stub import Stubber
from mangum import Mangum

from lambdas.api.app import create_app
from lambdas.api.rollout_check import check_version, report_check
from shared.lambda_http import alb_request
from shared.model.bundle import load_bundle
from shared.model.seal import SMOKE_FILE
from shared.model.smoke import SMOKE_RECORDS
from shared.serving.champion import read_champion
from shared.store import LocalStore, read_json


def version(store_url: str):
    """A version of the API function as Lambda runs it, on the store at `store_url`."""
    handler = Mangum(create_app(store_url, refresh_seconds=0), lifespan="off")
    return lambda event: handler(event, None)


@pytest.fixture()
def store(trained_store, tmp_path):
    shutil.copytree(trained_store[0].root, tmp_path / "store")
    return LocalStore(tmp_path / "store")


def test_the_bundle_records_its_answers_to_a_fixed_set_of_records(trained_store):
    store, _ = trained_store
    bundle = load_bundle(store, read_champion(store).run_id)
    smoke = bundle.smoke
    assert len(smoke.records) == SMOKE_RECORDS == len(set(r["zipcode"] for r in smoke.records))
    assert {r["date"][:7] for r in smoke.records} == {bundle.metadata["trained_through"]}  # the newest labelled month
    assert all("price" not in r for r in smoke.records)
    assert np.all(np.array(smoke.low) < np.array(smoke.predicted)) and np.all(np.array(smoke.predicted) < np.array(smoke.high))
    manifest = read_json(store, f"runs/{bundle.run_id}/model/manifest.json")
    assert SMOKE_FILE in manifest["files"]  # sealed with the bundle


def test_a_version_serving_the_champion_as_sealed_passes(store):
    assert check_version(version(store.url), store) == []


def test_a_version_whose_code_moves_the_prices_fails(store, monkeypatch):
    """A new image whose feature or model code changed what an existing bundle predicts."""
    import shared.model.calibration as calibration

    combine = calibration.combine
    monkeypatch.setattr(calibration, "combine", lambda *parts: combine(*parts) + 0.001)  # every log price moves
    problems = check_version(version(store.url), store)
    assert len(problems) == 3 * SMOKE_RECORDS, problems  # price, low and high of every record
    assert "the bundle recorded" in problems[0] and "zip " in problems[0]


def test_a_version_that_cannot_predict_fails(store, monkeypatch):
    import shared.model.bundle

    def broken(*args, **kwargs):
        raise RuntimeError("a missing native library")
    monkeypatch.setattr(shared.model.bundle.ModelBundle, "predict_typed", broken)  # what /predict calls
    problems = check_version(version(store.url), store)
    assert problems == [f"POST /predict of the {SMOKE_RECORDS} smoke records answered 500: Internal Server Error"]


def test_a_version_serving_another_model_fails(store, tmp_path, trained_store):
    """The version reads another store (a wrong HOUSING_STORE): its health names no champion or another one."""
    empty = LocalStore(tmp_path / "empty")
    problems = check_version(version(empty.url), store)
    assert problems and "the champion is" in problems[0]


def test_before_any_champion_only_health_is_asked(tmp_path):
    empty = LocalStore(tmp_path / "empty")
    asked = []
    app = version(empty.url)
    assert check_version(lambda event: asked.append(event["path"]) or app(event), empty) == []
    assert asked == ["/health"]


def test_an_api_key_is_sent_when_the_api_asks_for_one(store):
    handler = Mangum(create_app(store.url, refresh_seconds=0, api_keys=frozenset({"k1"})), lifespan="off")
    assert check_version(lambda event: handler(event, None), store, api_key="k1") == []
    assert "401" in check_version(lambda event: handler(event, None), store)[0]


@pytest.mark.parametrize("broken", [False, True])
def test_codedeploy_is_told_the_result(store, monkeypatch, broken):
    import boto3

    from shared.settings import get_settings

    monkeypatch.setenv("HOUSING_STORE", store.url)
    monkeypatch.delenv("HOUSING_API_KEY_SECRET", raising=False)
    get_settings.cache_clear()
    client = boto3.client("codedeploy", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    event = {"DeploymentId": "d-ABCDEF123", "LifecycleEventHookExecutionId": "eyJ0ZXN0IjoxfQ=="}
    status = "Failed" if broken else "Succeeded"
    app = version(store.url)

    def invoke(request):
        if broken:
            raise RuntimeError("arn:aws:lambda:us-east-1:123456789012:function:api:7 failed (Unhandled)")
        return app(request)
    with Stubber(client) as stub:  # moto has no CodeDeploy lifecycle hooks; the stub checks the call's shape
        stub.add_response("put_lifecycle_event_hook_execution_status", {"lifecycleEventHookExecutionId": "x"},
                          {"deploymentId": "d-ABCDEF123", "lifecycleEventHookExecutionId": "eyJ0ZXN0IjoxfQ==",
                           "status": status})
        result = report_check(event, "arn:aws:lambda:us-east-1:123456789012:function:api:7", invoke, client)
        stub.assert_no_pending_responses()
    get_settings.cache_clear()
    assert result["status"] == status
    assert bool(result["problems"]) == broken


def test_the_request_is_an_alb_event():
    event = alb_request("POST", "/predict", {"records": []}, api_key="k")
    assert event["requestContext"]["elb"] and event["headers"]["x-api-key"] == "k"
    assert event["headers"]["content-type"] == "application/json" and event["body"] == '{"records": []}'
