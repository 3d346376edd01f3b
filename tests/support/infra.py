"""The CDK app synthesized once per test session, and its state machine definition as plain ASL."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


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


PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
          "AWS::URLSuffix": "amazonaws.com"}


def fake_arn(logical_id: str) -> str:
    return f"arn:aws:lambda:us-east-1:123456789012:function:{logical_id}"


def resolve_value(value: Any, name_of=fake_arn) -> str:
    """A template value with its CloudFormation references replaced: `Ref X` and `Fn::GetAtt [X, ...]` by
    `name_of(X)`, pseudo parameters by fixed values, `Fn::Join` joined."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(resolve_value(p, name_of) for p in parts)
    if "Fn::GetAtt" in value:
        return name_of(value["Fn::GetAtt"][0])
    if "Ref" in value:
        return PSEUDO.get(value["Ref"]) or name_of(value["Ref"])
    raise ValueError(f"unexpected token in the template: {value}")


def resolve_definition(template: dict[str, Any], arn_of=fake_arn) -> dict[str, Any]:
    """The state machine's DefinitionString resolved (`resolve_value`, references named by `arn_of`,
    default: a fake Lambda ARN named after the logical id): the ASL document a real interpreter can run."""
    machine = next(r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine")
    return json.loads(resolve_value(machine["Properties"]["DefinitionString"], arn_of))


def image_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The container image functions by logical id: their properties (ImageConfig.Command is the CMD)."""
    return {logical_id: r["Properties"] for logical_id, r in template["Resources"].items()
            if r["Type"] == "AWS::Lambda::Function" and "ImageConfig" in r["Properties"]}


def function_environment(template: dict[str, Any], logical_id: str, name_of=fake_arn) -> dict[str, str]:
    """The environment the template gives a function, references resolved by `name_of`."""
    variables = template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    return {name: resolve_value(value, name_of) for name, value in variables.items()}


def task_environment(container: dict[str, Any], name_of=fake_arn) -> dict[str, str]:
    """The environment a task definition's container gets, references resolved by `name_of`."""
    return {e["Name"]: resolve_value(e["Value"], name_of) for e in container.get("Environment", [])}


def data_bucket_id(template: dict[str, Any]) -> str:
    """The logical id of the store's bucket (Storage's `Data`)."""
    [logical_id] = [lid for lid, r in template["Resources"].items()
                    if r["Type"] == "AWS::S3::Bucket" and lid.startswith("StorageData")]
    return logical_id


def task_container(template: dict[str, Any], container_name: str) -> dict[str, Any]:
    """The container definition named `container_name` in the template's ECS task definitions."""
    return next(c for r in template["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"
                for c in r["Properties"]["ContainerDefinitions"] if c["Name"] == container_name)
