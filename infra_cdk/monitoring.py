"""Alarms on the training executions that end without success (failed, timed out, aborted), on the score
function's errors, on the model's health as the score function publishes it (shared.serving.monitoring:
months in a row drifted, or losing to the naive forecasters, or under-covered), and with the API's rollout
alarms optionally e-mailed."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra_cdk.config import DeployConfig
from shared.serving.monitoring import (
    COVERAGE_DECAY_MONTHS,
    DRIFTED_MONTHS,
    METRICS_NAMESPACE,
    METRICS_SERVICE,
    METRO_COVERAGE_DECAY_MONTHS,
    METRO_SKILL_DECAY_MONTHS,
    SKILL_DECAY_MONTHS,
)


class Monitoring(Construct):
    def __init__(self, scope: Construct, id: str, *, config: DeployConfig, training: sfn.StateMachine,
                 score: lambda_.IFunction, start_training: lambda_.IFunction, api_alarms: dict[str, cloudwatch.Alarm]):
        """`api_alarms`: the API's rollout alarms (infra_cdk.api), e-mailed like the others."""
        super().__init__(scope, id)
        window = {"period": Duration.minutes(5), "statistic": "Sum"}
        watched = {
            "TrainingFailed": (training.metric_failed(**window), "a training execution failed"),
            "TrainingTimedOut": (training.metric_timed_out(**window), "a training execution timed out"),
            "TrainingAborted": (training.metric_aborted(**window), "a training execution was aborted"),
            "ScoringErrors": (score.metric_errors(**window), "scoring an incoming/ month failed (quarantine/ has "
                                                            "the file and its report when the input was at fault)"),
        }
        self.alarms = {
            name: cloudwatch.Alarm(
                self, name, metric=metric, threshold=1, evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"{what}: see runs/<run_id>/run.json and the logs")
            for name, (metric, what) in watched.items()}
        # One datum a scored month: each counts months itself (an alarm sees at most 7 days), and a day
        # without one keeps the alarm's state (IGNORE) until the next month says otherwise.
        health = {
            "ModelDriftSustained": (DRIFTED_MONTHS, config.alarm_drift_months,
                                    "scored months in a row drifted from the training data: see monitoring/drift/ "
                                    "(housing status, GET /monitoring/drift)"),
            "ModelSkillDecay": (SKILL_DECAY_MONTHS, config.alarm_skill_months,
                                "live months in a row the model lost to the best naive forecaster: see GET /monitoring"),
            "ModelCoverageDecay": (COVERAGE_DECAY_MONTHS, config.alarm_coverage_months,
                                   "live months in a row the intervals covered too few prices: see GET /monitoring"),
        }
        # One metro's market the model no longer serves well, while all regions together look fine: these
        # notify (with the others) but start no retraining; `GET /monitoring?metro=` names the figures.
        markets = {
            "ModelSkillDecayInAMetro": (METRO_SKILL_DECAY_MONTHS, config.alarm_metro_months,
                                        "live months in a row some metro lost to the best naive forecaster: see "
                                        "the metro dimension of SkillDecayMonths, or GET /monitoring?metro="),
            "ModelCoverageDecayInAMetro": (METRO_COVERAGE_DECAY_MONTHS, config.alarm_metro_months,
                                           "live months in a row some metro's intervals covered too few prices"),
        }
        for name, (metric_name, months, what) in {**health, **markets}.items():
            metric = cloudwatch.Metric(namespace=METRICS_NAMESPACE, metric_name=metric_name,
                                       dimensions_map={"service": METRICS_SERVICE}, period=Duration.days(1),
                                       statistic="Maximum")
            self.alarms[name] = cloudwatch.Alarm(
                self, name, metric=metric, threshold=months, evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.IGNORE, alarm_description=f"{months} {what}")
        if config.retrain_on_model_alarm:
            # A model-health alarm starts a retraining as the monthly schedule does (the newest raw/ file and
            # the labelled incoming/ months): with nothing new to learn the run id is the last run's, so
            # nothing starts; the run record says the alarm started it.
            self.retrain_rule = events.Rule(
                self, "RetrainOnModelHealth",
                event_pattern=events.EventPattern(
                    source=["aws.cloudwatch"], detail_type=["CloudWatch Alarm State Change"],
                    resources=[self.alarms[name].alarm_arn for name in health],
                    detail={"state": {"value": ["ALARM"]}}),
                targets=[targets.LambdaFunction(start_training, retry_attempts=4)])
        self.alarms.update(api_alarms)
        if config.alarm_email:
            # A customer managed key: CloudWatch cannot use the AWS managed alias/aws/sns key to publish, so
            # an alarm on a topic encrypted with it is never delivered.
            key = kms.Key(self, "AlarmsKey", enable_key_rotation=True, removal_policy=RemovalPolicy.DESTROY,
                          description="encrypts the alarm topic; its policy lets CloudWatch publish to it")
            key.add_to_resource_policy(iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"], resources=["*"]))
            topic = sns.Topic(self, "Alarms", enforce_ssl=True, master_key=key)
            topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
            for alarm in self.alarms.values():
                alarm.add_alarm_action(actions.SnsAction(topic))
