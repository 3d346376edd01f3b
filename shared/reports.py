"""What evaluation produces and later steps read: metrics, the gate's decision, the evaluation report.

Typed here (pydantic, no scikit-learn) so the stages, the run record, the champion pointer, the CLI and
the API all read the same fields instead of matching dict keys by string.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

# The models every report compares, in the order tables show them: the candidate, the median, the naive
# forecasters a practitioner tries first (shared.model.baselines), the price-level reference alone, and the
# champion it would replace.
CANDIDATE, BASELINE, REFERENCE, CHAMPION = "candidate", "baseline", "reference", "champion"
PERSISTENCE, MOMENTUM, DAMPED, SEASONAL = "persistence", "momentum", "damped_trend", "seasonal_naive"
FORECASTERS = (PERSISTENCE, MOMENTUM, DAMPED, SEASONAL)  # the naive forecasters, computed wherever the model predicts
THETA = "auto_theta"  # statsforecast's AutoTheta per zip (shared.model.statistical): the backtest's horizon mode only
BASELINES = (*FORECASTERS, THETA)  # what the backtest's skill and the gate compare with
# A split's name plus this names its nowcast-mode figures (see shared.model.evaluate); the bare name is horizon mode.
NOWCAST = "_nowcast"
LABELS = {CANDIDATE: "XGBoost (this run)", BASELINE: "DummyRegressor(median)",
          PERSISTENCE: "last known index (persistence)", MOMENTUM: "last growth carried forward (momentum)",
          DAMPED: "damped trend (3-month growth)", SEASONAL: "seasonal naive (last year's growth)",
          REFERENCE: "price-level reference alone", CHAMPION: "previous champion",
          THETA: "AutoTheta per zip (statsforecast)"}
WHO = (CANDIDATE, BASELINE, *FORECASTERS, REFERENCE, CHAMPION)


class Metrics(BaseModel):
    mae: float
    rmse: float
    r2: float
    mape: float
    rows: int = 0


class BucketFigures(BaseModel):
    """One horizon bucket of one mode of a rolling-origin backtest (shared.model.backtest), on the rows whose zip
    had an index value to forecast from (the naive forecasters' domain)."""

    rows: int
    mae: dict[str, float] = Field(description="who -> MAE: the candidate, each naive forecaster, the champion")
    mape: dict[str, float]
    best_naive: str = Field(description="the baseline with the least MAE here: a naive forecaster, or AutoTheta in "
                                        "horizon mode")
    skill: float = Field(description="candidate MAE / best naive forecaster's MAE (below 1: the model has skill)")
    coverage: float = Field(description="share of actual prices inside the candidate's interval")
    median_width: float = Field(description="median of (high - low) / predicted price")
    monthly_mae: dict[str, list[float]] = Field(
        default_factory=dict, description="the candidate's and the best naive forecaster's MAE per target month, in "
                                          "month order (errors within a month move together: the gate's test counts months)")


def bucket_order(bucket: str) -> tuple[int, int]:
    """Sorts horizon buckets by their first month ("1", "2-3", ..., "13-24"), then "all" and the rest."""
    first = bucket.split("-")[0]
    return (0, int(first)) if first.isdigit() else (1, 0)


class GateDecision(BaseModel):
    passed: bool
    reasons: list[str]
    champion_run_id: str | None = Field(None, description="the champion compared with (promotion checks it is still the one)")


class Headline(BaseModel):
    """Per-split metrics of the candidate, the median baseline and the champion compared with (if any):
    what the run record, the champion pointer, `housing status` and `/model` show."""

    candidate: dict[str, Metrics] = Field(default_factory=dict)
    baseline: dict[str, Metrics] = Field(default_factory=dict)
    persistence: dict[str, Metrics] = Field(
        default_factory=dict, description="each zip's last index value the history rule allows, carried forward")
    momentum: dict[str, Metrics] = Field(default_factory=dict, description="the last month's growth carried forward")
    damped_trend: dict[str, Metrics] = Field(default_factory=dict, description="the 3-month growth, damped")
    seasonal_naive: dict[str, Metrics] = Field(default_factory=dict, description="the same months' growth a year before")
    reference: dict[str, Metrics] = Field(
        default_factory=dict, description="the price-level reference the model corrects, used as the prediction")
    champion: dict[str, Metrics] | None = None
    backtest: dict[str, dict[str, dict[str, BucketFigures]]] = Field(
        default_factory=dict, description="split -> mode (horizon, nowcast) -> horizon bucket -> figures")

    def rows(self) -> list[tuple[str, str, Metrics]]:
        """(who, split, metrics) for every figure, candidate first."""
        return [(who, split, m) for who in WHO for split, m in (getattr(self, who) or {}).items()]


def backtest_rows(metrics: Headline) -> list[tuple[str, str, str, BucketFigures]]:
    """(split, mode, bucket, figures) of the backtest, splits and modes as reported, buckets by horizon."""
    return [(split, mode, bucket, modes[mode][bucket]) for split, modes in metrics.backtest.items()
            for mode in sorted(modes) for bucket in sorted(modes[mode], key=bucket_order)]


class EvaluationReport(Headline):
    """`runs/<id>/evaluation.json`: the headline figures, the candidate's per-metro figures, the gate."""

    per_metro: dict[str, dict[str, Metrics]] = Field(default_factory=dict, description="split -> metro -> metrics")
    champion_run_id: str | None = None
    gate: GateDecision | None = None

    def headline(self) -> Headline:
        return Headline(**{who: getattr(self, who) for who in Headline.model_fields})
