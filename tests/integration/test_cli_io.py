"""What the file system refuses, said in one line naming the file, with nothing half-written left: a full
disk (here a real kernel refusal: a file size limit the write runs into), an output the CLI cannot write
as a table, a name near the file system's limit."""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap

import pandas as pd
from typer.testing import CliRunner

from housing.cli import app, io_problem
from shared.store import LocalStore

runner = CliRunner()


def test_a_write_the_disk_refuses_is_one_line_and_leaves_no_half_file(tmp_path):
    """`housing generate` with every file capped at 200 kB (RLIMIT_FSIZE, SIGXFSZ ignored so the write
    fails with EFBIG as on a full disk it fails with ENOSPC)."""
    out = tmp_path / "data"
    script = textwrap.dedent(f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
        from housing.cli import main
        sys.argv = ["housing", "generate", "--zips", "40", "--out", {str(out)!r}]
        main()
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert "housets.csv" in line and "nothing half-written" in line, done.stderr
    assert list(out.iterdir()) == []  # neither the file nor its temporary


def test_the_system_s_refusals_read_plainly():
    assert io_problem(OSError(errno.EROFS, "Read-only file system", "/store/x")) == "the file system is read-only: /store/x"
    assert io_problem(OSError(errno.ENOSPC, "No space left on device", "/o.csv")) == "no space left on the device: /o.csv"
    assert io_problem(OSError(errno.EACCES, "Permission denied", "/o.csv")).startswith("permission denied")
    assert io_problem(OSError(errno.ENAMETOOLONG, "File name too long")) == "the file name is too long"


def test_a_wrong_output_is_refused_before_any_work(tmp_path):
    given = tmp_path / "in.csv"
    given.write_text("zipcode,date\n1001,2024-01-31\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "a-file").write_text("x")
    for output, needle in (("out.txt", "must end in .csv or .parquet"), ("folder", "is a folder"),
                           ("a-file/out.csv", "is a file, not a folder")):
        result = runner.invoke(app, ["predict", "--input", str(given), "--output", str(tmp_path / output),
                                     "--store", str(tmp_path / "no-store")])
        assert result.exit_code == 2 and needle in result.output, (output, result.output)
    assert not (tmp_path / "no-store").exists()  # refused before the store was even opened


def test_names_near_the_file_system_s_limit_are_written(tmp_path):
    """A temporary file's name keeps only part of the final one, so a 250-character name still fits."""
    store = LocalStore(tmp_path)
    name = "m" * 246 + ".csv"
    store.write_bytes("incoming/" + name, b"data")
    assert store.read_bytes("incoming/" + name) == b"data"
    from shared.data.tables import write_frame

    write_frame(pd.DataFrame({"a": [1]}), tmp_path / ("p" * 240 + ".parquet"))
    assert pd.read_parquet(tmp_path / ("p" * 240 + ".parquet"))["a"].tolist() == [1]


def test_an_error_of_the_system_s_own_is_its_message_and_exit_code(tmp_path):
    """Any command: a HousingError (shared.errors) is one line, no traceback, with the code it names."""
    result = runner.invoke(app, ["promote", "run-0123456789abcdef", "--store", str(tmp_path / "store")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert result.output.startswith("error: run run-0123456789abcdef has no sealed model bundle"), result.output


def test_a_read_only_store_is_one_line_naming_the_file(tmp_path):
    """The store on a read-only mount (a bind mount remounted read-only, in a mount namespace of its own so
    nothing outlives the test): `housing run` says the file system is read-only and where, nothing else."""
    import shutil

    if shutil.which("unshare") is None:
        raise AssertionError("unshare (util-linux) is needed to mount a read-only store")
    store, mount = tmp_path / "store", tmp_path / "read-only"
    store.mkdir(), mount.mkdir()
    script = (f"mount --bind {store} {mount} && mount -o remount,ro,bind {mount} && "
              f"{sys.executable} -c 'import sys; from housing.cli import main; "
              f"sys.argv = [\"housing\", \"run\", \"--store\", \"{mount}\", \"--zips\", \"5\"]; main()'")
    done = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    if "unshare failed" in done.stderr or "mount:" in done.stderr:
        raise AssertionError(f"could not make a read-only mount here (needs root): {done.stderr[-300:]}")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert line.startswith("error: the file system is read-only: ") and str(mount) in line, done.stderr
    assert list(store.iterdir()) == []


def test_a_broken_bundle_is_one_line_in_predict_and_batch(trained_store, tmp_path):
    """The champion's sealed bundle altered on disk: `predict` and `batch` name the file that fails its
    manifest check, write no output and score nothing."""
    import shutil

    from shared.serving.champion import read_champion
    from shared.serving.predictions import read_predictions

    shutil.copytree(trained_store[0].root, tmp_path / "store")
    store = LocalStore(tmp_path / "store")
    model = store.root / "runs" / read_champion(store).run_id / "model" / "model.ubj"
    model.write_bytes(model.read_bytes()[:-10] + b"0123456789")
    given = tmp_path / "in.csv"
    given.write_text("zipcode,date,city_full\n30301,2024-01-31,Atlanta-Sandy Springs-Alpharetta\n")
    before = read_predictions(store)
    for args in (["predict", "--input", str(given), "--output", str(tmp_path / "out.csv")], ["batch", "--month", "2023-12"]):
        result = runner.invoke(app, [*args, "--store", str(store.root)])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (args, result.exception)
        assert "model.ubj does not match its SHA-256 in the manifest" in result.output, result.output
    assert not (tmp_path / "out.csv").exists()
    pd.testing.assert_frame_equal(read_predictions(store), before)
