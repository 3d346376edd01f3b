"""The benchmark scripts the README's tables come from still import: none is run by another test, so a
renamed core function would otherwise break them unnoticed until someone measures again."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

SCRIPTS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "benchmarks").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("name", SCRIPTS)
def test_the_benchmark_imports(name):
    module = importlib.import_module(f"benchmarks.{name}")
    script = "__main__" in Path(module.__file__).read_text()
    assert not script or callable(getattr(module, "main", None)), f"benchmarks/{name}.py runs without a main()"
