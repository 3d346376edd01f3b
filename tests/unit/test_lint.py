"""The lint gate: ruff over the whole tree with the rules in pyproject.toml (pycodestyle, pyflakes, import
order, bugbear), and import-linter's layering contracts (the adapters over the core, the core's serving
over its model over its data, no training stack where serving runs). A finding fails the suite, so the
tree stays clean instead of accumulating them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_imports_keep_to_the_layers():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
