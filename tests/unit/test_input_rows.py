"""The input files' rows, told before validate reads them (it is sized from them): exact for Parquet and
for a CSV that fits the head read, an upper estimate within CSV_MARGIN for a longer CSV."""

from __future__ import annotations

import pytest

import shared.data.input_rows as input_rows_module
from shared.data.input_rows import CSV_MARGIN, input_rows
from shared.data.synthetic import generate
from shared.store import parquet_bytes


@pytest.fixture(scope="module")
def rows():
    return generate(zips=30, seed=5)[0]


def test_a_parquet_file_s_rows_come_from_its_footer(any_store, rows, monkeypatch):
    any_store.write_bytes("raw/data.parquet", parquet_bytes(rows))
    assert input_rows(any_store, ["raw/data.parquet"]) == len(rows)
    monkeypatch.setattr(input_rows_module, "FOOTER_BYTES", 16)  # a footer longer than the first read
    assert input_rows(any_store, ["raw/data.parquet"]) == len(rows)


def test_a_short_csv_is_counted(any_store, rows):
    text = rows.head(50).to_csv(index=False).encode()
    any_store.write_bytes("raw/a.csv", text)
    any_store.write_bytes("raw/b.csv", text.rstrip(b"\n"))  # no newline after the last line
    assert input_rows(any_store, ["raw/a.csv"]) == input_rows(any_store, ["raw/b.csv"]) == 50


def test_a_long_csv_is_estimated_from_its_first_lines_and_never_below(any_store, rows, monkeypatch):
    monkeypatch.setattr(input_rows_module, "HEAD_BYTES", 1 << 14)  # the file is many times the head read
    any_store.write_bytes("raw/data.csv", rows.to_csv(index=False).encode())
    any_store.write_bytes("incoming/2024-01.parquet", parquet_bytes(rows.head(7)))
    estimate = input_rows(any_store, ["raw/data.csv"])
    assert len(rows) <= estimate <= CSV_MARGIN * 1.05 * len(rows)
    assert input_rows(any_store, ["raw/data.csv", "incoming/2024-01.parquet"]) == estimate + 7


def test_a_file_that_is_no_table_is_not_told(any_store, monkeypatch):
    """Validate says what is wrong with it; until then the run's size is the deployment's."""
    monkeypatch.setattr(input_rows_module, "HEAD_BYTES", 64)
    any_store.write_bytes("raw/blob.csv", bytes(range(1, 200)).replace(b"\n", b"") * 3)
    any_store.write_bytes("raw/bad.parquet", b"PAR1" + b"\x00" * 40 + b"PAR1")
    assert input_rows(any_store, ["raw/blob.csv"]) is None
    assert input_rows(any_store, ["raw/bad.parquet"]) is None
