"""Batch scoring outside training: a new month's file under incoming/ (EventBridge `Object Created`), or the
monthly schedule, which scores the newest incoming/ file unless its months are already scored.

Deployed with a reserved concurrency of one, so two uploads of the same month are scored one after the
other rather than interleaving their predictions and summary files.
"""

from __future__ import annotations

import hashlib
from typing import Any

from lambdas.logs import structured
from lambdas.s3_events import is_object_created, uploaded_object
from lambdas.stage_event import log
from shared.batch import batch_score, row_months, scored_months
from shared.layout import INCOMING_PREFIX, incoming_quarantine_id
from shared.quarantine import quarantine
from shared.settings import get_settings
from shared.store import S3Store, newest_file, open_store
from shared.tables import InputFormatError, read_frame
from shared.validation import InvalidInput, ValidationReport


def score_file(store, key: str, skip_if_scored: bool) -> dict[str, Any]:
    """Score one incoming file with the champion; a file that cannot be read or validated is quarantined
    (quarantine/incoming-<digest of its bytes>/, with report.json) and rejected."""
    data = store.read_bytes(key)
    try:
        raw = read_frame(data, key)
        months = set(row_months(raw).dropna())
        if skip_if_scored and months and months <= scored_months(store):
            log.info("%s: months %s already scored, nothing to do", key, sorted(months))
            return {"scored": False, "key": key, "reason": "already scored"}
        predictions, written = batch_score(store, raw, source=key)
    except (InputFormatError, InvalidInput) as err:
        report = err.report if isinstance(err, InvalidInput) else ValidationReport.of_file(key, "format", str(err))
        quarantine(store, incoming_quarantine_id(hashlib.sha256(data).hexdigest()), {key: report}, input_key=key)
    log.info("%s: %d predictions in %d month(s)", key, len(predictions), len(written))
    return {"scored": True, "key": key, "rows": len(predictions), "partitions": written}


@structured
def handler(event: dict[str, Any], context=None) -> dict[str, Any]:
    store = open_store(get_settings().store)
    if is_object_created(event):
        key = uploaded_object(event, store).file_under(INCOMING_PREFIX) if isinstance(store, S3Store) else None
        if key is None:
            return {"scored": False, "reason": "not an incoming/ upload"}
        return score_file(store, key, skip_if_scored=False)
    newest = newest_file(store, INCOMING_PREFIX)
    if newest is None:
        log.info("no file under %s: nothing to score", store.locate(INCOMING_PREFIX))
        return {"scored": False, "reason": "nothing under incoming/"}
    return score_file(store, newest, skip_if_scored=True)
