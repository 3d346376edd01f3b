"""The whole deployment in one stack: storage, images, the network, the training pipeline, its triggers,
the public entry, the API, the dashboard, tracking and monitoring, each its own construct."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra_cdk.api import Api
from infra_cdk.config import DeployConfig, settings_environment
from infra_cdk.dashboard import Dashboard
from infra_cdk.entry import Entry
from infra_cdk.images import Images
from infra_cdk.monitoring import Monitoring
from infra_cdk.nag import acknowledge
from infra_cdk.network import Network
from infra_cdk.pipeline import Pipeline
from infra_cdk.storage import Storage
from infra_cdk.tracking import Tracking
from infra_cdk.triggers import Triggers


class HousingStack(Stack):
    def __init__(self, scope: Construct, id: str, config: DeployConfig, **kwargs):
        super().__init__(scope, id, description="housing-mlops: zip-code home value pipeline, API and dashboard", **kwargs)
        storage = Storage(self, "Storage", config)
        images = Images(self, "Images")
        network = Network(self, "Network", log_retention=config.log_retention)
        tracking = None
        if config.create_mlflow_server:
            tracking = Tracking(self, "Tracking", bucket=storage.bucket, store_prefix=config.store_prefix,
                                server_name=f"{config.stack_name.lower()}-mlflow", size=config.mlflow_server_size)
        environment = self._environment(config, storage, tracking.arn if tracking else config.mlflow_tracking_uri)

        pipeline = Pipeline(self, "Pipeline", graph=config.pipeline_graph(), config=config, storage=storage, images=images,
                            cluster=network.cluster, environment=environment)
        if tracking:
            tracking.allow(*pipeline.roles_of("train"), *pipeline.roles_of("promote"))
        triggers = Triggers(self, "Triggers", config=config, storage=storage, images=images,
                            training=pipeline.state_machine, environment=environment)
        entry = Entry(self, "Entry", vpc=network.cluster.vpc, access_logs=storage.logs, allowed_cidr=config.allowed_cidr,
                      certificate_arn=config.certificate_arn, domain_name=config.domain_name)
        api = Api(self, "Api", entry=entry, config=config, storage=storage, images=images, environment=environment)
        dashboard = Dashboard(self, "Dashboard", entry=entry, api=api, cluster=network.cluster, config=config,
                              storage=storage, images=images, environment=environment)
        Monitoring(self, "Monitoring", config=config, training=pipeline.state_machine, score=triggers.score,
                   start_training=triggers.start_training, api_alarms=api.alarms)

        self.storage, self.pipeline, self.triggers, self.api, self.dashboard = storage, pipeline, triggers, api, dashboard
        self._acknowledge_cdk_internals()
        CfnOutput(self, "BucketName", value=storage.bucket.bucket_name)
        CfnOutput(self, "StoreUrl", value=storage.store_url)
        CfnOutput(self, "TrainingStateMachine", value=pipeline.state_machine.state_machine_arn)
        CfnOutput(self, "LoadBalancerDns", value=entry.alb.load_balancer_dns_name)
        CfnOutput(self, "ApiUrl", value=api.url)
        CfnOutput(self, "DashboardUrl", value=dashboard.url)

    @staticmethod
    def _environment(config: DeployConfig, storage: Storage, tracking_uri: str | None) -> dict[str, str]:
        """The settings every function and task gets; the trigger puts the run config into each run's event."""
        environment = {"HOUSING_STORE": storage.store_url, "HOUSING_TRIALS": str(config.trials),
                       "HOUSING_TUNE_TIMEOUT": str(config.tune_timeout_s),
                       **settings_environment(config.settings)}
        if tracking_uri:
            environment["HOUSING_MLFLOW_TRACKING_URI"] = tracking_uri
        else:
            # No shared tracking server: tuning still logs (to the task's own scratch space), and promotion
            # skips the registry, which would need the training task's runs.
            environment.update({"HOUSING_MLFLOW_TRACKING_URI": "sqlite:////tmp/mlflow.db", "HOUSING_MLFLOW_REGISTRY": "false"})
        return environment

    def _acknowledge_cdk_internals(self) -> None:
        """The handler CDK itself adds to switch on the bucket's EventBridge notifications: not configurable."""
        for child in self.node.children:
            if child.node.id.startswith("BucketNotificationsHandler"):
                acknowledge(child, "AwsSolutions-IAM4", "CDK's own bucket-notification handler (event_bridge_enabled) "
                            "uses the basic execution policy; CDK offers no way to replace it",
                            findings=["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"])
                acknowledge(child, "AwsSolutions-IAM5", "s3:PutBucketNotification for CDK's own handler; CDK sets the resource",
                            findings=["Resource::*"])
