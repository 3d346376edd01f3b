"""The prediction API: the FastAPI app in a container Lambda (through Mangum) behind the entry's listener.
It reads the champion, its bundle and the batch predictions; never training data. Optionally it asks
callers for a key kept in a generated Secrets Manager secret.

The load balancer targets the `live` alias, never the function: each deploy publishes a version, and
CodeDeploy moves the alias to it (canary by default) only after the pre-traffic check
(lambdas/api/rollout_check.py) passed, rolling back when the API's error, 5xx or latency alarm fires."""

from __future__ import annotations

from aws_cdk import Annotations, CfnOutput, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_elasticloadbalancingv2_targets as elb_targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra_cdk.access import store_function
from infra_cdk.config import DeployConfig
from infra_cdk.entry import Entry
from infra_cdk.images import ROLLOUT_CHECK_HANDLER, Images
from infra_cdk.nag import acknowledge, arn_of
from infra_cdk.storage import Storage
from lambdas.api.rollout_check import VERSION_VARIABLE
from shared.layout import COMPONENTS


class Api(Construct):
    def __init__(self, scope: Construct, id: str, *, entry: Entry, config: DeployConfig, storage: Storage,
                 images: Images, environment: dict[str, str]):
        super().__init__(scope, id)
        environment = dict(environment)
        self.key = None
        if config.api_auth == "api_key":
            self.key = secretsmanager.Secret(
                self, "ApiKey", description="keys for the prediction API's x-api-key header, one per line",
                generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True, password_length=40))
            acknowledge(self.key, "AwsSolutions-SMG4", "an API key is rotated by adding a line with the new key, "
                        "handing it to clients, then removing the old one; no Lambda rotation schedule fits that")
            environment["HOUSING_API_KEY_SECRET"] = self.key.secret_arn
        self.function = store_function(
            self, "api", code=images.api_code(), config=config, bucket=storage.bucket, environment=environment,
            reads=COMPONENTS["api"].reads, writes=COMPONENTS["api"].writes, memory_size=config.api_memory_mb,
            timeout=Duration.seconds(30), description="the prediction API (FastAPI through Mangum)")
        if self.key is not None:
            self.key.grant_read(self.function)
        version = self.function.current_version  # a new one whenever the image or the configuration changes
        self.alias = lambda_.Alias(self, "Live", alias_name="live", version=version,
                                   provisioned_concurrent_executions=config.api_provisioned_concurrency or None)
        self.url = entry.url(entry.api_port)
        self.listener = entry.listener("Api", entry.api_port)
        targets = self.listener.add_targets(
            "ApiTarget", targets=[elb_targets.LambdaTarget(self.alias)],
            health_check=elbv2.HealthCheck(enabled=True, path="/health", interval=Duration.seconds(60)))
        self.rollout = self._rollout(config, storage, images, environment, version, targets)
        self._say_who_can_reach_it(config.allowed_cidr, entry.https)

    def _rollout(self, config: DeployConfig, storage: Storage, images: Images, environment: dict[str, str],
                 version: lambda_.IVersion, targets: elbv2.ApplicationTargetGroup) -> codedeploy.LambdaDeploymentGroup:
        """CodeDeploy moves the alias to each new version: first the pre-traffic check asks the version (not
        the alias) what a client would, then traffic shifts as `api_rollout` says, and any of the alarms
        rolls it back to the version that was serving."""
        check = store_function(
            self, "rollout-check", code=images.api_code(ROLLOUT_CHECK_HANDLER), config=config, bucket=storage.bucket,
            environment={**environment, VERSION_VARIABLE: version.function_arn},
            reads=COMPONENTS["rollout-check"].reads, writes=COMPONENTS["rollout-check"].writes, memory_size=1024,
            timeout=Duration.minutes(3), description="CodeDeploy's pre-traffic check of a new API version")
        version.grant_invoke(check)
        if self.key is not None:
            self.key.grant_read(check)
        minute = Duration.minutes(1)
        watched = {
            "ApiErrors": (self.alias.metric_errors(period=minute, statistic="Sum"), 1, 1,
                          "the API function failed (an error or a timeout, not an HTTP answer)"),
            "ApiServerErrors": (targets.metrics.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=minute,
                                                                 statistic="Sum"), config.api_rollback_5xx, 1,
                                "the API answered 5xx (503: no champion to serve)"),
            "ApiLatency": (self.alias.metric_duration(period=minute, statistic="p99"), config.api_rollback_p99_ms, 2,
                           f"the API's p99 duration was above {config.api_rollback_p99_ms} ms for 2 minutes"),
        }
        self.alarms = {
            name: cloudwatch.Alarm(self, name, metric=metric, threshold=threshold, evaluation_periods=periods,
                                   comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                                   treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                                   alarm_description=f"{what}; during a rollout it rolls the alias back")
            for name, (metric, threshold, periods, what) in watched.items()}
        shifts = {"canary": codedeploy.LambdaDeploymentConfig.CANARY_10_PERCENT_5_MINUTES,
                  "linear": codedeploy.LambdaDeploymentConfig.LINEAR_10_PERCENT_EVERY_1_MINUTE,
                  "all_at_once": codedeploy.LambdaDeploymentConfig.ALL_AT_ONCE}
        group = codedeploy.LambdaDeploymentGroup(
            self, "Rollout", alias=self.alias, deployment_config=shifts[config.api_rollout], pre_hook=check,
            alarms=list(self.alarms.values()),
            auto_rollback=codedeploy.AutoRollbackConfig(failed_deployment=True, stopped_deployment=True,
                                                        deployment_in_alarm=True))
        acknowledge(group.role, "AwsSolutions-IAM4", "AWSCodeDeployRoleForLambdaLimited is the service role policy "
                    "AWS documents for Lambda deployments: alias updates, alarm reads, hook invocations only",
                    findings=["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited"])
        acknowledge(group.role, "AwsSolutions-IAM5", "CodeDeploy invokes the pre-traffic check's own versions "
                    "(ARN:*), that one function only", findings=[f"Resource::{arn_of(check)}:*"])
        return group

    def _say_who_can_reach_it(self, allowed_cidr: str, https: bool) -> None:
        """Synthesis says, as a warning and as the ApiAccess output, who can call the API and how."""
        world = allowed_cidr in ("0.0.0.0/0", "::/0")
        keyed = self.key is not None
        access = (f"{'HTTPS' if https else 'HTTP (unencrypted)'} from {allowed_cidr}"
                  f"{' (the whole internet)' if world else ''}, "
                  f"{'an x-api-key header required (secret: ApiKeySecret output)' if keyed else 'no authentication'}")
        CfnOutput(self, "ApiAccess", value=access, description="who can reach the prediction API and how")
        if world and not keyed:
            Annotations.of(self).add_warning_v2(
                "housing:api-open",
                f"the prediction API is reachable by anyone: {access}. For anything but a demo set the context "
                "'api_auth': 'api_key' (and 'allowed_cidr', 'certificate_arn' + 'domain_name' for HTTPS).")
        if keyed:
            CfnOutput(self, "ApiKeySecret", value=self.key.secret_arn,
                      description="aws secretsmanager get-secret-value --secret-id <this> --query SecretString")
