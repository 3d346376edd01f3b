"""Reading user files: CSV or Parquet, told apart by content, with a clear error for anything else."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from shared import schema

PARQUET_MAGIC = b"PAR1"
TEXT_COLUMNS = [schema.DATE, schema.CITY, schema.CITY_FULL, "metro_full"]
# The CSV cells read as "no value"; anything else that is not a number is reported as not a number
# (pyarrow's default list also turns "#N/A", "-1.#IND" and the like into silent gaps).
MISSING_TOKENS = ("", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL")


class InputFormatError(ValueError):
    """The file is neither a readable CSV nor a Parquet file."""


def read_frame(data: bytes, name: str = "input") -> pd.DataFrame:
    """Parse CSV or Parquet bytes. Text columns stay text so validation can say which values are bad."""
    if not data.strip():
        raise InputFormatError(f"{name}: the file is empty")
    if data[:4] == PARQUET_MAGIC:
        try:
            return pq.read_table(io.BytesIO(data)).to_pandas()
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
    return table.to_pandas()


def write_csv(frame: pd.DataFrame, path) -> None:
    pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), path)


def write_parquet(frame: pd.DataFrame, path) -> None:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, compression="zstd")
