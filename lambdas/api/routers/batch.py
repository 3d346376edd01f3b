"""/predictions and /summary: the batch results, read from the store's month partitions."""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query

from lambdas.api.dependencies import Store
from lambdas.api.schemas import PredictionRow, PredictionsPage, Summary, SummaryRow
from shared.batch import ALL_REGIONS, read_predictions, read_summary, same_metro

router = APIRouter(tags=["batch"])
Year = Annotated[int | None, Query(ge=1900, le=2200)]
Month = Annotated[int | None, Query(ge=1, le=12)]


def _finite_or_none(value) -> float | None:
    return float(value) if value is not None and not pd.isna(value) and math.isfinite(value) else None


@router.get("/predictions", response_model=PredictionsPage)
def predictions(
    store: Store,
    metro: Annotated[str | None, Query(max_length=200, description=f"metro name (any case) or '{ALL_REGIONS}'")] = None,
    year: Year = None,
    month: Month = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> PredictionsPage:
    unreadable: list[str] = []
    rows = read_predictions(store, year, month, metro, unreadable)
    chunk = rows.iloc[(page - 1) * page_size: page * page_size]
    items = [
        PredictionRow(zipcode=int(r.zipcode), metro=r.metro if isinstance(r.metro, str) else None,
                      city=r.city if isinstance(r.city, str) else None, date=pd.Timestamp(r.date).date(),
                      actual=_finite_or_none(r.actual), predicted=_finite_or_none(r.predicted),
                      low=_finite_or_none(getattr(r, "low", None)), high=_finite_or_none(getattr(r, "high", None)))
        for r in chunk.itertuples(index=False)
    ]
    return PredictionsPage(items=items, total=len(rows), page=page, page_size=page_size, unreadable_months=unreadable)


@router.get("/summary", response_model=Summary)
def summary(store: Store, metro: Annotated[str | None, Query(max_length=200)] = None, year: Year = None,
            month: Month = None) -> Summary:
    table = read_summary(store, year, month)
    if table is None:
        return Summary(rows=[])
    keep = same_metro(table["metro"], metro) if metro is not None else np.ones(len(table), dtype=bool)
    return Summary(rows=[SummaryRow(**{k: _finite_or_none(v) if isinstance(v, float) else v for k, v in r.items()})
                         for r in table.loc[keep].to_dict(orient="records")])
