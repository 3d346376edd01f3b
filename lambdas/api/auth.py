"""API keys for machine clients: the `x-api-key` header, checked by the app against the keys in a Secrets
Manager secret (one per line, so a key can be rotated by adding the new one before removing the old).

Why in the app: the ALB's own authentication (Cognito / OIDC actions) is a browser login with redirects
and cookies, which scripts and services cannot follow, and a listener rule matching a header would put the
key in plain text into the CloudFormation template. /health stays open for the ALB's health check.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import Security
from fastapi.security import APIKeyHeader

from shared.lambda_http import API_KEY_HEADER

HEADER = API_KEY_HEADER


def load_api_keys(secret_id: str) -> frozenset[str]:
    """The keys in the secret (one per line, blank lines ignored); refuses an empty secret."""
    import boto3

    text = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    keys = frozenset(line.strip() for line in text.splitlines() if line.strip())
    if not keys:
        raise ValueError(f"the API key secret {secret_id} holds no key")
    return keys


def key_checker(keys: frozenset[str], reject: Callable[[str], Exception]):
    """A FastAPI dependency (declared in the OpenAPI document): passes when the header holds one of `keys`."""
    scheme = APIKeyHeader(name=HEADER, auto_error=False, description="one of the API keys (ask the operator)")

    def check(given: str | None = Security(scheme)) -> None:
        if not given or not any(hmac.compare_digest(given.encode(), key.encode()) for key in keys):
            raise reject(f"missing or wrong {HEADER} header: this API needs a key")

    return check
