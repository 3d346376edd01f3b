"""HTTP requests to the API function through the Lambda API instead of the load balancer: each request is
the event an Application Load Balancer would send (the function answers it through Mangum), the answer is
its ALB response. The rollout check asks a new version this way before it takes traffic; the dashboard
asks the `live` alias this way, so its calls do not depend on who the load balancer admits (`allowed_cidr`).

An API address `lambda:<function or alias ARN>` (API_URL) means this route; `http(s)://...` the usual one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

LAMBDA_SCHEME = "lambda:"
API_KEY_HEADER = "x-api-key"

Invoke = Callable[[dict], dict]  # an ALB request event in, the function's ALB response out


class FunctionFailed(RuntimeError):
    """The function raised instead of answering (Lambda's FunctionError), or answered what no ALB target would."""


def alb_request(method: str, path: str, body: Any = None, api_key: str | None = None) -> dict:
    """The event an Application Load Balancer sends a Lambda target for this request."""
    headers = {"host": "lambda-invoke", "user-agent": "housing", "accept": "application/json"}
    if body is not None:
        headers["content-type"] = "application/json"
    if api_key:
        headers[API_KEY_HEADER] = api_key
    return {"requestContext": {"elb": {"targetGroupArn": "lambda-invoke"}}, "httpMethod": method, "path": path,
            "queryStringParameters": {}, "headers": headers, "isBase64Encoded": False,
            "body": json.dumps(body) if body is not None else ""}


def ask(invoke: Invoke, method: str, path: str, body: Any = None, api_key: str | None = None) -> tuple[int, Any]:
    """(status, parsed JSON body, or the text of a body that is not JSON) of one request."""
    try:
        response = invoke(alb_request(method, path, body, api_key))
    except Exception as exc:
        raise FunctionFailed(f"{method} {path}: the function failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(response, dict) or "statusCode" not in response:
        raise FunctionFailed(f"{method} {path}: not an ALB response: {str(response)[:300]}")
    text = response.get("body") or ""
    if response.get("isBase64Encoded"):
        text = base64.b64decode(text).decode()
    try:
        return int(response["statusCode"]), json.loads(text) if text else None
    except ValueError:  # an error page in plain text
        return int(response["statusCode"]), text[:300]


def lambda_invoker(function: str, client=None) -> Invoke:
    """Invoke `function` (a name or a version or alias ARN) synchronously with boto3's Lambda client."""
    if client is None:
        import boto3

        client = boto3.client("lambda")

    def invoke(event: dict) -> dict:
        response = client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read() or b"null")
        if "FunctionError" in response:
            raise FunctionFailed(f"{function} failed ({response['FunctionError']}): "
                                 f"{(payload or {}).get('errorType')}: {(payload or {}).get('errorMessage')}")
        return payload
    return invoke
