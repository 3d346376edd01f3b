"""/model and /predict: the champion, and predictions for raw HouseTS records."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fastapi import APIRouter

from lambdas.api.dependencies import Champion, Served
from lambdas.api.errors import ApiError
from lambdas.api.schemas import (
    MAX_RECORDS,
    ErrorBody,
    ErrorDetail,
    ModelInfo,
    PredictionInterval,
    PredictRequest,
    PredictResponse,
    RecordWarning,
)
from shared import schema
from shared.validation import InvalidInput, unusual_dates

router = APIRouter(tags=["model"])


@router.get("/model", response_model=ModelInfo, responses={503: {"model": ErrorBody}})
def model(bundle: Champion, served: Served) -> ModelInfo:
    pointer = served.pointer
    return ModelInfo(
        run_id=bundle.run_id, trained_at=bundle.metadata.get("trained_at"), trained_through=bundle.served.trained_through,
        judged_trained_through=bundle.judged.trained_through, promoted_at=pointer.promoted_at,
        promotion_reason=pointer.reason, params=bundle.params, metrics=pointer.metrics,
        feature_schema=bundle.schema.model_dump(), calibration=bundle.calibration.to_dict(),
    )


@router.post("/predict", response_model=PredictResponse,
             responses={400: {"model": ErrorBody, "description": "the body is not JSON text"},
                        413: {"model": ErrorBody}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody}})
def predict(body: PredictRequest, bundle: Champion, served: Served) -> PredictResponse:
    if len(body.records) > MAX_RECORDS:
        raise ApiError(413, f"{len(body.records)} records sent; at most {MAX_RECORDS} per request")
    frame = pd.DataFrame([r.model_dump(by_alias=True) for r in body.records])
    frame["date"] = frame["date"].astype("str")
    try:
        forecast, report, cleaned = bundle.predict_raw(frame, source="request", seen=served.seen)
    except InvalidInput as exc:
        raise ApiError(422, str(exc), [
            ErrorDetail(field=f"body.records.{p.column}" if p.column else "body.records", problem=p.message)
            for p in exc.report.problems
        ]) from None
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
                           warnings=_warnings(frame, cleaned, prices, report.list_price_outliers, bundle))


def _warnings(frame: pd.DataFrame, cleaned: pd.DataFrame, prices: np.ndarray, list_price_outliers: int,
              bundle) -> list[RecordWarning]:
    """Per record, what the caller should know about a prediction that was still made."""
    def each(mask: np.ndarray, message) -> list[RecordWarning]:
        return [RecordWarning(index=int(i), message=message(i)) for i in np.flatnonzero(mask)]

    out = each(cleaned["lat"].isna().to_numpy(),
               lambda i: f"unknown metro {cleaned['metro'].iat[i]!r}: predicted without its coordinates")
    out += each(unusual_dates(cleaned["date"]), lambda i: f"the date is outside {schema.FIRST_DATE} to "
                f"{schema.LAST_DATE}: the model has seen nothing like it")
    out += each(bundle.implausible(prices), lambda i: "the prediction is over 10x outside the prices the model "
                "was trained on: check the record's market values")
    if list_price_outliers:  # cleaning blanked them: sent, but missing after cleaning
        ignored = frame["median_list_price"].notna().to_numpy() & cleaned["median_list_price"].isna().to_numpy()
        out += each(ignored, lambda i: "median_list_price above the plausible ceiling: ignored")
    return out
