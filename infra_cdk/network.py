"""Where the tasks run: a VPC of public subnets only (tasks reach S3 and ECR directly; nothing reaches them
but the load balancer), its flow logs in CloudWatch, and the ECS cluster of the training task and the
dashboard."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from constructs import Construct


class Network(Construct):
    def __init__(self, scope: Construct, id: str, *, log_retention: str):
        super().__init__(scope, id)
        vpc = ec2.Vpc(
            self, "Vpc", max_azs=2, nat_gateways=0,
            subnet_configuration=[ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)])
        flow_logs = logs.LogGroup(self, "VpcFlowLogs", retention=logs.RetentionDays[log_retention],
                                  removal_policy=RemovalPolicy.DESTROY)
        vpc.add_flow_log("FlowLogs", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))
        self.cluster = ecs.Cluster(self, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)
