"""Every request and response body of the API, as pydantic models.

`HouseRecord` is generated from the HouseTS contract in `shared.schema` (same names, same bounds as file
validation), so the API cannot drift from what training reads. Fields a caller cannot know (the target)
are optional; only date, zipcode and city_full are required, as for a new month's file.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from annotated_types import Interval
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from shared import schema
from shared.data.validation import CEILING, RANGES
from shared.reports import Headline

# The ALB caps Lambda request and response bodies at 1 MB. A HouseTS record is ~0.9 KB of JSON, so 500
# records (~460 KB) leave room for long names and pretty-printed clients; the body limit is enforced too.
MAX_RECORDS = 500
MAX_EXPLAINED = 10  # records per request with ?explain=true: a contribution costs ~100 predictions
MAX_BODY_BYTES = 1_000_000

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


def _text_only(value: Any) -> Any:
    if not isinstance(value, (str, dt.date)):
        raise ValueError("a date is text in YYYY-MM-DD form")
    return value


def _number_only(value: Any) -> Any:
    if isinstance(value, (bool, str)):
        raise ValueError("must be a JSON number")
    return value


# Lax pydantic reads the number 0 as 1970-01-01, true as 1 and "12" as 12: none of those is what a caller
# meant, so dates must be text and numbers must be numbers (6007.0 is still the integer 6007).
IsoDate = Annotated[dt.date, BeforeValidator(_text_only)]
ZipCode = Annotated[int, BeforeValidator(_number_only)]


def _field_name(column: str) -> str:
    return column.lower().replace(" ", "_")


def _record_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {
        "date": (IsoDate, Field(alias=schema.DATE, description="month of the record, YYYY-MM-DD")),
        "zipcode": (ZipCode, Field(alias=schema.ZIPCODE, ge=0, le=99999, description="5-digit US zip code")),
        "city_full": (str, Field(alias=schema.CITY_FULL, min_length=1, max_length=200,
                                 description="metro name, e.g. 'Atlanta-Sandy Springs-Alpharetta'")),
        "city": (str | None, Field(None, alias=schema.CITY, max_length=200)),
    }
    for column in schema.NUMERIC:
        if column in (schema.ZIPCODE,):
            continue
        low, high = RANGES.get(column, (0 if column in schema.NON_NEGATIVE else -CEILING, CEILING))
        note = ("the zip's index value that month: never used for its own month, only as history for the "
                "zip's later months in the request" if column in schema.UNKNOWN_AT_PREDICTION else None)
        # A price, where given, is positive (file validation's not_positive rule).
        bounds = Interval(gt=0, le=high) if column == schema.TARGET else Interval(ge=low, le=high)
        number = Annotated[float, bounds, BeforeValidator(_number_only)]
        fields[_field_name(column)] = (number | None, Field(None, alias=column, description=note))
    return fields


HouseRecord = create_model("HouseRecord", __config__=_STRICT, **_record_fields())
HouseRecord.__doc__ = "One zip code's month in HouseTS form (column names exactly as in the data set)."


class PredictRequest(BaseModel):
    model_config = _STRICT
    records: list[HouseRecord] = Field(  # type: ignore[valid-type]
        min_length=1, description=f"1 to {MAX_RECORDS} records; more is answered with 413")

    def typed(self) -> pd.DataFrame:
        """The records as file validation types a file's rows (`shared.data.validation.validate_housing`,
        for prediction): HouseRecord holds validation's rules, so nothing is left to check, and the frame
        is built at once (validating a frame of the records again cost a one-record request 3 ms)."""
        rows = [record.model_dump(by_alias=True) for record in self.records]
        numbers = np.array([[row[c] for c in schema.NUMERIC] for row in rows], dtype="float64")  # None: NaN
        columns: dict[str, Any] = {c: numbers[:, i] for i, c in enumerate(schema.NUMERIC)}
        columns[schema.DATE] = np.array([row[schema.DATE] for row in rows], dtype="datetime64[us]")
        columns.update({c: pd.array([row[c] for row in rows], dtype="str") for c in schema.TEXT})
        return pd.DataFrame({c: columns[c] for c in schema.COLUMNS})


class RecordWarning(BaseModel):
    index: int = Field(description="position of the record in the request")
    message: str


class PredictionInterval(BaseModel):
    low: float
    high: float


class Contribution(BaseModel):
    name: str = Field(description="anchor, a feature's column name, bias, 'naive <forecaster>' or 'other features'")
    description: str
    log_contribution: float = Field(description="its share of the log price (the parts sum to `log_price`)")
    factor: float = Field(description="exp(log_contribution): what it multiplies the price by (for the anchor: the "
                                      "price level in USD it starts from)")


class RecordExplanation(BaseModel):
    index: int = Field(description="the record's position in the request")
    log_price: float = Field(description="the sum of the parts: the log of the prediction before it is clipped to "
                                         "the model's supported range (a warning says when that happened)")
    parts: list[Contribution]


class PredictResponse(BaseModel):
    model_run_id: str
    predictions: list[float] = Field(description="predicted price per record, in request order")
    intervals: list[PredictionInterval] = Field(
        default_factory=list, description="per record, in request order: the prediction interval at `interval_level`; "
                                          "in a request of several months, a later month's is widened or narrowed by "
                                          "how many of the earlier months' known prices fell outside theirs")
    interval_level: float = Field(0.8, description="the intervals' nominal coverage (calibrated on the backtest)")
    warnings: list[RecordWarning] = Field(default_factory=list)
    explanations: list[RecordExplanation] | None = Field(
        None, description="with ?explain=true: per record, why this price (XGBoost's own contributions, weighed as "
                          "the prediction weighs them)")


class Health(BaseModel):
    status: Literal["ok", "degraded", "unavailable"] = Field(
        description="ok: the champion is served; degraded: a model is served but not the latest champion, or the "
                    "pointer is gone (champion_error says why); unavailable: nothing can be served (no champion, or "
                    "it could not be loaded)")
    champion_run_id: str | None = Field(description="the model /predict answers with; None: /predict is a 503")
    champion_error: str | None = Field(None, description="why the latest champion is not what is served")


class Promotion(BaseModel):
    run_id: str
    promoted_at: str
    reason: str
    promoted_by: str | None = None
    previous_run_id: str | None = None


class ModelInfo(BaseModel):
    run_id: str
    trained_at: str | None
    trained_through: str | None = Field(None, description="last month (YYYY-MM) the served model learned from")
    judged_trained_through: str | None = Field(
        None, description="last month the model the gate judged learned from (its figures are on later months)")
    promoted_at: str
    promotion_reason: str
    promotions: list[Promotion] = Field(default_factory=list, description="the newest promotions, newest first "
                                                                           "(an append-only history: rollbacks included)")
    params: dict[str, Any]
    metrics: Headline = Field(description="eval and holdout metrics (horizon and nowcast modes, and per horizon bucket "
                                          "of the rolling-origin backtest) of the judged model, the naive forecasters "
                                          "and the previous champion")
    calibration: dict[str, Any] = Field(
        default_factory=dict, description="per horizon bucket: the market measures' mix and its weight, the booster's "
                                          "weight and the range its correction is trusted in (bounds), the naive forecaster "
                                          "blended in, and the interval's log half-width "
                                          "(spread x (scale + adapt x the market's gap from momentum))")
    feature_schema: dict[str, Any]


class PredictionRow(BaseModel):
    zipcode: int
    metro: str | None
    city: str | None
    date: dt.date
    actual: float | None
    predicted: float | None
    low: float | None = Field(None, description="the prediction interval's bounds (batch predictions made since intervals)")
    high: float | None = None


class PredictionsPage(BaseModel):
    items: list[PredictionRow]
    total: int
    page: int
    page_size: int
    unreadable_months: list[str] = Field(
        default_factory=list, description="months skipped because their file cannot be read, with the remedy")


SUMMARY_PAGE_SIZE = 500  # rows (~350 bytes of JSON each): a full page is ~175 KB
MAX_SUMMARY_PAGE_SIZE = 2000  # ~0.7 MB, under the ALB's 1 MB limit for a Lambda target's response


class SummaryRow(BaseModel):
    metro: str
    year: int
    month: int
    count: int
    with_actual: int
    mae: float | None
    rmse: float | None
    mean_pct_error: float | None
    mean_actual: float | None
    mean_predicted: float | None
    mean_low: float | None = None
    mean_high: float | None = None
    coverage: float | None = Field(None, description="share of the month's actual prices inside their interval")
    skill: float | None = Field(
        None, description="the model's MAE over the best naive forecaster's on the same rows (below 1: it beats them all)")
    best_naive: str | None = Field(None, description="that forecaster (persistence, momentum, damped_trend, seasonal_naive)")
    naive_mae: float | None = Field(None, description="its MAE")
    lat: float | None
    lng: float | None
    model_run_id: str | None
    trained_through: str | None = Field(
        None, description="last month (YYYY-MM) the scoring model learned from: later months are out of sample")


class Summary(BaseModel):
    """One page of the summary rows (metro x month, in month then metro order): about 36 rows per scored
    month, so ten years are ~4,300 rows, more than the ALB's 1 MB response limit in one body."""

    rows: list[SummaryRow]
    total: int = 0
    page: int = 1
    page_size: int = SUMMARY_PAGE_SIZE


class LiveRow(BaseModel):
    """How the champion serving when a month's prices arrived did on that month (shared.serving.monitoring)."""

    year: int
    month: int
    metro: str
    model_run_id: str
    recorded_at: str = Field(description="when the prices arrived and were scored (UTC)")
    with_actual: int = Field(description="rows with a known price of a month the model had not learned")
    mae: float | None
    mean_pct_error: float | None
    skill: float | None = Field(None, description="MAE over the best naive forecaster's on the same rows")
    best_naive: str | None = None
    naive_mae: float | None = None
    coverage: float | None = Field(None, description="share of the actual prices inside their interval")


class Monitoring(BaseModel):
    """One page of the live accuracy series, in month order (a month's first record is the model that was
    serving when its prices arrived; a later champion's rescoring is a backtest and is not recorded)."""

    rows: list[LiveRow]
    total: int = 0
    page: int = 1
    page_size: int = SUMMARY_PAGE_SIZE


class ErrorDetail(BaseModel):
    field: str | None = Field(description="where the problem is, e.g. body.records[0].zipcode")
    problem: str


class ErrorBody(BaseModel):
    detail: str
    errors: list[ErrorDetail] = Field(default_factory=list)
