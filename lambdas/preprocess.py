"""preprocess: metro names and coordinates, duplicate and outlier removal, every count reported."""

from __future__ import annotations

from lambdas.events import StageEvent, log
from lambdas.logs import structured
from shared.layout import run_key
from shared.preprocess import clean_for_training
from shared.split import SPLITS
from shared.store import read_table, write_json, write_table


@structured
def handler(event: dict, context=None) -> dict:
    ev = StageEvent(**event)
    store = ev.open()
    metros = read_table(store, ev.artifacts["metros"])
    keys, reports = {}, {}
    for name in SPLITS:
        cleaned, report = clean_for_training(read_table(store, ev.artifacts[f"split_{name}"]), metros)
        keys[f"clean_{name}"] = run_key(ev.run_id, f"clean/{name}.parquet")
        write_table(store, keys[f"clean_{name}"], cleaned)
        reports[name] = report.model_dump()
        log.info("preprocess %s: %s", name, report)
    keys["cleaning_report"] = run_key(ev.run_id, "clean/report.json")
    write_json(store, keys["cleaning_report"], reports)
    return ev.with_artifacts(**keys)
