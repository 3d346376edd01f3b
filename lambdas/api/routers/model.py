"""/model and /predict: the champion, and predictions for raw HouseTS records."""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query

from lambdas.api.dependencies import NO_CHAMPION, Champion, Served
from lambdas.api.errors import ApiError
from lambdas.api.schemas import (
    MAX_EXPLAINED,
    MAX_RECORDS,
    Contribution,
    ErrorBody,
    ErrorDetail,
    ModelInfo,
    PredictionInterval,
    PredictRequest,
    PredictResponse,
    Promotion,
    RecordExplanation,
    RecordWarning,
)
from shared.layout import model_card_key
from shared.model.explain import TOP_PARTS, Explanation, describe
from shared.serving.card import ModelCard
from shared.serving.caveats import caveats

router = APIRouter(tags=["model"])


@router.get("/model", response_model=ModelInfo, responses={503: {"model": ErrorBody}})
def model(bundle: Champion, served: Served) -> ModelInfo:
    pointer = served.pointer
    if pointer is None:  # a bundle is served only with the pointer that named it
        raise ApiError(503, NO_CHAMPION)
    return ModelInfo(
        run_id=bundle.run_id, trained_at=bundle.metadata.get("trained_at"), trained_through=bundle.served.trained_through,
        judged_trained_through=bundle.judged.trained_through, promoted_at=pointer.promoted_at,
        promotion_reason=pointer.reason, params=bundle.params, metrics=pointer.metrics,
        promotions=[Promotion(**p.model_dump()) for p in served.promotions],
        feature_schema=bundle.schema.model_dump(), calibration=bundle.calibration.to_dict(),
    )


@router.get("/model/card", response_model=ModelCard,
            responses={404: {"model": ErrorBody, "description": "the champion has no card yet"}, 503: {"model": ErrorBody}})
def card(bundle: Champion, served: Served) -> ModelCard:
    """The champion's model card: data window, figures against the naive forecasters by horizon, coverage,
    per metro, the drift reference, known limits (written at promotion)."""
    key = model_card_key(bundle.run_id)
    if not served.store.exists(key):
        raise ApiError(404, f"no model card for {bundle.run_id}: cards are written at promotion; promote it again "
                            f"(`housing promote {bundle.run_id}`) to write one")
    return ModelCard.model_validate_json(served.store.read_bytes(key))


@router.post("/predict", response_model=PredictResponse,
             responses={400: {"model": ErrorBody, "description": "the body is not JSON text"},
                        413: {"model": ErrorBody}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody}})
def predict(body: PredictRequest, bundle: Champion, served: Served,
            explain: Annotated[bool, Query(description=f"also say why each price (at most {MAX_EXPLAINED} records)")] = False,
            ) -> PredictResponse:
    if len(body.records) > MAX_RECORDS:
        raise ApiError(413, f"{len(body.records)} records sent; at most {MAX_RECORDS} per request")
    if explain and len(body.records) > MAX_EXPLAINED:
        raise ApiError(422, f"{len(body.records)} records sent with explain=true; at most {MAX_EXPLAINED} (an "
                            "explanation costs about a hundred predictions): send them in smaller requests")
    frame = body.typed()  # the records passed validation's rules as they were read (HouseRecord)
    seen = served.history_for(frame)
    forecast, report, cleaned = bundle.predict_typed(frame, seen=seen, live=served.live)
    prices = forecast.price
    bad = np.flatnonzero(~(np.isfinite(prices) & np.isfinite(forecast.low) & np.isfinite(forecast.high)))
    if len(bad):
        raise ApiError(422, "no finite prediction for these records: check their market values",
                       [ErrorDetail(field=f"body.records[{i}]", problem="inputs out of any plausible range")
                        for i in bad[:20]])
    return PredictResponse(model_run_id=bundle.run_id, predictions=prices.tolist(),
                           intervals=[PredictionInterval(low=lo, high=hi)
                                      for lo, hi in zip(forecast.low.tolist(), forecast.high.tolist())],
                           interval_level=bundle.calibration.level,
                           warnings=[RecordWarning(index=i, message=m)
                                     for i, m in caveats(frame, cleaned, prices, report, bundle.supported_range())],
                           explanations=_explained(bundle.explain(cleaned, seen)) if explain else None)


def _explained(explained: list[Explanation]) -> list[RecordExplanation]:
    return [RecordExplanation(index=i, log_price=e.log_price, parts=[
        Contribution(name=name, description=describe(name), log_contribution=value, factor=math.exp(value))
        for name, value in e.top(TOP_PARTS)]) for i, e in enumerate(explained)]
