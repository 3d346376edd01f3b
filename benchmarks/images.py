"""Image size and handler import time, without Docker; prints a Markdown table.

    uv run python benchmarks/images.py

Each image's Python packages are installed as its Dockerfile installs them, bytecode included
(`benchmarks/image_packages.py`), and measured with `du`; each handler module is imported by a fresh base
interpreter that sees only that image's packages and writes no bytecode (median of 3). Targets: API packages <= 300 MB, pipeline packages <= 1 GB.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.image_packages import BASE_PYTHON, run_env, site_packages, size_mb  # noqa: E402
from stepfunctions.graph import FARGATE, TRAINING_PIPELINE  # noqa: E402

TARGETS_MB = {"api": 300, "pipeline": 1024, "dashboard": None}
IMPORT = "import importlib, json, time; t = time.perf_counter(); importlib.import_module({module!r}); " \
         "print(json.dumps(time.perf_counter() - t))"


def handlers() -> dict[str, list[str]]:
    stages = [s.handler.split(":")[0] for s in TRAINING_PIPELINE.stages if s.compute != FARGATE]
    train = [s.handler.split(":")[0] for s in TRAINING_PIPELINE.stages if s.compute == FARGATE]
    return {"api": ["lambdas.api.handler"], "pipeline": stages + train + ["lambdas.triggers", "lambdas.score"],
            "dashboard": ["dashboard.data"]}


def import_seconds(site: Path, module: str, store: str) -> float:
    env = run_env(site, HOUSING_STORE=store, HOME=store)
    times = [json.loads(subprocess.run([BASE_PYTHON, "-S", "-c", IMPORT.format(module=module)], env=env, cwd="/",
                                       check=True, capture_output=True, text=True).stdout) for _ in range(3)]
    return statistics.median(times)


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as empty_store:
        for image, modules in handlers().items():
            site = site_packages(image)
            times = {m: import_seconds(site, m, empty_store) for m in modules}
            rows.append((image, size_mb(site), times))
    print("| image | Python packages | target | handler import (s) |\n| --- | --- | --- | --- |")
    for image, size, times in rows:
        target = f"<= {TARGETS_MB[image]} MB" if TARGETS_MB[image] else ""
        imports = ", ".join(f"`{m.removeprefix('lambdas.')}` {s:.2f}" for m, s in times.items())
        print(f"| {image} | {size:.0f} MB | {target} | {imports} |")


if __name__ == "__main__":
    main()
