"""CodeDeploy's pre-traffic hook for the API (BeforeAllowTraffic): before a new version takes any traffic,
ask it what the load balancer and a client would, through the same ALB events, and compare its prices with
those the champion's bundle recorded when it was sealed (shared.model.smoke). CodeDeploy shifts traffic only when
the hook reports Succeeded; Failed (or any error here) stops the deployment and the alias stays on the
version that was serving.

`check_version` is the check itself, given a way to invoke the version (shared.lambda_http); `handler`
invokes it through the Lambda API and reports to CodeDeploy.
"""

from __future__ import annotations

import logging
import os

from lambdas.api.auth import load_api_keys
from lambdas.logs import structured
from shared.lambda_http import FunctionFailed, Invoke, ask, lambda_invoker
from shared.model.seal import SMOKE_FILE, sealed_file
from shared.model.smoke import SmokeSet
from shared.serving.champion import read_champion
from shared.serving.monitoring import live_misses
from shared.settings import ApiSettings, get_settings
from shared.store import ArtifactStore, open_store

log = logging.getLogger("housing.rollout")

VERSION_VARIABLE = "HOUSING_API_VERSION"  # the ARN of the version being rolled out (set by the stack)


def check_version(invoke: Invoke, store: ArtifactStore, api_key: str | None = None) -> list[str]:
    """What is wrong with the version `invoke` reaches (empty when nothing): /health must answer and serve the
    champion, and /predict must give the smoke records the prices the champion's bundle recorded. Before any
    champion only /health is asked; a bundle sealed before smoke sets existed is checked on /health too."""
    try:
        return _conversation(invoke, store, api_key)
    except FunctionFailed as exc:
        return [str(exc)]


def _conversation(invoke: Invoke, store: ArtifactStore, api_key: str | None) -> list[str]:
    status, health = ask(invoke, "GET", "/health")
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
    status, answer = ask(invoke, "POST", "/predict", {"records": smoke.records}, api_key)
    if status != 200:
        return [*problems, f"POST /predict of the {len(smoke.records)} smoke records answered {status}: {answer}"]
    return problems + smoke.differences(answer["predictions"], answer["intervals"], answer["interval_level"],
                                        live_misses(store))


@structured
def handler(event: dict, context=None) -> dict:
    import boto3

    version = os.environ[VERSION_VARIABLE]
    return report_check(event, version, lambda_invoker(version), boto3.client("codedeploy"))


def report_check(event: dict, version: str, invoke: Invoke, codedeploy) -> dict:
    """Check the version being rolled out and tell CodeDeploy (`DeploymentId`, `LifecycleEventHookExecutionId`
    from its event). Any error is a failed check: a hook that never reports holds the deployment for an hour."""
    try:
        settings = get_settings(ApiSettings)
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
