"""Regression metrics, overall and per metro (scikit-learn's implementations)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import mean_absolute_error, mean_absolute_percentage_error, r2_score, root_mean_squared_error

from shared.reports import Metrics


def regression_metrics(actual, predicted) -> Metrics:
    actual = np.asarray(actual, dtype="float64")
    predicted = np.asarray(predicted, dtype="float64")
    return Metrics(
        mae=float(mean_absolute_error(actual, predicted)),
        rmse=float(root_mean_squared_error(actual, predicted)),
        r2=float(r2_score(actual, predicted)) if len(actual) > 1 else 0.0,
        mape=float(mean_absolute_percentage_error(actual, predicted)),
        rows=int(len(actual)),
    )


def metrics_by_group(groups: pd.Series, actual, predicted) -> dict[str, Metrics]:
    frame = pd.DataFrame({"g": groups.to_numpy(), "a": np.asarray(actual), "p": np.asarray(predicted)})
    return {str(g): regression_metrics(part["a"], part["p"]) for g, part in frame.groupby("g", sort=True)}
