"""On Lambda every `housing.*` log line is one JSON object with the function, request id and run id;
elsewhere the same lines stay plain text."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

import lambdas.logs
from lambdas.triggers import start_training

CONTEXT = SimpleNamespace(  # what the Lambda runtime passes (aws_lambda_powertools.utilities.typing.LambdaContext)
    function_name="HousingMlops-start-training", aws_request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
    memory_limit_in_mb=1024, invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:HousingMlops-start-training")
EVENT = {"detail-type": "Object Created", "run_id": "run-0123456789abcdef",
         "detail": {"bucket": {"name": "someone-elses-bucket"}, "object": {"key": "raw/x.csv", "etag": "e"}}}


@pytest.fixture()
def housing_logger():
    logger = logging.getLogger(lambdas.logs.ROOT_LOGGER)
    saved = logger.handlers[:], logger.propagate, logger.level
    yield
    logger.handlers, logger.propagate, logger.level = saved
    lambdas.logs._lambda.clear()


def test_lambda_log_lines_are_json_with_ids(monkeypatch, capsys, housing_logger):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", CONTEXT.function_name)
    monkeypatch.setenv("HOUSING_STORE", "s3://housing-data")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    lambdas.logs._lambda.clear()
    assert start_training(EVENT, CONTEXT)["started"] is False
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert line["level"] == "INFO" and "ignored raw/x.csv" in line["message"] and line["service"] == "housing"
    assert line["function_request_id"] == CONTEXT.aws_request_id and line["function_name"] == CONTEXT.function_name
    assert line["run_id"] == "run-0123456789abcdef" and line["cold_start"] in (True, False)
    # The next invocation's lines carry its own run id, not the last one's.
    assert start_training({**EVENT, "run_id": None}, CONTEXT)["started"] is False
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert line.get("run_id") is None


def test_elsewhere_lines_stay_plain(monkeypatch, caplog, housing_logger):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    monkeypatch.setenv("HOUSING_STORE", "s3://housing-data")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with caplog.at_level(logging.INFO, logger="housing"):
        start_training(EVENT, None)
    assert "ignored raw/x.csv" in caplog.text and not lambdas.logs._lambda
