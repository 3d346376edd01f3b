"""The Streamlit dashboard on ECS Fargate behind its own listener of the entry. It reads the batch
predictions only and calls the API for one prediction (through the Lambda API). Always on by default;
`dashboard_hours` runs it on a schedule instead.

It is not a Lambda because ALB -> Lambda carries no websockets (and caps bodies at 1 MB); Streamlit needs
both, plus sticky sessions and a long idle timeout.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, TimeZone
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra_cdk.access import grant_store
from infra_cdk.api import Api
from infra_cdk.config import DashboardHours, DeployConfig
from infra_cdk.entry import STREAMLIT_PORT, Entry
from infra_cdk.images import Images
from infra_cdk.login import Login
from infra_cdk.nag import acknowledge
from infra_cdk.storage import Storage
from shared.lambda_http import LAMBDA_SCHEME
from shared.layout import COMPONENTS


class Dashboard(Construct):
    def __init__(self, scope: Construct, id: str, *, entry: Entry, api: Api, cluster: ecs.ICluster,
                 config: DeployConfig, storage: Storage, images: Images, environment: dict[str, str]):
        super().__init__(scope, id)
        task = ecs.FargateTaskDefinition(self, "dashboard-task", cpu=config.dashboard_cpu,
                                         memory_limit_mib=config.dashboard_memory_mb,
                                         runtime_platform=ecs.RuntimePlatform(cpu_architecture=ecs.CpuArchitecture.X86_64))
        task_logs = logs.LogGroup(self, "dashboard-logs", retention=logs.RetentionDays[config.log_retention],
                                  removal_policy=RemovalPolicy.DESTROY)
        task.add_container(
            "streamlit", image=images.dashboard_container(),
            port_mappings=[ecs.PortMapping(container_port=STREAMLIT_PORT)],
            # The API's live alias through the Lambda API, not the load balancer: `allowed_cidr` may not admit the
            # task's public address, and the alias is where the API is served in any case.
            environment={**environment, "API_URL": LAMBDA_SCHEME + api.alias.function_arn},
            secrets={"API_KEY": ecs.Secret.from_secrets_manager(api.key)} if api.key is not None else None,
            logging=ecs.LogDrivers.aws_logs(stream_prefix="dashboard", log_group=task_logs),
        )
        api.alias.grant_invoke(task.task_role)
        access = COMPONENTS["dashboard"]
        grant_store(task.task_role, storage.bucket, config.store_prefix, access.reads, access.writes, task)
        acknowledge(task, "AwsSolutions-ECS2", "the environment holds only the store URL and the API's address, no secrets")
        acknowledge(task, "AwsSolutions-IAM5", "ecr:GetAuthorizationToken accepts no resource-level permission",
                    findings=["Resource::*"])
        self.service = ecs.FargateService(
            self, "Dashboard", cluster=cluster, task_definition=task, desired_count=1, assign_public_ip=True,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC), min_healthy_percent=100,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True))
        if config.dashboard_hours is not None:
            self._on_schedule(config.dashboard_hours)
        self.url = entry.url(entry.dashboard_port)
        self.listener = entry.listener("Dashboard", entry.dashboard_port)
        target_group = elbv2.ApplicationTargetGroup(
            self, "DashboardTargets", vpc=cluster.vpc, port=STREAMLIT_PORT, protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.service], stickiness_cookie_duration=Duration.hours(1),
            deregistration_delay=Duration.seconds(30),
            health_check=elbv2.HealthCheck(path="/_stcore/health", healthy_http_codes="200"))
        if config.cognito_login:
            login = Login(self, "Login", callback_url=f"https://{entry.host}:{entry.dashboard_port}/oauth2/idpresponse",
                          domain_prefix=config.cognito_domain_prefix)
            self.listener.add_action("Login", action=login.then_forward(target_group))
        else:
            self.listener.add_target_groups("DashboardDefault", target_groups=[target_group])

    def _on_schedule(self, hours: DashboardHours) -> None:
        """Scheduled scaling between 1 task and none: stopped, the task costs nothing and the load balancer
        answers 503; a start takes as long as a task's launch and Streamlit's start."""
        scaling = self.service.auto_scale_task_count(min_capacity=0, max_capacity=1)
        for name, tasks, cron in (("Start", 1, hours.start), ("Stop", 0, hours.stop)):
            scaling.scale_on_schedule(name, schedule=appscaling.Schedule.expression(cron), min_capacity=tasks,
                                      max_capacity=tasks, time_zone=TimeZone.of(hours.time_zone))
