"""The API and dashboard images, built by docker/build-local.sh, started as AWS starts them and answering.

The API image runs as Lambda runs it: the image's entry point with the function's CMD from the synthesized
template, that function's environment, an unprivileged user and a read-only task root, the runtime interface
client polling a Runtime API server (tests/support/lambda_runtime.py) that hands it ALB events. The dashboard image
runs its CMD with the dashboard task's environment and is loaded in headless chromium. Both read the store
from moto's S3 server on loopback. (The pipeline image runs in tests/deploy/test_state_machine.py.)
"""

from __future__ import annotations

import contextlib
import json
import uuid

import boto3
import pandas as pd
import pytest

from lambdas.api.app import create_app
from lambdas.api.rollout_check import check_version
from shared.store import S3Store
from tests.support.api import alb_event, records_from, strict_json
from tests.support.aws_control import control_plane
from tests.support.browser import ARTIFACTS, assert_dashboard_renders, chromium, missing_browser, wait_until_healthy
from tests.support.containers import IMAGES, LambdaFunction, build_images, container, moto_s3_server, output_of, stop
from tests.support.infra import data_bucket_id, function_environment, image_functions, task_container, task_environment
from tests.support.lambda_runtime import FunctionError
from tests.support.stores import copy_served_state

pytestmark = [pytest.mark.slow, pytest.mark.containers]

BUCKET = "housing-images"


@pytest.fixture(scope="module")
def world(trained_store, synthesized):
    """The images built, moto's S3 server holding the trained store, and the template's names resolved."""
    build_images()
    store, final = trained_store
    _, _, template = synthesized
    with moto_s3_server() as aws:
        s3 = boto3.client("s3", endpoint_url=aws["AWS_ENDPOINT_URL"], region_name=aws["AWS_REGION"],
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket=BUCKET)
        for prefix in ("", "/env"):  # the default store, and the all-options template's store_prefix
            copy_served_state(store, S3Store(f"s3://{BUCKET}{prefix}", client=s3))
        names = {data_bucket_id(template): BUCKET}
        yield {"store": store, "final": final, "template": template, "aws": aws, "names": names,
               "name_of": lambda lid: names.get(lid, lid)}


def api_function_id(template: dict) -> str:
    return next(lid for lid, props in image_functions(template).items()
                if props["ImageConfig"]["Command"] == ["lambdas.api.handler.handler"])


@contextlib.contextmanager
def api_function(world, template: dict, name_of):
    """The template's API function, started from the API image as Lambda starts it."""
    logical_id = api_function_id(template)
    env = {**function_environment(template, logical_id, name_of), **world["aws"]}
    [handler] = image_functions(template)[logical_id]["ImageConfig"]["Command"]
    with container(IMAGES["api"]) as box:
        function = LambdaFunction(box, handler, env, name=logical_id)
        try:
            yield function
        finally:
            function.close()


@pytest.fixture()
def api(world):
    with api_function(world, world["template"], world["name_of"]) as function:
        yield function


def test_api_image_answers_alb_events_as_lambda(api, world):
    api_function = api
    store = world["store"]
    health = api_function.invoke(alb_event("GET", "/health"))
    assert health["statusCode"] == 200, (health, api_function.output())
    assert strict_json(health["body"])["champion_run_id"] == world["final"]["run_id"]

    rows = pd.read_parquet(store.locate("raw/data.parquet")).tail(5)
    body = json.dumps({"records": records_from(rows)})
    answer = api_function.invoke(alb_event("POST", "/predict", body=body))
    assert answer["statusCode"] == 200, answer
    from fastapi.testclient import TestClient

    expected = TestClient(create_app(store.url)).post("/predict", content=body,
                                                     headers={"content-type": "application/json"}).json()
    got = strict_json(answer["body"])
    assert got["model_run_id"] == expected["model_run_id"] == world["final"]["run_id"]
    assert got["predictions"] == pytest.approx(expected["predictions"], rel=1e-9)  # same packages, same answer

    for path, query in (("/summary", {"year": "2023", "month": "12"}), ("/predictions", {"year": "2023", "month": "12"}),
                        ("/model", {})):
        response = api_function.invoke(alb_event("GET", path, query))
        assert response["statusCode"] == 200, (path, response)
    invalid = api_function.invoke(alb_event("POST", "/predict", body='{"records": [{"zipcode": "abc"}]}'))
    assert invalid["statusCode"] == 422
    # CodeDeploy's pre-traffic check, asking this image as it asks a new version: the bundle's smoke records
    # get the prices the training run recorded for them.
    assert check_version(api_function.invoke, _store(world)) == []


def _store(world, prefix: str = "") -> S3Store:
    """The store the images read, on moto's S3 server."""
    aws = world["aws"]
    return S3Store(f"s3://{BUCKET}{prefix}", client=boto3.client(
        "s3", endpoint_url=aws["AWS_ENDPOINT_URL"], region_name=aws["AWS_REGION"],
        aws_access_key_id="testing", aws_secret_access_key="testing"))


def test_the_rollout_check_runs_in_the_api_image_as_codedeploy_calls_it(world):
    """The template's pre-traffic hook function, started from the API image with its own environment, checks
    the template's API function (also from the image) through the Lambda API and tells CodeDeploy; both
    services' calls go to tests/support/aws_control.py on loopback, the store to moto's S3 server."""
    template = world["template"]
    [alias] = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Alias"]
    hook_id = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]["BeforeAllowTrafficHook"]["Ref"]
    version_arn = "arn:aws:lambda:us-east-1:123456789012:function:housing-api:7"
    names = {**world["names"], alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]: version_arn}
    hook_env = function_environment(template, hook_id, lambda lid: names.get(lid, lid))
    assert hook_env["HOUSING_API_VERSION"] == version_arn
    [hook_handler] = image_functions(template)[hook_id]["ImageConfig"]["Command"]
    event = {"DeploymentId": "d-ROLLOUT01", "LifecycleEventHookExecutionId": "hook-execution-1"}
    with api_function(world, template, world["name_of"]) as api, container(IMAGES["api"]) as box:
        def failing(event):
            raise FunctionError({"errorType": "ImportError", "errorMessage": "libgomp.so.1: cannot open shared object"})
        for target, status in ((api.invoke, "Succeeded"), (failing, "Failed")):
            with control_plane({version_arn: target}) as plane:
                env = {**hook_env, **world["aws"], "AWS_ENDPOINT_URL_LAMBDA": plane.url,
                       "AWS_ENDPOINT_URL_CODEDEPLOY": plane.url}
                hook = LambdaFunction(box, hook_handler, env, name=hook_id)
                try:
                    result = hook.invoke(event)
                finally:
                    hook.close()
            assert result["status"] == status, (result, hook.output())
            assert plane.hook_statuses == [{"deploymentId": "d-ROLLOUT01",
                                            "lifecycleEventHookExecutionId": "hook-execution-1", "status": status}]
        assert "libgomp.so.1" in result["problems"][0]


def test_api_image_asks_for_a_key_from_its_secret(world, synthesized_with_options):
    """With api_auth=api_key (and a store prefix): the template's environment names the secret, and the image
    reads it from Secrets Manager at init (moto's server here)."""
    aws = world["aws"]
    secrets = boto3.client("secretsmanager", endpoint_url=aws["AWS_ENDPOINT_URL"], region_name=aws["AWS_REGION"],
                           aws_access_key_id="testing", aws_secret_access_key="testing")
    arn = secrets.create_secret(Name=f"api-key-{uuid.uuid4().hex[:8]}", SecretString="key-one\nkey-two")["ARN"]
    _, _, template = synthesized_with_options
    names = {data_bucket_id(template): BUCKET,
             **{lid: arn for lid, r in template["Resources"].items() if r["Type"] == "AWS::SecretsManager::Secret"}}
    body = json.dumps({"records": records_from(pd.read_parquet(world["store"].locate("raw/data.parquet")).tail(2))})
    with api_function(world, template, lambda lid: names.get(lid, lid)) as function:
        health = function.invoke(alb_event("GET", "/health"))
        assert health["statusCode"] == 200 and strict_json(health["body"])["champion_run_id"], (health, function.output())
        assert function.invoke(alb_event("POST", "/predict", body=body))["statusCode"] == 401
        keyed = alb_event("POST", "/predict", body=body)
        keyed["headers"]["x-api-key"] = "key-two"
        assert function.invoke(keyed)["statusCode"] == 200
        assert check_version(function.invoke, _store(world, "/env"), api_key="key-one") == []  # the hook sends the first key


def test_a_handler_that_cannot_be_imported_is_an_init_error(world):
    """What a wrong CMD does on Lambda: the runtime reports an init error and no invocation succeeds."""
    with container(IMAGES["api"]) as box:
        function = LambdaFunction(box, "lambdas.api.handlers.handler", world["aws"], name="wrong-cmd")
        try:
            with pytest.raises(FunctionError) as failure:
                function.invoke(alb_event("GET", "/health"), timeout_s=120)
        finally:
            function.close()
    assert failure.value.init and failure.value.error["errorType"] == "Runtime.ImportModuleError"


def test_dashboard_image_serves_health_and_renders(world):
    if reason := missing_browser():
        pytest.skip(reason)
    template = world["template"]
    definition = task_container(template, "streamlit")
    env = task_environment(definition, world["name_of"])
    with container(IMAGES["dashboard"]) as box:
        argv = [*box.config.entrypoint, *box.config.cmd]
        port = definition["PortMappings"][0]["ContainerPort"]
        process = box.start(argv, {**env, **world["aws"]})
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_healthy(url, process, lambda: output_of(process))
            with chromium() as browser:
                assert_dashboard_renders(browser, url, "dashboard-image.png")
        finally:
            stop(process)
    assert (ARTIFACTS / "dashboard-image.png").exists()
