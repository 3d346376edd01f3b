"""Structured logs on Lambda: aws-lambda-powertools' `Logger` turns every `housing.*` log line into one
JSON object carrying the function, its request id, whether it was a cold start and the run id, which
CloudWatch Logs Insights can query. Elsewhere (the CLI, tests, the Fargate task's console) lines stay
plain text; the stages log through the standard `logging` module in both places and never look at where
they run."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

ROOT_LOGGER = "housing"
_lambda: dict[str, Logger] = {}


def _lambda_logger() -> Logger | None:
    """On Lambda, the Powertools logger (made on the first invocation). It is the `housing` logger itself
    (Powertools names it after the service), so every `housing.*` logger's lines go through its formatter."""
    if "AWS_LAMBDA_FUNCTION_NAME" not in os.environ:
        return None
    if "logger" not in _lambda:
        _lambda["logger"] = Logger(service=ROOT_LOGGER, utc=True)
        logging.getLogger(ROOT_LOGGER).propagate = False  # else the runtime's root handler prints each line again
    return _lambda["logger"]


def structured(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Decorate a Lambda entry point: Powertools' `inject_lambda_context` puts the invocation's function,
    request id and cold start into every log line it writes, and the run id (when the event names one)."""

    @functools.wraps(handler)
    def entry(event: Any, context: LambdaContext | None = None) -> Any:
        logger = _lambda_logger()
        if logger is None or context is None:
            return handler(event, context)

        def with_run_id(event: Any, context: LambdaContext) -> Any:
            run_id = event.get("run_id") if isinstance(event, dict) else None
            logger.append_keys(run_id=run_id)
            return handler(event, context)

        # clear_state: nothing of the previous invocation (its run id) leaks into this one's lines.
        return logger.inject_lambda_context(with_run_id, clear_state=True)(event, context)

    return entry


def task_logging() -> None:
    """For a process that is not a Lambda (a stage's Fargate task): `housing.*` INFO lines on stderr, which
    the task's awslogs driver sends to CloudWatch. Without it Python drops INFO lines: the trials and
    "bundle sealed" would never reach the log group."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger(ROOT_LOGGER)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
