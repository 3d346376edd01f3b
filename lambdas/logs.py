"""Structured logs on Lambda: every `housing.*` log line becomes one JSON object (aws-lambda-powertools'
formatter) carrying the function, its request id and the run id, which CloudWatch Logs Insights can query.
Elsewhere (the CLI, tests, the Fargate task's console) lines stay plain text; the stages log the same way
in both places and never look at where they run."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

ROOT_LOGGER = "housing"
_json: dict[str, LambdaPowertoolsFormatter] = {}


def _lambda_formatter() -> LambdaPowertoolsFormatter | None:
    """On Lambda, send `housing.*` logs through one JSON formatter (set up on the first invocation)."""
    if "AWS_LAMBDA_FUNCTION_NAME" not in os.environ:
        return None
    if "formatter" not in _json:
        formatter = LambdaPowertoolsFormatter(service="housing", utc=True)
        handler = logging.StreamHandler()
        handler.setFormatter(formatter)
        logger = logging.getLogger(ROOT_LOGGER)
        logger.handlers, logger.propagate = [handler], False
        logger.setLevel(logging.INFO)
        _json["formatter"] = formatter
    return _json["formatter"]


def structured(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Decorate a Lambda entry point: its invocation's ids go into every log line it writes."""

    @functools.wraps(handler)
    def entry(event: Any, context: Any = None) -> Any:
        formatter = _lambda_formatter()
        if formatter is not None and context is not None:
            run_id = event.get("run_id") if isinstance(event, dict) else None
            formatter.append_keys(function_name=context.function_name, request_id=context.aws_request_id, run_id=run_id)
        return handler(event, context)

    return entry
