"""Each container image's Python packages, installed the way its Dockerfile does (the lock file's export for
that image's group, `pip install --target`, then docker/slim-site-packages.sh), so sizes and import times
can be measured without Docker."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / ".bench"
# The base interpreter; run with -S so that nothing but the image's own packages is importable.
BASE_PYTHON = str(Path(sys.base_prefix) / "bin" / "python3")
# image -> the dependency group its Dockerfile exports (besides the runtime dependencies).
IMAGE_GROUPS = {"api": "api", "pipeline": "pipeline", "dashboard": "dashboard"}
SLIM_FLAGS = {"api": ["--api"]}  # as Dockerfile.lambda's api target runs the slimming step


def site_packages(image: str) -> Path:
    """Install (again whenever the lock file's export changes) and return the image's package folder."""
    target = BENCH / f"{image}-site"
    requirements = subprocess.run(
        ["uv", "export", "--frozen", "--no-default-groups", "--group", IMAGE_GROUPS[image], "--no-hashes",
         "--no-emit-project"], check=True, capture_output=True, text=True, cwd=ROOT).stdout
    slimming = (ROOT / "docker" / "slim-site-packages.sh").read_bytes()
    digest = hashlib.sha256(requirements.encode() + slimming).hexdigest()
    marker = target / ".requirements-sha256"
    if not marker.exists() or marker.read_text() != digest:
        shutil.rmtree(target, ignore_errors=True)
        BENCH.mkdir(exist_ok=True)
        listing = BENCH / f"{image}-requirements.txt"
        listing.write_text(requirements)
        subprocess.run(["uv", "pip", "install", "--quiet", "--python", BASE_PYTHON, "--target", str(target),
                        "-r", str(listing)], check=True)
        subprocess.run(["sh", str(ROOT / "docker" / "slim-site-packages.sh"), str(target), *SLIM_FLAGS.get(image, [])],
                       check=True)
        marker.write_text(digest)
    return target


def size_mb(folder: Path) -> float:
    return int(subprocess.run(["du", "-sk", str(folder)], capture_output=True, text=True, check=True).stdout.split()[0]) / 1024
