"""How the API fails: one error body (`ErrorBody`) for every 4xx/5xx, and the request body limit."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lambdas.api.schemas import MAX_RECORDS, ErrorBody, ErrorDetail
from shared.errors import HousingError

log = logging.getLogger("housing.api")


class ApiError(Exception):
    def __init__(self, status: int, detail: str, errors: list[ErrorDetail] | None = None):
        self.status, self.detail, self.errors = status, detail, errors or []


def error_response(status: int, detail: str, errors: list[ErrorDetail] | None = None) -> JSONResponse:
    return JSONResponse(ErrorBody(detail=detail, errors=errors or []).model_dump(), status_code=status)


def _where(loc: tuple) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.detail, exc.errors)

    @app.exception_handler(HousingError)
    async def housing_error(_: Request, exc: HousingError) -> JSONResponse:
        """The system's own errors at the status they name; a server-side one's message (it may name the
        store's paths) goes to the log, not to the caller."""
        if exc.http_status >= 500:
            log.error("%s: %s", type(exc).__name__, exc)
            return error_response(exc.http_status, f"the server could not answer ({type(exc).__name__}); see its log")
        return error_response(exc.http_status, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = error_response(exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})  # e.g. Allow on a 405
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # The submitted values are not echoed back: they may be NaN or huge, and JSON carries neither.
        errors = [ErrorDetail(field=_where(tuple(e["loc"])), problem=e["msg"]) for e in exc.errors()]
        said = "; ".join(f"{e.field}: {e.problem}" for e in errors[:5])
        return error_response(422, f"the request is not valid: {said}", errors)


class BodyLimit:
    """Refuse bodies over `limit` bytes with a 413: at once when Content-Length says so, and while reading
    when it does not (a chunked body is counted as it arrives, so a huge one is never read whole)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    def _too_large(self) -> StarletteHTTPException:
        return StarletteHTTPException(413, f"request body over {self.limit:,} bytes (the load balancer's limit); "
                                           f"send at most {MAX_RECORDS} records per request")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            exc = self._too_large()
            return await error_response(exc.status_code, exc.detail)(scope, receive, send)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise self._too_large()  # inside the app: its HTTP error handler answers
            return message

        await self.app(scope, counted, send)
