"""The code type-checks: mypy (with pydantic's plugin) over every package that runs. A stage reading an
artifact name that does not exist, a gate field misspelt, a report read as a dict or an Optional used
as if always set fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_the_code_type_checks():
    """Over the packages pyproject.toml's [tool.mypy] names (the core, the adapters, the CLI, the dashboard)."""
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
