"""The prediction API. `create_app(store_url)` builds it; `housing serve` runs it with uvicorn and
`lambdas.api.handler` wraps it for Lambda. The champion is loaded when the app is created (once per
process), never in the ASGI lifespan, which Mangum runs on every invocation."""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from lambdas.api.auth import key_checker, load_api_keys
from lambdas.api.champion import ServedChampion
from lambdas.api.schemas import (
    MAX_BODY_BYTES,
    MAX_RECORDS,
    ErrorBody,
    ErrorDetail,
    Health,
    ModelInfo,
    PredictionRow,
    PredictionsPage,
    PredictRequest,
    PredictResponse,
    RecordWarning,
    Summary,
    SummaryRow,
)
from shared import schema
from shared.batch import ALL_REGIONS, UnreadableMonth, read_predictions, read_summary, same_metro
from shared.settings import get_settings
from shared.store import open_store
from shared.validation import InvalidInput, unusual_dates

NO_CHAMPION = ("no champion model yet: train one with `housing run --store STORE` (locally) "
               "or upload a HouseTS file under raw/ in the bucket (on AWS)")


class ApiError(Exception):
    def __init__(self, status: int, detail: str, errors: list[ErrorDetail] | None = None):
        self.status, self.detail, self.errors = status, detail, errors or []


def _error(status: int, detail: str, errors: list[ErrorDetail] | None = None) -> JSONResponse:
    return JSONResponse(ErrorBody(detail=detail, errors=errors or []).model_dump(), status_code=status)


def _where(loc: tuple) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _finite_or_none(value) -> float | None:
    return float(value) if value is not None and not pd.isna(value) and math.isfinite(value) else None


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
            return await _error(exc.status_code, exc.detail)(scope, receive, send)
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


def create_app(store_url: str | None = None, refresh_seconds: float | None = None,
               api_keys: frozenset[str] | None = None) -> FastAPI:
    """The app on the store; `api_keys` (default: from the secret HOUSING_API_KEY_SECRET names, if set) are
    required in the x-api-key header of every route but /health and the docs."""
    settings = get_settings()
    store = open_store(store_url or settings.store)
    if api_keys is None and settings.api_key_secret:
        api_keys = load_api_keys(settings.api_key_secret)
    # Without keys the routes declare no security scheme, so the OpenAPI document says what the API asks.
    guarded = [Depends(key_checker(api_keys, lambda message: ApiError(401, message)))] if api_keys else []
    served = ServedChampion(store, settings.champion_refresh_seconds if refresh_seconds is None else refresh_seconds)
    served.current()

    # FastAPIOffline: /docs and /redoc load Swagger UI and ReDoc from the package, not from a CDN, so the
    # docs work offline and behind egress rules.
    app = FastAPIOffline(
        title="housing-mlops prediction API",
        version="1",
        description="Monthly zip-code home values from the promoted XGBoost champion, and the batch results.",
        responses={401: {"model": ErrorBody}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody}},
    )
    app.state.served = served

    def champion():
        bundle = served.current()
        if bundle is None:
            raise ApiError(503, NO_CHAMPION if served.last_error is None
                           else f"the champion could not be loaded: {served.last_error}")
        return bundle

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.detail, exc.errors)

    @app.exception_handler(UnreadableMonth)
    async def unreadable_month(_: Request, exc: UnreadableMonth) -> JSONResponse:
        return _error(503, f"the batch results cannot be served: {exc}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _error(exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})  # e.g. Allow on a 405
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # The submitted values are not echoed back: they may be NaN or huge, and JSON carries neither.
        errors = [ErrorDetail(field=_where(tuple(e["loc"])), problem=e["msg"]) for e in exc.errors()]
        return _error(422, "the request is not valid: " + "; ".join(f"{e.field}: {e.problem}" for e in errors[:5]), errors)

    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)

    @app.get("/health", response_model=Health, tags=["service"])
    def health() -> Health:
        bundle = served.current()
        return Health(status="ok", champion_run_id=bundle.run_id if bundle else None, champion_error=served.last_error)

    @app.get("/model", response_model=ModelInfo, tags=["model"], responses={503: {"model": ErrorBody}},
             dependencies=guarded)
    def model(bundle=Depends(champion)) -> ModelInfo:
        pointer = served.pointer
        return ModelInfo(
            run_id=bundle.run_id, trained_at=bundle.metadata.get("trained_at"), promoted_at=pointer.promoted_at,
            promotion_reason=pointer.reason, params=bundle.params, metrics=pointer.metrics,
            feature_schema=bundle.schema.model_dump(),
        )

    @app.post("/predict", response_model=PredictResponse, tags=["model"],
              responses={400: {"model": ErrorBody, "description": "the body is not JSON text"},
                         413: {"model": ErrorBody}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody}},
              dependencies=guarded)
    def predict(body: PredictRequest, bundle=Depends(champion)) -> PredictResponse:
        if len(body.records) > MAX_RECORDS:
            raise ApiError(413, f"{len(body.records)} records sent; at most {MAX_RECORDS} per request")
        frame = pd.DataFrame([r.model_dump(by_alias=True) for r in body.records])
        frame["date"] = frame["date"].astype("str")
        try:
            prices, report, cleaned = bundle.predict_raw(frame, source="request")
        except InvalidInput as exc:
            raise ApiError(422, str(exc), [
                ErrorDetail(field=f"body.records.{p.column}" if p.column else "body.records", problem=p.message)
                for p in exc.report.problems
            ]) from None
        bad = np.flatnonzero(~np.isfinite(prices))
        if len(bad):
            raise ApiError(422, "no finite prediction for these records: check their market values",
                           [ErrorDetail(field=f"body.records[{i}]", problem="inputs out of any plausible range")
                            for i in bad[:20]])
        warnings = [RecordWarning(index=int(i), message=f"unknown metro {cleaned['metro'].iat[i]!r}: "
                                  "predicted without its coordinates") for i in np.flatnonzero(cleaned["lat"].isna())]
        warnings += [RecordWarning(index=int(i), message=f"the date is outside {schema.FIRST_DATE} to {schema.LAST_DATE}: "
                                   "the model has seen nothing like it") for i in np.flatnonzero(unusual_dates(cleaned["date"]))]
        warnings += [RecordWarning(index=int(i), message="the prediction is over 10x outside the prices the model was "
                                   "trained on: check the record's market values") for i in np.flatnonzero(bundle.implausible(prices))]
        if report.list_price_outliers:  # cleaning blanked them: sent, but missing after cleaning
            ignored = frame["median_list_price"].notna().to_numpy() & cleaned["median_list_price"].isna().to_numpy()
            warnings += [RecordWarning(index=int(i), message="median_list_price above the plausible ceiling: ignored")
                         for i in np.flatnonzero(ignored)]
        return PredictResponse(model_run_id=bundle.run_id, predictions=prices.tolist(), warnings=warnings)

    @app.get("/predictions", response_model=PredictionsPage, tags=["batch"], dependencies=guarded)
    def predictions(
        metro: Annotated[str | None, Query(max_length=200, description=f"metro name (any case) or '{ALL_REGIONS}'")] = None,
        year: Annotated[int | None, Query(ge=1900, le=2200)] = None,
        month: Annotated[int | None, Query(ge=1, le=12)] = None,
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> PredictionsPage:
        rows = read_predictions(store, year, month, metro)
        chunk = rows.iloc[(page - 1) * page_size: page * page_size]
        items = [
            PredictionRow(zipcode=int(r.zipcode), metro=r.metro if isinstance(r.metro, str) else None,
                          city=r.city if isinstance(r.city, str) else None, date=pd.Timestamp(r.date).date(),
                          actual=_finite_or_none(r.actual), predicted=_finite_or_none(r.predicted))
            for r in chunk.itertuples(index=False)
        ]
        return PredictionsPage(items=items, total=len(rows), page=page, page_size=page_size)

    @app.get("/summary", response_model=Summary, tags=["batch"], dependencies=guarded)
    def summary(
        metro: Annotated[str | None, Query(max_length=200)] = None,
        year: Annotated[int | None, Query(ge=1900, le=2200)] = None,
        month: Annotated[int | None, Query(ge=1, le=12)] = None,
    ) -> Summary:
        table = read_summary(store, year, month)
        if table is None:
            return Summary(rows=[])
        keep = same_metro(table["metro"], metro) if metro is not None else np.ones(len(table), dtype=bool)
        return Summary(rows=[SummaryRow(**{k: _finite_or_none(v) if isinstance(v, float) else v for k, v in r.items()})
                             for r in table.loc[keep].to_dict(orient="records")])

    return app
