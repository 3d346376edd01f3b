"""User files: reading CSV or Parquet, told apart by content, with a clear error for anything else; writing
them atomically, the format named by the file's suffix."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from shared import schema
from shared.errors import BadInput
from shared.store import TMP_NAME_CHARS, arrow_to_frame

PARQUET_MAGIC = b"PAR1"
TEXT_COLUMNS = [schema.DATE, schema.CITY, schema.CITY_FULL, "metro_full"]
# The CSV cells read as "no value"; anything else that is not a number is reported as not a number
# (pyarrow's default list also turns "#N/A", "-1.#IND" and the like into silent gaps).
MISSING_TOKENS = ("", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL")


class InputFormatError(BadInput, ValueError):
    """The file is neither a readable CSV nor a Parquet file."""


def read_frame(data: bytes, name: str = "input") -> pd.DataFrame:
    """Parse CSV or Parquet bytes. Text columns stay text so validation can say which values are bad."""
    if not data.strip():
        raise InputFormatError(f"{name}: the file is empty")
    if data[:4] == PARQUET_MAGIC:
        try:
            return arrow_to_frame(pq.read_table(io.BytesIO(data)))
        except pa.ArrowException as err:
            raise InputFormatError(f"{name}: not a readable Parquet file ({err})") from None
    head = data[:4096]
    if b"\x00" in head:
        raise InputFormatError(f"{name}: not a CSV or Parquet file (binary content)")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        if len(head) < 4096:  # a cut multi-byte character at the 4 KiB mark is fine; anything else is not text
            raise InputFormatError(f"{name}: not a CSV or Parquet file (not UTF-8 text)") from None
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in TEXT_COLUMNS},
                null_values=list(MISSING_TOKENS), strings_can_be_null=True,
                true_values=[], false_values=[],  # "true" in a price column is not a number, not a 1
            ),
        )
    except pa.ArrowInvalid as err:
        raise InputFormatError(f"{name}: not a readable CSV file ({err})") from None
    return arrow_to_frame(table)


OUTPUT_SUFFIXES = (".csv", ".parquet")


def check_output(path: Path) -> None:
    """Refuse, before any work, an output path that cannot be written as a table: the reason in a ValueError."""
    if path.is_dir():
        raise ValueError(f"{path} is a folder: give a file name, e.g. {path / ('predictions' + OUTPUT_SUFFIXES[0])}")
    if path.suffix not in OUTPUT_SUFFIXES:
        raise ValueError(f"{path}: the output's name must end in .csv or .parquet (the format follows it)")
    if any(p.exists() and not p.is_dir() for p in path.parents):
        raise ValueError(f"{path}: {next(p for p in path.parents if p.exists() and not p.is_dir())} is a file, not a folder")


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write a table as CSV or Parquet (by the name's suffix), atomically: a temporary file beside it, renamed
    over it when complete, so a full disk or a kill leaves the previous file or none, never half of one."""
    check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:TMP_NAME_CHARS]}.", suffix=".tmp")
    os.close(fd)
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if path.suffix == ".parquet":
            pq.write_table(table, tmp, compression="zstd")
        else:
            pacsv.write_csv(table, tmp)
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and not err.filename:  # pyarrow's errors do not name the file
            raise OSError(err.errno, err.strerror or str(err), str(path)) from err
        raise
