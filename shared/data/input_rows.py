"""How many rows a run's input files hold, known before any stage reads them: what sizes the first stage
(validate) as the rows it counts size the others (`infra_cdk.task_sizes`).

A Parquet file's footer says it exactly (its last kilobytes). A CSV's is its size over the mean length of
its first lines (HEAD_BYTES), with CSV_MARGIN added: an upper estimate where later lines are no shorter on
average than the first ones by more than that, as in a HouseTS file (one shape throughout; a row's length
varies with its numbers' digits, a few percent).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from shared.data.tables import PARQUET_MAGIC
from shared.store import ArtifactStore

HEAD_BYTES = 1 << 20  # a CSV's lines measured: thousands of HouseTS rows
CSV_MARGIN = 1.25
FOOTER_BYTES = 1 << 16  # read from a Parquet file's end first; a larger footer is read again whole


def input_rows(store: ArtifactStore, keys: Iterable[str]) -> int | None:
    """The rows of the files together (an upper estimate for a CSV); None when one cannot be told (not a
    table, or gone): validate then says what is wrong, and runs with its configured size."""
    try:
        return sum(_rows(store, key) for key in keys)
    except (OSError, ValueError, pa.ArrowException):  # ArtifactNotFound is a KeyError: let the caller say so
        return None


def _rows(store: ArtifactStore, key: str) -> int:
    size = store.size(key)
    head = store.read_range(key, 0, min(size, HEAD_BYTES))
    if head[:4] == PARQUET_MAGIC:
        return _parquet_rows(store, key, size)
    lines = head.count(b"\n") + (not head.endswith(b"\n") and size <= HEAD_BYTES)  # a last line without one
    if size <= HEAD_BYTES:
        return max(lines - 1, 0)  # the header line
    if lines < 2:
        raise ValueError(f"{key}: no line ends in its first {HEAD_BYTES:,} bytes: not a CSV table")
    per_line = (head.rindex(b"\n") + 1) / lines
    return math.ceil(size / per_line * CSV_MARGIN)


def _parquet_rows(store: ArtifactStore, key: str, size: int) -> int:
    tail = store.read_range(key, max(size - FOOTER_BYTES, 0), size)
    footer = int.from_bytes(tail[-8:-4], "little") + 8  # the metadata's length, then the magic
    if footer > len(tail):
        tail = store.read_range(key, max(size - footer, 0), size)
    return pq.read_metadata(pa.BufferReader(tail)).num_rows
