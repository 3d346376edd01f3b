"""CodeDeploy's pre-traffic hook for the API (BeforeAllowTraffic): before a new version takes any traffic,
ask it what the load balancer and a client would, through the same ALB events, and compare its prices with
those the champion's bundle recorded when it was sealed (shared.smoke). CodeDeploy shifts traffic only when
the hook reports Succeeded; Failed (or any error here) stops the deployment and the alias stays on the
version that was serving.

`check_version` is the check itself, given a way to invoke the version; `handler` invokes it through the
Lambda API and reports to CodeDeploy.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Callable
from typing import Any

from lambdas.api.auth import HEADER, load_api_keys
from lambdas.logs import structured
from shared.champion import read_champion
from shared.seal import SMOKE_FILE, sealed_file
from shared.settings import get_settings
from shared.smoke import SmokeSet
from shared.store import ArtifactStore, open_store

log = logging.getLogger("housing.rollout")

VERSION_VARIABLE = "HOUSING_API_VERSION"  # the ARN of the version being rolled out (set by the stack)

Invoke = Callable[[dict], dict]  # an ALB request event in, the function's response out


def alb_request(method: str, path: str, body: Any = None, api_key: str | None = None) -> dict:
    """The event an Application Load Balancer sends a Lambda target for this request."""
    headers = {"host": "rollout-check", "user-agent": "housing-rollout-check", "accept": "application/json"}
    if body is not None:
        headers["content-type"] = "application/json"
    if api_key:
        headers[HEADER] = api_key
    return {"requestContext": {"elb": {"targetGroupArn": "rollout-check"}}, "httpMethod": method, "path": path,
            "queryStringParameters": {}, "headers": headers, "isBase64Encoded": False,
            "body": json.dumps(body) if body is not None else ""}


class VersionFailed(RuntimeError):
    """The version raised instead of answering (Lambda's FunctionError), or answered what no ALB target would."""


def _ask(invoke: Invoke, method: str, path: str, body: Any = None, api_key: str | None = None) -> tuple[int, Any]:
    try:
        response = invoke(alb_request(method, path, body, api_key))
    except Exception as exc:
        raise VersionFailed(f"{method} {path}: the version failed: {type(exc).__name__}: {exc}") from exc
    text = response.get("body") or ""
    if response.get("isBase64Encoded"):
        text = base64.b64decode(text).decode()
    if "statusCode" not in response:
        raise VersionFailed(f"{method} {path}: not an ALB response: {str(response)[:300]}")
    try:
        return int(response["statusCode"]), json.loads(text) if text else None
    except ValueError:  # an error page in plain text
        return int(response["statusCode"]), text[:300]


def check_version(invoke: Invoke, store: ArtifactStore, api_key: str | None = None) -> list[str]:
    """What is wrong with the version `invoke` reaches (empty when nothing): /health must answer and serve the
    champion, and /predict must give the smoke records the prices the champion's bundle recorded. Before any
    champion only /health is asked; a bundle sealed before smoke sets existed is checked on /health too."""
    try:
        return _conversation(invoke, store, api_key)
    except VersionFailed as exc:
        return [str(exc)]


def _conversation(invoke: Invoke, store: ArtifactStore, api_key: str | None) -> list[str]:
    status, health = _ask(invoke, "GET", "/health")
    if status != 200:
        return [f"GET /health answered {status}: {health}"]
    champion = read_champion(store)
    if champion is None:
        log.info("no champion yet: /health answers %s", health.get("status"))
        return []
    problems = []
    if health.get("champion_run_id") != champion.run_id or health.get("status") != "ok":
        problems.append(f"GET /health: {health.get('status')} serving {health.get('champion_run_id')} "
                        f"({health.get('champion_error') or 'no error given'}); the champion is {champion.run_id}")
    data = sealed_file(store, champion.run_id, SMOKE_FILE)
    if data is None:
        log.warning("bundle %s has no %s (sealed before rollout checks): only /health was checked",
                    champion.run_id, SMOKE_FILE)
        return problems
    smoke = SmokeSet.model_validate_json(data)
    status, answer = _ask(invoke, "POST", "/predict", {"records": smoke.records}, api_key)
    if status != 200:
        return [*problems, f"POST /predict of the {len(smoke.records)} smoke records answered {status}: {answer}"]
    return problems + smoke.differences(answer["predictions"], answer["intervals"])


def _lambda_invoke(function: str) -> Invoke:
    import boto3

    client = boto3.client("lambda")

    def invoke(event: dict) -> dict:
        response = client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read() or b"null")
        if "FunctionError" in response:
            raise RuntimeError(f"{function} failed ({response['FunctionError']}): "
                               f"{(payload or {}).get('errorType')}: {(payload or {}).get('errorMessage')}")
        return payload
    return invoke


@structured
def handler(event: dict, context=None) -> dict:
    import boto3

    version = os.environ[VERSION_VARIABLE]
    return report_check(event, version, _lambda_invoke(version), boto3.client("codedeploy"))


def report_check(event: dict, version: str, invoke: Invoke, codedeploy) -> dict:
    """Check the version being rolled out and tell CodeDeploy (`DeploymentId`, `LifecycleEventHookExecutionId`
    from its event). Any error is a failed check: a hook that never reports holds the deployment for an hour."""
    try:
        settings = get_settings()
        api_key = min(load_api_keys(settings.api_key_secret)) if settings.api_key_secret else None
        problems = check_version(invoke, open_store(settings.store), api_key)
    except Exception as exc:  # reported as Failed, never left pending
        problems = [f"the check itself failed: {type(exc).__name__}: {exc}"]
    status = "Failed" if problems else "Succeeded"
    for problem in problems:
        log.error("rollout of %s: %s", version, problem)
    codedeploy.put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"], lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=status)
    log.info("rollout of %s: %s", version, status)
    return {"status": status, "problems": problems}
