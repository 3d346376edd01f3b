"""An optional SageMaker-managed MLflow tracking server whose artifacts live under mlflow/ in the bucket;
its ARN is the tracking URI the training task and promotion use."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra_cdk.access import grant_store
from infra_cdk.nag import acknowledge

MLFLOW_PREFIX = "mlflow/"


class Tracking(Construct):
    def __init__(self, scope: Construct, id: str, *, bucket: s3.IBucket, store_prefix: str, server_name: str, size: str):
        super().__init__(scope, id)
        role = iam.Role(self, "MlflowRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
        grant_store(role, bucket, store_prefix, (MLFLOW_PREFIX,), (MLFLOW_PREFIX,), role)
        server = sagemaker.CfnMlflowTrackingServer(
            self, "Mlflow", tracking_server_name=server_name,
            artifact_store_uri=f"s3://{bucket.bucket_name}/{store_prefix}{MLFLOW_PREFIX}",
            role_arn=role.role_arn, tracking_server_size=size, automatic_model_registration=False)
        self.arn = server.attr_tracking_server_arn
        self.bucket, self.store_prefix = bucket, store_prefix

    def allow(self, *roles: iam.IRole) -> None:
        """Let these roles use the server (experiments, runs, the registry) and its artifact store: the
        MLflow client uploads and reads a run's artifacts under mlflow/ itself, with its own credentials."""
        access = iam.PolicyStatement(actions=["sagemaker-mlflow:*"], resources=[self.arn])
        for role in roles:
            role.add_to_principal_policy(access)
            grant_store(role, self.bucket, self.store_prefix, (MLFLOW_PREFIX,), (MLFLOW_PREFIX,), role)
            acknowledge(role, "AwsSolutions-IAM5", "the MLflow client (experiments, runs, metrics, artifacts, registry) "
                        "uses most of the service's actions; the grant names the one tracking server",
                        findings=["Action::sagemaker-mlflow:*"])
