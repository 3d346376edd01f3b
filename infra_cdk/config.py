"""Everything a user would change, read from CDK context (`cdk.json`, or `-c key=value`), with defaults in
one place. Unknown keys are refused so a typo cannot silently fall back to a default."""

from __future__ import annotations

import json
import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.settings import CONSUMERS, Settings

CONTEXT_KEY = "housing"


# What the training task does after its tuning budget: the judged fit, the eval backtest that calibrates the
# intervals, the refit on every labelled month. About 100 s at 1x on 4 vCPU (benchmarks/scale.py), growing
# with the data: this leaves room for 10x and more.
AFTER_TUNING_S = 1800
RUN_TIMEOUT_S = 6 * 3600  # the state machine's own timeout (infra_cdk/pipeline.py)
MAX_MEMORY_MB = 122_880  # the largest Fargate task (16 vCPU)


class FargateStage(BaseModel):
    """A pipeline stage run as a Fargate task instead of a Lambda function: for data past what one invocation
    holds (10,240 MB) or finishes in (15 minutes)."""

    model_config = ConfigDict(extra="forbid")

    cpu: int = Field(description="CPU units, 1024 a vCPU: 256 to 16384")
    memory_mb: int = Field(description="memory, a size Fargate offers with that CPU (at most 122,880 MB)")
    timeout_s: int = Field(3600, ge=60, le=RUN_TIMEOUT_S, description="the stage's timeout (the run's is 6 hours)")


class DashboardHours(BaseModel):
    """When the dashboard task runs: scheduled scaling starts it (1 task) and stops it (0 tasks)."""

    model_config = ConfigDict(extra="forbid")

    start: str = Field(pattern=r"^cron\(.+\)$", description="e.g. cron(0 7 ? * MON-FRI *)")
    stop: str = Field(pattern=r"^cron\(.+\)$", description="e.g. cron(0 19 ? * MON-FRI *)")
    time_zone: str = Field("UTC", description="an IANA time zone for both, e.g. Europe/Berlin")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. UTC, America/New_York)") from None
        return value


class DeployConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stack_name: str = Field("HousingMlops", description="CloudFormation stack name")
    region: str | None = Field(None, description="deploy region; default: the CLI profile's (CDK_DEFAULT_REGION), else us-east-1")
    bucket_name: str | None = Field(None, description="data bucket name; generated when empty")
    store_prefix: str = Field("", description="key prefix of the store inside the bucket")
    scoring_schedule: str = Field("cron(0 6 1 * ? *)", description="monthly batch scoring of the latest month (UTC)")
    training_schedule: str = Field(
        "cron(0 7 1 * ? *)",
        description="monthly retraining on the newest raw/ file and the labelled incoming/ months (UTC); "
                    "starts nothing when no input changed")
    # The pipeline's own defaults (shared/settings.py) unless set here: one place for each default.
    trials: int = Field(Settings.model_fields["trials"].default, ge=1, description="Optuna trials per training run")
    settings: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="other pipeline settings for every function, as HOUSING_* variables: "
                    '{"gate_vs_baseline": 0.4, "train_end": "2021-01-01"}')
    tune_timeout_s: int = Field(int(Settings.model_fields["tune_timeout"].default), ge=60,
                                le=RUN_TIMEOUT_S - AFTER_TUNING_S - 3600,
                                description="seconds the tuning search may take (the training state's timeout is "
                                            "this plus 1,800 s for the fits after it)")
    train_cpu: int | None = Field(None, description="Fargate CPU units for train+tune; default: the graph's (4 vCPU = 4096)")
    train_memory_mb: int | None = Field(None, description="Fargate memory for train+tune; default: the graph's (16 GB)")
    mlflow_tracking_uri: str | None = Field(None, description="an existing MLflow tracking server (http(s):// or SageMaker ARN)")
    create_mlflow_server: bool = Field(False, description="create a SageMaker-managed MLflow tracking server")
    mlflow_server_size: str = Field("Small", description="Small, Medium or Large")
    certificate_arn: str | None = Field(None, description="ACM certificate: serve HTTPS (443 API, 8443 dashboard)")
    domain_name: str | None = Field(None, description="the certificate's host name, pointed at the ALB (CNAME/alias)")
    cognito_login: bool = Field(False, description="put a Cognito login in front of the dashboard (needs HTTPS)")
    cognito_domain_prefix: str | None = Field(
        None, pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$",
        description="the Cognito hosted domain's prefix (unique per region across all accounts); default: "
                    "housing-<stack name>-<account id>")
    api_memory_mb: int = Field(2048, ge=128, le=10240, description="the API Lambda's memory (CPU scales with it)")
    api_provisioned_concurrency: int = Field(
        0, ge=0, description="execution environments kept initialised on the API's `live` alias (no cold start for "
                             "that many concurrent requests; billed while idle); 0: on demand")
    api_rollout: Literal["canary", "linear", "all_at_once"] = Field(
        "canary", description="how CodeDeploy moves the API's alias to a new version after the pre-traffic check: "
                              "'canary' 10% for 5 minutes, 'linear' 10% more every minute, 'all_at_once'")
    api_rollback_p99_ms: int = Field(2000, ge=100, description="roll a rollout back when the API's p99 duration "
                                                                "exceeds this for 2 minutes in a row")
    api_rollback_5xx: int = Field(5, ge=1, description="roll a rollout back at this many 5xx answers in a minute (503s "
                                                        "before any champion count too)")
    fargate_max_memory_mb: int = Field(
        MAX_MEMORY_MB, description="the largest task a Fargate stage (train, and any in fargate_stages) may be given "
                                   "when the run's rows need more than its configured memory (the task is sized at run "
                                   "time from the rows validate counted); its own memory: never larger")
    fargate_fallback: bool = Field(
        True, description="a Lambda stage (but record) whose run's rows outgrow its function's memory (validate: the "
                          "input files' rows, told when the run starts) "
                          "runs as a Fargate task instead, sized from the rows (a task definition per such stage, "
                          "used only then); false: the functions' sizes are the limit")
    fargate_stages: dict[str, FargateStage] = Field(
        default_factory=dict,
        description='pipeline stages to run as Fargate tasks of this size instead of Lambda functions, e.g. {"features": '
                    '{"cpu": 4096, "memory_mb": 30720}} for 10x the full-size data (benchmarks/scale.py); not `record`, '
                    "which the failure path invokes as a function, nor `train`, already a task (train_cpu, train_memory_mb)")
    function_memory_mb: dict[str, int] = Field(
        default_factory=dict,
        description="memory of a pipeline stage's function or of `score`, above its default (3008 MB at most: a new "
                    'account\'s limit until a quota increase), e.g. {"validate": 6144} for 3x the full-size data')
    dashboard_cpu: int = Field(512, description="the dashboard task's CPU units")
    dashboard_memory_mb: int = Field(1024, description="the dashboard task's memory")
    dashboard_hours: DashboardHours | None = Field(
        None, description='run the dashboard only between {"start": "cron(...)", "stop": "cron(...)"} (its task '
                          "costs nothing stopped; the load balancer answers 503 then); default: always on")
    log_retention: str = Field("ONE_MONTH", description="a CloudWatch Logs RetentionDays name, e.g. TWO_WEEKS, ONE_YEAR")
    quarantine_expiry_days: int = Field(90, description="rejected inputs under quarantine/ expire after this")
    noncurrent_version_expiry_days: int = Field(30, description="overwritten object versions expire after this")
    alarm_email: str | None = Field(None, description="subscribe this address to the alarms (failures, model health)")
    alarm_drift_months: int = Field(2, ge=1, description="alarm when this many newest scored months in a row drifted "
                                                         "(an input's PSI above HOUSING_DRIFT_PSI_ALERT)")
    alarm_skill_months: int = Field(2, ge=1, description="alarm when this many newest live months in a row lost to the best "
                                                         "naive forecaster (skill above HOUSING_MONITOR_SKILL_ABOVE)")
    alarm_metro_months: int = Field(3, ge=1, description="alarm when some metro lost to the best naive forecaster, or "
                                                         "under-covered, this many live months in a row (no retraining)")
    retrain_on_model_alarm: bool = Field(True, description="a model-health alarm starts a retraining (nothing starts "
                                                           "when no input changed since the last run)")
    alarm_coverage_months: int = Field(2, ge=1, description="alarm when this many newest live months in a row had interval "
                                                            "coverage below HOUSING_MONITOR_COVERAGE_BELOW")
    allowed_cidr: str = Field("0.0.0.0/0", description="who may reach the load balancer")
    api_auth: Literal["none", "api_key"] = Field(
        "none", description="'api_key': the API asks every caller but the health check for an x-api-key header "
                            "(keys in a generated Secrets Manager secret); 'none' warns at synth time when open to all")

    def pipeline_graph(self):
        """The training pipeline as this deployment runs it, every stage's size in it: the graph's stages with
        `function_memory_mb`, `fargate_stages` on Fargate, and the training task sized by `train_cpu` /
        `train_memory_mb` where given, its timeout following the tuning budget (`tune_timeout_s` + AFTER_TUNING_S)."""
        from stepfunctions.graph import TRAINING_PIPELINE

        names = {s.name for s in TRAINING_PIPELINE.stages}
        memory = {name: {"memory_mb": mb} for name, mb in self.function_memory_mb.items() if name in names}  # not `score`
        tasks: dict[str, dict[str, float | int]] = {
            name: {"vcpu": task.cpu / 1024, "memory_mb": task.memory_mb, "timeout_s": task.timeout_s}
            for name, task in self.fargate_stages.items()}
        train = {"timeout_s": self.tune_timeout_s + AFTER_TUNING_S,
                 **({"vcpu": self.train_cpu / 1024} if self.train_cpu else {}),
                 **({"memory_mb": self.train_memory_mb} if self.train_memory_mb else {})}
        return TRAINING_PIPELINE.replaced(memory).on_fargate({**tasks, "train": train})

    @field_validator("store_prefix")
    @classmethod
    def _folder(cls, value: str) -> str:
        """'env', '/env' and 'env/' all mean the folder env/: every grant, rule and lifecycle rule appends
        store keys to this prefix, so it must end in exactly one slash (or be empty)."""
        folder = value.strip("/")
        if any(c in folder for c in "*?") or any(c.isspace() for c in folder) or "//" in folder:
            raise ValueError(f"store_prefix {value!r}: a key prefix such as 'env' or 'teams/housing' "
                             "(no wildcards, spaces or empty path parts)")
        return f"{folder}/" if folder else ""


def load_config(context: dict[str, Any] | str | None) -> DeployConfig:
    """The deployment's settings from the `housing` context: a mapping (cdk.json) or its JSON text (the CLI
    passes every `-c key=value` as a string: `npx cdk deploy -c housing='{"trials": 50}'`)."""
    if isinstance(context, str):
        try:
            context = json.loads(context)
        except json.JSONDecodeError as err:
            raise ValueError(f"-c {CONTEXT_KEY}=... is not JSON ({err.msg} at character {err.pos}): give an object, "
                             f"e.g. -c {CONTEXT_KEY}='{{\"trials\": 50}}'") from None
    if context is not None and not isinstance(context, dict):
        raise ValueError(f"the {CONTEXT_KEY} context must be a JSON object of settings, not {type(context).__name__}")
    config = DeployConfig(**(context or {}))
    _check_function_memory(config.function_memory_mb)
    _check_settings(config.settings)
    _check_fargate_size(config.train_cpu, config.train_memory_mb)
    _check_fargate_stages(config.fargate_stages, config.function_memory_mb)
    if not any(fargate_offers(cpu, config.fargate_max_memory_mb) for cpu in FARGATE_SIZES):
        raise ValueError(f"fargate_max_memory_mb {config.fargate_max_memory_mb}: not a memory Fargate offers (up to "
                         f"{MAX_MEMORY_MB} MB, e.g. 30720, 61440, 122880)")
    if config.cognito_login and not config.certificate_arn:
        raise ValueError("cognito_login needs certificate_arn: the ALB authenticates only on HTTPS listeners")
    if config.certificate_arn and not config.domain_name:
        raise ValueError("certificate_arn needs domain_name: the host name the certificate is for")
    return config


# Lambda's range; above NEW_ACCOUNT_MEMORY_MB needs a quota increase on new accounts.
FUNCTION_MEMORY_RANGE = (128, 10240)
NEW_ACCOUNT_MEMORY_MB = 3008


def _check_function_memory(overrides: dict[str, int]) -> None:
    from stepfunctions.graph import FARGATE, TRAINING_PIPELINE  # the stages' names and compute

    names = {s.name for s in TRAINING_PIPELINE.stages if s.compute != FARGATE} | {"score"}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"function_memory_mb names {unknown}: functions are {sorted(names)}")
    low, high = FUNCTION_MEMORY_RANGE
    bad = {k: v for k, v in overrides.items() if not low <= v <= high}
    if bad:
        raise ValueError(f"function_memory_mb {bad}: Lambda takes {low} to {high} MB")


def settings_environment(settings: dict[str, Any]) -> dict[str, str]:
    """`settings` as the HOUSING_* variables the functions and tasks get."""
    return {f"HOUSING_{key.upper()}": str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in settings.items()}


# Pipeline settings the stack sets itself (from its own context keys or resources): `settings` may not.
STACK_OWNED = {"store": "the stack's bucket", "trials": "the `trials` key", "tune_timeout": "the `tune_timeout_s` key",
               "mlflow_tracking_uri": "the `mlflow_tracking_uri` key", "api_key_secret": "`api_auth`",
               "mlflow_registry": "the stack (on only with a tracking server)"}


def _check_settings(settings: dict[str, Any]) -> None:
    """`settings` must be settings some consumer reads, with valid values, checked here at synth time (not inside every
    function after the deploy)."""
    from pydantic import ValidationError

    unknown = set(settings) - {name for kind in CONSUMERS for name in kind.model_fields}
    if unknown:
        raise ValueError(f"settings has keys no function or task reads: {sorted(unknown)}")
    owned = {k: STACK_OWNED[k] for k in settings if k in STACK_OWNED}
    if owned:
        raise ValueError("settings may not set what the stack owns: " + "; ".join(f"{k} (set by {v})" for k, v in owned.items()))
    from unittest import mock

    try:  # read exactly as every function will: from these HOUSING_* variables alone
        with mock.patch.dict(os.environ, settings_environment(settings), clear=True):
            for kind in CONSUMERS:
                kind()
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ValueError(f"settings has invalid values: {problems}") from None


def _check_fargate_size(cpu: int | None, memory_mb: int | None) -> None:
    """The training task's CPU and memory must be a pair Fargate offers (defaults: the graph's, 4096 / 16384)."""
    from stepfunctions.graph import TRAINING_PIPELINE

    train = TRAINING_PIPELINE.stage("train")
    check_fargate_pair(cpu or int(train.vcpu * 1024), memory_mb or train.memory_mb, "train_cpu", "train_memory_mb")


def _check_fargate_stages(stages: dict[str, FargateStage], function_memory_mb: dict[str, int]) -> None:
    from stepfunctions.graph import FARGATE, TRAINING_PIPELINE

    movable = {s.name for s in TRAINING_PIPELINE.stages if s.compute != FARGATE} - {TRAINING_PIPELINE.finish}
    unknown = sorted(set(stages) - movable)
    if unknown:
        raise ValueError(f"fargate_stages names {unknown}: the stages it can move are {sorted(movable)}")
    both = sorted(set(stages) & set(function_memory_mb))
    if both:
        raise ValueError(f"{both} in both fargate_stages and function_memory_mb: a stage is a task or a function")
    for name, task in stages.items():
        check_fargate_pair(task.cpu, task.memory_mb, f"fargate_stages.{name}.cpu", f"fargate_stages.{name}.memory_mb")


# Fargate's CPU units -> the memory (MB) each allows: (lowest, highest, step).
FARGATE_SIZES = {256: (512, 2048, 512), 512: (1024, 4096, 1024), 1024: (2048, 8192, 1024), 2048: (4096, 16384, 1024),
                 4096: (8192, 30720, 1024), 8192: (16384, 61440, 4096), 16384: (32768, 122880, 8192)}


def fargate_offers(cpu: int, memory_mb: int) -> bool:
    if cpu not in FARGATE_SIZES:
        return False
    low, high, step = FARGATE_SIZES[cpu]
    return low <= memory_mb <= high and (memory_mb - low) % step == 0


def check_fargate_pair(cpu: int, memory_mb: int, cpu_key: str, memory_key: str) -> None:
    if cpu not in FARGATE_SIZES:
        raise ValueError(f"{cpu_key} {cpu}: Fargate offers {sorted(FARGATE_SIZES)} CPU units")
    if not fargate_offers(cpu, memory_mb):
        low, high, step = FARGATE_SIZES[cpu]
        raise ValueError(f"{memory_key} {memory_mb} with {cpu_key} {cpu}: Fargate takes {low} to {high} MB "
                         f"in steps of {step}")
