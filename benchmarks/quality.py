"""Model quality on synthetic data under the generator's assumptions (shared.data.synthetic.ASSUMPTIONS: the
default, varied ones, a downturn no training month shows, a much smoother and a much noisier index);
prints Markdown tables per data set.

    uv run python benchmarks/quality.py [--zips 6226] [--trials 30] [--assumptions default varied downturn smooth noisy]

For each data set: the real pipeline graph in-process on a temporary store (tuning as configured), then
its evaluation report: the holdout figures in both modes (horizon: every holdout month from what was known
at the end of eval; nowcast: each month with the index published up to the month before) for the median
baseline, the naive forecasters, the price-level reference alone and our model, beside the original
project's approach (`benchmarks/original_approach.py`) trained on the same cleaned training rows and the
nowcast as users get it (`housing predict` on the holdout rows with their `price` column removed); then
the rolling-origin backtest per horizon bucket, eval (cross-fitted) and holdout, beside every baseline
(AutoTheta in horizon mode), with skill and the
interval's coverage and width. The gate's decision is printed too: a rejected run is measured all the same.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.original_approach import OriginalApproach  # noqa: E402
from benchmarks.run import run_pipeline  # noqa: E402
from shared import schema  # noqa: E402
from shared.data.metros import FULL_SIZE_ZIPS  # noqa: E402
from shared.data.synthetic import ASSUMPTIONS, Assumptions, generate  # noqa: E402
from shared.data.tables import write_frame  # noqa: E402
from shared.layout import Artifact, artifact_key, bundle_prefix  # noqa: E402
from shared.model.metrics import regression_metrics  # noqa: E402
from shared.reports import (  # noqa: E402
    BASELINE,
    BASELINES,
    CANDIDATE,
    FORECASTERS,
    LABELS,
    NOWCAST,
    REFERENCE,
    EvaluationReport,
    Metrics,
    backtest_rows,
)
from shared.serving.champion import read_champion  # noqa: E402
from shared.store import LocalStore, read_json, read_table  # noqa: E402


def predicted_by_cli(store: LocalStore, rows: pd.DataFrame, workdir: Path) -> pd.DataFrame:
    """`housing predict` on `rows` without their price, as a user runs it."""
    source, output = workdir / "holdout-without-price.parquet", workdir / "predicted.parquet"
    write_frame(rows.drop(columns=[schema.TARGET]), source)
    subprocess.run([sys.executable, "-m", "housing.cli", "predict", "--input", str(source), "--output", str(output),
                    "--store", store.url], check=True, cwd=ROOT)
    return pd.read_parquet(output)


def measure(assumptions: Assumptions, zips: int, trials: int | None) -> tuple[list[tuple[str, str, Metrics]], dict]:
    rows, metros = generate(zips=zips, assumptions=assumptions)
    with tempfile.TemporaryDirectory() as root:
        store = LocalStore(root)
        config, timings, total = run_pipeline(store, rows, metros, trials)
        run = next(key.split("/")[1] for key in store.list("runs/") if key.endswith("/evaluation.json"))
        report = EvaluationReport(**read_json(store, artifact_key(run, Artifact.EVALUATION)))
        train = read_table(store, artifact_key(run, Artifact.CLEAN_TRAIN))
        holdout = read_table(store, artifact_key(run, Artifact.CLEAN_HOLDOUT))
        raw_holdout = read_table(store, artifact_key(run, Artifact.SPLIT_HOLDOUT))
        original = OriginalApproach().fit(train).predict(holdout)
        tuning = read_json(store, bundle_prefix(run) + "metrics.json")
        cli = predicted_by_cli(store, raw_holdout, Path(root)) if read_champion(store) else None
    table = []
    for who in (BASELINE, *FORECASTERS, REFERENCE):
        for mode, split in (("horizon", "holdout"), ("nowcast", "holdout" + NOWCAST)):
            table.append((LABELS[who], mode, getattr(report, who)[split]))
    same_month = regression_metrics(holdout[schema.TARGET], original)
    table += [("original project's approach (same-month features, XGBoost)", mode, same_month)
              for mode in ("horizon", "nowcast")]
    table += [("ours: " + LABELS[CANDIDATE], "horizon", report.candidate["holdout"]),
              ("ours: " + LABELS[CANDIDATE], "nowcast", report.candidate["holdout" + NOWCAST])]
    if cli is not None:  # only a promoted model is what `housing predict` serves
        table.append(("ours: `housing predict`, holdout rows without price", "nowcast",
                      regression_metrics(raw_holdout[schema.TARGET], cli["predicted_price"])))
    extra = {"rows": len(rows), "trials": config.trials, "graph_s": total, "train_s": timings["train"],
             "evaluate_s": timings["evaluate"], "original_mae": same_month.mae, "tuning": tuning, "report": report,
             "eval": {mode: report.candidate[split].mae for mode, split in (("horizon", "eval"), ("nowcast", "eval" + NOWCAST))}}
    return table, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zips", type=int, default=FULL_SIZE_ZIPS)
    parser.add_argument("--trials", type=int, default=None)
    parser.add_argument("--assumptions", nargs="+", choices=list(ASSUMPTIONS), default=list(ASSUMPTIONS))
    args = parser.parse_args()
    for name in args.assumptions:
        table, extra = measure(ASSUMPTIONS[name], args.zips, args.trials)
        print(f"\n### {name} generator assumptions ({extra['rows']:,} rows, {args.zips:,} zips, {extra['trials']} trials; "
              f"graph {extra['graph_s']:.0f} s, train+tune {extra['train_s']:.0f} s, evaluate {extra['evaluate_s']:.0f} s)\n")
        print("| model (holdout) | mode | MAE | RMSE | R² | MAPE | MAE / original's |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for who, mode, m in table:
            print(f"| {who} | {mode} | {m.mae:,.0f} | {m.rmse:,.0f} | {m.r2:.4f} | {m.mape:.2%} | "
                  f"{m.mae / extra['original_mae']:.3f} |")
        print(f"\nours on eval: horizon MAE {extra['eval']['horizon']:,.0f}, nowcast MAE {extra['eval']['nowcast']:,.0f}")
        done, trials = extra["tuning"]["validation"], extra["tuning"]["trials"]
        first = next(t["mae"] for t in trials if t["number"] == 0)
        print(f"tuning: {done['trials_run']} trials ({done['trials_pruned']} pruned"
              f"{', stopped by its time budget' if done['stopped_by_timeout'] else ''}); validation MAE of the "
              f"default parameters (trial 0) {first:,.0f}, best {done['mae']:,.0f}")
        print_backtest(extra["report"])


def print_backtest(report: EvaluationReport) -> None:
    """The rolling-origin backtest per split, mode and horizon bucket, and the gate's decision."""
    print("\n| split | mode | months ahead | ours | " + " | ".join(LABELS[w] for w in BASELINES)
          + " | skill | coverage | median width |")
    print("| --- | --- | --- | --- |" + " --- |" * len(BASELINES) + " --- | --- | --- |")
    for split, mode, bucket, fig in backtest_rows(report):
        naive = " | ".join(f"{fig.mae[w]:,.0f}" if w in fig.mae else "-" for w in BASELINES)
        print(f"| {split} | {mode} | {bucket} | {fig.mae[CANDIDATE]:,.0f} | {naive} | **{fig.skill:.3f}** | "
              f"{fig.coverage:.2f} | {fig.median_width:.1%} |")
    if report.gate:
        print(f"\ngate {'PASSED' if report.gate.passed else 'FAILED'}: " + "; ".join(report.gate.reasons))


if __name__ == "__main__":
    main()
