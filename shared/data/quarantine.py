"""A rejected input is kept, byte for byte, under quarantine/<id>/ beside a report naming each problem:
the training input (by validate) and a month's file under incoming/ (by batch scoring) alike."""

from __future__ import annotations

from typing import Any, NoReturn

from shared.data.validation import ValidationReport
from shared.errors import BadInput
from shared.layout import quarantine_prefix
from shared.store import ArtifactStore, write_json


class InputRejected(BadInput):
    """The input breaks the contract; it was copied to quarantine with a report. Not worth retrying."""


def quarantine(store: ArtifactStore, quarantine_id: str, rejected: dict[str, ValidationReport],
               **context: Any) -> NoReturn:
    """Copy each rejected file (store key -> its report) to quarantine/<quarantine_id>/ beside report.json,
    then raise InputRejected naming where they are and what is wrong. `context` (e.g. the run id and the
    run's input) goes into the report."""
    prefix = quarantine_prefix(quarantine_id)
    copies = {key: prefix + key.rsplit("/", 1)[-1] for key in rejected}
    for key, copy in copies.items():
        store.write_bytes(copy, store.read_bytes(key))
    write_json(store, prefix + "report.json", {
        **context,
        "rejected": list(rejected),
        "quarantined_copies": list(copies.values()),
        "reports": [report.model_dump() for report in rejected.values()],
    })
    where = ", ".join(store.locate(copy) for copy in copies.values())
    summary = "\n".join(report.summary() for report in rejected.values())
    raise InputRejected(f"input rejected; kept at {where} with a report:\n{summary}")
