"""An optional Cognito login in front of the dashboard: administrator-created users only, MFA required;
the load balancer authenticates before forwarding (HTTPS listeners only)."""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_elasticloadbalancingv2_actions as elb_actions
from constructs import Construct

from infra_cdk.nag import acknowledge


class Login(Construct):
    def __init__(self, scope: Construct, id: str, *, callback_url: str, domain_prefix: str | None = None):
        super().__init__(scope, id)
        self.pool = cognito.UserPool(
            self, "Users", self_sign_up_enabled=False,
            password_policy=cognito.PasswordPolicy(min_length=12, require_symbols=True, require_digits=True,
                                                   require_lowercase=True, require_uppercase=True),
            mfa=cognito.Mfa.REQUIRED, mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            removal_policy=RemovalPolicy.RETAIN)
        acknowledge(self.pool, "AwsSolutions-COG8", "threat protection is the paid Cognito Plus plan; this pool has only "
                    "administrator-created users (no self sign-up) and requires MFA")
        # Prefixes are unique per region across every account: one made of the construct path alone is taken
        # by the second deployment anywhere. The account id and the stack's name make it this stack's.
        prefix = domain_prefix or f"housing-{Stack.of(self).stack_name.lower()}-{Aws.ACCOUNT_ID}"
        self.domain = self.pool.add_domain("Domain", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=prefix))
        self.client = self.pool.add_client("Alb", generate_secret=True, o_auth=cognito.OAuthSettings(
            flows=cognito.OAuthFlows(authorization_code_grant=True), scopes=[cognito.OAuthScope.OPENID],
            callback_urls=[callback_url]))

    def then_forward(self, target_group: elbv2.IApplicationTargetGroup) -> elbv2.ListenerAction:
        return elb_actions.AuthenticateCognitoAction(
            user_pool=self.pool, user_pool_client=self.client, user_pool_domain=self.domain,
            next=elbv2.ListenerAction.forward([target_group]))
