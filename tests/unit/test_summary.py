"""A scored month's summary: its figures equal a computation straight from the rows, per metro and for all
regions, and its skill compares the model with the best naive forecaster on exactly the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shared.reports import FORECASTERS, MOMENTUM
from shared.schema import ALL_REGIONS
from shared.serving.summary import NAIVE_COLUMNS, summarize


@pytest.fixture()
def predictions() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 40
    actual = rng.uniform(1e5, 5e5, n)
    frame = pd.DataFrame({
        "zipcode": np.arange(n), "metro": np.where(np.arange(n) < 25, "Austin", "Boise"), "lat": 1.0, "lng": 2.0,
        "year": 2024, "month": 1, "actual": actual, "predicted": actual * rng.normal(1, 0.02, n),
        "model_run_id": "run-a", "trained_through": "2023-12",
    })
    frame["low"], frame["high"] = frame["predicted"] * 0.97, frame["predicted"] * 1.03
    for i, name in enumerate(FORECASTERS):
        frame[NAIVE_COLUMNS[name]] = actual * rng.normal(1, 0.01 + 0.01 * i, n)
    frame.loc[3, NAIVE_COLUMNS[MOMENTUM]] = np.nan  # a zip without index history: no naive forecast
    frame.loc[5, "actual"] = np.nan  # a row whose price is not known yet
    return frame


def test_the_summary_s_figures_and_skill_equal_a_direct_computation(predictions):
    summary = summarize(predictions).set_index("metro")
    for metro, rows in [("Austin", predictions[predictions.metro == "Austin"]), (ALL_REGIONS, predictions)]:
        got = summary.loc[metro]
        known = rows.dropna(subset=["actual"])
        assert got["mae"] == pytest.approx((known.predicted - known.actual).abs().mean())
        inside = (known.actual >= known.low) & (known.actual <= known.high)
        assert got["coverage"] == pytest.approx(inside.mean())
        same = known.dropna(subset=list(NAIVE_COLUMNS.values()))  # rows every forecaster predicts
        naive = {name: (same[c] - same.actual).abs().mean() for name, c in NAIVE_COLUMNS.items()}
        best = min(naive, key=naive.get)
        assert got["best_naive"] == best and got["naive_mae"] == pytest.approx(naive[best])
        assert got["skill"] == pytest.approx((same.predicted - same.actual).abs().mean() / naive[best])


def test_months_scored_before_the_naive_columns_have_no_skill(predictions):
    summary = summarize(predictions.drop(columns=list(NAIVE_COLUMNS.values())))
    assert summary["skill"].isna().all() and summary["best_naive"].isna().all()
    assert summary["mae"].notna().all()
