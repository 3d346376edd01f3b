"""validate: check the input and the metros table; on failure quarantine the input with a report."""

from __future__ import annotations

from lambdas.events import StageEvent, log
from lambdas.logs import structured
from shared import schema
from shared.layout import quarantine_prefix, run_key
from shared.split import EmptySplitError, split_masks
from shared.store import write_json, write_table
from shared.tables import InputFormatError, read_frame
from shared.validation import (
    Problem,
    ValidationReport,
    validate_housing,
    validate_metros,
)


class InputRejected(RuntimeError):
    """The input breaks the contract; it was copied to quarantine with a report. Not worth retrying."""


@structured
def handler(event: dict, context=None) -> dict:
    ev = StageEvent(**event)
    store = ev.open()
    report, typed = _read_and_validate(store, ev.input_key, validate_housing)
    if report.ok:
        try:  # every split must have rows, or the run cannot train or be judged
            split_masks(typed[schema.DATE], ev.config.train_end, ev.config.eval_end)
        except EmptySplitError as err:
            report = _file_problem(ev.input_key, "empty_split", str(err))
    metros_report, metros = _read_and_validate(store, ev.metros_key, validate_metros)
    if not (report.ok and metros_report.ok):
        _quarantine(store, ev, report, metros_report)
    log.info("validated %s: %d rows", ev.input_key, len(typed))
    validated, metros_out = run_key(ev.run_id, "data/validated.parquet"), run_key(ev.run_id, "data/metros.parquet")
    write_table(store, validated, typed)
    write_table(store, metros_out, metros)
    return ev.with_artifacts(validated=validated, metros=metros_out)


def _read_and_validate(store, key: str, validate):
    try:
        return validate(read_frame(store.read_bytes(key), key), source=key)
    except InputFormatError as err:
        return _file_problem(key, "format", str(err)), None


def _file_problem(source: str, rule: str, message: str) -> ValidationReport:
    return ValidationReport(source=source, rows=0, columns=0, problems=[Problem(column=None, rule=rule, message=message)])


def _quarantine(store, ev: StageEvent, report: ValidationReport, metros_report: ValidationReport) -> None:
    prefix = quarantine_prefix(ev.run_id)
    name = ev.input_key.rsplit("/", 1)[-1]
    store.write_bytes(prefix + name, store.read_bytes(ev.input_key))
    reports = [r for r in (report, metros_report) if not r.ok]
    write_json(store, prefix + "report.json", {
        "run_id": ev.run_id,
        "input_key": ev.input_key,
        "quarantined_copy": prefix + name,
        "reports": [r.model_dump() for r in reports],
    })
    summary = "\n".join(r.summary() for r in reports)
    raise InputRejected(f"input rejected; kept at {store.locate(prefix + name)} with a report:\n{summary}")
