"""Where each artifact lives in the store: the one place that spells out keys."""

from __future__ import annotations

import re

RAW_PREFIX = "raw/"
INCOMING_PREFIX = "incoming/"
REFERENCE_PREFIX = "reference/"
RUNS_PREFIX = "runs/"
QUARANTINE_PREFIX = "quarantine/"
METROS_KEY = REFERENCE_PREFIX + "metros.parquet"
CHAMPION_KEY = "models/champion.json"
PREDICTIONS_PREFIX = "predictions/"
# Every run's sealed model bundle (bundle_prefix), as a pattern for grants: runs/<any run id>/model/.
BUNDLES = f"{RUNS_PREFIX}*/model/"


def run_key(run_id: str, name: str) -> str:
    return f"{RUNS_PREFIX}{run_id}/{name}"


def bundle_prefix(run_id: str) -> str:
    return f"{RUNS_PREFIX}{run_id}/model/"


def run_record_key(run_id: str) -> str:
    return f"{RUNS_PREFIX}{run_id}/run.json"


def quarantine_prefix(run_id: str) -> str:
    return f"{QUARANTINE_PREFIX}{run_id}/"


def month_predictions_key(year: int, month: int) -> str:
    return f"{PREDICTIONS_PREFIX}year={year:04d}/month={month:02d}/predictions.parquet"


def month_summary_key(year: int, month: int) -> str:
    """The month's pre-aggregated metrics, beside its predictions (written after them)."""
    return f"{PREDICTIONS_PREFIX}year={year:04d}/month={month:02d}/summary.parquet"


_MONTH_FILE = re.compile(re.escape(PREDICTIONS_PREFIX) + r"year=(\d{4})/month=(\d{2})/(predictions|summary)\.parquet")


def month_of_key(key: str, name: str) -> tuple[int, int] | None:
    """(year, month) of a month's `name` file ("predictions" or "summary"); None for any other key."""
    match = _MONTH_FILE.fullmatch(key)
    return (int(match[1]), int(match[2])) if match and match[3] == name else None
