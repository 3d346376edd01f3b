"""Tests that need a program from Debian's packages skip where it is missing, saying how to install it,
except where `require_var` is 1 (CI installs them all and sets it): there a missing program fails."""

from __future__ import annotations

import os
import shutil


def missing(programs: tuple[str, ...], install: str, require_var: str) -> str | None:
    """Why these programs cannot run here (None if they can); raises where `require_var` is set to 1."""
    absent = [program for program in programs if not shutil.which(program)]
    if not absent:
        return None
    reason = f"{', '.join(absent)} not found: `{install}` (as .ci/run does)"
    if os.environ.get(require_var) == "1":
        raise RuntimeError(reason)
    return reason
