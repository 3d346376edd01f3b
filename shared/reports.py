"""What evaluation produces and later steps read: metrics, the gate's decision, the evaluation report.

Typed here (pydantic, no scikit-learn) so the stages, the run record, the champion pointer, the CLI and
the API all read the same fields instead of matching dict keys by string.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

# The models every report compares, in the order tables show them: the candidate, the naive predictors a
# practitioner tries first (the median, the zip's last known index carried forward, the price-level
# reference alone), and the champion it would replace.
CANDIDATE, BASELINE, PERSISTENCE, REFERENCE, CHAMPION = "candidate", "baseline", "persistence", "reference", "champion"
NAIVE = (PERSISTENCE, REFERENCE)
# A split's name plus this names its nowcast-mode figures (see shared.evaluate); the bare name is horizon mode.
NOWCAST = "_nowcast"
LABELS = {CANDIDATE: "XGBoost (this run)", BASELINE: "DummyRegressor(median)",
          PERSISTENCE: "last known index (persistence)", REFERENCE: "price-level reference alone",
          CHAMPION: "previous champion"}


class Metrics(BaseModel):
    mae: float
    rmse: float
    r2: float
    mape: float
    rows: int = 0


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
    reference: dict[str, Metrics] = Field(
        default_factory=dict, description="the price-level reference the model corrects, used as the prediction")
    champion: dict[str, Metrics] | None = None

    def rows(self) -> list[tuple[str, str, Metrics]]:
        """(who, split, metrics) for every figure, candidate first."""
        return [(who, split, m) for who in (CANDIDATE, BASELINE, PERSISTENCE, REFERENCE, CHAMPION)
                for split, m in (getattr(self, who) or {}).items()]


class EvaluationReport(Headline):
    """`runs/<id>/evaluation.json`: the headline figures, the candidate's per-metro figures, the gate."""

    per_metro: dict[str, dict[str, Metrics]] = Field(default_factory=dict, description="split -> metro -> metrics")
    champion_run_id: str | None = None
    gate: GateDecision | None = None

    def headline(self) -> Headline:
        return Headline(**{who: getattr(self, who) for who in Headline.model_fields})
