"""Bad input, a table of cases through `housing run`, `housing predict` and `/predict`: each is rejected
with a message naming the problem (the file quarantined, nothing else written, the champion untouched) or
accepted because it is valid. Nothing crashes."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from housing.cli import app
from shared.serving.champion import read_champion
from shared.store import LocalStore

pytestmark = pytest.mark.slow
runner = CliRunner()


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    return buffer.getvalue()


def _with(rows: pd.DataFrame, column: str, row: int, value) -> pd.DataFrame:
    out = rows.astype({column: "object"}) if isinstance(value, str) else rows.copy()
    out.loc[row, column] = value
    return out


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[pd.DataFrame], bytes]  # the file's bytes, from valid rows
    needle: str | None  # what the error names; None: the file is valid for training
    predict_needle: str | None = "same"  # for prediction (no target needed): "same" as needle, or None if valid
    suffix: str = ".csv"

    def for_prediction(self) -> str | None:
        return self.needle if self.predict_needle == "same" else self.predict_needle


CASES = [
    Case("missing_column", lambda r: _csv(r.drop(columns=["median_dom"])), "median_dom", predict_needle=None),
    Case("not_numeric", lambda r: _csv(_with(r, "homes_sold", 3, "many")), "homes_sold"),
    Case("unparseable_date", lambda r: _csv(_with(r, "date", 0, "31/03/2012")), "31/03/2012"),
    Case("empty_file", lambda r: b"", "empty"),
    Case("binary", lambda r: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10, "not a CSV or Parquet"),
    Case("no_target_at_all", lambda r: _csv(r.assign(price=np.nan)), "price", predict_needle=None),
    # 30 months: the default split (holdout = last 24 months, eval = the 24 before) leaves nothing to train on.
    Case("too_few_months", lambda r: _csv(r[r["date"] >= "2021-07-01"]), "train would be empty", predict_needle=None),
    Case("zero_price", lambda r: _csv(_with(r, "price", 5, 0.0)), "price(s) are zero"),
    Case("bool_price_csv", lambda r: _csv(r.assign(price=r.index % 2 == 0)), "8520 value(s) are not numbers"),
    Case("bool_price_parquet", lambda r: _parquet(r.assign(price=r.index % 2 == 0)), "true/false", suffix=".parquet"),
    Case("two_price_columns", lambda r: _csv(r).replace(b",median_dom,", b",price,", 1), "appears more than once"),
    Case("repeated_header", lambda r: _csv(r.iloc[:100]) + _csv(r.iloc[100:]), "repeat the header"),
    Case("inf_price", lambda r: _csv(_with(r, "price", 2, np.inf)), "beyond 1e+12"),
    Case("negative_count", lambda r: _csv(_with(r, "homes_sold", 1, -4.0)), "negative"),
    Case("huge_value", lambda r: _csv(_with(r, "median_ppsf", 1, 1e15)), "beyond 1e+12"),
    Case("latin1_text", lambda r: _csv(r).replace(b"Atlanta", "Atlântâ".encode("latin-1")), "not a readable CSV"),
    Case("truncated_parquet", lambda r: _parquet(r)[: len(_parquet(r)) // 2], "Parquet", suffix=".parquet"),
    Case("semicolons", lambda r: r.to_csv(index=False, sep=";").encode(), "missing"),
    Case("duplicate_rows", lambda r: _csv(pd.concat([r, r.iloc[:3]])), "repeat a (zipcode, date)", predict_needle=None),
    Case("fractional_zip", lambda r: _csv(_with(r.astype({"zipcode": "float64"}), "zipcode", 4, 4808.6)), "not whole numbers"),
    Case("one_month_1e5_too_high", lambda r: _csv(_with(r, "price", 5, r["price"].iloc[5] * 1e5)),
         "move their zip's index", predict_needle=None),
    Case("missing_tokens", lambda r: _csv(r).replace(b",", b",n/a,", 0), None),
    Case("utf8_bom", lambda r: b"\xef\xbb\xbf" + _csv(r), None),
]
REJECTED = [c for c in CASES if c.needle]


@pytest.fixture(scope="module")
def champion_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    result = runner.invoke(app, ["run", "--store", str(root), "--zips", 40, "--trials", 2])
    assert result.exit_code == 0, result.output
    return root


def _file(case: Case, rows: pd.DataFrame, tmp_path) -> tuple:
    path = tmp_path / f"{case.name}{case.suffix}"
    path.write_bytes(case.build(rows))
    return path


@pytest.mark.parametrize("case", REJECTED, ids=lambda c: c.name)
def test_housing_run_rejects_and_quarantines(case, champion_store, rows, metros, tmp_path):
    path = _file(case, rows, tmp_path)
    metros.to_csv(tmp_path / "metros.csv", index=False)
    store = LocalStore(champion_store)
    before = read_champion(store)
    runs_before = set(store.list("runs/"))

    result = runner.invoke(app, ["run", "--store", str(champion_store), "--data", str(path),
                                 "--metros", str(tmp_path / "metros.csv")])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "failed in stage validate" in result.output and case.needle in result.output

    quarantined = [k for k in store.list("quarantine/") if k.rsplit("/", 1)[1] == path.name]
    assert quarantined and store.read_bytes(quarantined[-1]) == path.read_bytes()
    report = json.loads(store.read_bytes(quarantined[-1].rsplit("/", 1)[0] + "/report.json"))
    assert case.needle in json.dumps(report)
    new = set(store.list("runs/")) - runs_before
    # Only the attempt's claim and its failure record: no half-written outputs.
    assert {k.rsplit("/", 1)[1] for k in new} == {"attempt.json", "run.json"}
    record = json.loads(store.read_bytes(next(k for k in new if k.endswith("/run.json"))))
    assert record["status"] == "failed" and record["error"]["stage"] == "validate"
    assert read_champion(store) == before


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_housing_predict_rejects_or_answers(case, champion_store, rows, tmp_path):
    path = _file(case, rows, tmp_path)
    output = tmp_path / "out.csv"
    result = runner.invoke(app, ["predict", "--store", str(champion_store), "--input", str(path), "--output", str(output)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    needle = case.for_prediction()
    if needle:
        assert result.exit_code == 1 and needle in result.output and not output.exists()
    else:
        assert result.exit_code == 0, result.output
        assert len(pd.read_csv(output)) == len(pd.read_csv(io.BytesIO(case.build(rows)), sep=None, engine="python"))


def test_a_bad_metros_table_is_the_file_quarantined(champion_store, rows, metros, tmp_path):
    """A metros table without `lat` is kept in quarantine, not the valid housing file."""
    rows.to_csv(tmp_path / "housets.csv", index=False)
    metros.drop(columns=["lat"]).to_csv(tmp_path / "metros-no-lat.csv", index=False)
    store = LocalStore(champion_store)
    before = read_champion(store)
    result = runner.invoke(app, ["run", "--store", str(champion_store), "--data", str(tmp_path / "housets.csv"),
                                 "--metros", str(tmp_path / "metros-no-lat.csv")])
    assert result.exit_code == 1 and "lat" in result.output
    names = {k.rsplit("/", 1)[1] for k in store.list("quarantine/")}
    assert "metros-no-lat.csv" in names and "housets.csv" not in names
    [report_key] = [k for k in store.list("quarantine/") if k.endswith("report.json")
                    and "metros-no-lat.csv" in store.read_bytes(k).decode()]
    report = json.loads(store.read_bytes(report_key))
    assert [r["source"] for r in report["reports"]] == [report["metros_key"]] == report["rejected"]
    assert read_champion(store) == before


def test_missing_tokens_are_counted_apart_from_non_numbers(rows):
    from shared.data.tables import MISSING_TOKENS, read_frame
    from shared.data.validation import validate_housing

    frame = _with(_with(rows, "homes_sold", 0, "n/a"), "homes_sold", 1, "lots")
    report, _ = validate_housing(read_frame(_csv(frame)))
    assert "n/a" in MISSING_TOKENS
    [problem] = [p for p in report.problems if p.column == "homes_sold"]
    assert problem.rule == "not_numeric" and problem.count == 1
    assert report.missing_values["homes_sold"] == rows["homes_sold"].isna().sum() + 1


def _next_month(store: LocalStore) -> pd.DataFrame:
    """The month after the champion's data, labelled: its holdout's last month moved on by one, prices 1% up."""
    from shared.layout import Artifact, artifact_key
    from shared.store import read_table

    holdout = read_table(store, artifact_key(read_champion(store).run_id, Artifact.SPLIT_HOLDOUT))
    last = holdout.loc[holdout["date"] == holdout["date"].max()].reset_index(drop=True)
    return last.assign(date="2024-01-31", year=2024, price=(last["price"] * 1.01).round(0))


def _times(frame: pd.DataFrame, factor: float, rows: slice) -> pd.DataFrame:
    out = frame.copy()
    out.loc[rows, "price"] = out.loc[rows, "price"] * factor
    return out


def _twice(frame: pd.DataFrame) -> pd.DataFrame:
    """The first zip's month on a second day, its price 3x."""
    again = frame.iloc[:1].assign(date="2024-01-15", price=frame["price"].iloc[0] * 3)
    return pd.concat([frame, again], ignore_index=True)


BATCH_CASES = [  # (name, file from the next labelled month, what the rejection names; None: scored)
    ("prices_1e5_too_high", lambda m: _csv(_times(m, 1e5, slice(0, 4))), "implausible_price"),
    ("prices_of_a_cent", lambda m: _csv(m.assign(price=0.01)), "implausible_price"),
    ("a_zip_month_on_two_days", lambda m: _csv(_twice(m)), "repeat a zip code's month"),
    ("binary", lambda m: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10, "not a CSV or Parquet"),
    ("a_plausible_month", lambda m: _csv(m), None),
]


@pytest.mark.parametrize(("name", "build", "needle"), BATCH_CASES, ids=[c[0] for c in BATCH_CASES])
def test_housing_batch_input_rejects_quarantines_and_never_learns_from_a_bad_month(name, build, needle, champion_store,
                                                                                  tmp_path):
    """A labelled month joins what the system has seen and the next run's training data: one that breaks the
    plausibility rules (shared.data.plausibility) is quarantined with a report naming the zips, scores nothing
    and is never learned from."""
    from shared.serving.incoming import labelled_incoming, with_labelled_months
    from shared.serving.predictions import read_predictions

    copy = tmp_path / "store"
    shutil.copytree(champion_store, copy)
    store = LocalStore(copy)
    month = _next_month(store)
    path = tmp_path / f"2024-01-{name}.csv"
    path.write_bytes(build(month))
    before, champion = read_predictions(store), read_champion(store)

    result = runner.invoke(app, ["batch", "--store", str(copy), "--input", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if needle is None:
        assert result.exit_code == 0, result.output
        assert len(read_predictions(store, 2024, 1)) == len(month)
        assert labelled_incoming(store) == [f"incoming/{path.name}"]
        return
    assert result.exit_code == 1 and needle in result.output and "quarantine/incoming-" in result.output, result.output
    [report_key] = [k for k in store.list("quarantine/incoming-") if k.endswith("report.json")]
    report = json.loads(store.read_bytes(report_key))
    assert needle in json.dumps(report) and report["input_key"] == f"incoming/{path.name}"
    if name != "binary":  # the report names the zip codes at fault
        [problem] = report["reports"][0]["problems"]
        assert str(int(month["zipcode"].iloc[0])) in problem["message"]
    pd.testing.assert_frame_equal(read_predictions(store), before)
    assert read_champion(store) == champion
    assert labelled_incoming(store) == []  # the file stays under incoming/, but teaches nothing
    typed = month.iloc[:0]
    _, joined = with_labelled_months(store, typed, [f"incoming/{path.name}"])
    assert joined.rows == 0 and f"incoming/{path.name}" in joined.skipped
