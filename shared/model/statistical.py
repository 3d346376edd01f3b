"""A per-zip statistical forecaster beside the naive ones: statsforecast's AutoTheta, the tool practitioners
reach for, fitted on each zip's log index up to a forecast origin and forecasting MAX_HORIZON months ahead.

It joins the rolling-origin backtest's horizon mode (shared.model.evaluate), where its figures and the gate's
skill count it among the baselines. Not in nowcast mode: refitting every zip every month would cost the
backtest 24 fits per split instead of 8, for a forecaster whose error a month ahead is 2-14x momentum's.
Pipeline only (statsforecast compiles with numba): the API, batch scoring and monitoring never import it.
"""

from __future__ import annotations

import logging
import os
import time
import warnings

import numpy as np
import pandas as pd

from shared import schema
from shared.data.history import month_numbers
from shared.model.calibration import MAX_HORIZON
from shared.reports import THETA

os.environ.setdefault("NIXTLA_ID_AS_COL", "1")  # statsforecast's output keeps the series id as a column
log = logging.getLogger(__name__)

SEASON = 12
WINDOW = 120  # months of each zip's index up to the origin that are fitted
MIN_MONTHS = 2 * SEASON  # a zip with less index history up to the origin gets no forecast


def theta_forecasts(history: pd.DataFrame, origins: list[int], horizon: int = MAX_HORIZON) -> pd.DataFrame:
    """AutoTheta's log price forecasts, one row per (zipcode, origin, month): for every origin (a month
    number), each zip whose index is known at the origin, fitted on its last WINDOW months up to it."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoTheta

    known = history.dropna(subset=[schema.TARGET])
    known = known.loc[known[schema.TARGET] > 0]
    months = month_numbers(known[schema.DATE])
    panel = pd.DataFrame({"unique_id": known[schema.ZIPCODE].round().astype("int64").to_numpy(), "month": months,
                          "y": np.log(known[schema.TARGET].to_numpy(dtype="float64"))})
    panel = panel.drop_duplicates(["unique_id", "month"], keep="last").sort_values(["unique_id", "month"])
    parts, started = [], time.monotonic()
    for origin in origins:
        window = panel.loc[(panel["month"] <= origin) & (panel["month"] > origin - WINDOW)]
        last, count = (window.groupby("unique_id")["month"].transform(f) for f in ("max", "size"))
        window = window.loc[(last == origin) & (count >= MIN_MONTHS)]
        if window.empty:
            continue
        m = window["month"].to_numpy()
        dates = pd.to_datetime(pd.DataFrame({"year": m // 12, "month": m % 12 + 1, "day": 1})) + pd.offsets.MonthEnd(0)
        with warnings.catch_warnings():  # a flat series (a zip at the price floor) has no autocorrelation to test
            warnings.filterwarnings("ignore", "invalid value encountered in divide", RuntimeWarning)
            fitted = StatsForecast(models=[AutoTheta(season_length=SEASON)], freq="ME", n_jobs=1).forecast(
                df=pd.DataFrame({"unique_id": window["unique_id"].to_numpy(), "ds": dates.to_numpy(),
                                 "y": window["y"].to_numpy()}), h=horizon)
        steps = fitted.groupby("unique_id").cumcount().to_numpy() + 1
        parts.append(pd.DataFrame({schema.ZIPCODE: fitted["unique_id"].to_numpy(), "origin": origin,
                                   "month": origin + steps, THETA: fitted["AutoTheta"].to_numpy()}))
    log.info("AutoTheta: %d origin(s) x up to %d zips in %.0f s", len(origins), panel["unique_id"].nunique(),
             time.monotonic() - started)
    if not parts:
        return pd.DataFrame(columns=[schema.ZIPCODE, "origin", "month", THETA])
    return pd.concat(parts, ignore_index=True)
