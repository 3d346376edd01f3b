"""The prediction API. `create_app(store_url)` builds it; `housing serve` runs it with uvicorn and
`lambdas.api.handler` wraps it for Lambda. The champion is loaded when the app is created (once per
process), never in the ASGI lifespan, which Mangum runs on every invocation. The routes live in
`lambdas/api/routers/`, and what they need comes from `lambdas/api/dependencies.py`."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from lambdas.api.auth import key_checker, load_api_keys
from lambdas.api.errors import ApiError, BodyLimit, add_error_handlers
from lambdas.api.routers import batch, model, service
from lambdas.api.schemas import MAX_BODY_BYTES, ErrorBody
from lambdas.api.served import ServedChampion
from shared.settings import ApiSettings, get_settings
from shared.store import open_store


def create_app(store_url: str | None = None, refresh_seconds: float | None = None,
               api_keys: frozenset[str] | None = None) -> FastAPI:
    """The app on the store; `api_keys` (default: from the secret HOUSING_API_KEY_SECRET names, if set) are
    required in the x-api-key header of every route but /health and the docs."""
    settings = get_settings(ApiSettings)
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
    app.state.store, app.state.served = store, served
    add_error_handlers(app)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    app.include_router(service.router)
    for router in (model.router, batch.router):
        app.include_router(router, dependencies=guarded)
    return app
