"""Batch scoring outside training: a new month's file under incoming/ (EventBridge `Object Created`), or the
monthly schedule, which scores the newest incoming/ file unless its months are already scored.

Two uploads of the same month may be scored at once: a month's files are written by compare-and-swap
(`shared.batch.write_scored_months`), so both land, and no reserved concurrency is needed (a new
account's quota could not spare it).
"""

from __future__ import annotations

from typing import Any

from lambdas.logs import structured
from lambdas.s3_events import is_object_created, uploaded_object
from lambdas.stage_event import log
from shared.incoming import score_incoming
from shared.layout import INCOMING_PREFIX
from shared.settings import get_settings
from shared.store import S3Store, newest_file, open_store


@structured
def handler(event: dict[str, Any], context=None) -> dict[str, Any]:
    store = open_store(get_settings().store)
    if is_object_created(event):
        key = uploaded_object(event, store).file_under(INCOMING_PREFIX) if isinstance(store, S3Store) else None
        if key is None:
            return {"scored": False, "reason": "not an incoming/ upload"}
        return score_incoming(store, key)
    newest = newest_file(store, INCOMING_PREFIX)
    if newest is None:
        log.info("no file under %s: nothing to score", store.locate(INCOMING_PREFIX))
        return {"scored": False, "reason": "nothing under incoming/"}
    return score_incoming(store, newest, skip_if_scored=True)
