"""The public entry: one Application Load Balancer. The API (a container Lambda) is the default target of
one listener, the dashboard (Streamlit on Fargate) of another: HTTP 80 / 8501, or with a certificate HTTPS
443 / 8443 and 80 redirected."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra_cdk.nag import acknowledge

STREAMLIT_PORT = 8501


class Entry(Construct):
    def __init__(self, scope: Construct, id: str, *, vpc: ec2.IVpc, access_logs: s3.IBucket, allowed_cidr: str,
                 certificate_arn: str | None, domain_name: str | None):
        super().__init__(scope, id)
        self.https = certificate_arn is not None
        self.scheme = "https" if self.https else "http"
        self.api_port, self.dashboard_port = (443, 8443) if self.https else (80, STREAMLIT_PORT)
        self._certificates = [elbv2.ListenerCertificate.from_arn(certificate_arn)] if self.https else None
        self.alb = elbv2.ApplicationLoadBalancer(
            self, "Alb", vpc=vpc, internet_facing=True,
            idle_timeout=Duration.seconds(3600),  # dashboard websockets stay open between interactions
            drop_invalid_header_fields=True,
        )
        self.alb.log_access_logs(access_logs, prefix="alb")
        for port in {self.api_port, self.dashboard_port, 80}:
            self.alb.connections.allow_from(ec2.Peer.ipv4(allowed_cidr), ec2.Port.tcp(port),
                                            "clients of the API and the dashboard")
        if self.https:
            self.alb.add_redirect(source_port=80, target_port=443)
        # With HTTPS the certificate's name is the address; without, the load balancer's own DNS name.
        self.host = domain_name or self.alb.load_balancer_dns_name
        acknowledge(self.alb, "AwsSolutions-EC23", "the load balancer is the public entry to the API and dashboard; "
                    "narrow it with the allowed_cidr context")

    def listener(self, id: str, port: int) -> elbv2.ApplicationListener:
        protocol = elbv2.ApplicationProtocol.HTTPS if self.https else elbv2.ApplicationProtocol.HTTP
        return self.alb.add_listener(id, port=port, protocol=protocol, certificates=self._certificates, open=False)

    def url(self, port: int) -> str:
        return f"{self.scheme}://{self.host}:{port}"
