"""preprocess: metro names and coordinates, duplicate and outlier removal, every count reported."""

from __future__ import annotations

from lambdas.logs import structured
from lambdas.stage_event import StageEvent, log
from shared.layout import Artifact
from shared.preprocess import clean_for_training
from shared.split import SPLITS
from shared.store import read_table, write_json, write_table


@structured
def handler(event: dict, context=None) -> dict:
    ev = StageEvent(**event)
    store = ev.open()
    metros = read_table(store, ev.artifact(Artifact.METROS))
    reports = {}
    for name in SPLITS:
        cleaned, report = clean_for_training(read_table(store, ev.artifact(Artifact.of_split("split", name))), metros)
        write_table(store, ev.key(Artifact.of_split("clean", name)), cleaned)
        reports[name] = report.model_dump()
        log.info("preprocess %s: %s", name, report)
    write_json(store, ev.key(Artifact.CLEANING_REPORT), reports)
    return ev.with_artifacts(*(Artifact.of_split("clean", name) for name in SPLITS), Artifact.CLEANING_REPORT)
