"""Bad input: a clear error naming the problem, the input kept in quarantine, nothing else written, and
the champion untouched."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from housing.cli import app
from shared.champion import read_champion
from shared.store import LocalStore

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture(scope="module")
def champion_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    result = runner.invoke(app, ["run", "--store", str(root), "--zips", 40, "--trials", 2])
    assert result.exit_code == 0, result.output
    return root


def _write(frame, path):
    frame.to_csv(path, index=False)
    return path


def bad_files(rows, tmp_path):
    wrong_type = rows.astype({"homes_sold": "object"})
    wrong_type.loc[3, "homes_sold"] = "many"
    bad_dates = rows.copy()
    bad_dates.loc[0, "date"] = "31/03/2012"
    no_target = rows.assign(price=np.nan)
    early = rows[rows["date"] < "2021-06-30"]
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "image.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10)
    return {
        "missing_column": (_write(rows.drop(columns=["median_dom"]), tmp_path / "a.csv"), "median_dom"),
        "not_numeric": (_write(wrong_type, tmp_path / "b.csv"), "homes_sold"),
        "unparseable_date": (_write(bad_dates, tmp_path / "c.csv"), "31/03/2012"),
        "empty": (tmp_path / "empty.csv", "empty"),
        "format": (tmp_path / "image.csv", "not a CSV or Parquet"),
        "all_missing": (_write(no_target, tmp_path / "d.csv"), "price"),
        "empty_split": (_write(early, tmp_path / "e.csv"), "holdout"),
    }


@pytest.mark.parametrize("case", ["missing_column", "not_numeric", "unparseable_date", "empty", "format",
                                  "all_missing", "empty_split"])
def test_rejected_input_is_quarantined(case, champion_store, rows, metros, tmp_path):
    path, needle = bad_files(rows, tmp_path)[case]
    metros.to_csv(tmp_path / "metros.csv", index=False)
    store = LocalStore(champion_store)
    before = read_champion(store)
    runs_before = set(store.list("runs/"))

    result = runner.invoke(app, ["run", "--store", str(champion_store), "--data", str(path),
                                 "--metros", str(tmp_path / "metros.csv")])
    assert result.exit_code == 1
    assert "failed in stage validate" in result.output and needle in result.output

    quarantined = [k for k in store.list("quarantine/") if k.rsplit("/", 1)[1] == path.name]
    assert quarantined and store.read_bytes(quarantined[-1]) == path.read_bytes()
    report = json.loads(store.read_bytes(quarantined[-1].rsplit("/", 1)[0] + "/report.json"))
    assert needle in json.dumps(report)
    new = set(store.list("runs/")) - runs_before
    assert all(k.endswith("/run.json") for k in new)  # only the failure record: no half-written outputs
    record = json.loads(store.read_bytes(next(iter(new))))
    assert record["status"] == "failed" and record["error"]["stage"] == "validate"
    assert read_champion(store) == before


def test_a_bad_metros_table_is_the_file_quarantined(champion_store, rows, metros, tmp_path):
    """A metros table without `lat` is kept in quarantine, not the valid housing file (issue 9, item 8)."""
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
