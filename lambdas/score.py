"""Batch scoring outside training: a new month's file under incoming/ (EventBridge `Object Created`), or the
monthly schedule, which scores the newest incoming/ file unless its months are already scored.

Deployed with a reserved concurrency of one, so two uploads of the same month are scored one after the
other rather than interleaving their predictions and summary files.
"""

from __future__ import annotations

from typing import Any

from lambdas.events import log
from lambdas.logs import structured
from lambdas.triggers import store_key
from shared.batch import batch_score, row_months, scored_months
from shared.layout import INCOMING_PREFIX
from shared.settings import get_settings
from shared.store import S3Store, open_store
from shared.tables import read_frame


def score_file(store, key: str, skip_if_scored: bool) -> dict[str, Any]:
    raw = read_frame(store.read_bytes(key), key)
    months = set(row_months(raw).dropna())
    if skip_if_scored and months and months <= scored_months(store):
        log.info("%s: months %s already scored, nothing to do", key, sorted(months))
        return {"scored": False, "key": key, "reason": "already scored"}
    predictions, written = batch_score(store, raw, source=key)
    log.info("%s: %d predictions in %d month(s)", key, len(predictions), len(written))
    return {"scored": True, "key": key, "rows": len(predictions), "partitions": written}


@structured
def handler(event: dict[str, Any], context=None) -> dict[str, Any]:
    store = open_store(get_settings().store)
    if event.get("detail-type") == "Object Created":
        detail = event["detail"]
        key = store_key(store, detail["bucket"]["name"], detail["object"]["key"]) if isinstance(store, S3Store) else None
        if key is None or not key.startswith(INCOMING_PREFIX) or key.endswith("/"):
            return {"scored": False, "reason": "not an incoming/ upload"}
        return score_file(store, key, skip_if_scored=False)
    files = [k for k in store.list(INCOMING_PREFIX) if not k.endswith("/")]
    if not files:
        log.info("no file under %s: nothing to score", store.locate(INCOMING_PREFIX))
        return {"scored": False, "reason": "nothing under incoming/"}
    return score_file(store, max(files), skip_if_scored=True)
