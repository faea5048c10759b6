"""The live stack set as ``webstack diff --deployed`` and ``webstack drift`` read it.

Read-only: DescribeStacks, ListStackResources and GetTemplate on the root and every nested
stack. No change set is created, so the comparison works on a stack nobody may plan against
(and costs nothing in the account). The deployed templates are resolved with the parameters the
root was deployed with, and build/ with the same ones, so only what build/ changes shows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from scripts.build import diff, yamlio
from scripts.deploy.aws import Target, aws_errors
from scripts.deploy.stacks import STACK_TYPE, check_readable, identified_stack, reattach_command
from scripts.errors import UsageError, one_line


@dataclass(frozen=True)
class LiveStack:
    """One stack of the deployed set: its address (``root``, ``DatabaseStack``) and id."""

    address: str
    stack_id: str


def root_stack(target: Target, what: str = "templates", *, settled: bool = False
               ) -> dict[str, Any]:
    """The root stack, once it is this environment's and can answer a read of ``what``."""
    stack = identified_stack(target.client("cloudformation"), target.stack_name,
                             target.environment)
    if stack is None:
        raise UsageError(f"stack {target.stack_name} does not exist in {target.region}; "
                         "deploy it first, or compare releases offline with 'webstack diff'")
    check_readable(stack, target.region, what, settled=settled, reattach=reattach_command(
        target.environment, target.region, target.stack_name, profile=target.profile,
        endpoint_url=target.endpoint_url))
    return stack


def live_stacks(target: Target, root_id: str) -> Iterator[tuple[LiveStack, str]]:
    """The root, then every nested stack (depth first), each with its parent's address."""
    cfn = target.client("cloudformation")
    todo = [(LiveStack(diff.ROOT, root_id), "")]
    while todo:
        stack, parent = todo.pop(0)
        yield stack, parent
        with aws_errors(f"list the resources of {stack.address} in {target.region}"):
            pages = cfn.get_paginator("list_stack_resources").paginate(StackName=stack.stack_id)
            for page in pages:
                for resource in page["StackResourceSummaries"]:
                    physical = resource.get("PhysicalResourceId")
                    if resource["ResourceType"] == STACK_TYPE and physical:
                        logical = resource["LogicalResourceId"]
                        address = logical if stack.address == diff.ROOT else \
                            f"{stack.address}/{logical}"
                        todo.append((LiveStack(address, physical), stack.address))


def template_of(cfn: Any, stack_id: str, where: str) -> dict[str, Any]:
    """The template the stack was last deployed with (as sent, before transforms)."""
    with aws_errors(f"read the template of {where}"):
        body = cfn.get_template(StackName=stack_id, TemplateStage="Original")["TemplateBody"]
    if isinstance(body, dict):
        return body
    try:
        return yamlio.load(str(body))
    except (ValueError, yaml.YAMLError) as err:
        raise UsageError(f"the deployed template of {where} cannot be read: "
                         f"{one_line(err)}") from err


def deployed_parameters(stack: Mapping[str, Any]) -> dict[str, str]:
    return {p["ParameterKey"]: str(p.get("ParameterValue", ""))
            for p in stack.get("Parameters") or []}


def deployed_diff(target: Target, parameters: Mapping[str, str], head: diff.Templates,
                  head_label: str = "build/") -> tuple[list[diff.Row], tuple[str, str]]:
    """``head`` (build/) against the live stack set, both resolved with the deployed root
    parameters (and ``parameters`` on top, as a deploy would pass them)."""
    from scripts.deploy.guard import STATEFUL_TYPES

    cfn = target.client("cloudformation")
    stack = root_stack(target)
    templates: dict[str, dict[str, Any]] = {}
    for live, _parent in live_stacks(target, stack["StackId"]):
        templates[live.address] = template_of(cfn, live.stack_id, live.address)
    given = {**deployed_parameters(stack), **parameters}
    label = f"deployed {target.stack_name} ({target.environment}, {target.region})"

    def child_of(address: str, logical_id: str, _props: Mapping[str, Any]
                 ) -> dict[str, Any] | None:
        return templates.get(logical_id if address == diff.ROOT else f"{address}/{logical_id}")

    base = diff.resolve_tree(templates[diff.ROOT], child_of, target.environment, target.region,
                             parameters=given, where=label)
    wanted = diff.resolve_tree(head[diff.ROOT], diff.file_children(head), target.environment,
                               target.region, parameters=given, where=head_label)
    rows = diff.compare_trees(base, wanted, target.environment, target.region, STATEFUL_TYPES)
    return rows, (label, head_label)

