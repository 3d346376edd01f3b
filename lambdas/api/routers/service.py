"""/health: open to every caller (load balancers probe it), never behind the API key."""

from __future__ import annotations

from fastapi import APIRouter

from lambdas.api.dependencies import Served
from lambdas.api.schemas import Health

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health)
def health(served: Served) -> Health:
    bundle = served.current()
    status = "unavailable" if bundle is None else "degraded" if served.last_error else "ok"
    return Health(status=status, champion_run_id=bundle.run_id if bundle else None, champion_error=served.last_error)
