"""An alarm when a training execution fails (optionally e-mailed)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra_cdk.config import DeployConfig


class Monitoring(Construct):
    def __init__(self, scope: Construct, id: str, *, config: DeployConfig, training: sfn.StateMachine):
        super().__init__(scope, id)
        self.failed_runs = cloudwatch.Alarm(
            self, "TrainingFailed",
            metric=training.metric_failed(period=Duration.minutes(5), statistic="Sum"),
            threshold=1, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description="a training execution failed: see runs/<run_id>/run.json and the state machine's logs",
        )
        if config.alarm_email:
            topic = sns.Topic(self, "Alarms", enforce_ssl=True,
                              master_key=kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"))
            topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
            self.failed_runs.add_alarm_action(actions.SnsAction(topic))
