"""Each container image's Python packages, installed the way its Dockerfile installs them (the lock file's
export for that image's group, `uv pip install --target`, docker/slim-site-packages.sh, and the bytecode the
image ships), so sizes and import times can be measured without Docker."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / ".bench"
# The base interpreter; run with -S so that nothing but the image's own packages is importable.
BASE_PYTHON = str(Path(sys.base_prefix) / "bin" / "python3")
# As Dockerfile.lambda / Dockerfile.streamlit build each image: the dependency group exported, the slimming
# flags, and which bytecode is compiled (all of it; only what a cold start imports; none: ECS can write it).
IMAGES = {
    "api": {"group": "api", "slim": ["--api"], "cold_path": ["lambdas.api.handler"], "compile_all": False},
    "pipeline": {"group": "pipeline", "slim": [], "cold_path": [], "compile_all": True},
    "dashboard": {"group": "dashboard", "slim": [], "cold_path": [], "compile_all": False},
}
DOCKER = ROOT / "docker"


def run_env(site: Path, **extra: str) -> dict[str, str]:
    """Environment for the base interpreter seeing only `site` (and the repository); it writes no bytecode,
    so the folder stays exactly what the image ships."""
    return {"PATH": os.environ["PATH"], "PYTHONPATH": f"{ROOT}:{site}", "PYTHONDONTWRITEBYTECODE": "1", **extra}


def site_packages(image: str) -> Path:
    """Build (again whenever the lock export or the build steps change) and return the image's packages."""
    spec = IMAGES[image]
    target = BENCH / f"{image}-site"
    requirements = subprocess.run(
        ["uv", "export", "--frozen", "--no-default-groups", "--group", spec["group"], "--no-hashes",
         "--no-emit-project"], check=True, capture_output=True, text=True, cwd=ROOT).stdout
    recipe = requirements.encode() + repr(spec).encode() + b"".join(f.read_bytes() for f in sorted(DOCKER.iterdir()))
    digest = hashlib.sha256(recipe).hexdigest()
    marker = target / ".recipe-sha256"
    if marker.exists() and marker.read_text() == digest:
        return target
    shutil.rmtree(target, ignore_errors=True)
    BENCH.mkdir(exist_ok=True)
    listing = BENCH / f"{image}-requirements.txt"
    listing.write_text(requirements)
    compile_flag = ["--compile-bytecode"] if spec["compile_all"] else []
    subprocess.run(["uv", "pip", "install", "--quiet", "--python", BASE_PYTHON, "--target", str(target), *compile_flag,
                    "-r", str(listing)], check=True)
    subprocess.run(["sh", str(DOCKER / "slim-site-packages.sh"), str(target), *spec["slim"]], check=True)
    if spec["cold_path"]:
        with tempfile.TemporaryDirectory() as empty_store:
            subprocess.run([BASE_PYTHON, "-S", str(DOCKER / "compile-cold-path.py"), str(target), *spec["cold_path"]],
                           env=run_env(target, HOUSING_STORE=empty_store), check=True, cwd="/", capture_output=True)
    marker.write_text(digest)
    return target


def size_mb(folder: Path) -> float:
    return int(subprocess.run(["du", "-sk", str(folder)], capture_output=True, text=True, check=True).stdout.split()[0]) / 1024
