"""The settings, `HOUSING_*` environment variables, one class per consumer on one base (`StoreSettings`)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from pydantic import AliasChoices, BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_STORE = "./housing-store"


class RunConfig(BaseModel):
    """What decides a run's result. It travels in every stage event and is part of the run id."""

    train_end: dt.date | None
    eval_end: dt.date | None
    trials: int = Field(ge=1)
    tune_timeout: float = Field(gt=0)
    seed: int
    baseline_params: dict[str, int | float] = Field(default_factory=dict)
    gate_vs_champion: float
    gate_vs_baseline: float
    gate_vs_naive: float | None = 0.0
    gate_recent_vs_champion: float | None = 0.25
    interval_level: float = Field(0.8, gt=0, lt=1)
    gate_coverage: tuple[float, float] | None = (0.7, 0.9)


class StoreSettings(BaseSettings):
    """What every consumer reads: where the artifacts are. Each consumer's settings add only what it reads, so
    a bad value of another consumer's variable cannot stop it."""

    model_config = SettingsConfigDict(env_prefix="HOUSING_", extra="ignore", env_parse_none_str="none")

    store: str = Field(DEFAULT_STORE, description="local folder or s3://bucket/prefix holding every artifact")


class MonitorSettings(StoreSettings):
    """What the model-health figures count as a bad month (the score function, the dashboard, `housing status`)."""

    monitor_skill_above: float = Field(
        1.0, gt=0, description="a live month whose skill (MAE over the best naive forecaster's) is above this counts "
                               "towards the SkillDecayMonths metric")
    monitor_coverage_below: float = Field(
        0.6, gt=0, lt=1, description="a live month whose interval coverage is below this counts towards CoverageDecayMonths")


class ScoringSettings(MonitorSettings):
    """Scoring a month with the champion: its drift report's bands."""

    drift_psi_warn: float = Field(0.1, gt=0, description="a scored input's PSI against training above this is a shift to watch")
    drift_psi_alert: float = Field(0.2, gt=0, description="and above this a real change (the drift report's alert band)")


class ApiSettings(StoreSettings):
    """The prediction API's (and its rollout check's)."""

    champion_refresh_seconds: float = Field(
        60.0, ge=0, description="how often a serving process checks for a newly promoted champion (0 = every request)")
    api_key_secret: str | None = Field(
        None, description="Secrets Manager secret (ARN or name) with the API's keys, one per line; unset: no key asked")


class DashboardSettings(MonitorSettings):
    """The dashboard's."""

    # What the dashboard calls for one prediction. Named as the deployment sets them (no HOUSING_ prefix).
    api_url: str = Field("http://127.0.0.1:8000", validation_alias=AliasChoices("API_URL", "HOUSING_API_URL"),
                         description="the prediction API the dashboard's form calls")
    api_key: str | None = Field(None, validation_alias=AliasChoices("API_KEY", "HOUSING_API_KEY"),
                                description="the API key secret's text (keys one per line): the dashboard sends the first")

    def first_api_key(self) -> str | None:
        return next((line.strip() for line in (self.api_key or "").splitlines() if line.strip()), None)


class Settings(ScoringSettings):
    """The pipeline's: its stages, the training task, the triggers and the `housing` commands."""

    train_end: dt.date | None = Field(
        None, description="first date NOT in the training split; default: 24 months before eval_end")
    eval_end: dt.date | None = Field(
        None, description="first date of the holdout split; default: the data's last 24 months are the holdout")
    trials: int = Field(30, ge=1, description="Optuna trials in the tuning stage")
    tune_timeout: float = Field(300.0, gt=0, description="seconds the tuning search may take (refit excluded)")
    seed: int = 42
    baseline_params: dict[str, int | float] = Field(
        default_factory=dict,
        description='XGBoost parameters for the baseline (Optuna\'s first trial), as JSON: {"max_depth": 6}',
    )
    threads: int = Field(0, ge=0, description="XGBoost threads; 0 = all cores")
    # The gate: the candidate must beat each reference by these relative margins on eval MAE.
    gate_vs_champion: float = Field(
        0.0, description="required relative MAE improvement over the champion on the eval backtest's rows (both models "
                         "on the same rows; a candidate worse only within chance, by a t test over months, passes); "
                         "negative: how much worse a candidate may be")
    gate_recent_vs_champion: float | None = Field(
        0.25, description="how much worse than the champion a candidate may be on the holdout (the most recent months, "
                          "the same rows for both, either mode) before it is refused; none: reported, not enforced")
    gate_vs_baseline: float = Field(0.5, description="required relative MAE improvement over the median baseline")
    gate_vs_naive: float | None = Field(
        0.0, description="required relative MAE improvement over the best naive forecaster (persistence, momentum, "
                         "damped trend, seasonal naive) in every horizon bucket and mode of the eval backtest; "
                         "HOUSING_GATE_VS_NAIVE=none: reported, not enforced")
    interval_level: float = Field(0.8, gt=0, lt=1, description="the nominal coverage of every prediction's interval")
    gate_coverage: tuple[float, float] | None = Field(
        (0.7, 0.9), description='the backtest coverage every bucket\'s interval must reach, as JSON: [0.7, 0.9]; '
                                'HOUSING_GATE_COVERAGE=none: reported, not enforced')
    mlflow_tracking_uri: str | None = Field(None, description="defaults to a SQLite file beside a local store")
    mlflow_registry: bool = Field(
        True, description="register promoted models in the MLflow registry (needs a tracking store shared with training)")
    mlflow_experiment: str = "housing-price"
    registered_model: str = "housing-price-xgboost"

    def run_config(self, **overrides) -> RunConfig:
        values = {name: getattr(self, name) for name in RunConfig.model_fields}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return RunConfig(**values)

    def tracking_uri(self, store: str | None = None) -> str:
        """The configured URI, else a SQLite file beside a local store (or in ./.housing for S3 stores)."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self._tracking_dir(store) / 'mlflow.db'}"

    def artifact_location(self, store: str | None = None) -> str | None:
        """Where a new experiment keeps run artifacts: beside a SQLite tracking file (MLflow's own default is
        ./mlruns of whatever the working directory is); a tracking server decides for itself (None)."""
        uri = self.tracking_uri(store)
        if not uri.startswith("sqlite:///"):
            return None
        return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts").as_uri()

    def _tracking_dir(self, store: str | None) -> Path:
        store = store or self.store
        local = Path(store).expanduser().resolve() if "://" not in store else Path(".housing").resolve()
        local.mkdir(parents=True, exist_ok=True)
        return local


CONSUMERS = (Settings, ApiSettings, DashboardSettings)  # every variable a deployment may set is one of theirs
S = TypeVar("S", bound=StoreSettings)


@lru_cache
def get_settings(kind: type[S] = Settings) -> S:  # type: ignore[assignment]  # mypy#3737: a TypeVar default
    """The settings a consumer reads (`kind`), read once per process."""
    return kind()
