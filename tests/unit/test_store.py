import pytest

from shared.store import ArtifactChanged, ArtifactNotFound, LocalStore, open_store, read_json, write_json


@pytest.fixture()
def store(any_store):
    return any_store


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


def test_compare_and_swap_returns_the_tag_the_listing_and_the_next_swap_see(store):
    first = store.replace("predictions/m.parquet", b"one", None)
    assert store.tags("predictions/") == {"predictions/m.parquet": first} and store.tag("predictions/m.parquet") == first
    second = store.replace("predictions/m.parquet", b"two", first)
    assert second != first and store.read_tagged("predictions/m.parquet") == (b"two", second)
    with pytest.raises(ArtifactChanged):
        store.replace("predictions/m.parquet", b"stale", first)
    with pytest.raises(ArtifactChanged):
        store.replace("predictions/m.parquet", b"absent?", None)
    assert store.read_bytes("predictions/m.parquet") == b"two"


def test_delete_removes_the_object_and_is_quiet_when_it_is_gone(store):
    write_json(store, "runs/a/x.json", {"v": 1})
    write_json(store, "runs/a/y.json", {"v": 2})
    store.delete("runs/a/x.json")
    store.delete("runs/a/x.json")
    assert store.list("runs/") == ["runs/a/y.json"] and not store.exists("runs/a/x.json")
    store.delete("runs/a/y.json")
    assert store.list("runs/") == []


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


@pytest.mark.parametrize("operation", ["read_bytes", "exists", "size", "read_range"])
def test_access_denied_is_its_own_clear_error(operation, monkeypatch):
    """S3's 403 (a missing grant) is not a missing file: it says so and where the grants come from."""
    import boto3
    from botocore.stub import Stubber

    from shared.store import ArtifactAccessDenied, S3Store

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        method = "get_object" if operation.startswith("read") else "head_object"
        stub.add_client_error(method, service_error_code="AccessDenied" if method == "get_object" else "403",
                              http_status_code=403)
        store, arguments = S3Store("s3://bkt/env", client=client), (0, 8) if operation == "read_range" else ()
        with pytest.raises(ArtifactAccessDenied, match="access denied to s3://bkt/env/models/champion.json.*COMPONENTS"):
            getattr(store, operation)("models/champion.json", *arguments)


def test_size_and_ranges_read_only_what_is_asked(store):
    store.write_bytes("raw/data.csv", b"0123456789")
    assert store.size("raw/data.csv") == 10
    assert store.read_range("raw/data.csv", 2, 5) == b"234"
    assert store.read_range("raw/data.csv", 8, 20) == b"89"  # past the end: what there is
    assert store.read_range("raw/data.csv", 4, 4) == b""
    for read in (lambda: store.size("raw/nope"), lambda: store.read_range("raw/nope", 0, 1)):
        with pytest.raises(ArtifactNotFound, match="raw/nope"):
            read()
