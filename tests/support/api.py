"""Helpers shared by the API tests: raw request records, a strict JSON reader, a live uvicorn server."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from shared.model.smoke import requests_of as records_from  # noqa: F401 (HouseTS rows as a caller sends them)


def strict_json(text: str) -> Any:
    """Parse JSON refusing NaN / Infinity, which Python's json module would otherwise accept."""
    def refuse(constant: str):
        raise ValueError(f"{constant} in JSON")
    return json.loads(text, parse_constant=refuse)


@contextlib.contextmanager
def serving(app, port: int = 0) -> Iterator[str]:
    """Run an ASGI app with uvicorn on loopback in a thread; yield its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


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
