"""`cdk synth` / `cdk deploy` entry point (see cdk.json): the stack, with cdk-nag's AWS Solutions checks as
a validation plugin, so synthesis fails on any finding that is neither fixed nor acknowledged with a reason."""

from __future__ import annotations

import os

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra_cdk.config import CONTEXT_KEY, load_config
from infra_cdk.stack import HousingStack


def build_app(context: dict | None = None) -> tuple[cdk.App, HousingStack]:
    app = cdk.App(context=context) if context is not None else cdk.App()
    config = load_config(app.node.try_get_context(CONTEXT_KEY))
    # A concrete region: ALB access logging needs it. The account stays the CLI's (unset when synthesizing offline).
    region = config.region or os.environ.get("CDK_DEFAULT_REGION") or "us-east-1"
    env = cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=region)
    stack = HousingStack(app, config.stack_name, config, env=env)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


if __name__ == "__main__":
    build_app()[0].synth()
