"""Where each artifact lives in the store: the one place that spells out keys."""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

RAW_PREFIX = "raw/"
INCOMING_PREFIX = "incoming/"
REFERENCE_PREFIX = "reference/"
RUNS_PREFIX = "runs/"
QUARANTINE_PREFIX = "quarantine/"
METROS_KEY = REFERENCE_PREFIX + "metros.parquet"
CHAMPION_KEY = "models/champion.json"
PROMOTIONS_PREFIX = "models/promotions/"  # every promotion's pointer, create-only: who promoted what, when, why
CARDS_PREFIX = "models/cards/"  # a model card per promoted bundle
PREDICTIONS_PREFIX = "predictions/"
LIVE_PREFIX = "monitoring/live/"  # per month and champion, how it did once the month's prices arrived
# Per live month, the share of its prices outside the intervals served then (all regions): one small file the
# API and scoring read to adapt the next months' intervals (shared.model.adaptation).
LIVE_MISSES_KEY = f"{LIVE_PREFIX}interval_misses.json"
DRIFT_PREFIX = "monitoring/drift/"  # per month, its inputs and predictions against the champion's training data
SERVING_PREFIX = "serving/"  # per champion, what serving recent months needs of the zips' history
# Every run's sealed model bundle (bundle_prefix), as a pattern for grants: runs/<any run id>/model/.
BUNDLES = f"{RUNS_PREFIX}*/model/"
# The events a Fargate stage is handed and hands back (stage_event_key), as a pattern for grants.
STAGE_EVENTS = f"{RUNS_PREFIX}*/events/"


@dataclass(frozen=True)
class Access:
    """The keys and prefixes a component reads and writes: its IAM grants on AWS (infra_cdk.access), and
    what tests/integration/test_stage_access.py checks its real key accesses against."""

    reads: tuple[str, ...]
    writes: tuple[str, ...] = ()


def covered(key: str, grants) -> bool:
    """Whether `grants` cover `key` as IAM matches object ARNs: a prefix ("runs/", "runs/*/model/") covers
    the keys under it, a key only itself."""
    return any(fnmatch.fnmatchcase(key, g + "*") if g.endswith("/") else key == g for g in grants)


# The components outside the pipeline graph (whose stages declare their own in stepfunctions/graph.py).
COMPONENTS = {
    # Reads each incoming/ file for prices, and whether scoring quarantined it (then it teaches nothing).
    "start-training": Access(reads=(RAW_PREFIX, REFERENCE_PREFIX, INCOMING_PREFIX, QUARANTINE_PREFIX)),
    "score": Access(reads=(INCOMING_PREFIX, BUNDLES, CHAMPION_KEY, PREDICTIONS_PREFIX, SERVING_PREFIX, LIVE_PREFIX),
                    writes=(PREDICTIONS_PREFIX, QUARANTINE_PREFIX, SERVING_PREFIX, LIVE_PREFIX, DRIFT_PREFIX)),
    # The predictions' listing tells it when the serving state is behind; it folds missing months in itself.
    "api": Access(reads=(CHAMPION_KEY, PROMOTIONS_PREFIX, CARDS_PREFIX, BUNDLES, PREDICTIONS_PREFIX, SERVING_PREFIX, LIVE_PREFIX,
                         DRIFT_PREFIX)),
    # CodeDeploy's pre-traffic hook: the champion, its bundle's smoke set (lambdas/api/rollout_check.py), and the
    # live misses that adapt the smoke answers' intervals as the API adapts them.
    "rollout-check": Access(reads=(CHAMPION_KEY, BUNDLES, LIVE_MISSES_KEY)),
    # The batch results, the champion pointer for its metrics and backtest, and the monitoring records.
    "dashboard": Access(reads=(PREDICTIONS_PREFIX, CHAMPION_KEY, CARDS_PREFIX, LIVE_PREFIX, DRIFT_PREFIX)),
}


class Artifact(StrEnum):
    """What a stage hands on to later ones: the names in a stage event's `artifacts`. Each stage declares in
    the graph which it needs and which it makes; `CATALOG` says where each lives and how it is stored."""

    VALIDATED = "validated"
    METROS = "metros"
    SPLIT_TRAIN = "split_train"
    SPLIT_EVAL = "split_eval"
    SPLIT_HOLDOUT = "split_holdout"
    CLEAN_TRAIN = "clean_train"
    CLEAN_EVAL = "clean_eval"
    CLEAN_HOLDOUT = "clean_holdout"
    CLEANING_REPORT = "cleaning_report"
    FEATURES_TRAIN = "features_train"
    FEATURES_TUNING = "features_tuning"
    FEATURE_BUILDER = "feature_builder"
    FEATURE_SCHEMA = "feature_schema"
    BUNDLE = "bundle"
    EVALUATION = "evaluation"
    CHAMPION = "champion"
    PREDICTIONS = "predictions"
    RUN_RECORD = "run_record"

    @classmethod
    def of_split(cls, stage: str, name: str) -> Artifact:
        """The artifact of one split ("train", "eval", "holdout") as `stage` ("split" or "clean") wrote it."""
        return cls(f"{stage}_{name}")


class Codec(StrEnum):
    """How an artifact is stored. The stage adapter reads and writes TABLE and JSON artifacts for the stage;
    an OWN artifact has its own protocol (a sealed bundle, the champion pointer's compare-and-swap, the
    scored months' partitions), so the stage that makes it writes it and the catalog only says where."""

    TABLE = "table"  # one Parquet file (shared.store.read_table / write_table)
    JSON = "json"  # one JSON object (shared.store.read_json / write_json)
    OWN = "own"


@dataclass(frozen=True)
class Entry:
    """Where an artifact lives (`key`: a run's own artifacts take the run id; shared ones ignore it), how it is
    stored, and the store grant that covers it (a prefix or a key, as `Access` spells them)."""

    key: Callable[[str], str]
    codec: Codec
    grant: str


def _run_file(name: str, codec: Codec) -> Entry:
    return Entry(lambda run_id: run_key(run_id, name), codec, RUNS_PREFIX)


CATALOG: dict[Artifact, Entry] = {
    Artifact.VALIDATED: _run_file("data/validated.parquet", Codec.TABLE),
    Artifact.METROS: _run_file("data/metros.parquet", Codec.TABLE),
    **{Artifact.of_split("split", n): _run_file(f"splits/{n}.parquet", Codec.TABLE) for n in ("train", "eval", "holdout")},
    **{Artifact.of_split("clean", n): _run_file(f"clean/{n}.parquet", Codec.TABLE) for n in ("train", "eval", "holdout")},
    Artifact.CLEANING_REPORT: _run_file("clean/report.json", Codec.JSON),
    Artifact.FEATURES_TRAIN: _run_file("features/train.parquet", Codec.TABLE),
    Artifact.FEATURES_TUNING: _run_file("features/tuning.parquet", Codec.TABLE),
    Artifact.FEATURE_BUILDER: _run_file("features/builder.json", Codec.JSON),
    Artifact.FEATURE_SCHEMA: _run_file("features/schema.json", Codec.JSON),
    # Written once, create-only, by the one stage that may (shared.model.bundle; infra_cdk.access denies the rest).
    Artifact.BUNDLE: Entry(lambda run_id: run_key(run_id, "model/"), Codec.OWN, BUNDLES),
    Artifact.EVALUATION: _run_file("evaluation.json", Codec.JSON),
    Artifact.CHAMPION: Entry(lambda run_id: CHAMPION_KEY, Codec.OWN, CHAMPION_KEY),
    Artifact.PREDICTIONS: Entry(lambda run_id: PREDICTIONS_PREFIX, Codec.OWN, PREDICTIONS_PREFIX),
    Artifact.RUN_RECORD: _run_file("run.json", Codec.OWN),
}


def artifact_key(run_id: str, artifact: Artifact) -> str:
    return CATALOG[artifact].key(run_id)


def raw_key(name: str) -> str:
    """A training input: uploading one under raw/ starts a run on AWS."""
    return RAW_PREFIX + name


def reference_key(name: str) -> str:
    return REFERENCE_PREFIX + name


def synthetic_key(zips: int, seed: int) -> str:
    """Where `housing run` puts the synthetic set it generates (so the same size and seed are reused)."""
    return raw_key(f"synthetic-{zips}zips-seed{seed}.parquet")


def run_key(run_id: str, name: str) -> str:
    return f"{RUNS_PREFIX}{run_id}/{name}"


def stage_event_key(run_id: str, stage: str, part: str) -> str:
    """Where the state machine puts the event a Fargate stage starts from (`part` "in") and where the task
    puts the event it returns ("out"): an ECS task takes no payload and returns none, and RunTask's overrides
    are capped at 8,192 characters, which an event listing many incoming/ files passes."""
    return run_key(run_id, f"events/{stage}.{part}.json")


def bundle_prefix(run_id: str) -> str:
    return artifact_key(run_id, Artifact.BUNDLE)


def run_record_key(run_id: str) -> str:
    return artifact_key(run_id, Artifact.RUN_RECORD)


def quarantine_prefix(run_id: str) -> str:
    return f"{QUARANTINE_PREFIX}{run_id}/"


def incoming_quarantine_id(digest: str) -> str:
    """A rejected incoming/ file is kept under quarantine/incoming-<digest of its bytes>/."""
    return f"incoming-{digest[:16]}"


def serving_state_key(run_id: str) -> str:
    return f"{SERVING_PREFIX}{run_id}/state.parquet"


def model_card_key(run_id: str) -> str:
    return f"{CARDS_PREFIX}{run_id}.json"


def promotion_key(promoted_at: str, run_id: str) -> str:
    """Where a promotion's record is kept: named by the pointer's time (ISO 8601, as UTC to the microsecond:
    keys sort by it), then the run."""
    when = dt.datetime.fromisoformat(promoted_at).astimezone(dt.timezone.utc)
    return f"{PROMOTIONS_PREFIX}{when:%Y%m%dT%H%M%S%fZ}-{run_id}.json"


def drift_report_key(year: int, month: int) -> str:
    return f"{DRIFT_PREFIX}year={year:04d}/month={month:02d}.json"


def live_accuracy_key(year: int, month: int, run_id: str) -> str:
    return f"{LIVE_PREFIX}year={year:04d}/month={month:02d}/{run_id}.parquet"


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
