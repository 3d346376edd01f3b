"""Measure the issue's targets on full-size synthetic data (884,092 rows) and print a Markdown table.

    uv run python benchmarks/run.py [--zips 6226] [--trials 30]

Runs the real pipeline graph in-process on a temporary local store, timing each stage as the local runner
reports it, then times batch scoring of the whole holdout again on its own. Peak memory is this process's
maximum resident set size.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

from lambdas.stage_event import new_run_event
from shared.data.metros import FULL_SIZE_ZIPS
from shared.data.synthetic import generate
from shared.layout import METROS_KEY
from shared.reports import LABELS
from shared.serving.batch import batch_score
from shared.serving.champion import read_champion
from shared.settings import RunConfig, Settings
from shared.store import LocalStore, read_table, write_table
from stepfunctions.graph import TRAINING_PIPELINE
from stepfunctions.local_runner import run_graph

BEFORE_TRAINING = ("validate", "split", "preprocess", "features")


def run_pipeline(store: LocalStore, rows, metros, trials: int | None) -> tuple[RunConfig, dict[str, float], float]:
    """The real pipeline graph, in-process, on `rows`: (its configuration, seconds per stage, seconds in all)."""
    write_table(store, "raw/housets.parquet", rows)
    write_table(store, METROS_KEY, metros)
    config = Settings(store=store.url).run_config(trials=trials)
    event = new_run_event(store.url, "raw/housets.parquet", METROS_KEY, config, "benchmark")
    timings: dict[str, float] = {}
    started = time.monotonic()
    run_graph(TRAINING_PIPELINE, event, on_stage=lambda name, s: timings.__setitem__(name, s))
    return config, timings, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zips", type=int, default=FULL_SIZE_ZIPS)
    parser.add_argument("--trials", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        store = LocalStore(root)
        started = time.monotonic()
        rows, metros = generate(zips=args.zips)
        generated = time.monotonic() - started
        config, timings, total = run_pipeline(store, rows, metros, args.trials)
        pointer = read_champion(store)
        holdout = read_table(store, f"runs/{pointer.run_id}/splits/holdout.parquet")
        started = time.monotonic()
        predictions, _ = batch_score(store, holdout, "holdout")
        batch_s = time.monotonic() - started
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        m = pointer.metrics
        ratio = m.candidate["holdout"].mae / m.baseline["holdout"].mae

    print(f"| measure ({len(rows):,} rows, {args.zips:,} zips, {config.trials} trials) | target | measured |")
    print("| --- | --- | --- |")
    print(f"| generate the synthetic data set | < 60 s | {generated:.1f} s |")
    print(f"| {' + '.join(BEFORE_TRAINING)} | <= 10 s | {sum(timings[s] for s in BEFORE_TRAINING):.1f} s |")
    print(f"| batch scoring of the holdout ({len(predictions):,} rows) | <= 5 s | {batch_s:.1f} s |")
    print(f"| whole pipeline graph (train+tune {timings['train']:.0f} s) | <= 600 s | {total:.0f} s |")
    print(f"| peak memory (max RSS) | <= 4 GB | {peak_gb:.2f} GB |")
    print(f"| holdout MAE / DummyRegressor(median) holdout MAE | <= 13% | {ratio:.1%} |")
    print()
    print("| model | split | MAE | RMSE | R² | MAPE |")
    print("| --- | --- | --- | --- | --- | --- |")
    for who, split, x in m.rows():
        print(f"| {LABELS[who]} | {split} | {x.mae:,.0f} | {x.rmse:,.0f} | {x.r2:.4f} | {x.mape:.2%} |")
    print("stage seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))


if __name__ == "__main__":
    main()
