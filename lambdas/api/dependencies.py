"""What the routes ask FastAPI for: the store, the served champion, the champion's bundle (503 if none).
`create_app` puts the store and the served champion on `app.state`, once per process."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from lambdas.api.errors import ApiError
from lambdas.api.served import ServedChampion
from shared.model.bundle import ModelBundle
from shared.store import ArtifactStore

NO_CHAMPION = ("no champion model yet: train one with `housing run --store STORE` (locally) "
               "or upload a HouseTS file under raw/ in the bucket (on AWS)")


def _store(request: Request) -> ArtifactStore:
    return request.app.state.store


def _served(request: Request) -> ServedChampion:
    return request.app.state.served


def _champion(served: Annotated[ServedChampion, Depends(_served)]) -> ModelBundle:
    bundle = served.current()
    if bundle is None:
        raise ApiError(503, NO_CHAMPION if served.last_error is None
                       else f"the champion could not be loaded: {served.last_error}")
    return bundle


Store = Annotated[ArtifactStore, Depends(_store)]
Served = Annotated[ServedChampion, Depends(_served)]
Champion = Annotated[ModelBundle, Depends(_champion)]
