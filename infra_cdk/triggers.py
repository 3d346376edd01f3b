"""What starts work: S3 uploads (via the bucket's EventBridge notifications) and the monthly schedule."""

from __future__ import annotations

import json

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra_cdk.access import store_function
from infra_cdk.config import NEW_ACCOUNT_MEMORY_MB, DeployConfig
from infra_cdk.images import Images
from infra_cdk.nag import acknowledge
from infra_cdk.storage import Storage
from lambdas.triggers import STATE_MACHINE_ENV
from shared.layout import COMPONENTS, INCOMING_PREFIX, RAW_PREFIX


def upload_pattern(bucket_name: str, key_prefix: str) -> events.EventPattern:
    return events.EventPattern(
        source=["aws.s3"], detail_type=["Object Created"],
        detail={"bucket": {"name": [bucket_name]}, "object": {"key": [{"prefix": key_prefix}]}},
    )


class Triggers(Construct):
    def __init__(self, scope: Construct, id: str, *, config: DeployConfig, storage: Storage, images: Images,
                 training: sfn.IStateMachine, environment: dict[str, str]):
        super().__init__(scope, id)
        bucket, prefix = storage.bucket, config.store_prefix

        def function(name: str, handler: str, reads, writes, **props) -> lambda_.DockerImageFunction:
            return store_function(self, name, code=images.pipeline_code(handler), config=config, bucket=bucket,
                                  environment=environment, reads=reads, writes=writes, **props)

        self.start_training = function(
            "start-training", "lambdas.triggers:start_training", reads=COMPONENTS["start-training"].reads,
            writes=COMPONENTS["start-training"].writes, memory_size=1024, timeout=Duration.minutes(2),
            description="S3 upload under raw/ or the monthly retraining -> one training execution named after the run id")
        self.start_training.add_environment(STATE_MACHINE_ENV, training.state_machine_arn)
        training.grant_start_execution(self.start_training)
        training.grant_execution(self.start_training, "states:DescribeExecution")  # to see a repeated event
        machine_id = Stack.of(self).resolve(Stack.of(self).get_logical_id(training.node.default_child))
        execution_name = json.dumps({"Fn::Select": [6, {"Fn::Split": [":", {"Ref": machine_id}]}]}, separators=(",", ":"))
        acknowledge(self.start_training.role, "AwsSolutions-IAM5",
                    "DescribeExecution on this state machine's own executions, whose names (run ids) exist only at run time",
                    findings=[f"Resource::arn:<AWS::Partition>:states:{Stack.of(self).region}:<AWS::AccountId>:execution:"
                              f"{execution_name}:*"])

        self.score = function(
            "score", "lambdas.score:handler",
            reads=COMPONENTS["score"].reads, writes=COMPONENTS["score"].writes,
            memory_size=config.function_memory_mb.get("score", NEW_ACCOUNT_MEMORY_MB), timeout=Duration.minutes(5),
            description="batch scoring of an incoming/ month, or of the latest one on the monthly schedule")

        self.raw_rule = events.Rule(self, "RawUploaded", event_pattern=upload_pattern(bucket.bucket_name, prefix + RAW_PREFIX),
                                    targets=[targets.LambdaFunction(self.start_training, retry_attempts=4)],
                                    description="a new training file under raw/ starts the training pipeline")
        self.incoming_rule = events.Rule(
            self, "IncomingUploaded", event_pattern=upload_pattern(bucket.bucket_name, prefix + INCOMING_PREFIX),
            targets=[targets.LambdaFunction(self.score, retry_attempts=8, max_event_age=Duration.hours(6))],
            description="a new month under incoming/ is scored with the champion")
        self.schedule = events.Rule(
            self, "MonthlyScoring", schedule=events.Schedule.expression(config.scoring_schedule),
            targets=[targets.LambdaFunction(self.score, retry_attempts=8)],
            description="monthly batch scoring of the latest incoming/ month (no-op when already scored)")
        self.retraining = events.Rule(
            self, "MonthlyRetraining", schedule=events.Schedule.expression(config.training_schedule),
            targets=[targets.LambdaFunction(self.start_training, retry_attempts=4)],
            description="monthly retraining with the labelled incoming/ months (no-op when no input changed)")
