"""A fixed set of requests and the prices the bundle gave them when it was sealed (`smoke.json` in the bundle).

Before a new API version takes any traffic, the rollout check (lambdas/api/rollout_check.py) sends these
records to it and compares its answers with the recorded ones: the same bundle must give the same prices
whatever image serves it. The records are the newest labelled month's rows without their price, which a
nowcast predicts from the months before: the bundle alone fixes what they may see, so months scored after
the promotion do not change their prices; their intervals adapt to the live months' misses
(shared.model.adaptation), which the check applies to the recorded ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from shared import schema
from shared.data.history import month_numbers
from shared.model.adaptation import adapted
from shared.model.calibration import Forecast

SMOKE_RECORDS = 20  # few enough for one request, spread over the zips
SMOKE_TOLERANCE = 1e-6  # relative: a cent on a $10,000 home; JSON carries the floats exactly


class SmokeSet(BaseModel):
    """The requests' records and, per record, the price and interval bounds the bundle answered."""

    records: list[dict[str, Any]]
    predicted: list[float]
    low: list[float]
    high: list[float]

    def differences(self, predicted: list[float], intervals: list[dict[str, float]], level: float,
                    live: Mapping[int, float] | None = None) -> list[str]:
        """What an answer (a /predict response's `predictions` and `intervals`) gets wrong, per record: the
        recorded intervals adapted to the `live` months' misses as the API adapts them (shared.model.adaptation)."""
        if len(predicted) != len(self.records) or len(intervals) != len(self.records):
            return [f"{len(predicted)} predictions and {len(intervals)} intervals for {len(self.records)} records"]
        months = month_numbers(pd.to_datetime(pd.Series([record[schema.DATE] for record in self.records])))
        expected = adapted(Forecast(np.asarray(self.predicted), np.asarray(self.low), np.asarray(self.high)), months,
                           np.full(len(months), np.nan), level, recorded=live)
        wrong = []
        for i, record in enumerate(self.records):
            for name, want, got in (("price", self.predicted[i], predicted[i]), ("low", expected.low[i], intervals[i]["low"]),
                                    ("high", expected.high[i], intervals[i]["high"])):
                if not math.isclose(got, want, rel_tol=SMOKE_TOLERANCE):
                    wrong.append(f"zip {record[schema.ZIPCODE]} {record[schema.DATE]}: {name} {got:,.2f}, "
                                 f"the bundle recorded {want:,.2f}")
        return wrong


def requests_of(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """HouseTS rows as an API caller sends them: no price, dates as text, zip codes as integers, missing values
    left out."""
    frame = rows.drop(columns=[schema.TARGET], errors="ignore").assign(date=rows[schema.DATE].astype("str"))
    return [{k: int(v) if k == schema.ZIPCODE else v for k, v in record.items() if not pd.isna(v)}
            for record in frame.to_dict(orient="records")]


def smoke_rows(raw: pd.DataFrame, n: int = SMOKE_RECORDS) -> pd.DataFrame:
    """Up to `n` rows of the newest month in `raw`, spread evenly over its zip codes."""
    newest = raw.loc[raw[schema.DATE] == raw[schema.DATE].max()].sort_values(schema.ZIPCODE)
    picked = np.unique(np.linspace(0, len(newest) - 1, min(n, len(newest))).round().astype(int))
    return newest.iloc[picked]


def record_smoke(bundle, raw: pd.DataFrame) -> SmokeSet:
    """The smoke set of `bundle` (a shared.model.bundle.ModelBundle), its records taken from the validated rows `raw`."""
    records = requests_of(smoke_rows(raw))
    forecast, _, _ = bundle.predict_raw(pd.DataFrame(records), source="smoke records")
    return SmokeSet(records=records, predicted=forecast.price.tolist(), low=forecast.low.tolist(),
                    high=forecast.high.tolist())
