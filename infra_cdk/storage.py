"""The one bucket for data and artifacts, and the bucket its access logs go to."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra_cdk.config import DeployConfig
from infra_cdk.nag import acknowledge
from shared.layout import QUARANTINE_PREFIX, RUNS_PREFIX


class Storage(Construct):
    def __init__(self, scope: Construct, id: str, config: DeployConfig):
        super().__init__(scope, id)
        self.logs = s3.Bucket(
            self, "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,  # ALB access logs need ACLs
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(self.logs, "AwsSolutions-S1", "this is the access-log bucket; logging it to itself would loop")
        self.bucket = s3.Bucket(
            self, "Data",
            bucket_name=config.bucket_name,
            versioned=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            event_bridge_enabled=True,
            server_access_logs_bucket=self.logs,
            server_access_logs_prefix="s3/",
            lifecycle_rules=[
                s3.LifecycleRule(id="quarantine", prefix=config.store_prefix + QUARANTINE_PREFIX,
                                 expiration=Duration.days(config.quarantine_expiry_days)),
                s3.LifecycleRule(id="old-versions",
                                 noncurrent_version_expiration=Duration.days(config.noncurrent_version_expiry_days)),
                s3.LifecycleRule(id="incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(7)),
                # Old runs stay (a rollback needs their bundles) but move to a cheaper class once rarely read.
                s3.LifecycleRule(id="old-runs", prefix=config.store_prefix + RUNS_PREFIX, transitions=[
                    s3.Transition(storage_class=s3.StorageClass.INFREQUENT_ACCESS, transition_after=Duration.days(90))]),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.store_url = f"s3://{self.bucket.bucket_name}/{config.store_prefix}".rstrip("/")
