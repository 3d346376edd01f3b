"""The same pipeline against S3: moto's server on loopback, reached through AWS_ENDPOINT_URL like any
S3-compatible endpoint (the store code has no test hooks)."""

import socket

import boto3
import pytest
from moto.server import ThreadedMotoServer
from typer.testing import CliRunner

from housing.cli import app
from shared.serving.champion import read_champion
from shared.store import S3Store

pytestmark = pytest.mark.slow


@pytest.fixture()
def s3_endpoint(monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for var, value in {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(var, value)
    boto3.client("s3").create_bucket(Bucket="housing-test")
    yield "s3://housing-test/env"
    server.stop()


def test_run_on_s3(s3_endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("HOUSING_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    result = CliRunner().invoke(app, ["run", "--store", s3_endpoint, "--zips", 40, "--trials", 2])
    assert result.exit_code == 0, result.output
    store = S3Store(s3_endpoint)
    pointer = read_champion(store)
    assert pointer is not None
    keys = store.list("")
    assert f"runs/{pointer.run_id}/model/manifest.json" in keys
    assert "predictions/year=2023/month=12/summary.parquet" in keys
    listed = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="housing-test", Prefix="env/models/")["Contents"]]
    # Under the store's prefix: the pointer, the bundle's model card, and the promotion's record.
    assert listed[:2] == ["env/models/cards/" + pointer.run_id + ".json", "env/models/champion.json"]
    assert len(listed) == 3 and listed[2].startswith("env/models/promotions/") and listed[2].endswith(f"-{pointer.run_id}.json")
    status = CliRunner().invoke(app, ["status", "--store", s3_endpoint])
    assert pointer.run_id in status.output
