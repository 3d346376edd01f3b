"""Copying a trained store's served state (champion, bundles, run records, scored months) into another
store, as the S3 tests start from the local pipeline's result."""

from __future__ import annotations

from shared.batch import read_predictions, write_scored_months
from shared.layout import PREDICTIONS_PREFIX


def copy_served_state(source, target) -> None:
    """Models and runs byte for byte (but not MLflow's database or the run's data); the scored months
    through `write_scored_months`, since a month's summary names its predictions by the target store's
    own version tag."""
    for key in source.list(""):
        if key.startswith(("models/", "runs/")) and not key.endswith(".db") and "/data/" not in key:
            target.write_bytes(key, source.read_bytes(key))
    if source.list(PREDICTIONS_PREFIX):
        write_scored_months(target, read_predictions(source))
