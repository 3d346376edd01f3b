"""Acknowledging cdk-nag findings: on the narrowest construct, naming the exact finding where the rule
reports several (`AwsSolutions-IAM5[Resource::...]`), always with the reason it is right."""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule: str, reason: str, findings: list[str] | None = None) -> None:
    ids = [f"{rule}[{finding}]" for finding in findings] if findings else [rule]
    Validations.of(scope).acknowledge(*(Acknowledgment(id=i, reason=reason) for i in ids))


def arn_of(construct: IConstruct) -> str:
    """How cdk-nag prints a resource's ARN in a finding: `<LogicalId.Arn>`."""
    element = construct.node.default_child if not isinstance(construct, CfnElement) else construct
    stack = Stack.of(construct)
    return f"<{stack.resolve(stack.get_logical_id(element))}.Arn>"
