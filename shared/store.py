"""The artifact store: one small interface over a local folder or an S3 prefix.

Stages read and write only through it, by key (`runs/<id>/splits/train.parquet`), so the same code runs on
a laptop and on AWS; only the URL differs. Every write is all-or-nothing: a local write goes to a temporary
file that is renamed into place, and an S3 PUT is atomic by nature. Two kinds of conditional write keep
concurrent writers from undoing each other: create-only (S3 `If-None-Match: *`, a hard link locally) and
compare-and-swap on a version tag (S3 `If-Match: <ETag>`, a lock file and a content digest locally).
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shared.errors import Conflict

if TYPE_CHECKING:  # boto3's exceptions are imported where S3 is used: a local store needs no botocore
    from botocore.exceptions import ClientError

# A temporary file's name keeps this much of the final one: a name near the file system's 255-byte limit
# must still leave room for the temporary's prefix and suffix.
TMP_NAME_CHARS = 64


class ArtifactNotFound(KeyError):
    """A key the caller expected is not in the store."""

    def __init__(self, store_url: str, key: str):
        super().__init__(f"{key!r} not found in store {store_url}")
        self.key = key

    def __str__(self) -> str:
        return self.args[0]


class ArtifactAccessDenied(PermissionError):
    """The store refused this component access to a key (S3's 403): a grant is missing, not a file."""


class ArtifactExists(Conflict, FileExistsError):
    """A create-only write found the key already there (a sealed bundle is never written again)."""

    retryable = False  # it will still be there


class ArtifactChanged(Conflict):
    """A compare-and-swap write found the key changed since it was read (another writer got there first)."""


class ArtifactStore(Protocol):
    url: str

    def read_bytes(self, key: str) -> bytes: ...

    def write_bytes(self, key: str, data: bytes, create_only: bool = False) -> None:
        """Write atomically; with `create_only`, refuse (ArtifactExists) when the key exists, atomically too."""
        ...

    def read_tagged(self, key: str) -> tuple[bytes, str]:
        """The object and its version tag, for `replace`."""
        ...

    def replace(self, key: str, data: bytes, tag: str | None) -> str:
        """Compare-and-swap: write only if the key still has version `tag` (None: only if it is absent);
        otherwise raise ArtifactChanged. Returns the new version's tag."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int:
        """The object's length in bytes, without reading it."""
        ...

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes start..end - 1 of the object (fewer where it is shorter), without reading the rest."""
        ...

    def tag(self, key: str) -> str:
        """The object's version tag, as `read_tagged` gives it, without reading the object where the store
        can (an S3 ETag; a content digest locally): what a run's input identity is made of."""
        ...

    def modified(self, key: str) -> float:
        """When the object was last written, as a POSIX timestamp."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Keys under `prefix`, sorted."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object (nothing when it is absent). Only `housing prune` deletes: every other write
        adds or replaces."""
        ...

    def tags(self, prefix: str) -> dict[str, str]:
        """Every key under `prefix` with its version tag, in one listing where the store can (S3's gives
        the ETags)."""
        ...

    def locate(self, key: str) -> str:
        """A URL or path for humans (and for tools that take one)."""
        ...


class LocalStore:
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)
        self._mode = 0o666 & ~_umask()  # what open() would give; mkstemp's temporary files are 0600

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"key {key!r} escapes the store root {self.root}")
        return path

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ArtifactNotFound(self.url, key) from None

    def write_bytes(self, key: str, data: bytes, create_only: bool = False) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:TMP_NAME_CHARS]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, self._mode)
            if create_only:  # a hard link is created only where nothing is: the local If-None-Match
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    raise ArtifactExists(f"{path} exists and is never written again") from None
                Path(tmp).unlink()
            else:
                os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read_tagged(self, key: str) -> tuple[bytes, str]:
        data = self.read_bytes(key)
        return data, digest(data)

    def replace(self, key: str, data: bytes, tag: str | None) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Every compare-and-swap of this key holds the same lock file: the local stand-in for S3's If-Match.
        with open(path.parent / f".{path.name}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = digest(path.read_bytes()) if path.is_file() else None
            if current != tag:
                raise ArtifactChanged(f"{path} changed since it was read")
            self.write_bytes(key, data)
        return digest(data)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise ArtifactNotFound(self.url, key) from None

    def read_range(self, key: str, start: int, end: int) -> bytes:
        try:
            with self._path(key).open("rb") as file:
                file.seek(start)
                return file.read(max(end - start, 0))
        except FileNotFoundError:
            raise ArtifactNotFound(self.url, key) from None

    def tag(self, key: str) -> str:
        return self.read_tagged(key)[1]

    def modified(self, key: str) -> float:
        try:
            return self._path(key).stat().st_mtime
        except FileNotFoundError:
            raise ArtifactNotFound(self.url, key) from None

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix else self.root
        folder = base if base.is_dir() else base.parent
        if not folder.exists():
            return []
        keys = (p.relative_to(self.root).as_posix() for p in folder.rglob("*") if p.is_file())
        return sorted(k for k in keys if k.startswith(prefix) and not Path(k).name.startswith("."))

    def tags(self, prefix: str) -> dict[str, str]:
        return {key: self.tag(key) for key in self.list(prefix)}

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        for folder in path.parents:  # the folders it leaves empty (left-over temporaries and locks too)
            if folder == self.root or not folder.is_dir() or any(not p.name.startswith(".") for p in folder.iterdir()):
                break
            shutil.rmtree(folder)

    def locate(self, key: str) -> str:
        return str(self.root / key)


class S3Store:
    """`s3://bucket/prefix`; honours AWS_ENDPOINT_URL so it runs against moto or any S3-compatible server."""

    def __init__(self, url: str, client: Any = None):
        import boto3  # boto3 is only needed when the store is on S3

        bucket_and_prefix = url.removeprefix("s3://")
        self.bucket, _, prefix = bucket_and_prefix.partition("/")
        if not self.bucket:
            raise ValueError(f"S3 store URL needs a bucket: {url!r}")
        self.prefix = prefix.strip("/")
        self.url = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.client = client or boto3.client("s3")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def relative_key(self, bucket: str, key: str) -> str | None:
        """The store-relative key of an S3 object, or None when it is outside the store."""
        if bucket != self.bucket:
            return None
        prefix = f"{self.prefix}/" if self.prefix else ""
        return key[len(prefix):] if key.startswith(prefix) else None

    def read_bytes(self, key: str) -> bytes:
        return self.read_tagged(key)[0]

    def _denied(self, err: Exception, key: str) -> Exception | None:
        """ArtifactAccessDenied for S3's 403, saying where to look; None for any other error."""
        if getattr(err, "response", {}).get("Error", {}).get("Code") not in ("AccessDenied", "403", "Forbidden"):
            return None
        return ArtifactAccessDenied(
            f"access denied to {self.locate(key)}: this component's role may not read it (its grants come from "
            "shared.layout.COMPONENTS, or a stage's reads in stepfunctions/graph.py)")

    def write_bytes(self, key: str, data: bytes, create_only: bool = False) -> None:
        from botocore.exceptions import ClientError

        condition = {"IfNoneMatch": "*"} if create_only else {}  # S3 conditional write: only if absent
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **condition)
        except ClientError as err:
            if _precondition_failed(err):
                raise ArtifactExists(f"{self.locate(key)} exists and is never written again") from None
            raise

    def read_tagged(self, key: str) -> tuple[bytes, str]:
        response = self._get(key)
        return response["Body"].read(), response["ETag"]

    def _get(self, key: str, **options: Any) -> dict[str, Any]:
        """GetObject of `key`; a missing key is ArtifactNotFound, a 403 ArtifactAccessDenied."""
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key), **options)
        except self.client.exceptions.NoSuchKey:
            raise ArtifactNotFound(self.url, key) from None
        except ClientError as err:
            if denied := self._denied(err, key):
                raise denied from None
            raise

    def replace(self, key: str, data: bytes, tag: str | None) -> str:
        from botocore.exceptions import ClientError

        condition = {"IfMatch": tag} if tag else {"IfNoneMatch": "*"}
        try:
            return self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **condition)["ETag"]
        except ClientError as err:
            # 404: an If-Match on a key deleted meanwhile; 409: a concurrent conditional write in flight.
            if _precondition_failed(err) or err.response["Error"]["Code"] in ("NoSuchKey", "ConditionalRequestConflict"):
                raise ArtifactChanged(f"{self.locate(key)} changed since it was read") from None
            raise

    def _head(self, key: str) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as err:
            if err.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                raise ArtifactNotFound(self.url, key) from None
            if denied := self._denied(err, key):
                raise denied from None
            raise

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
            return True
        except ArtifactNotFound:
            return False

    def modified(self, key: str) -> float:
        return self._head(key)["LastModified"].timestamp()

    def tag(self, key: str) -> str:
        return self._head(key)["ETag"]

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def read_range(self, key: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        return self._get(key, Range=f"bytes={start}-{end - 1}")["Body"].read()

    def list(self, prefix: str) -> list[str]:
        return sorted(self.tags(prefix))

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def tags(self, prefix: str) -> dict[str, str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        tags: dict[str, str] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix)
        ):
            # A key ending in "/" is a folder marker (the console's "Create folder"), not an object of the store.
            tags.update((obj["Key"][strip:], obj["ETag"]) for obj in page.get("Contents", []) if not obj["Key"].endswith("/"))
        return dict(sorted(tags.items()))

    def locate(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def digest(data: bytes) -> str:
    """SHA-256 in hex: a local object's version tag, a bundle file's seal, a run input's identity."""
    return hashlib.sha256(data).hexdigest()


def _precondition_failed(err: ClientError) -> bool:
    return err.response["Error"]["Code"] in ("PreconditionFailed", "412")


def newest_file(store: ArtifactStore, prefix: str) -> str | None:
    """The file under `prefix` written last (the name breaks ties: S3 times have one-second resolution)."""
    files = store.list(prefix)
    return max(files, key=lambda k: (store.modified(k), k)) if files else None


def open_store(url: str | Path) -> ArtifactStore:
    """A store for a local path or an `s3://bucket/prefix` URL."""
    url = str(url)
    if url.startswith("s3://"):
        return S3Store(url)
    if "://" in url:
        raise ValueError(f"unsupported store URL {url!r}: use a local path or s3://bucket/prefix")
    return LocalStore(url)


# --- typed helpers: every stage reads and writes these few formats -------------------------------------


def read_json(store: ArtifactStore, key: str) -> Any:
    return json.loads(store.read_bytes(key))


def json_bytes(payload: Any) -> bytes:
    """How every JSON artifact is written: stable key order, and no NaN or Infinity (not JSON)."""
    return json.dumps(payload, indent=2, sort_keys=True, allow_nan=False).encode()


def write_json(store: ArtifactStore, key: str, payload: Any) -> None:
    store.write_bytes(key, json_bytes(payload))


def parquet_bytes(frame: pd.DataFrame, metadata: dict[str, str] | None = None) -> bytes:
    """How every table artifact is serialised (zstd-compressed Parquet, no index), with `metadata` (text
    key-value pairs, read back by `table_metadata`) in the file's schema if given."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if metadata:
        table = table.replace_schema_metadata({**table.schema.metadata, **{f"housing.{k}": v for k, v in metadata.items()}})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def frame_of(data: bytes, columns: list[str] | None = None) -> pd.DataFrame:
    return arrow_to_frame(pq.read_table(io.BytesIO(data), columns=columns))


def table_metadata(data: bytes) -> tuple[pd.DataFrame, dict[str, str]]:
    """A table and the metadata `parquet_bytes` wrote with it."""
    table = pq.read_table(io.BytesIO(data))
    given = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    return arrow_to_frame(table), {k.removeprefix("housing."): v for k, v in given.items() if k.startswith("housing.")}


def arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    """The table as a frame, releasing each Arrow column as it is converted (self_destruct) instead of
    holding both copies whole: reading a table peaks at about one copy of it, not two. `table` is unusable
    afterwards."""
    return table.to_pandas(split_blocks=True, self_destruct=True)


def read_table(store: ArtifactStore, key: str, columns: list[str] | None = None) -> pd.DataFrame:
    return frame_of(store.read_bytes(key), columns)


def write_table(store: ArtifactStore, key: str, frame: pd.DataFrame) -> None:
    store.write_bytes(key, parquet_bytes(frame))
