"""Image sizes and handler import times, measured on the images themselves; prints a Markdown table.

    uv run python benchmarks/images.py

Builds (or reuses) the three images with `bash docker/build-local.sh` (stand-in bases from Debian packages,
see docker/standin/), then for each image: its size as podman reports it, the part our layers add on top of
the base (the real bases differ in size from the stand-ins: this part is what ships either way), and the
Python package folder's size (`du` in the mounted image). Import times: each handler module imported in a
fresh `python3` inside the image, started as Lambda starts functions (unprivileged user, read-only task
root, so nothing can be compiled at run time), median of 3. Targets: API packages <= 300 MiB, pipeline
packages <= 1 GiB.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stepfunctions.graph import FARGATE, TRAINING_PIPELINE  # noqa: E402
from tests.support.containers import IMAGES, LAMBDA_USER, ImageConfig, container  # noqa: E402

TARGETS_MB = {"api": 300, "pipeline": 1024, "dashboard": None}
BASES = {"api": "localhost/housing-standin/lambda-python:3.13", "pipeline": "localhost/housing-standin/lambda-python:3.13",
         "dashboard": "localhost/housing-standin/python:3.13-slim-trixie"}
PACKAGES = {"api": "/var/task", "pipeline": "/var/task", "dashboard": "/opt/packages"}
IMPORT = "import importlib, json, time; t = time.perf_counter(); importlib.import_module({module!r}); " \
         "print(json.dumps(time.perf_counter() - t))"


def handlers() -> dict[str, list[str]]:
    stages = [s.handler.split(":")[0] for s in TRAINING_PIPELINE.stages if s.compute != FARGATE]
    train = [s.handler.split(":")[0] for s in TRAINING_PIPELINE.stages if s.compute == FARGATE]
    return {"api": ["lambdas.api.handler"], "pipeline": stages + train + ["lambdas.triggers", "lambdas.score"],
            "dashboard": ["dashboard.data"]}


def mib(n_bytes: float) -> float:
    return n_bytes / 2**20


def measure(image: str, modules: list[str]) -> dict:
    config, base = ImageConfig.of(IMAGES[image]), ImageConfig.of(BASES[image])
    with container(IMAGES[image]) as box:
        du = subprocess.run(["du", "-sb", f"{box.root}{PACKAGES[image]}"], capture_output=True, text=True, check=True)
        lambda_like = {"user": LAMBDA_USER, "read_only": (PACKAGES[image],)} if image != "dashboard" else {}
        env = {"HOUSING_STORE": "/tmp/empty-store", "HOME": "/tmp"}
        times = {}
        for module in modules:
            samples = []
            for _ in range(3):
                code, out = box.run(["python3", "-c", IMPORT.format(module=module)], env, **lambda_like)
                assert code == 0, out
                samples.append(json.loads(out.strip().splitlines()[-1]))
            times[module] = statistics.median(samples)
    return {"size": mib(config.size_bytes), "ours": mib(config.size_bytes - base.size_bytes),
            "packages": mib(int(du.stdout.split()[0])), "times": times}


def main() -> None:
    subprocess.run(["bash", str(ROOT / "docker" / "build-local.sh")], check=True)
    rows = {image: measure(image, modules) for image, modules in handlers().items()}
    print("| image | size (stand-in base) | our layers | Python packages | target | handler import in the image (s) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for image, row in rows.items():
        target = f"<= {TARGETS_MB[image]} MiB" if TARGETS_MB[image] else ""
        imports = ", ".join(f"`{m.removeprefix('lambdas.')}` {s:.2f}" for m, s in row["times"].items())
        print(f"| {image} | {row['size']:.0f} MiB | {row['ours']:.0f} MiB | {row['packages']:.0f} MiB | {target} | {imports} |")


if __name__ == "__main__":
    main()
