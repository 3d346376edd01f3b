"""Data quality and drift of a scored month against what the champion was trained on.

The reference (`DriftReference.fit`, stored in the bundle as drift_reference.json) holds, per input the
model reads (`shared.model.features.PASSTHROUGH`) and for the log price, per calendar month of the training
data's last year, the decile edges and the share in each bin, their range and missing share; and the zip
codes and metros seen in all of training. A month is compared with the same calendar month a year or so
before: a month is one cross-section of the zips, and against the whole panel every price-like input would
look drifted (a decade of rising prices), against the last months every volume (homes sold, listings:
their season). A month's report
(`report`) gives per input its missing share, the population stability index against the reference
(PSI = sum (p - q) ln(p / q) over the bins; the usual reading: < 0.1 stable, 0.1-0.2 a shift to watch,
> 0.2 a real change; the bands are settings: HOUSING_DRIFT_PSI_WARN / _ALERT), and the share outside the
training range; the same for the predicted log prices against the training prices; and the zip codes and
metros never seen in training. Written beside the live accuracy at monitoring/drift/year=YYYY/month=MM.json
by each scoring of the month (it describes the rows scored then).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, computed_field

from shared import schema
from shared.clock import utc_now
from shared.data.history import month_numbers
from shared.layout import DRIFT_PREFIX, drift_report_key
from shared.schema import METRO
from shared.store import ArtifactStore

BINS = 10
YEAR = 12
EPSILON = 1e-4  # the share given to an empty bin, so the index stays finite
PRICE = "log_price"  # the reference of the predictions: the training rows' log prices


class Distribution(BaseModel):
    edges: list[float] = Field(description="inner bin edges (the training values' deciles, distinct)")
    shares: list[float] = Field(description="the training values' share in each bin (len(edges) + 1)")
    low: float | None
    high: float | None
    missing: float = Field(description="share of training rows without a value")

    @classmethod
    def of(cls, values: np.ndarray) -> Distribution:
        known = values[np.isfinite(values)]
        if not len(known):
            return cls(edges=[], shares=[1.0], low=None, high=None, missing=1.0)
        edges = np.unique(np.quantile(known, np.linspace(0, 1, BINS + 1)[1:-1]))
        shares = np.bincount(np.searchsorted(edges, known, side="right"), minlength=len(edges) + 1) / len(known)
        return cls(edges=edges.tolist(), shares=shares.tolist(), low=float(known.min()), high=float(known.max()),
                   missing=float(1 - len(known) / len(values)))

    def compare(self, values: np.ndarray, warn: float, alert: float) -> FeatureDrift:
        known = values[np.isfinite(values)]
        missing = float(1 - len(known) / len(values)) if len(values) else 0.0
        if not len(known) or self.low is None:
            return FeatureDrift(missing=missing, psi=None, outside_range=0.0, level="no values")
        counts = np.bincount(np.searchsorted(self.edges, known, side="right"), minlength=len(self.shares))
        p, q = np.maximum(counts / len(known), EPSILON), np.maximum(np.asarray(self.shares), EPSILON)
        psi = float(np.sum((p - q) * np.log(p / q)))
        outside = float(np.mean((known < self.low) | (known > self.high)))
        level = "alert" if psi > alert else "warn" if psi > warn else "ok"
        return FeatureDrift(missing=missing, psi=psi, outside_range=outside, level=level)


class FeatureDrift(BaseModel):
    missing: float = Field(description="share of the month's rows without a value")
    psi: float | None = Field(description="population stability index against the training values")
    outside_range: float = Field(description="share of the known values outside the training range")
    level: str = Field(description="ok, warn (PSI above the warning band), alert (above the alert band) or no values")


class DriftReference(BaseModel):
    months: dict[int, dict[str, Distribution]] = Field(description="calendar month (1-12) -> input -> distribution")
    zipcodes: list[int]
    metros: list[str]

    @classmethod
    def fit(cls, rows: pd.DataFrame, features: list[str]) -> DriftReference:
        """From the cleaned rows the served model was trained on."""
        months = month_numbers(rows[schema.DATE])
        recent = rows.loc[months > months.max() - YEAR] if len(rows) else rows
        by_month = {}
        for calendar, part in recent.groupby(recent[schema.DATE].dt.month):
            found = {name: Distribution.of(part[name].to_numpy(dtype="float64")) for name in features if name in part}
            with np.errstate(divide="ignore", invalid="ignore"):
                found[PRICE] = Distribution.of(np.log(part[schema.TARGET].to_numpy(dtype="float64")))
            by_month[int(calendar)] = found
        return cls(months=by_month, zipcodes=sorted({int(z) for z in rows[schema.ZIPCODE].dropna().round()}),
                   metros=sorted({str(m) for m in rows[METRO].dropna()}))

    def report(self, cleaned: pd.DataFrame, predicted: np.ndarray, warn: float, alert: float, source: str,
               model_run_id: str) -> DriftReport:
        """The report of one month's cleaned rows and their predictions, against the same calendar month."""
        calendar = int(cleaned[schema.DATE].dt.month.mode().iloc[0])
        reference = self.months.get(calendar) or next(iter(self.months.values()))
        features = {name: distribution.compare(cleaned[name].to_numpy(dtype="float64"), warn, alert)
                    for name, distribution in reference.items() if name != PRICE and name in cleaned}
        with np.errstate(divide="ignore", invalid="ignore"):
            prediction = reference[PRICE].compare(np.log(np.asarray(predicted, dtype="float64")), warn, alert)
        zips = {int(z) for z in cleaned[schema.ZIPCODE].dropna().round()}
        metros = {str(m) for m in cleaned[METRO].dropna()}
        return DriftReport(
            source=source, model_run_id=model_run_id, rows=len(cleaned),
            recorded_at=utc_now(),
            reference_month=calendar, thresholds={"warn": warn, "alert": alert}, features=features,
            prediction=prediction, unseen_zipcodes=sorted(zips - set(self.zipcodes)),
            unseen_metros=sorted(metros - set(self.metros)),
        )


class DriftReport(BaseModel):
    source: str = Field(description="the scored file")
    rows: int
    recorded_at: str
    model_run_id: str | None = None
    reference_month: int = Field(description="the calendar month of the training data's last year compared with")
    thresholds: dict[str, float]
    features: dict[str, FeatureDrift]
    prediction: FeatureDrift = Field(description="the predicted log prices against the training prices")
    unseen_zipcodes: list[int]
    unseen_metros: list[str]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def alerts(self) -> list[str]:
        """The inputs (and `prediction`) whose PSI is above the alert band."""
        return [name for name, f in {**self.features, "prediction": self.prediction}.items() if f.level == "alert"]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def warnings(self) -> list[str]:
        """Those above the warning band only."""
        return [name for name, f in {**self.features, "prediction": self.prediction}.items() if f.level == "warn"]


def read_drift_report(store: ArtifactStore, year: int | None = None, month: int | None = None) -> DriftReport | None:
    """A month's drift report (the newest month's if none is named); None if there is none."""
    if year is None or month is None:
        reports = drift_reports(store, last=1)
        return reports[0] if reports else None
    key = drift_report_key(year, month)
    return DriftReport.model_validate_json(store.read_bytes(key)) if store.exists(key) else None


def drift_reports(store: ArtifactStore, last: int = 12) -> list[DriftReport]:
    """The newest `last` months' drift reports, in month order."""
    return list(drift_reports_by_month(store, last).values())


def drift_reports_by_month(store: ArtifactStore, last: int = 12) -> dict[tuple[int, int], DriftReport]:
    """The newest `last` months' drift reports by (year, month), in month order."""
    months = {(int(m[1]), int(m[2])): key for key in store.list(DRIFT_PREFIX) if (m := _REPORT_KEY.fullmatch(key))}
    return {month: DriftReport.model_validate_json(store.read_bytes(months[month])) for month in sorted(months)[-last:]}


_REPORT_KEY = re.compile(re.escape(DRIFT_PREFIX) + r"year=(\d{4})/month=(\d{2})\.json")
