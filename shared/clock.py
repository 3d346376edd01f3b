"""The one way the system writes a time: UTC, ISO 8601 (what run records, manifests, promotions and the
monitoring records carry, and what `housing status` and the API show)."""

from __future__ import annotations

import datetime as dt


def utc_now(timespec: str = "seconds") -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec=timespec)
