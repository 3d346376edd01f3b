"""The S3 `Object Created` events EventBridge delivers to the trigger functions, read with Powertools'
event class (which URL-decodes the object key, as S3 encodes it in these events: a space arrives as '+')."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent

from shared.store import S3Store


class MalformedEvent(ValueError):
    """Not an S3 `Object Created` event as EventBridge delivers it."""


@dataclass(frozen=True)
class Upload:
    key: str | None  # store-relative; None when the object is outside the store
    s3_key: str
    etag: str

    def file_under(self, prefix: str) -> str | None:
        """The store key when the object is a file (not a folder marker) under `prefix` of the store."""
        key = self.key
        return key if key is not None and key.startswith(prefix) and not key.endswith("/") else None


def is_object_created(event: dict[str, Any]) -> bool:
    """Also false for an event without a detail type (a test invocation from the console, say)."""
    return event.get("detail-type") == "Object Created"


def uploaded_object(event: dict[str, Any], store: S3Store) -> Upload:
    """The uploaded object's store-relative key (None outside the store) and ETag; MalformedEvent names what
    is missing."""
    try:
        parsed = S3EventBridgeNotificationEvent(event)
        bucket, s3_key, etag = parsed.detail.bucket.name, parsed.detail.object.key, parsed.detail.object.etag
    except (KeyError, TypeError, AttributeError) as err:
        raise MalformedEvent(f"expected an S3 'Object Created' event from EventBridge with detail.bucket.name and "
                             f"detail.object.key; this one lacks {err} (top-level keys: {sorted(event)})") from None
    return Upload(key=store.relative_key(bucket, s3_key), s3_key=s3_key, etag=etag)
