"""The CDK app synthesized once per test session, and its state machine definition as plain ASL."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def cdk_context() -> dict[str, Any]:
    return json.loads((ROOT / "cdk.json").read_text())["context"]


def synthesize(context: dict[str, Any] | None = None):
    """(stack, Template) for the app as `cdk synth` builds it from cdk.json's context; synthesis runs the
    cdk-nag validation plugin, so it raises on any unacknowledged finding."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from aws_cdk.assertions import Template

    from infra_cdk.app import build_app

    app, stack = build_app(cdk_context() if context is None else context)
    app.synth()
    return stack, Template.from_stack(stack)


def resolve_definition(template: dict[str, Any], arn_of=None) -> dict[str, Any]:
    """The state machine's DefinitionString with CloudFormation references replaced: `Fn::GetAtt [X, Arn]`
    and `Ref X` by `arn_of(X)` (default: a fake Lambda ARN named after the logical id), pseudo parameters by
    fixed values. The result is the ASL document a real interpreter can run."""
    arn_of = arn_of or (lambda logical_id: f"arn:aws:lambda:us-east-1:123456789012:function:{logical_id}")
    machine = next(r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine")
    body = machine["Properties"]["DefinitionString"]
    pseudo = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::URLSuffix": "amazonaws.com"}

    def render(part: Any) -> str:
        if isinstance(part, str):
            return part
        if "Fn::GetAtt" in part:
            return arn_of(part["Fn::GetAtt"][0])
        if "Ref" in part:
            return pseudo.get(part["Ref"]) or arn_of(part["Ref"])
        raise ValueError(f"unexpected token in the definition: {part}")

    separator, parts = body["Fn::Join"] if isinstance(body, dict) else ("", [body])
    return json.loads(separator.join(render(p) for p in parts))
