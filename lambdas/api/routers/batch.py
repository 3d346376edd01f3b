"""/predictions, /summary and /monitoring: the batch results read from the store's month partitions, and
the live accuracy recorded as months' prices arrived."""

from __future__ import annotations

import math
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Query

from lambdas.api.dependencies import Store
from lambdas.api.errors import ApiError
from lambdas.api.schemas import (
    MAX_SUMMARY_PAGE_SIZE,
    SUMMARY_PAGE_SIZE,
    ErrorBody,
    LiveRow,
    Monitoring,
    PredictionRow,
    PredictionsPage,
    Summary,
    SummaryRow,
)
from shared.model.drift import DriftReport, read_drift_report
from shared.schema import ALL_REGIONS
from shared.serving.monitoring import live_accuracy
from shared.serving.predictions import close_metros, read_predictions, read_summary, same_metro

router = APIRouter(tags=["batch"])
Year = Annotated[int | None, Query(ge=1900, le=2200)]
Month = Annotated[int | None, Query(ge=1, le=12)]


def _finite_or_none(value) -> float | None:
    return float(value) if value is not None and not pd.isna(value) and math.isfinite(value) else None


def _of_metro(frame: pd.DataFrame, metro: str | None) -> pd.DataFrame:
    """The rows of `metro` (any case, dashes or spacing); a metro none of the rows names is a 404 that names
    the closest ones (an empty page would look like a metro with nothing scored)."""
    if metro is None:
        return frame
    keep = same_metro(frame["metro"], metro)
    if not keep.any() and same_metro(pd.Series([ALL_REGIONS]), metro)[0]:
        return frame  # predictions have no All-regions rows: that metro is every row
    if len(frame) and not keep.any():
        close = close_metros(frame["metro"], metro)
        raise ApiError(404, f"no metro {metro!r} in these results" +
                       (f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""))
    return frame.loc[keep].reset_index(drop=True)


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "no such metro in these results (the closest are named)"}}


@router.get("/predictions", response_model=PredictionsPage, responses=NOT_FOUND)
def predictions(
    store: Store,
    metro: Annotated[str | None, Query(max_length=200, description=f"metro name (any case) or '{ALL_REGIONS}'")] = None,
    year: Year = None,
    month: Month = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> PredictionsPage:
    unreadable: list[str] = []
    rows = _of_metro(read_predictions(store, year, month, unreadable=unreadable), metro)
    chunk = rows.iloc[(page - 1) * page_size: page * page_size]
    items = [
        PredictionRow(zipcode=int(r.zipcode), metro=r.metro if isinstance(r.metro, str) else None,
                      city=r.city if isinstance(r.city, str) else None, date=pd.Timestamp(r.date).date(),
                      actual=_finite_or_none(r.actual), predicted=_finite_or_none(r.predicted),
                      low=_finite_or_none(getattr(r, "low", None)), high=_finite_or_none(getattr(r, "high", None)))
        for r in chunk.itertuples(index=False)
    ]
    return PredictionsPage(items=items, total=len(rows), page=page, page_size=page_size, unreadable_months=unreadable)


@router.get("/summary", response_model=Summary, responses=NOT_FOUND)
def summary(store: Store, metro: Annotated[str | None, Query(max_length=200)] = None, year: Year = None,
            month: Month = None, page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
            page_size: Annotated[int, Query(ge=1, le=MAX_SUMMARY_PAGE_SIZE)] = SUMMARY_PAGE_SIZE) -> Summary:
    table = read_summary(store, year, month)
    if table is None:
        return Summary(rows=[], total=0, page=page, page_size=page_size)
    table = _of_metro(table, metro)
    chunk = table.iloc[(page - 1) * page_size: page * page_size]
    return Summary(rows=[SummaryRow(**{k: _finite_or_none(v) if isinstance(v, float) else v for k, v in r.items()})
                         for r in chunk.to_dict(orient="records")], total=len(table), page=page, page_size=page_size)


@router.get("/monitoring", response_model=Monitoring, responses=NOT_FOUND)
def monitoring(store: Store, metro: Annotated[str, Query(max_length=200)] = ALL_REGIONS,
               page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
               page_size: Annotated[int, Query(ge=1, le=MAX_SUMMARY_PAGE_SIZE)] = SUMMARY_PAGE_SIZE) -> Monitoring:
    """The served models' live accuracy per month (All regions unless `metro` names one)."""
    table = live_accuracy(store)
    if table.empty:
        return Monitoring(rows=[], total=0, page=page, page_size=page_size)
    total = table["metro"] == ALL_REGIONS
    table = table.loc[total] if same_metro(pd.Series([ALL_REGIONS]), metro)[0] else _of_metro(table.loc[~total], metro)
    chunk = table.iloc[(page - 1) * page_size: page * page_size]
    fields = LiveRow.model_fields
    return Monitoring(rows=[LiveRow(**{k: _finite_or_none(v) if isinstance(v, float) else v for k, v in r.items() if k in fields})
                            for r in chunk.to_dict(orient="records")], total=len(table), page=page, page_size=page_size)


@router.get("/monitoring/drift", response_model=DriftReport,
            responses={404: {"model": ErrorBody, "description": "no drift report for that month (or none yet)"}})
def drift(store: Store, month: Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
                                                            description="YYYY-MM; the newest scored month if not given")] = None,
          ) -> DriftReport:
    """A scored month's inputs and predictions against the champion's training data: per input its missing
    share, PSI and share outside the training range; unseen zip codes and metros; which inputs passed the
    warning and alert bands."""
    year, number = (int(part) for part in month.split("-")) if month else (None, None)
    report = read_drift_report(store, year, number)
    if report is None:
        raise ApiError(404, "no drift report yet: one is written when a month is scored" if month is None else
                       f"no drift report for {month}: score the month (`housing batch --month {month}`)")
    return report
