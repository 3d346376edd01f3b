"""The model card of a promoted bundle: what it learned from, how it did against the forecasters a
practitioner tries first (by split, mode and horizon), its intervals' coverage, per metro, what drift is
measured against, and what it is known not to do. Written at promotion (models/cards/<run id>.json, from
the run's evaluation and the bundle), served at GET /model/card and shown in the dashboard; its figures
are the evaluation's, copied, never recomputed."""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.reports import CANDIDATE, LABELS, EvaluationReport, Metrics, backtest_rows

# Measured on the project's synthetic data sets (README, "What the model still cannot do"); true of every
# bundle this code trains, whatever its data.
KNOWN_LIMITS = [
    "Forecasting a month or two past the last index value it was given, right at a market turn after the months "
    "the calibration learned from, its intervals cover less than their level (0.71-0.73 for a nominal 0.8 on a "
    "synthetic downturn); nowcasts adapt to each month's misses (0.79 there), and two years ahead the intervals "
    "widen with the gap between the market's move and the index's momentum, and can cover more than it.",
    "A month ahead it is close to momentum (last month's growth carried forward) on an index that does not lag "
    "the market (0.92-0.95 of its error on synthetic data, a downturn it never saw included).",
    "A zip code without index history gets its price-level reference as the anchor: expect a larger error.",
    "Every figure here comes from the data it was trained on; it was never measured on the real Zillow index.",
]


class HorizonFigure(BaseModel):
    split: str
    mode: str
    horizon: str
    rows: int
    mae: float
    best_naive: str
    best_naive_mae: float | None
    skill: float | None = Field(description="MAE over the best naive forecaster's (below 1: it beats them all)")
    coverage: float | None
    median_width: float | None


class ModelCard(BaseModel):
    run_id: str
    trained_at: str | None
    training_window: tuple[str, str] = Field(description="first and last month of the labelled data it saw")
    trained_through: str | None
    judged_trained_through: str | None = Field(description="the judged model's last month: its figures are on later months")
    rows: int | None
    interval_level: float
    metrics: dict[str, dict[str, Metrics]] = Field(description="split -> model or naive forecaster -> MAE, MAPE, R²")
    by_horizon: list[HorizonFigure] = Field(description="the rolling-origin backtest, per split, mode and horizon bucket")
    per_metro: dict[str, Metrics] = Field(description="holdout figures per metro")
    drift_reference: str = Field(description="what drift reports compare a scored month with")
    known_limits: list[str]


def model_card(run_id: str, evaluation: EvaluationReport, metadata: dict, window: tuple[str, str],
               interval_level: float, drift_months: list[int]) -> ModelCard:
    """The card from the run's evaluation report and its bundle's metadata (copied figures, nothing refit)."""
    metrics: dict[str, dict[str, Metrics]] = {}
    for who, split, figures in evaluation.headline().rows():
        metrics.setdefault(split, {})[LABELS[who]] = figures
    return ModelCard(
        run_id=run_id, trained_at=metadata.get("trained_at"), training_window=window,
        trained_through=metadata.get("trained_through"),
        judged_trained_through=metadata.get("judged_trained_through"), rows=metadata.get("served_rows"),
        interval_level=interval_level,
        metrics=metrics,
        by_horizon=[HorizonFigure(split=split, mode=mode, horizon=bucket, rows=fig.rows, mae=fig.mae[CANDIDATE],
                                  best_naive=LABELS[fig.best_naive], best_naive_mae=fig.mae.get(fig.best_naive),
                                  skill=fig.skill, coverage=fig.coverage, median_width=fig.median_width)
                    for split, mode, bucket, fig in backtest_rows(evaluation.headline())],
        per_metro=evaluation.per_metro.get("holdout", {}),
        drift_reference=(f"each input's distribution in the same calendar month of the training data's last year "
                         f"({len(drift_months)} months kept)") if drift_months else "none (trained before drift monitoring)",
        known_limits=KNOWN_LIMITS,
    )
