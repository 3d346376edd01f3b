"""The prediction API: the FastAPI app in a container Lambda (through Mangum) as the entry's default
target. It reads the champion, its bundle and the batch predictions; never training data. Optionally it
asks callers for a key kept in a generated Secrets Manager secret."""

from __future__ import annotations

from aws_cdk import Annotations, CfnOutput, Duration
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_elasticloadbalancingv2_targets as elb_targets
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra_cdk.access import store_function
from infra_cdk.config import DeployConfig
from infra_cdk.entry import Entry
from infra_cdk.images import Images
from infra_cdk.nag import acknowledge
from infra_cdk.storage import Storage
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
        self.url = entry.url(entry.api_port)
        self.listener = entry.listener("Api", entry.api_port)
        self.listener.add_targets(
            "ApiTarget", targets=[elb_targets.LambdaTarget(self.function)],
            health_check=elbv2.HealthCheck(enabled=True, path="/health", interval=Duration.seconds(60)))
        self._say_who_can_reach_it(config.allowed_cidr, entry.https)

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
