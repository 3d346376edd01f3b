"""The whole deployment in one stack: storage, images, the training pipeline, its triggers, serving,
tracking and monitoring, each its own construct."""

from __future__ import annotations

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra_cdk.access import grant_store
from infra_cdk.config import DeployConfig
from infra_cdk.images import Images
from infra_cdk.monitoring import Monitoring
from infra_cdk.nag import acknowledge
from infra_cdk.pipeline import Pipeline
from infra_cdk.serving import Serving
from infra_cdk.storage import Storage
from infra_cdk.triggers import Triggers
from stepfunctions.graph import TRAINING_PIPELINE

MLFLOW_PREFIX = "mlflow/"


class HousingStack(Stack):
    def __init__(self, scope: Construct, id: str, config: DeployConfig, **kwargs):
        super().__init__(scope, id, description="housing-mlops: zip-code home value pipeline, API and dashboard", **kwargs)
        storage = Storage(self, "Storage", config)
        images = Images(self, "Images")
        cluster = self._cluster(config.log_retention)
        tracking_arn = self._mlflow(config, storage) if config.create_mlflow_server else None
        environment = self._environment(config, storage, tracking_arn or config.mlflow_tracking_uri)

        pipeline = Pipeline(self, "Pipeline", graph=TRAINING_PIPELINE, config=config, storage=storage, images=images,
                            cluster=cluster, environment=environment)
        if tracking_arn:
            mlflow_access = iam.PolicyStatement(actions=["sagemaker-mlflow:*"], resources=[tracking_arn])
            for role in (pipeline.task_definition.task_role, pipeline.functions["promote"].role):
                role.add_to_principal_policy(mlflow_access)
                acknowledge(role, "AwsSolutions-IAM5", "the MLflow client (experiments, runs, metrics, artifacts, registry) "
                            "uses most of the service's actions; the grant names the one tracking server",
                            findings=["Action::sagemaker-mlflow:*"])
        triggers = Triggers(self, "Triggers", config=config, storage=storage, images=images,
                            training=pipeline.state_machine, environment=environment)
        serving = Serving(self, "Serving", config=config, storage=storage, images=images, cluster=cluster,
                          environment=environment)
        Monitoring(self, "Monitoring", config=config, training=pipeline.state_machine)

        self.storage, self.pipeline, self.triggers, self.serving = storage, pipeline, triggers, serving
        self._acknowledge_cdk_internals()
        CfnOutput(self, "BucketName", value=storage.bucket.bucket_name)
        CfnOutput(self, "StoreUrl", value=storage.store_url)
        CfnOutput(self, "TrainingStateMachine", value=pipeline.state_machine.state_machine_arn)
        CfnOutput(self, "LoadBalancerDns", value=serving.alb.load_balancer_dns_name)
        CfnOutput(self, "ApiUrl", value=f"{serving.scheme}://{serving.host}:{serving.api_listener.port}")
        CfnOutput(self, "DashboardUrl", value=f"{serving.scheme}://{serving.host}:{serving.dashboard_listener.port}")

    def _cluster(self, log_retention: str) -> ecs.Cluster:
        """The ECS cluster (training task, dashboard) in a VPC of public subnets only: tasks reach S3 and ECR
        directly and nothing reaches them but the load balancer; flow logs go to CloudWatch."""
        vpc = ec2.Vpc(
            self, "Vpc", max_azs=2, nat_gateways=0,
            subnet_configuration=[ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)])
        flow_logs = logs.LogGroup(self, "VpcFlowLogs", retention=logs.RetentionDays[log_retention],
                                  removal_policy=RemovalPolicy.DESTROY)
        vpc.add_flow_log("FlowLogs", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))
        return ecs.Cluster(self, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)

    @staticmethod
    def _environment(config: DeployConfig, storage: Storage, tracking_uri: str | None) -> dict[str, str]:
        """The settings every function and task gets; the trigger puts the run config into each run's event."""
        environment = {"HOUSING_STORE": storage.store_url, "HOUSING_TRIALS": str(config.trials),
                       "HOUSING_TUNE_TIMEOUT": str(config.tune_timeout_s),
                       **{f"HOUSING_{key.upper()}": str(value).lower() if isinstance(value, bool) else str(value)
                          for key, value in config.settings.items()}}
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

    def _mlflow(self, config: DeployConfig, storage: Storage) -> str:
        """A SageMaker-managed MLflow tracking server whose artifacts live under mlflow/ in the bucket."""
        role = iam.Role(self, "MlflowRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
        grant_store(role, storage.bucket, config.store_prefix, (MLFLOW_PREFIX,), (MLFLOW_PREFIX,), role)
        server = sagemaker.CfnMlflowTrackingServer(
            self, "Mlflow", tracking_server_name=f"{config.stack_name.lower()}-mlflow",
            artifact_store_uri=f"s3://{storage.bucket.bucket_name}/{config.store_prefix}{MLFLOW_PREFIX}",
            role_arn=role.role_arn, tracking_server_size=config.mlflow_server_size, automatic_model_registration=False)
        return server.attr_tracking_server_arn
