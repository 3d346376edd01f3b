"""A rolling-origin backtest: one split tells little about a forecaster, several origins tell more.

Forecast origins lie every ORIGIN_STEP months from the month before a split begins; from each, every
month of the split up to MAX_HORIZON months ahead is predicted from what was known at the origin (no
index value after it, under the history rule), by the model and by each naive forecaster on the same
rows. Nowcast mode predicts every month of the split with the index up to the month before, as
`housing predict` does. The result is one row per prediction (mode, origin, horizon, the actual price,
the model's anchor and booster correction, each market measure's move since the last index value, each
naive forecaster's price), so the figures per horizon
bucket, the skill and the intervals' calibration all come from one table.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from shared import schema
from shared.data.history import ZipHistory, month_numbers
from shared.model.calibration import MARKET_SOURCES, MAX_HORIZON, horizon_bucket
from shared.model.features import Features

ORIGIN_STEP = 3
HORIZON, NOWCAST_MODE = "horizon", "nowcast"

# Given rows, the history and a known_through (None: nowcast): the rows' Features and the booster's
# correction (log) to their anchor.
Predictor = Callable[[pd.DataFrame, ZipHistory, "int | None"], tuple[Features, np.ndarray]]


def origins(months: np.ndarray, step: int = ORIGIN_STEP) -> list[int]:
    """The forecast origins for a split spanning `months`: the month before it, then every `step` months."""
    return list(range(int(months.min()) - 1, int(months.max()), step))


def backtest(rows: pd.DataFrame, seen: ZipHistory, predict: Predictor,
             baselines: Callable[[Features], dict[str, np.ndarray]], step: int = ORIGIN_STEP) -> pd.DataFrame:
    """One row per prediction: its row in `rows`, its month (number), mode, origin, group (the origin whose
    window a nowcast month lies in), horizon, bucket, age (of the last index value used), actual, anchor and
    correction (log), each market measure's metro move since the last index value (MARKET_SOURCES, log), and
    each `baselines` forecaster's price (NaN where the zip had no index value)."""
    months = month_numbers(rows[schema.DATE])
    starts = origins(months, step)
    known = seen.extended(rows)  # the split's own prices count too, each only as the rule allows
    cases: list[tuple[str, int | None, np.ndarray]] = [(NOWCAST_MODE, None, np.ones(len(rows), dtype=bool))]
    cases += [(HORIZON, o, (months - o >= 1) & (months - o <= MAX_HORIZON)) for o in starts]
    parts = []
    for mode, origin, chosen in cases:
        part = rows.loc[chosen].reset_index(drop=True)
        feats, correction = predict(part, known, origin)
        at = months[chosen]
        horizon = at - origin if origin is not None else np.ones(len(part), dtype="int64")
        group = origin if origin is not None else np.asarray(starts)[np.searchsorted(starts, at, side="left") - 1]
        frame = pd.DataFrame({
            "row": np.flatnonzero(chosen), "month": at, "mode": mode, "origin": -1 if origin is None else origin,
            "group": group, "horizon": horizon, "bucket": horizon_bucket(horizon),
            "age": feats.past.age if feats.past is not None else np.nan,
            "actual": part[schema.TARGET].to_numpy(dtype="float64"), "anchor": feats.anchor, "correction": correction,
        })
        for name in MARKET_SOURCES:
            frame[name] = feats.past.columns[name] if feats.past is not None else np.nan
        for name, log_price in baselines(feats).items():
            frame[name] = np.exp(log_price)
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)
