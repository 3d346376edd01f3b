"""Each pipeline stage in its own process, as Lambda and Fargate run them, at 1x, 3x or 10x the HouseTS
panel; prints a Markdown table of peak memory and time against each stage's configured memory and timeout.

    uv run python benchmarks/scale.py [--factor 1] [--trials 2] [--until STAGE] [--store DIR] [--deploy JSON]

The synthetic set has FULL_SIZE_ZIPS x factor zip codes (884,092 rows at 1x) and goes in as a CSV under
raw/, as users upload it. Memory, timeout and where a stage runs are the deployment's: the graph's defaults,
or those of the `housing` context given with --deploy (`function_memory_mb`, `fargate_stages`, `train_cpu`,
`train_memory_mb`: e.g. the sizes the README gives for 10x). Every stage is a fresh `python3` running the
stage's handler on the event the one before it returned, so its peak resident set is that of one
invocation: the figure a function's or task's memory must cover. Its time includes the process's start and
imports (a cold start). `--until` stops after a stage (the ones before training fit at 10x in minutes;
training does not).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra_cdk.config import load_config  # noqa: E402
from infra_cdk.task_sizes import fargate_fallbacks, placement  # noqa: E402
from lambdas.stage_event import new_run_event  # noqa: E402
from shared.data.input_rows import input_rows  # noqa: E402
from shared.data.metros import FULL_SIZE_ZIPS  # noqa: E402
from shared.data.synthetic import generate  # noqa: E402
from shared.layout import METROS_KEY, raw_key  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.store import LocalStore, write_table  # noqa: E402
from stepfunctions.graph import FARGATE, TRAINING_PIPELINE  # noqa: E402

# One invocation: the handler on the event in argv[1]; its returned event and the process's peak resident set
# (VmHWM: this process image's own, after exec; a child's rusage would count the parent's pages at the fork)
# written to argv[2].
INVOKE = ("import json, sys; from stepfunctions.local_runner import resolve; "
          "out = resolve(sys.argv[3])(json.load(open(sys.argv[1])), None); "
          "peak = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')); "
          "json.dump({'event': out, 'peak_kib': peak}, open(sys.argv[2], 'w'))")


def invoke(handler: str, event: dict, work: Path) -> tuple[dict, float, float]:
    """Run `handler` on `event` in a new process: (its returned event, peak RSS in MiB, seconds)."""
    given, returned = work / "event.json", work / "result.json"
    given.write_text(json.dumps(event))
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", INVOKE, str(given), str(returned), handler], cwd=ROOT, check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.monotonic() - started
    result = json.loads(returned.read_text())
    return result["event"], result["peak_kib"] / 1024, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=float, default=1.0)
    parser.add_argument("--trials", type=int, default=2, help="tuning trials (the training task's time grows with them)")
    parser.add_argument("--until", choices=[s.name for s in TRAINING_PIPELINE.stages], default=None)
    parser.add_argument("--store", type=Path, default=None, help="a folder to keep the store in (default: a temporary one)")
    parser.add_argument("--deploy", type=json.loads, default={}, help="the deployment's `housing` context (JSON) whose sizes "
                                                                     "the table compares with")
    args = parser.parse_args()
    deploy = load_config(args.deploy)
    graph = deploy.pipeline_graph()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.store or Path(tmp) / "store"
        store, work = LocalStore(root), Path(tmp)
        zips = round(FULL_SIZE_ZIPS * args.factor)
        print(f"generating {zips:,} zip codes...", file=sys.stderr)
        rows, metros = generate(zips=zips)
        key = raw_key("housets.csv")
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        rows.to_csv(root / key, index=False)
        write_table(store, METROS_KEY, metros)
        csv_mib = (root / key).stat().st_size / 2**20
        n_rows = len(rows)
        del rows, metros
        config = Settings(store=store.url).run_config(trials=args.trials)
        event = new_run_event(store.url, key, METROS_KEY, config, f"scale-{args.factor:g}")
        told = input_rows(store, [key])  # what the run's first event says (lambdas.stage_event.prepare_run)
        results = []
        name: str | None = graph.stages[0].name
        while name:
            stage = graph.stage(name)
            print(f"{name}...", file=sys.stderr)
            event, peak, seconds = invoke(stage.handler, event, work)
            results.append((stage, peak, seconds))
            if name == args.until:
                break
            name = graph.following(name, event)
    print(f"\n{n_rows:,} rows, {zips:,} zip codes, CSV {csv_mib:,.0f} MiB (factor {args.factor:g}, {args.trials} trials)\n")
    # The graph's peak model (stepfunctions.graph.PeakMemory) against the measured peak; each stage where the
    # state machine runs it for these rows (infra_cdk.task_sizes): its function, its task, or its fallback.
    print("| stage | runs on | memory (MiB) | peak RSS (MiB) | peak / memory | modelled peak (MiB) | time (s) | timeout (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    fallbacks = fargate_fallbacks(graph) if deploy.fargate_fallback else {}
    for stage, peak, seconds in results:
        counted = told if stage.name == graph.stages[0].name else n_rows  # validate: the input's rows, told before it
        runs = placement(stage, fallbacks.get(stage.name), counted, deploy.fargate_max_memory_mb)
        where = "Lambda" if runs.compute != FARGATE else f"Fargate {runs.cpu // 1024} vCPU" + (
            " (fallback)" if stage.compute != FARGATE else "")
        print(f"| {stage.name} | {where} | {runs.memory_mb:,} | {peak:,.0f} | {peak / runs.memory_mb:.2f} | "
              f"{stage.peak.mb(n_rows):,.0f} | {seconds:,.0f} | {runs.timeout_s:,} |")


if __name__ == "__main__":
    main()
