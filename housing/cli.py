"""`housing`: run the zip-code home value pipeline locally, score months, predict, inspect and roll back."""

from __future__ import annotations

import errno
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from shared.data.metros import FULL_SIZE_ZIPS
from shared.data.tables import read_frame
from shared.errors import HousingError
from shared.layout import (
    CHAMPION_KEY,
    INCOMING_PREFIX,
    METROS_KEY,
    PREDICTIONS_PREFIX,
    PROMOTIONS_PREFIX,
    RAW_PREFIX,
    RUNS_PREFIX,
    Artifact,
    artifact_key,
    bundle_prefix,
    raw_key,
    reference_key,
    run_record_key,
    synthetic_key,
)
from shared.reports import CANDIDATE, LABELS, Headline, backtest_rows
from shared.runs import claim_attempt, finished_attempt, list_runs, read_run_record
from shared.settings import CONSUMERS, DEFAULT_STORE, DashboardSettings, get_settings
from shared.store import ArtifactExists, ArtifactStore, digest, newest_file, open_store


class _Commands(TyperGroup):
    """The command group: an error of the system's own (shared.errors) becomes its one-line message and its
    exit code, whichever command raised it."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except HousingError as err:
            raise _fail(str(err), err.exit_code) from None


app = typer.Typer(
    cls=_Commands,
    help="Predict monthly zip-code home values with XGBoost: generate data, run the whole pipeline "
    "(validate, split, preprocess, features, tune, evaluate, promote, batch), score new months, predict, "
    "and manage the champion model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: flags without a "<bool>" value, nothing cut to a box's width
)
# markup=False: paths, file names and validation reports print as they are ("[/x]" is text, not markup);
# colour comes from Text objects.
# Piped or redirected output gets a wide page instead of rich's 80 columns, so tables are never cut.
PIPED_WIDTH = 200
console = Console(stderr=True, soft_wrap=True, markup=False, width=None if sys.stderr.isatty() else PIPED_WIDTH)
out = Console(soft_wrap=True, markup=False, width=None if sys.stdout.isatty() else PIPED_WIDTH)

StoreOption = Annotated[
    Optional[str],
    typer.Option("--store", help="Local folder or s3://bucket/prefix. Default: $HOUSING_STORE, else ./housing-store."),
]
SeedOption = Annotated[Optional[int], typer.Option("--seed", help="Random seed (data generation and tuning).")]


def _store(url: str | None) -> ArtifactStore:
    try:
        return open_store(url or get_settings().store)
    except ValueError as err:  # an unsupported URL, a key outside the root
        raise _fail(str(err)) from None


@app.callback()
def _settings_are_valid() -> None:
    """The commands run every part locally (the pipeline, the API, the dashboard), so each part's HOUSING_*
    settings are read: a bad value is one message naming the variable, not a traceback from deep inside a stage."""
    from pydantic import ValidationError

    try:
        for kind in CONSUMERS:
            get_settings(kind)
    except ValidationError as err:
        problems = "; ".join(f"HOUSING_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in err.errors())
        raise _fail(f"invalid settings: {problems}", code=2) from None


def _setup_logging() -> None:
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s  %(message)s", datefmt="%H:%M:%S", force=True)
    for noisy in ("mlflow", "alembic", "botocore", "urllib3", "optuna"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# What a file system's refusal means, for the one-line error that replaces a traceback (`main`).
_IO_PROBLEMS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is used up",
                errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
                errno.EPERM: "operation not permitted", errno.ENAMETOOLONG: "the file name is too long",
                errno.EFBIG: "the file grew past what the system allows (a full disk or a file size limit)"}


def io_problem(err: OSError) -> str:
    """An OSError as a user reads it: what the system refused and on which file."""
    what = _IO_PROBLEMS.get(err.errno or 0, err.strerror or str(err))
    return f"{what}: {err.filename}" if err.filename else what


def main() -> None:
    """The `housing` command. A file system that refuses a write (a full disk, a read-only store or output
    folder, a name too long, no permission) is one line naming the file, not a traceback; every store and
    output write is atomic, so nothing half-written is left behind."""
    try:
        app()
    except OSError as err:
        console.print(Text.assemble(("error: ", "bold red"), io_problem(err), " (nothing half-written was left)"))
        sys.exit(1)


def _fail(message: str, code: int = 1) -> typer.Exit:
    console.print(Text.assemble(("error: ", "bold red"), message))
    return typer.Exit(code)


def _command(store: ArtifactStore, *args: str) -> str:
    """A command line to type next, as the README runs it, naming the store unless it is the default one."""
    named = [] if store.url == open_store(DEFAULT_STORE).url else ["--store", store.url]
    return " ".join(["uv run housing", *args, *named])


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write housets.<fmt> and usmetros.<fmt> into.")],
    zips: Annotated[int, typer.Option("--zips", min=1, help="Zip codes (full size: 6,226 zips, 884,092 rows).")] = FULL_SIZE_ZIPS,
    seed: Annotated[int, typer.Option("--seed")] = 42,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
) -> None:
    """Write a deterministic synthetic data set with the exact HouseTS schema, and its metros table."""
    from shared.data.synthetic import generate as make
    from shared.data.tables import check_output, write_frame

    if fmt not in ("csv", "parquet"):
        raise _fail(f"--format must be csv or parquet, not {fmt!r}", 2)
    try:
        check_output(out_dir / f"housets.{fmt}")
    except ValueError as err:
        raise _fail(str(err), 2) from None
    started = time.monotonic()
    rows, metros = make(zips=zips, seed=seed)
    write_frame(rows, out_dir / f"housets.{fmt}")
    write_frame(metros, out_dir / f"usmetros.{fmt}")
    console.print(f"wrote {len(rows):,} rows x {rows.shape[1]} columns ({zips:,} zip codes) to "
                  f"{out_dir / f'housets.{fmt}'} and {len(metros)} metros to {out_dir / f'usmetros.{fmt}'} "
                  f"in {time.monotonic() - started:.1f} s")


def _upload(store: ArtifactStore, key: str, data: bytes) -> str:
    """Put a user's file at `key`, never over a different object: if `key` holds other bytes (a training
    input, say), the upload gets a name of its own (`<name>-<digest>.<ext>`). Returns the key used."""
    stem, dot, ext = key.rpartition(".") if "." in key.rsplit("/", 1)[-1] else (key, "", "")
    for candidate in (key, f"{stem}-{digest(data)[:12]}{dot}{ext}"):
        if store.exists(candidate) and store.read_bytes(candidate) == data:
            return candidate
        try:
            store.write_bytes(candidate, data, create_only=True)
            return candidate
        except ArtifactExists:
            continue
    raise _fail(f"{store.locate(key)} and its digest-named copy both hold other files; rename {key.rsplit('/', 1)[-1]}")


def _stage_inputs(store: ArtifactStore, data: Path | None, metros: Path | None, zips: int | None,
                  seed: int) -> tuple[str, str | None]:
    """Put the training data and metros table in the store (uploading or generating them); return the data's
    key and the metros table's when this command chose it (else `prepare_run`'s rule picks it)."""
    metros_key = _upload(store, reference_key(metros.name), metros.read_bytes()) if metros is not None else None
    if data is not None:
        input_key = _upload(store, raw_key(data.name), data.read_bytes())
        console.print(f"uploaded {data} -> {store.locate(input_key)}")
    else:
        existing = newest_file(store, RAW_PREFIX)
        if existing and zips is None:
            input_key = existing
            console.print(f"using {store.locate(input_key)} (the newest file under {RAW_PREFIX})")
        else:
            from shared.data.synthetic import generate as make
            from shared.store import write_table

            zips = zips or FULL_SIZE_ZIPS
            input_key = synthetic_key(zips, seed)
            if not store.exists(input_key):
                started = time.monotonic()
                rows, generated_metros = make(zips=zips, seed=seed)
                write_table(store, input_key, rows)
                if metros is None:
                    write_table(store, METROS_KEY, generated_metros)
                console.print(f"generated {len(rows):,} synthetic rows ({zips:,} zip codes) in "
                              f"{time.monotonic() - started:.1f} s -> {store.locate(input_key)}")
    return input_key, metros_key


@app.command()
def run(
    store_url: StoreOption = None,
    data: Annotated[Optional[Path], typer.Option("--data", exists=True, dir_okay=False,
                                                 help="HouseTS CSV or Parquet to train on.")] = None,
    metros: Annotated[Optional[Path], typer.Option("--metros", exists=True, dir_okay=False,
                                                   help="Metros table (metro_full, lat, lng).")] = None,
    zips: Annotated[Optional[int], typer.Option("--zips", min=1, help="Generate a synthetic set of this many zip codes.")] = None,
    trials: Annotated[Optional[int], typer.Option("--trials", min=1,
                                                  help="Optuna trials (default $HOUSING_TRIALS or 30).")] = None,
    seed: SeedOption = None,
    force: Annotated[bool, typer.Option("--force", help="Run again even if this input and config already ran.")] = False,
) -> None:
    """Run the whole pipeline graph locally. With no data in the store it generates the full synthetic set."""
    from lambdas.stage_event import NoMetrosTable, prepare_run
    from stepfunctions.graph import TRAINING_PIPELINE
    from stepfunctions.local_runner import StageFailed, run_graph

    _setup_logging()
    settings = get_settings()
    store = _store(store_url)
    config = settings.run_config(trials=trials, seed=seed)
    input_key, metros_key = _stage_inputs(store, data, metros, zips, config.seed)
    try:
        event = prepare_run(store, input_key, config, metros_key, trigger="housing run")
    except NoMetrosTable as err:
        raise _fail(f"{err}; or pass --metros FILE", 2) from None
    identity, incoming = event["run_id"], event["incoming_keys"]
    done = finished_attempt(store, identity)
    if done and not force:
        console.print(f"run {done.run_id} already ran on this input and config ({done.status} at {done.finished_at}); "
                      "nothing to do (use --force to train again)")
        _print_summary(store, done.run_id)
        return
    run_id = claim_attempt(store, identity)  # a new prefix for every attempt: no earlier bundle is ever touched
    event = {**event, "run_id": run_id}
    also = f" and the labelled months of {len(incoming)} file(s) under {INCOMING_PREFIX}" if incoming else ""
    console.print(f"run {run_id}: {input_key}{also} -> store {store.url}")
    started = time.monotonic()

    def on_stage(name: str, seconds: float) -> None:
        console.print(Text.assemble(("✓ ", "green"), f"{name:<11} {seconds:6.1f} s"))

    try:
        run_graph(TRAINING_PIPELINE, event, on_stage=on_stage)
    except StageFailed as err:
        why = io_problem(err.error) if isinstance(err.error, OSError) else str(err.error)
        console.print(Text.assemble((f"run {run_id} failed in stage {err.stage}: ", "bold red"), why))
        if err.unrecorded is not None:
            lost = io_problem(err.unrecorded) if isinstance(err.unrecorded, OSError) else str(err.unrecorded)
            console.print(f"the failure could not be recorded in {store.locate(run_record_key(run_id))} either ({lost}); "
                          "the champion is untouched (promotion is the last write before batch scoring)")
            raise typer.Exit(1) from None
        record = read_run_record(store, run_id)
        if record and record.promoted:
            console.print(f"{run_id} had been promoted before that: it is the champion now. "
                          f"The run record is at {store.locate(run_record_key(run_id))}")
        else:
            console.print(f"the champion is untouched; the run record is at {store.locate(run_record_key(run_id))}")
        raise typer.Exit(1) from None
    console.print(f"finished in {time.monotonic() - started:.0f} s")
    _print_summary(store, run_id)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _print_summary(store: ArtifactStore, run_id: str) -> None:
    record = read_run_record(store, run_id)
    if record is None:
        return
    if record.metrics:
        for table in _metrics_tables(record.metrics, f"run {run_id}: {record.status}"):
            out.print(table)
    if record.tuning:
        out.print("tuning: " + _tuning_line(record.tuning))
    if record.gate:
        out.print(f"gate: {'PASSED' if record.gate.passed else 'FAILED'} - " + "; ".join(record.gate.reasons))
    settings = get_settings()
    out.print(f"bundle:      {store.locate(bundle_prefix(run_id))}")
    out.print(f"predictions: {store.locate(PREDICTIONS_PREFIX)}")
    out.print(f"champion:    {store.locate(CHAMPION_KEY)}")
    tracking = settings.tracking_uri(store.url)
    out.print(f"MLflow:      {tracking}  (view: uv run --with mlflow mlflow ui --backend-store-uri {tracking})")
    out.print("next:        " + " | ".join(_command(store, *c) for c in (
        ("serve",), ("dashboard",), ("status",), ("batch", "--month", "2023-12"),
        ("predict", "--input", "FILE", "--output", "FILE"))))


def _metrics_tables(metrics: Headline, title: str) -> list[Table]:
    """MAE (MAPE) per model and split, then the backtest per mode and horizon bucket: the model against the
    best naive forecaster there, its skill, and its interval's coverage and width."""
    splits = list(dict.fromkeys(split for _, split, _ in metrics.rows()))
    headline = Table(title=f"{title} (MAE, MAPE; horizon mode from the split's first month, nowcast month by month)")
    headline.add_column("model")
    for split in splits:
        headline.add_column(split, justify="right")
    for who in dict.fromkeys(who for who, _, _ in metrics.rows()):
        figures = getattr(metrics, who) or {}
        headline.add_row(LABELS[who], *(f"{_fmt(figures[s].mae)} ({figures[s].mape:.2%})" if s in figures else "-"
                                         for s in splits))
    tables = [headline]
    if metrics.backtest:
        backtest = Table(title="rolling-origin backtest by horizon h (months ahead): skill = model MAE / best naive MAE; "
                               "coverage and median width of the interval")
        for col in ("split", "mode", "h", "model", "best naive", "its MAE", "skill", "cover", "width"):
            backtest.add_column(col, justify="left" if col in ("split", "mode", "h", "best naive") else "right")
        for split, mode, bucket, fig in backtest_rows(metrics):
            backtest.add_row(split, mode, bucket, _fmt(fig.mae[CANDIDATE]), fig.best_naive, _fmt(fig.mae[fig.best_naive]),
                             f"{fig.skill:.3f}", f"{fig.coverage:.2f}", f"{fig.median_width:.1%}")
        tables.append(backtest)
    return tables


def _parse_month(value: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{4})-(\d{2})", value.strip())
    if not match or not 1 <= int(match[2]) <= 12:
        raise _fail(f"--month must look like YYYY-MM (e.g. 2023-06), not {value!r}", 2)
    return int(match[1]), int(match[2])


@app.command()
def batch(
    store_url: StoreOption = None,
    month: Annotated[Optional[str], typer.Option("--month", help="Only this month, YYYY-MM.")] = None,
    input_file: Annotated[Optional[Path], typer.Option(
        "--input", exists=True, dir_okay=False, help="A new month's HouseTS-shaped file (CSV or Parquet).")] = None,
) -> None:
    """Score months with the champion: every holdout month by default, one --month, or an --input file."""
    from shared.serving.batch import batch_score
    from shared.serving.incoming import score_incoming
    from shared.store import read_table

    store = _store(store_url)
    pointer = _champion(store)
    if pointer is None:
        raise _fail(f"no champion yet: train one first with `{_command(store, 'run')}`")
    months = {_parse_month(month)} if month else None
    started = time.monotonic()
    try:
        if input_file:
            # Kept under incoming/ and scored as an upload on AWS is (a rejected file is quarantined): its
            # labelled months join the next run's training data.
            key = _upload(store, INCOMING_PREFIX + input_file.name, input_file.read_bytes())
            scored = score_incoming(store, key, months=months)
            rows, keys = scored["rows"], scored["partitions"]
        else:
            frame = read_table(store, artifact_key(pointer.run_id, Artifact.SPLIT_HOLDOUT))
            predictions, keys = batch_score(store, frame, f"holdout of {pointer.run_id}", months)
            rows = len(predictions)
    except ValueError as err:  # a --month the file does not have
        raise _fail(str(err)) from None
    console.print(f"scored {rows:,} rows ({len(keys)} month(s)) with {pointer.run_id} in "
                  f"{time.monotonic() - started:.1f} s -> {store.locate(PREDICTIONS_PREFIX)}")


@app.command()
def predict(
    input_file: Annotated[Path, typer.Option("--input", exists=True, dir_okay=False,
                                             help="Raw HouseTS-shaped rows (CSV or Parquet).")],
    output: Annotated[Path, typer.Option("--output", help="Where to write predictions (.csv or .parquet).")],
    store_url: StoreOption = None,
) -> None:
    """Predict a price for each input row, in order, with the champion bundle and the training transforms."""
    from shared.data.tables import check_output, write_frame
    from shared.model.bundle import load_bundle
    from shared.serving.caveats import caveats
    from shared.serving.monitoring import live_misses
    from shared.serving.system_history import history_for

    try:
        check_output(output)  # before any work: a wrong --output is said at once
    except ValueError as err:
        raise _fail(f"--output {err}", 2) from None
    store = _store(store_url)
    pointer = _champion(store)
    if pointer is None:
        raise _fail(f"no champion yet: train one first with `{_command(store, 'run')}`")
    bundle = load_bundle(store, pointer.run_id)
    raw = read_frame(input_file.read_bytes(), str(input_file))
    forecast, report, cleaned = bundle.predict_raw(raw, source=str(input_file), seen=history_for(store, bundle, raw),
                                                   live=live_misses(store))
    notes = caveats(raw, cleaned, forecast.price, report, bundle.supported_range())
    per_row = pd.Series("", index=range(len(cleaned)), dtype="object")
    for i, message in notes:
        per_row.iat[i] = f"{per_row.iat[i]}; {message}" if per_row.iat[i] else message
    result = pd.DataFrame({"zipcode": cleaned["zipcode"].round().astype("int64"),
                           "date": cleaned["date"].dt.strftime("%Y-%m-%d"),
                           "predicted_price": forecast.price.round(0), "low": forecast.low.round(0),
                           "high": forecast.high.round(0), "model_run_id": pointer.run_id, "warnings": per_row})
    write_frame(result, output)
    if notes:
        first = notes[0]
        console.print(f"note: {len(notes)} warning(s) on {len({i for i, _ in notes})} row(s), in the `warnings` column "
                      f"(row {first[0] + 1}: {first[1]})")
    if report.metros_without_coordinates:
        console.print(f"note: no coordinates for {', '.join(report.metros_without_coordinates)}")
    console.print(f"wrote {len(result):,} predictions to {output} (model {pointer.run_id})")


def _tuning_line(tuning: dict) -> str:
    done = f"{tuning.get('trials_run')} of {tuning.get('trials_asked', '?')} trials ({tuning.get('trials_pruned', 0)} pruned)"
    if not tuning.get("stopped_by_timeout"):
        return done + ": every trial asked for ran (reproducible from the config)"
    budget = f"{tuning['budget_s']:g} s" if isinstance(tuning.get("budget_s"), (int, float)) else "time"
    return (done + f", stopped by the {budget} budget: how many trials fit depends on the machine's speed "
            "(raise HOUSING_TUNE_TIMEOUT or lower --trials to make the run reproducible)")


def _champion(store: ArtifactStore):
    """The champion pointer, None before the first promotion; a corrupt pointer is a clear error."""
    from shared.serving.champion import CorruptChampion, read_champion

    try:
        return read_champion(store)
    except CorruptChampion as err:
        raise _fail(str(err)) from None


@app.command()
def status(store_url: StoreOption = None,
           last: Annotated[int, typer.Option("--last", help="How many runs to list.")] = 10) -> None:
    """Show the champion and its metrics, and recent runs with their gate decisions."""
    from shared.serving.champion import CorruptChampion, read_champion

    store = _store(store_url)
    try:
        pointer = read_champion(store)
    except CorruptChampion as err:  # still list the runs: their ids are what the remedy takes
        pointer = None
        out.print(Text(f"champion: {err}", style="bold red"))
    else:
        if pointer is None:
            out.print(f"champion: none yet (train one with `{_command(store, 'run')}`)")
    if pointer is not None:
        out.print(f"champion: {pointer.run_id} (promoted {pointer.promoted_at}, {pointer.reason}; "
                  f"previous {pointer.previous_run_id or '-'})")
        from shared.model.seal import BundleIntegrityError, verify_bundle

        try:
            verify_bundle(store, pointer.run_id)
            out.print("  bundle:    sealed and verified against its manifest")
        except BundleIntegrityError as err:
            out.print(Text(f"  bundle:    BROKEN, serving and batch will refuse it: {err}", style="bold red"))
        for table in _metrics_tables(pointer.metrics, f"champion {pointer.run_id}"):
            out.print(table)
    _print_promotions(store)
    _print_live_accuracy(store)
    _print_drift(store)
    # One line per run, then its gate or failure indented: run ids are never cut to fit a table (they are
    # what `housing promote` takes) and long reasons wrap instead of being lost.
    unreadable: list[str] = []
    runs = list_runs(store, unreadable)[:last]
    out.print("recent runs:" if runs else "recent runs: none yet")
    for key in unreadable:
        out.print(Text(f"  not a run record, left out: {key}", style="yellow"))
    for record in runs:
        mae = record.metrics.candidate["eval"].mae if record.metrics and "eval" in record.metrics.candidate else None
        # "promoted" says the gate passed once; only one run is the champion now.
        state = f"{record.status} (champion)" if pointer is not None and record.run_id == pointer.run_id else (
            "promoted (since replaced)" if record.status == "promoted" else record.status)
        out.print(f"  {record.run_id:<22} {state:<17} {record.finished_at.replace('T', ' ')[:16]}  eval MAE {_fmt(mae)}")
        learned = f" + {len(record.incoming_keys)} incoming/ file(s)" if record.incoming_keys else ""
        rows = f" ({record.rows:,} rows)" if record.rows is not None else ""
        out.print(f"      data: {record.input_key}{learned}{rows}" + (f"; started by {record.trigger}" if record.trigger else ""))
        if record.tuning:
            out.print("      tuning: " + _tuning_line(record.tuning))
        if record.error:
            out.print(f"      {record.error.stage}: {record.error.type}: {record.error.message}")
        elif record.gate:
            out.print("      gate: " + "; ".join(record.gate.reasons))


LIVE_MONTHS = 12  # months of live accuracy `housing status` shows
PROMOTIONS_SHOWN = 5


def _print_promotions(store: ArtifactStore) -> None:
    """The newest promotions (models/promotions/, append-only): when, which run, why, by whom, replacing what."""
    from shared.serving.champion import promotion_history

    history = promotion_history(store, last=PROMOTIONS_SHOWN)
    if not history:
        return
    out.print("promotions (newest first):")
    for p in history:
        out.print(f"  {p.promoted_at.replace('T', ' ')[:19]}  {p.run_id:<22} {p.reason}; by {p.promoted_by or 'unknown'}; "
                  f"replaced {p.previous_run_id or 'none'}")


def _print_live_accuracy(store: ArtifactStore) -> None:
    """The last months' live accuracy (all regions): how the model serving when each month's prices arrived
    did on them (shared.serving.monitoring)."""
    from shared.schema import ALL_REGIONS
    from shared.serving.monitoring import live_accuracy

    live = live_accuracy(store, metro=ALL_REGIONS)
    if live.empty:
        out.print("live accuracy: none yet (recorded when a month is sent in with its prices: "
                  f"`{_command(store, 'batch')} --input YYYY-MM.csv`)")
        return
    first = live.drop_duplicates(subset=["year", "month"], keep="first").tail(LIVE_MONTHS)
    table = Table(title="live accuracy: the served model on each month's prices as they arrived (all regions)",
                  title_justify="left")
    for column in ("month", "model", "rows", "MAE", "% error", "skill vs best naive", "interval coverage"):
        table.add_column(column, justify="left" if column in ("month", "model") else "right")
    for r in first.itertuples(index=False):
        skill = f"{r.skill:.2f} ({r.best_naive})" if pd.notna(getattr(r, "skill", None)) else "-"
        coverage = f"{r.coverage:.0%}" if pd.notna(r.coverage) else "-"
        table.add_row(f"{r.year:04d}-{r.month:02d}", r.model_run_id, f"{r.with_actual:,}", _fmt(r.mae),
                      f"{r.mean_pct_error:.1f}%", skill, coverage)
    out.print(table)


def _print_drift(store: ArtifactStore) -> None:
    """The newest scored month's drift against the champion's training data, in one line (shared.model.drift)."""
    from shared.model.drift import read_drift_report

    report = read_drift_report(store)
    if report is None:
        return
    when = report.recorded_at.replace("T", " ")[:16]
    alerts = ", ".join(report.alerts) or "none"
    line = (f"drift of the newest scored month ({report.source}, {report.rows:,} rows, {when}): PSI alerts: {alerts}; "
            f"warnings: {', '.join(report.warnings) or 'none'}; zip codes never seen in training: {len(report.unseen_zipcodes)}")
    out.print(Text(line, style="bold red" if report.alerts else ""))


@app.command()
def promote(
    run_id: Annotated[str, typer.Argument(help="The run whose bundle becomes the champion (e.g. to roll back).")],
    store_url: StoreOption = None,
) -> None:
    """Point the champion at another run's bundle after verifying its manifest."""
    import getpass
    import socket

    from shared.serving.champion import promote as move

    store = _store(store_url)
    try:
        result = move(store, run_id, "manual: housing promote", get_settings(),
                      by=f"housing promote by {getpass.getuser()}@{socket.gethostname()}")
    except ValueError as err:  # not a run id
        raise _fail(str(err)) from None
    if not result.changed:
        console.print(f"{run_id} is the champion already: nothing changed")
        return
    console.print(f"champion is now {run_id} (was {result.pointer.previous_run_id or 'none'}); "
                  f"MLflow registry: {result.registry}")


@app.command()
def prune(
    older_than: Annotated[float, typer.Option("--older-than", min=0, help="Only attempts that ended (or, never "
                                              "finished, were started) at least this many days ago.")] = 7,
    yes: Annotated[bool, typer.Option("--yes", help="Delete them; without it the attempts are only listed.")] = False,
    store_url: StoreOption = None,
) -> None:
    """Delete the files of failed training attempts and of attempts that never finished (a killed run), never
    the champion's or any run a promotion named; rejected runs stay (their figures explain the gate)."""
    from shared.runs import prunable_attempts
    from shared.serving.champion import CorruptChampion, promotion_history, read_champion

    store = _store(store_url)
    try:
        named = promotion_history(store, last=len(store.list(PROMOTIONS_PREFIX)) + 1)
        current = read_champion(store)
    except CorruptChampion as err:  # what serves is unknown: nothing is deleted blind
        raise _fail(f"{err}; prune deletes nothing until the pointer is repaired") from None
    keep = {p.run_id for p in named} | {p.previous_run_id for p in named if p.previous_run_id}
    keep |= {current.run_id} if current else set()
    attempts = prunable_attempts(store, keep, older_than)
    if not attempts:
        console.print(f"nothing to prune in {store.url}: no failed or unfinished attempt {older_than:g}+ day(s) old")
        return
    for attempt in attempts:
        out.print(f"{attempt.run_id}  {len(attempt.keys):>4} file(s)  {attempt.why}")
    files = sum(len(a.keys) for a in attempts)
    if not yes:
        console.print(f"{len(attempts)} attempt(s), {files} file(s) under {store.locate(RUNS_PREFIX)}: nothing deleted "
                      f"(`{_command(store, 'prune', '--older-than', f'{older_than:g}', '--yes')}` deletes them)")
        return
    for attempt in attempts:
        for key in attempt.keys:
            store.delete(key)
    console.print(f"deleted {files} file(s) of {len(attempts)} attempt(s); their MLflow runs, if any, are kept")


@app.command()
def serve(
    store_url: StoreOption = None,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
) -> None:
    """Run the prediction API (FastAPI) with uvicorn; docs at /docs."""
    import uvicorn

    from lambdas.api.app import create_app

    _setup_logging()
    api = create_app(store_url)
    champion = api.state.served.bundle
    console.print(f"serving {'champion ' + champion.run_id if champion else 'no champion yet (503 on /predict)'} "
                  f"on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    uvicorn.run(api, host=host, port=port, log_level="warning")


@app.command()
def dashboard(
    store_url: StoreOption = None,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8501,
    api_url: Annotated[Optional[str], typer.Option(
        "--api-url", help="The API the prediction form calls (default $API_URL, else http://127.0.0.1:8000).")] = None,
) -> None:
    """Run the Streamlit dashboard over the store's batch predictions."""
    import sys

    import dashboard

    env = {**os.environ, "HOUSING_STORE": store_url or get_settings().store,
           "API_URL": api_url or get_settings(DashboardSettings).api_url}
    script = str(Path(dashboard.__file__).with_name("app.py"))
    console.print(f"dashboard on http://{host}:{port}  (store {env['HOUSING_STORE']}, API {env['API_URL']})")
    sys.stdout.flush(), sys.stderr.flush()
    # exec, not a child process: Streamlit becomes this process, so a SIGTERM or Ctrl-C reaches it directly
    # and nothing is left running. A set server address also keeps Streamlit from looking up this
    # machine's external IP (a request to an outside service) to print a URL.
    os.execve(sys.executable, [
        sys.executable, "-m", "streamlit", "run", script, "--server.address", host, "--server.port", str(port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false", "--browser.serverAddress", host,
    ], env)


if __name__ == "__main__":
    app()
