"""Least privilege: a role gets object reads and writes on exactly the store prefixes a stage declares in the
graph (`Stage.reads` / `Stage.writes`), never the whole bucket; a function writes only to its own log group."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra_cdk.config import DeployConfig
from infra_cdk.nag import acknowledge, arn_of
from shared.layout import BUNDLES, CHAMPION_KEY


def _objects(bucket: s3.IBucket, store_prefix: str, keys: Iterable[str]) -> list[str]:
    """Object ARNs: a prefix ("runs/") covers its keys, an exact key ("models/champion.json") only itself."""
    return sorted({bucket.arn_for_objects(store_prefix + key + ("*" if key.endswith("/") else "")) for key in keys})


def grant_store(role: iam.IRole, bucket: s3.IBucket, store_prefix: str, reads: Iterable[str], writes: Iterable[str],
                holder: Construct) -> None:
    """Reads and writes on exactly these keys and prefixes. Sealed model bundles (runs/*/model/) are written
    only by a stage that declares BUNDLES among its writes (the stage that makes the bundle), and only with
    If-None-Match (create-only: S3 refuses to overwrite); every other role that may write under runs/ is
    denied them outright."""
    reads, writes = tuple(reads), tuple(writes)
    seals = BUNDLES in writes
    statements = [
        # Listing names, not contents: needed so a missing key answers 404 (not 403) to HeadObject.
        iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]),
    ]
    if reads or writes:
        statements.append(iam.PolicyStatement(actions=["s3:GetObject"], resources=_objects(bucket, store_prefix, reads + writes)))
    if writes:
        statements.append(iam.PolicyStatement(actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                                              resources=_objects(bucket, store_prefix, writes)))
    if seals:
        statements.append(iam.PolicyStatement(effect=iam.Effect.DENY, actions=["s3:PutObject"],
                                              resources=_objects(bucket, store_prefix, [BUNDLES]),
                                              conditions={"Null": {"s3:if-none-match": "true"}}))
    elif any(BUNDLES.startswith(w) for w in writes if w.endswith("/")):
        statements.append(iam.PolicyStatement(effect=iam.Effect.DENY, actions=["s3:PutObject"],
                                              resources=_objects(bucket, store_prefix, [BUNDLES])))
    if CHAMPION_KEY in writes:  # the pointer moves only by compare-and-swap (shared.serving.champion.promote)
        statements.append(iam.PolicyStatement(effect=iam.Effect.DENY, actions=["s3:PutObject"],
                                              resources=_objects(bucket, store_prefix, [CHAMPION_KEY]),
                                              conditions={"Null": {"s3:if-match": "true", "s3:if-none-match": "true"}}))
    for statement in statements:
        role.add_to_principal_policy(statement)
    prefixes = sorted({k for k in reads + writes if k.endswith("/")})
    if prefixes:
        acknowledge(holder, "AwsSolutions-IAM5",
                    "object ARNs end in '*' only for the store prefixes this role's stage declares: the objects "
                    "under them are created at run time, so their keys cannot be named in advance",
                    findings=[f"Resource::{arn_of(bucket)}/{store_prefix}{p}*" for p in prefixes])


def store_function(scope: Construct, name: str, *, code: lambda_.DockerImageCode, config: DeployConfig,
                   bucket: s3.IBucket, environment: dict[str, str], reads: Iterable[str], writes: Iterable[str],
                   **props) -> lambda_.DockerImageFunction:
    """A container Lambda (x86_64) with its own log group, a role that may write only there, and store access
    limited to `reads` / `writes`."""
    log_group = logs.LogGroup(scope, f"{name}-logs", retention=logs.RetentionDays[config.log_retention],
                              removal_policy=RemovalPolicy.DESTROY)
    role = _lambda_role(scope, f"{name}-role", log_group)
    function = lambda_.DockerImageFunction(scope, f"{name}-fn", code=code, architecture=lambda_.Architecture.X86_64,
                                           log_group=log_group, role=role, environment=environment, **props)
    grant_store(role, bucket, config.store_prefix, reads, writes, role)
    return function


def _lambda_role(scope: Construct, id: str, log_group: logs.ILogGroup) -> iam.Role:
    """A function role that may write only to its own log group (instead of the AWS managed policy)."""
    role = iam.Role(scope, id, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(
        actions=["logs:CreateLogStream", "logs:PutLogEvents"],
        resources=[log_group.log_group_arn, f"{log_group.log_group_arn}:log-stream:*"]))
    acknowledge(role, "AwsSolutions-IAM5", "Lambda names its log streams at run time, inside this function's own log group",
                findings=[f"Resource::{arn_of(log_group)}:log-stream:*"])
    return role

