import boto3
import pytest
from moto import mock_aws

from shared.store import ArtifactNotFound, LocalStore, S3Store, open_store, read_json, write_json


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path, monkeypatch):
    if request.param == "local":
        yield LocalStore(tmp_path / "s")
        return
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket="bkt")
        yield S3Store("s3://bkt/some/prefix")


def test_round_trip_list_and_missing(store):
    write_json(store, "runs/a/x.json", {"v": 1})
    store.write_bytes("runs/a/y.bin", b"\x00\x01")
    store.write_bytes("runsx/z", b"")
    assert read_json(store, "runs/a/x.json") == {"v": 1}
    assert store.list("runs/") == ["runs/a/x.json", "runs/a/y.bin"]
    assert store.exists("runs/a/y.bin") and not store.exists("runs/a/nope")
    with pytest.raises(ArtifactNotFound, match="runs/a/nope"):
        store.read_bytes("runs/a/nope")


def test_create_only_writes_never_replace(store):
    from shared.store import ArtifactExists

    store.write_bytes("runs/r/model/model.ubj", b"first", create_only=True)
    with pytest.raises(ArtifactExists, match="never written again"):
        store.write_bytes("runs/r/model/model.ubj", b"second", create_only=True)
    assert store.read_bytes("runs/r/model/model.ubj") == b"first"
    assert store.list("runs/r/model/") == ["runs/r/model/model.ubj"]  # no temporary file left behind


def test_json_refuses_nan(store):
    with pytest.raises(ValueError):
        write_json(store, "bad.json", {"v": float("nan")})
    assert not store.exists("bad.json")


def test_local_write_is_atomic(tmp_path):
    store = LocalStore(tmp_path)
    store.write_bytes("k", b"old")

    with pytest.raises(TypeError):
        store.write_bytes("k", object())  # fails mid-write
    assert store.read_bytes("k") == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["k"]  # no temporary file left behind


def test_local_keys_cannot_escape(tmp_path):
    with pytest.raises(ValueError, match="escapes"):
        LocalStore(tmp_path / "s").write_bytes("../outside", b"x")


def test_open_store_by_url(tmp_path):
    assert isinstance(open_store(tmp_path), LocalStore)
    with pytest.raises(ValueError, match="unsupported"):
        open_store("gs://bucket/x")
