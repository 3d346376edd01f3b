"""The stage contract type-checks: mypy (with pydantic's plugin) over the core models, the layout, the
graph, the runner and every stage handler. A handler reading an artifact name that does not exist, a
gate field misspelt, or a report read as a dict fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ["shared/reports.py", "shared/layout.py", "shared/runs.py", "shared/champion.py", "stepfunctions/graph.py",
            "stepfunctions/local_runner.py", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "lambdas").glob("*.py"))]


def test_the_stage_contract_type_checks():
    result = subprocess.run([sys.executable, "-m", "mypy", *CONTRACT], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
