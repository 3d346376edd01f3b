from __future__ import annotations

import os

# jsii prints a Node.js end-of-life banner on every CDK import unless told not to.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import pandas as pd
import pytest

from shared.data.synthetic import generate

SMALL_ZIPS = 60
SLOW_MODULE = "\npytestmark = pytest.mark.slow\n"


def pytest_ignore_collect(collection_path, config):
    """The fast lane (`-m "not slow"`) does not even import the modules whose every test is slow: their
    imports (the CDK's jsii runtime, schemathesis and hypothesis, moto's server) cost seconds of a
    one-minute lane."""
    if config.getoption("markexpr") != "not slow" or not collection_path.name.startswith("test_"):
        return None
    if collection_path.suffix == ".py" and SLOW_MODULE in collection_path.read_text():
        return True
    return None


@pytest.fixture(scope="session")
def small_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A small synthetic HouseTS set (60 zip codes, every metro but a few) and its metros table."""
    return generate(zips=SMALL_ZIPS, seed=7)


@pytest.fixture()
def rows(small_data) -> pd.DataFrame:
    return small_data[0].copy()


@pytest.fixture()
def metros(small_data) -> pd.DataFrame:
    return small_data[1].copy()


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch, tmp_path):
    """Every test gets its own store and MLflow database; nothing leaks from the developer's environment."""
    from shared.settings import get_settings

    for var in ("HOUSING_STORE", "HOUSING_MLFLOW_TRACKING_URI", "HOUSING_MLFLOW_REGISTRY", "HOUSING_TRIALS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOUSING_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("MLFLOW_LOGGING_LEVEL", "WARNING")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(params=["local", "s3"])
def any_store(request, tmp_path, monkeypatch):
    """An empty store: a local folder, or a prefix of a bucket in moto's in-process S3."""
    from shared.store import LocalStore, S3Store

    if request.param == "local":
        yield LocalStore(tmp_path / "s")
        return
    import boto3
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket="bkt")
        yield S3Store("s3://bkt/some/prefix")


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory, small_data):
    """A store trained on the small data set by the real pipeline with a small training step
    (tests/support/tiny.py: a 50-round booster, no tuning or MLflow): a champion, its bundle and batch
    predictions. Shared by the session; tests must not change it (copy it first). The full pipeline, tuning
    and the registry included, runs in tests/integration/test_pipeline.py."""
    from lambdas.stage_event import new_run_event
    from shared.settings import Settings, get_settings
    from shared.store import LocalStore, write_table
    from stepfunctions.local_runner import run_graph
    from tests.support.tiny import GRAPH

    root = tmp_path_factory.mktemp("trained-store")
    store = LocalStore(root)
    rows, metros = small_data
    write_table(store, "raw/data.parquet", rows)
    write_table(store, "reference/metros.parquet", metros)
    settings = Settings(store=str(root))
    event = new_run_event(store.url, "raw/data.parquet", "reference/metros.parquet", settings.run_config(), "fp-1")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HOUSING_MLFLOW_REGISTRY", "false")  # promote registers nothing: no MLflow run to register
        get_settings.cache_clear()
        final = run_graph(GRAPH, event)
    get_settings.cache_clear()
    return store, final


@pytest.fixture(scope="session")
def synthesized():
    """The CDK app synthesized once per session (seconds and ~0.5 GB each time): (stack, Template, dict)."""
    from tests.support.infra import synthesize

    stack, template = synthesize()
    return stack, template, template.to_json()


ALL_OPTIONS = {"alarm_drift_months": 3, "alarm_skill_months": 4, "fargate_max_memory_mb": 61440,
               "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/abc", "domain_name": "housing.example.com",
               "cognito_login": True, "create_mlflow_server": True, "alarm_email": "ops@example.com",
               "store_prefix": "env",  # no trailing slash: normalized to the folder env/
               "api_auth": "api_key", "settings": {"gate_vs_baseline": 0.4, "train_end": "2021-01-01"},
               "function_memory_mb": {"validate": 6144, "score": 4096}, "api_provisioned_concurrency": 2,
               "fargate_stages": {"features": {"cpu": 4096, "memory_mb": 30720},
                                  "evaluate": {"cpu": 2048, "memory_mb": 16384, "timeout_s": 5400}},
               "api_rollout": "linear", "api_rollback_p99_ms": 900,
               "dashboard_hours": {"start": "cron(0 7 ? * MON-FRI *)", "stop": "cron(0 19 ? * MON-FRI *)",
                                   "time_zone": "Europe/Berlin"}}


@pytest.fixture(scope="session")
def synthesized_with_options():
    """The app with every optional part switched on (ALL_OPTIONS), synthesized once: (stack, Template, dict)."""
    from tests.support.infra import cdk_context, synthesize

    context = cdk_context()
    context["housing"] = {**context["housing"], **ALL_OPTIONS}
    stack, template = synthesize(context)
    return stack, template, template.to_json()
