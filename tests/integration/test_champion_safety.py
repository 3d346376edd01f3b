"""The champion and the store survive re-runs, uploads, late failures, promotions and races."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from housing.cli import app
from shared.layout import CHAMPION_KEY, bundle_prefix, run_key
from shared.runs import list_runs
from shared.serving.champion import ChampionMoved, promote, read_champion
from shared.settings import Settings, get_settings
from shared.store import ArtifactChanged, LocalStore

pytestmark = pytest.mark.slow
runner = CliRunner()
OFF = Settings(mlflow_registry=False)


def _invoke(*args: str, **env: str):
    get_settings.cache_clear()  # each command is a new process in real use: settings are read afresh
    result = runner.invoke(app, list(args), env={"COLUMNS": "80", **env})
    get_settings.cache_clear()
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.fixture(scope="module")
def first_store(tmp_path_factory, small_data):
    """A store whose champion came from `housing run` on a CSV input."""
    root = tmp_path_factory.mktemp("safety")
    rows, metros = small_data
    data, table = root.parent / "housets.csv", root.parent / "metros.csv"
    rows.to_csv(data, index=False)
    metros.to_csv(table, index=False)
    workdir = Path.cwd()
    os.chdir(root)  # a fresh working directory: nothing of the run may land in it
    try:
        result = _invoke("run", "--store", str(root / "store"), "--data", str(data), "--metros", str(table), "--trials", "1")
    finally:
        os.chdir(workdir)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in root.iterdir()) == ["store"]
    return root / "store", data, table


@pytest.fixture()
def store_copy(first_store, tmp_path):
    root, data, table = first_store
    shutil.copytree(root, tmp_path / "store")
    return LocalStore(tmp_path / "store"), data, table


def _files(store: LocalStore, prefix: str) -> dict[str, str]:
    return {k: hashlib.sha256(store.read_bytes(k)).hexdigest() for k in store.list(prefix)}


def test_forced_rerun_trains_under_its_own_prefix_and_is_compared_with_the_champion(store_copy):
    store, data, table = store_copy
    champion = read_champion(store).run_id
    sealed = _files(store, bundle_prefix(champion))
    result = _invoke("run", "--store", store.url, "--data", str(data), "--metros", str(table), "--trials", "1", "--force")
    assert result.exit_code == 0, result.output
    second = f"{champion}-2"
    assert f"run {second}:" in result.output
    assert _files(store, bundle_prefix(champion)) == sealed  # the first bundle never written again
    evaluation = json.loads(store.read_bytes(run_key(second, "evaluation.json")))
    assert evaluation["champion_run_id"] == champion and evaluation["champion"]["eval"]["mae"] > 0
    # A plain re-run now finds a finished attempt and does nothing.
    again = _invoke("run", "--store", store.url, "--data", str(data), "--metros", str(table), "--trials", "1")
    assert again.exit_code == 0 and "already ran" in again.output


def test_a_champion_an_older_version_made_is_replaced_not_compared(store_copy):
    """A bundle sealed before the backtest calibration existed cannot be scored by this version: the next
    run is judged on its own and replaces it (the pointer's compare-and-swap still guards the move)."""
    store, data, table = store_copy
    old = read_champion(store).run_id
    manifest = json.loads(store.read_bytes(bundle_prefix(old) + "manifest.json"))
    del manifest["files"]["calibration.json"]
    store.write_bytes(bundle_prefix(old) + "manifest.json", json.dumps(manifest).encode())
    result = _invoke("run", "--store", store.url, "--data", str(data), "--metros", str(table), "--trials", "1", "--force")
    assert result.exit_code == 0, result.output
    assert "made by an older version and cannot be scored" in result.output and "PASSED" in result.output
    pointer = read_champion(store)
    assert pointer.run_id == f"{old}-2" and pointer.previous_run_id == old


def test_an_upload_never_replaces_a_different_file_of_the_same_name(store_copy, tmp_path):
    store, data, table = store_copy
    original = store.read_bytes("raw/housets.csv")
    (tmp_path / "x").mkdir()
    bad = tmp_path / "x" / "housets.csv"
    bad.write_text("date,zipcode\n2020-01-01,1\n")
    result = _invoke("run", "--store", store.url, "--data", str(bad), "--metros", str(table))
    assert result.exit_code == 1
    assert store.read_bytes("raw/housets.csv") == original
    [kept] = [k for k in store.list("raw/") if k != "raw/housets.csv"]
    assert store.read_bytes(kept) == bad.read_bytes() and kept.startswith("raw/housets-")


def test_a_failure_after_promote_is_recorded_as_such(store_copy, monkeypatch, rows, tmp_path):
    store, _, table = store_copy
    old = read_champion(store).run_id
    import lambdas.stages.batch

    def broken(*args, **kwargs):
        raise OSError("disk full while scoring")

    monkeypatch.setattr(lambdas.stages.batch, "batch_score", broken)
    newer = tmp_path / "newer.csv"
    rows.assign(price=rows["price"] * 1.0001).to_csv(newer, index=False)
    result = _invoke("run", "--store", store.url, "--data", str(newer), "--metros", str(table), "--trials", "1",
                     HOUSING_GATE_VS_CHAMPION="-1")  # any candidate passes: the failure comes after promote
    assert result.exit_code == 1 and "failed in stage batch" in result.output
    run_id = read_champion(store).run_id
    assert run_id != old and "it is the champion now" in result.output and "untouched" not in result.output
    [record] = [r for r in list_runs(store) if r.run_id == run_id]
    assert record.status == "failed" and record.promoted and record.error.stage == "batch"
    assert "failed (champion)" in _invoke("status", "--store", store.url).output


def test_manual_promotion_is_the_stage_s_promotion(store_copy, tmp_path):
    store, _, _ = store_copy
    champion = read_champion(store).run_id
    mlflow_db = Path(store.url) / "mlflow.db"
    before = mlflow_db.read_bytes()
    second, third = "run-" + "c" * 16, "run-" + "a" * 16
    _copy_bundle(store, champion, second)
    _copy_bundle(store, champion, third)
    # Registry off: the pointer moves and MLflow is not touched.
    result = _invoke("promote", second, "--store", store.url, HOUSING_MLFLOW_REGISTRY="false")
    assert result.exit_code == 0 and "skipped (HOUSING_MLFLOW_REGISTRY=false)" in result.output
    assert read_champion(store).run_id == second and mlflow_db.read_bytes() == before
    # An unreachable tracking server: the pointer still moves, the command says the registry was not updated.
    result = _invoke("promote", third, "--store", store.url, HOUSING_MLFLOW_TRACKING_URI="http://127.0.0.1:9",
                     MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
    assert result.exit_code == 0, result.output
    assert "not updated" in result.output and read_champion(store).run_id == third
    assert mlflow_db.read_bytes() == before
    # Promoting the champion again changes nothing: it never becomes its own predecessor.
    result = _invoke("promote", third, "--store", store.url)
    assert result.exit_code == 0 and "the champion already" in result.output
    assert read_champion(store).previous_run_id == second


def test_a_moved_store_registers_in_its_own_mlflow_database(first_store, tmp_path):
    root, _, _ = first_store
    moved = tmp_path / "moved"
    shutil.copytree(root, moved)
    old_db = (root / "mlflow.db").read_bytes()
    store = LocalStore(moved)
    _copy_bundle(store, read_champion(store).run_id, "run-" + "b" * 16)
    result = _invoke("promote", "run-" + "b" * 16, "--store", str(moved))
    assert result.exit_code == 0 and "version" in result.output, result.output
    assert (root / "mlflow.db").read_bytes() == old_db


def test_mlflow_artifacts_and_file_modes_stay_in_the_store(first_store):
    root, _, _ = first_store
    assert any((root / "mlartifacts").rglob("model.ubj"))
    modes = {stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*") if p.is_file() and p.suffix != ".db"
             and not p.name.startswith(".")}
    assert modes == {0o666 & ~_umask()}


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _copy_bundle(store: LocalStore, source: str, target: str) -> None:
    for key in store.list(bundle_prefix(source)):
        store.write_bytes(key.replace(source, target), store.read_bytes(key))


def test_promotion_is_compare_and_swap(store_copy):
    store, _, _ = store_copy
    old = read_champion(store).run_id
    candidates = [f"run-{i:016x}" for i in range(1, 9)]
    for run_id in candidates:
        _copy_bundle(store, old, run_id)
    # Eight runs gated against the same champion promote at once: exactly one wins.
    outcomes: list[str] = []
    barrier = threading.Barrier(len(candidates))

    def attempt(run_id: str) -> None:
        barrier.wait()
        try:
            promote(store, run_id, "gate passed", OFF, compared_with=old)
            outcomes.append(run_id)
        except ChampionMoved:
            outcomes.append("moved")

    threads = [threading.Thread(target=attempt, args=(r,)) for r in candidates]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o != "moved"]
    assert len(winners) == 1 and read_champion(store).run_id == winners[0]
    assert read_champion(store).previous_run_id == old
    # A run gated against a champion that has since moved stops with a message that says so.
    with pytest.raises(ChampionMoved, match="run again"):
        promote(store, candidates[0] if winners[0] != candidates[0] else candidates[1], "gate passed", OFF, compared_with=old)


def test_s3_pointer_writes_are_conditional():
    import boto3
    from moto import mock_aws

    from shared.store import S3Store

    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="housing-cas")
        store = S3Store("s3://housing-cas/env", client=boto3.client("s3", region_name="us-east-1"))
        store.replace(CHAMPION_KEY, b"one", None)
        with pytest.raises(ArtifactChanged):
            store.replace(CHAMPION_KEY, b"two", None)  # If-None-Match: someone created it first
        _, tag = store.read_tagged(CHAMPION_KEY)
        store.replace(CHAMPION_KEY, b"two", tag)
        with pytest.raises(ArtifactChanged):
            store.replace(CHAMPION_KEY, b"three", tag)  # If-Match with a stale ETag
        assert store.read_bytes(CHAMPION_KEY) == b"two"


def test_command_line_errors_are_messages_not_tracebacks(store_copy, tmp_path):
    store, data, table = store_copy
    champion = read_champion(store).run_id
    for args, needle in ((["promote", "../../x"], "is not a run id"),
                         (["batch", "--month", "June"], "YYYY-MM"),
                         (["batch", "--month", "2023-13"], "YYYY-MM")):
        result = _invoke(*args, "--store", store.url)
        assert result.exit_code in (1, 2) and needle in result.output, result.output
    assert "unsupported store URL 'ftp://x'" in _invoke("status", "--store", "ftp://x").output
    bad_setting = _invoke("status", "--store", store.url, HOUSING_TRIALS="abc")
    assert bad_setting.exit_code == 2 and "HOUSING_TRIALS: Input should be a valid integer" in bad_setting.output
    # Status lists whole run ids (to copy into `promote`) and the hints name the store and `uv run`.
    status = _invoke("status", "--store", store.url).output
    assert f"  {champion} " in status and "sealed and verified" in status

    again = _invoke("run", "--store", store.url, "--data", str(data), "--metros", str(table), "--trials", "1")
    assert f"uv run housing status --store {store.url}" in again.output
    # A corrupted pointer: every command says what is wrong and how to fix it, status still lists the run
    # ids, and the remedy it names (a manual promotion) replaces exactly the corrupt bytes.
    store.write_bytes(CHAMPION_KEY, b'{"run_id": ')
    result = _invoke("batch", "--store", store.url)
    assert result.exit_code == 1 and "is not a champion pointer" in result.output and "Traceback" not in result.output
    status = _invoke("status", "--store", store.url)
    assert status.exit_code == 0 and "is not a champion pointer" in status.output and f"  {champion} " in status.output
    repaired = _invoke("promote", champion, "--store", store.url)
    assert repaired.exit_code == 0, repaired.output
    assert read_champion(store).run_id == champion and "(champion)" in _invoke("status", "--store", store.url).output
    pointer = store.read_bytes(CHAMPION_KEY)
    # A run record that is not JSON is left out and named; the other runs are still listed.
    broken = "runs/20260101-000000-broken/run.json"
    store.write_bytes(broken, b"{not json")
    status = _invoke("status", "--store", store.url)
    assert status.exit_code == 0 and f"not a run record, left out: {broken}" in status.output
    assert f"  {champion} " in status.output
    # A damaged champion bundle is not reported as healthy.
    store.write_bytes(CHAMPION_KEY, pointer)
    model = Path(store.locate(bundle_prefix(champion) + "model.ubj"))
    model.write_bytes(model.read_bytes()[:-10])
    assert "BROKEN" in _invoke("status", "--store", store.url).output


def test_markup_in_paths_and_reports_prints_as_text(store_copy, tmp_path, rows):
    store, _, table = store_copy
    odd = tmp_path / "[" / "x]"
    odd.mkdir(parents=True)
    path = odd / "data.csv"
    rows.drop(columns=["median_dom"]).to_csv(path, index=False)
    result = _invoke("run", "--store", store.url, "--data", str(path), "--metros", str(table))
    assert result.exit_code == 1 and "[/x]" in result.output and "[missing_column]" in result.output


def test_partial_month_file_tops_the_month_up(store_copy, tmp_path):
    from shared.serving.predictions import read_predictions

    store, data, _ = store_copy
    before = read_predictions(store, 2023, 6)
    june = pd.read_csv(data)
    june = june.loc[june["date"].str.startswith("2023-06")].head(5)
    june.to_csv(tmp_path / "june.csv", index=False)
    assert _invoke("batch", "--store", store.url, "--input", str(tmp_path / "june.csv")).exit_code == 0
    after = read_predictions(store, 2023, 6)
    assert len(after) == len(before) and set(after["zipcode"]) == set(before["zipcode"])


def test_newest_raw_file_is_the_latest_written(store_copy, small_data):
    from shared.store import write_table

    store, _, _ = store_copy
    write_table(store, "raw/zzz-old.parquet", small_data[0])
    os.utime(store.locate("raw/zzz-old.parquet"), (1_000_000, 1_000_000))
    write_table(store, "raw/aaa-new.parquet", small_data[0])
    result = _invoke("run", "--store", store.url, "--trials", "1")
    assert "raw/aaa-new.parquet" in result.output


def test_module_entry_point_lists_every_command():
    result = subprocess.run([sys.executable, "-m", "housing.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "serve" in result.stdout and "dashboard" in result.stdout


def test_dashboard_listens_on_loopback_and_is_the_process(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: calls.append(argv))
    _invoke("dashboard", "--port", "8600")
    [argv] = calls
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1"
    assert argv[argv.index("--browser.serverAddress") + 1] == "127.0.0.1"  # no external-IP lookup


def test_two_runs_at_once_cannot_both_replace_the_champion(first_store, tmp_path, small_data):
    """Two `housing run` processes on different inputs, started together on one store: whichever promotes,
    the champion it replaced is the one its gate compared with; the other stops or is compared in turn."""
    root, _, table = first_store
    shutil.copytree(root, tmp_path / "store")
    store = LocalStore(tmp_path / "store")
    old = read_champion(store).run_id
    rows = small_data[0]
    inputs = []
    for i, scale in enumerate((1.001, 1.002)):
        path = tmp_path / f"input-{i}.csv"
        rows.assign(price=rows["price"] * scale).to_csv(path, index=False)
        inputs.append(path)
    env = {**os.environ, "HOUSING_TRIALS": "1", "HOUSING_GATE_VS_CHAMPION": "-1", "HOUSING_MLFLOW_REGISTRY": "false"}
    runs = [subprocess.Popen([sys.executable, "-m", "housing.cli", "run", "--store", store.url, "--data", str(p),
                              "--metros", str(table)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for p in inputs]
    outputs = [r.communicate(timeout=600)[0] for r in runs]
    assert 0 in [r.returncode for r in runs], outputs
    records = {r.run_id: r for r in list_runs(store)}
    new = [r for r in records.values() if r.run_id != old]
    assert len(new) == 2
    # Every promotion replaced exactly the champion its gate compared with ...
    champion = read_champion(store)
    compared = {r.run_id: json.loads(store.read_bytes(run_key(r.run_id, "evaluation.json")))["champion_run_id"] for r in new}
    assert compared[champion.run_id] == champion.previous_run_id
    if champion.previous_run_id != old:  # both promoted, one after the other: the first replaced the old one
        assert compared[champion.previous_run_id] == old
    # ... and a run that found the champion moved stopped at promote and says why.
    for record in new:
        if not record.promoted:
            assert record.status == "failed" and record.error.stage == "promote" and record.error.type == "ChampionMoved"


def test_tuning_says_when_its_time_budget_ends_the_search(store_copy, rows, tmp_path):
    store, _, table = store_copy
    newer = tmp_path / "newer.csv"
    rows.assign(price=rows["price"] * 1.003).to_csv(newer, index=False)
    result = _invoke("run", "--store", store.url, "--data", str(newer), "--metros", str(table), "--trials", "50",
                     HOUSING_TUNE_TIMEOUT="0.5")
    assert result.exit_code == 0, result.output
    assert "tuning stopped at its 0.5 s budget after" in result.output


def test_a_pointer_naming_no_run_id_is_corrupt_before_any_key_is_built(tmp_path):
    """A run id read from the pointer becomes part of store keys: "../../x" is refused as corrupt."""
    import json as json_

    from shared.serving.champion import CorruptChampion

    store = LocalStore(tmp_path / "store")
    good = {"run_id": "run-0123456789abcdef", "bundle_prefix": "runs/run-0123456789abcdef/model/",
            "promoted_at": "2026-12-01T00:00:00+00:00", "reason": "gate passed"}
    store.write_bytes(CHAMPION_KEY, json_.dumps(good).encode())
    assert read_champion(store).run_id == good["run_id"]
    for bad in ({**good, "run_id": "../../x"}, {**good, "bundle_prefix": "runs/../../etc/"}):
        store.write_bytes(CHAMPION_KEY, json_.dumps(bad).encode())
        with pytest.raises(CorruptChampion, match="is not a champion pointer"):
            read_champion(store)


def test_prune_deletes_failed_and_abandoned_attempts_only(trained_store, tmp_path):
    """`housing prune`: a failed attempt and one that never finished (a killed process) go, once old enough;
    the champion, a rejected run and a recent failure stay; without --yes nothing is deleted."""
    from shared.runs import Failure, RunRecord, write_run_record

    shutil.copytree(trained_store[0].root, tmp_path / "store")
    store = LocalStore(tmp_path / "store")
    champion = read_champion(store).run_id
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)

    def attempt(run_id: str, status: str | None, finished: dt.datetime) -> None:
        store.write_bytes(run_key(run_id, "attempt.json"), b"{}")
        store.write_bytes(run_key(run_id, "data/validated.parquet"), b"PAR1 data")
        if status:
            write_run_record(store, RunRecord(
                run_id=run_id, status=status, input_key="raw/x.csv", finished_at=finished.isoformat(timespec="seconds"),
                error=Failure(stage="evaluate", type="OSError", message="disk full") if status == "failed" else None))
        else:
            os.utime(store.locate(run_key(run_id, "attempt.json")), (finished.timestamp(),) * 2)

    attempt("run-00000000000000aa", "failed", old)
    attempt("run-00000000000000bb", None, old)  # killed: claimed, never recorded
    attempt("run-00000000000000cc", "rejected", old)
    attempt("run-00000000000000dd", "failed", dt.datetime.now(dt.timezone.utc))  # failed an hour ago
    attempt("run-00000000000000ee", None, dt.datetime.now(dt.timezone.utc))  # running now
    before = store.list("runs/")

    listed = runner.invoke(app, ["prune", "--store", str(store.root)])
    assert listed.exit_code == 0, listed.output
    assert "run-00000000000000aa" in listed.output and "run-00000000000000bb" in listed.output
    assert not any(f"run-00000000000000{x}" in listed.output for x in ("cc", "dd", "ee")) and champion not in listed.output
    assert "nothing deleted" in listed.output and store.list("runs/") == before

    deleted = runner.invoke(app, ["prune", "--store", str(store.root), "--yes"])
    assert deleted.exit_code == 0 and "deleted 5 file(s) of 2 attempt(s)" in deleted.output, deleted.output
    left, pruned = store.list("runs/"), ("runs/run-00000000000000aa/", "runs/run-00000000000000bb/")
    assert set(before) - set(left) == {k for k in before if k.startswith(pruned)}  # those two, all of them
    assert not (store.root / "runs" / "run-00000000000000aa").exists()  # no empty folders left
    assert read_champion(store).run_id == champion and runner.invoke(app, ["status", "--store", str(store.root)]).exit_code == 0
