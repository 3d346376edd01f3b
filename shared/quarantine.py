"""A rejected input is kept, byte for byte, under quarantine/<id>/ beside a report naming each problem:
the training input (by validate) and a month's file under incoming/ (by batch scoring) alike."""

from __future__ import annotations

from typing import Any, NoReturn

from shared.layout import quarantine_prefix
from shared.store import ArtifactStore, write_json
from shared.validation import ValidationReport


class InputRejected(RuntimeError):
    """The input breaks the contract; it was copied to quarantine with a report. Not worth retrying."""


def quarantine(store: ArtifactStore, source_key: str, quarantine_id: str, reports: list[ValidationReport],
               **context: Any) -> NoReturn:
    """Copy `source_key` to quarantine/<quarantine_id>/ with report.json, then raise InputRejected naming
    where it is and what is wrong. `context` (e.g. the run id) goes into the report."""
    prefix = quarantine_prefix(quarantine_id)
    copy = prefix + source_key.rsplit("/", 1)[-1]
    store.write_bytes(copy, store.read_bytes(source_key))
    write_json(store, prefix + "report.json", {
        **context,
        "input_key": source_key,
        "quarantined_copy": copy,
        "reports": [r.model_dump() for r in reports],
    })
    summary = "\n".join(r.summary() for r in reports)
    raise InputRejected(f"input rejected; kept at {store.locate(copy)} with a report:\n{summary}")
