"""The public side: one Application Load Balancer; the API (the FastAPI app in a container Lambda, through
Mangum) is its default target, the Streamlit dashboard runs on ECS Fargate behind its own listener port.

The dashboard is not a Lambda because ALB -> Lambda carries no websockets (and caps bodies at 1 MB);
Streamlit needs both, plus sticky sessions and a long idle timeout.
"""

from __future__ import annotations

from aws_cdk import Annotations, CfnOutput, Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_elasticloadbalancingv2_actions as elb_actions
from aws_cdk import aws_elasticloadbalancingv2_targets as elb_targets
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra_cdk.access import grant_store, store_function
from infra_cdk.config import DeployConfig
from infra_cdk.images import Images
from infra_cdk.nag import acknowledge
from infra_cdk.storage import Storage
from shared.layout import BUNDLES, CHAMPION_KEY, PREDICTIONS_PREFIX

STREAMLIT_PORT = 8501


class Serving(Construct):
    def __init__(self, scope: Construct, id: str, *, config: DeployConfig, storage: Storage, images: Images,
                 cluster: ecs.Cluster, environment: dict[str, str]):
        super().__init__(scope, id)
        https = config.certificate_arn is not None
        self.scheme = "https" if https else "http"
        api_port, dashboard_port = (443, 8443) if https else (80, STREAMLIT_PORT)
        self._listener_options = {
            "protocol": elbv2.ApplicationProtocol.HTTPS if https else elbv2.ApplicationProtocol.HTTP,
            "certificates": [elbv2.ListenerCertificate.from_arn(config.certificate_arn)] if https else None,
        }
        self._load_balancer(cluster.vpc, storage, config.allowed_cidr, config.domain_name, {api_port, dashboard_port, 80})
        self._api(config, storage, images, environment, api_port)
        if https:
            self.alb.add_redirect(source_port=80, target_port=443)
        self._dashboard(config, storage, images, cluster, environment, api_port, dashboard_port)

    def _load_balancer(self, vpc: ec2.IVpc, storage: Storage, allowed_cidr: str, domain_name: str | None,
                       ports: set[int]) -> None:
        self.alb = elbv2.ApplicationLoadBalancer(
            self, "Alb", vpc=vpc, internet_facing=True,
            idle_timeout=Duration.seconds(3600),  # dashboard websockets stay open between interactions
            drop_invalid_header_fields=True,
        )
        self.alb.log_access_logs(storage.logs, prefix="alb")
        for port in ports:
            self.alb.connections.allow_from(ec2.Peer.ipv4(allowed_cidr), ec2.Port.tcp(port),
                                            "clients of the API and the dashboard")
        # With HTTPS the certificate's name is the address; without, the load balancer's own DNS name.
        self.host = domain_name or self.alb.load_balancer_dns_name
        acknowledge(self.alb, "AwsSolutions-EC23", "the load balancer is the public entry to the API and dashboard; narrow it with the allowed_cidr context")

    def _api(self, config: DeployConfig, storage: Storage, images: Images, environment: dict[str, str], port: int) -> None:
        """The API: reads the champion, its bundle and the batch predictions; never training data."""
        api_environment = dict(environment)
        self.api_key = None
        if config.api_auth == "api_key":
            self.api_key = secretsmanager.Secret(
                self, "ApiKey", description="keys for the prediction API's x-api-key header, one per line",
                generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True, password_length=40))
            acknowledge(self.api_key, "AwsSolutions-SMG4", "an API key is rotated by adding a line with the new key, "
                        "handing it to clients, then removing the old one; no Lambda rotation schedule fits that")
            api_environment["HOUSING_API_KEY_SECRET"] = self.api_key.secret_arn
        self.api = store_function(
            self, "api", code=images.api_code(), config=config, bucket=storage.bucket, environment=api_environment,
            reads=(CHAMPION_KEY, BUNDLES, PREDICTIONS_PREFIX), writes=(), memory_size=config.api_memory_mb,
            timeout=Duration.seconds(30), description="the prediction API (FastAPI through Mangum)")
        if self.api_key is not None:
            self.api_key.grant_read(self.api)
        self._say_who_can_reach_the_api(config, config.certificate_arn is not None)
        self.api_listener = self.alb.add_listener("Api", port=port, open=False, **self._listener_options)
        self.api_listener.add_targets(
            "ApiTarget", targets=[elb_targets.LambdaTarget(self.api)],
            health_check=elbv2.HealthCheck(enabled=True, path="/health", interval=Duration.seconds(60)))

    def _dashboard(self, config: DeployConfig, storage: Storage, images: Images, cluster: ecs.Cluster,
                   environment: dict[str, str], api_port: int, port: int) -> None:
        """Streamlit on Fargate behind its own listener; reads the batch predictions only."""
        task = ecs.FargateTaskDefinition(self, "dashboard-task", cpu=config.dashboard_cpu,
                                         memory_limit_mib=config.dashboard_memory_mb,
                                         runtime_platform=ecs.RuntimePlatform(cpu_architecture=ecs.CpuArchitecture.X86_64))
        dashboard_logs = logs.LogGroup(self, "dashboard-logs", retention=logs.RetentionDays[config.log_retention],
                                       removal_policy=RemovalPolicy.DESTROY)
        task.add_container(
            "streamlit", image=images.dashboard_container(),
            port_mappings=[ecs.PortMapping(container_port=STREAMLIT_PORT)],
            environment={**environment, "API_URL": f"{self.scheme}://{self.host}:{api_port}"},
            secrets={"API_KEY": ecs.Secret.from_secrets_manager(self.api_key)} if self.api_key is not None else None,
            logging=ecs.LogDrivers.aws_logs(stream_prefix="dashboard", log_group=dashboard_logs),
        )
        grant_store(task.task_role, storage.bucket, config.store_prefix, (PREDICTIONS_PREFIX,), (), task)
        acknowledge(task, "AwsSolutions-ECS2", "the environment holds only the store URL and the API's address, no secrets")
        acknowledge(task, "AwsSolutions-IAM5", "ecr:GetAuthorizationToken accepts no resource-level permission",
                    findings=["Resource::*"])
        self.dashboard = ecs.FargateService(
            self, "Dashboard", cluster=cluster, task_definition=task, desired_count=1, assign_public_ip=True,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC), min_healthy_percent=100,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True))
        self.dashboard_listener = self.alb.add_listener("Dashboard", port=port, open=False, **self._listener_options)
        target_group = elbv2.ApplicationTargetGroup(
            self, "DashboardTargets", vpc=cluster.vpc, port=STREAMLIT_PORT, protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.dashboard], stickiness_cookie_duration=Duration.hours(1),
            deregistration_delay=Duration.seconds(30),
            health_check=elbv2.HealthCheck(path="/_stcore/health", healthy_http_codes="200"))
        if config.cognito_login:
            self.dashboard_listener.add_action("Login", action=self._cognito_login(target_group))
        else:
            self.dashboard_listener.add_target_groups("DashboardDefault", target_groups=[target_group])

    def _say_who_can_reach_the_api(self, config: DeployConfig, https: bool) -> None:
        """Synthesis says, as a warning and as the ApiAccess output, who can call the API and how."""
        world = config.allowed_cidr in ("0.0.0.0/0", "::/0")
        keyed = config.api_auth == "api_key"
        access = (f"{'HTTPS' if https else 'HTTP (unencrypted)'} from {config.allowed_cidr}"
                  f"{' (the whole internet)' if world else ''}, "
                  f"{'an x-api-key header required (secret: ApiKeySecret output)' if keyed else 'no authentication'}")
        CfnOutput(self, "ApiAccess", value=access, description="who can reach the prediction API and how")
        if world and not keyed:
            Annotations.of(self).add_warning_v2(
                "housing:api-open",
                f"the prediction API is reachable by anyone: {access}. For anything but a demo set the context "
                "'api_auth': 'api_key' (and 'allowed_cidr', 'certificate_arn' + 'domain_name' for HTTPS).")
        if self.api_key is not None:
            CfnOutput(self, "ApiKeySecret", value=self.api_key.secret_arn,
                      description="aws secretsmanager get-secret-value --secret-id <this> --query SecretString")

    def _cognito_login(self, target_group: elbv2.ApplicationTargetGroup) -> elbv2.ListenerAction:
        pool = cognito.UserPool(
            self, "Users", self_sign_up_enabled=False,
            password_policy=cognito.PasswordPolicy(min_length=12, require_symbols=True, require_digits=True,
                                                   require_lowercase=True, require_uppercase=True),
            mfa=cognito.Mfa.REQUIRED, mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            removal_policy=RemovalPolicy.RETAIN)
        acknowledge(pool, "AwsSolutions-COG8", "threat protection is the paid Cognito Plus plan; this pool has only "
                    "administrator-created users (no self sign-up) and requires MFA")
        domain = pool.add_domain("Domain", cognito_domain=cognito.CognitoDomainOptions(
            domain_prefix=f"housing-{self.node.addr[:10]}"))
        client = pool.add_client("Alb", generate_secret=True, o_auth=cognito.OAuthSettings(
            flows=cognito.OAuthFlows(authorization_code_grant=True), scopes=[cognito.OAuthScope.OPENID],
            callback_urls=[f"https://{self.host}:8443/oauth2/idpresponse"]))
        return elb_actions.AuthenticateCognitoAction(
            user_pool=pool, user_pool_client=client, user_pool_domain=domain,
            next=elbv2.ListenerAction.forward([target_group]))

