"""The base of the system's own errors. Each says what its callers need, so they read the exception instead
of keeping lists of classes: the CLI's exit code (`housing`), the API's HTTP status, and whether the same
call may succeed when tried again (a lost compare-and-swap race: yes; a bad file: no)."""

from __future__ import annotations


class HousingError(Exception):
    exit_code: int = 1
    http_status: int = 500
    retryable: bool = False


class BadInput(HousingError):
    """The input (a file, a request, a setting) is at fault: fixing it, not retrying, helps."""

    http_status = 422


class NotReady(HousingError):
    """Something the call needs does not exist yet (no champion, no metros table): make it first."""

    http_status = 503


class Conflict(HousingError):
    """Another writer got there first: read again and retry."""

    http_status = 409
    retryable = True
