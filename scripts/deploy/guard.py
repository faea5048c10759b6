"""The data guard: which changes would lose data, and the stack policy that forbids them.

A change set is refused when it removes or replaces (True or Conditional) a data-bearing
resource, wherever it sits in the nested tree; prod stacks also carry a stack policy that
denies the same, so a change made outside webstack cannot do it either.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from scripts.deploy.aws import Target, aws_errors
from scripts.deploy.changeset import Change
from scripts.deploy.stacks import STACK_TYPE
from scripts.errors import Exit, WebstackError

REPLACING: Final = frozenset({"True", "Conditional"})


def _stateful_types() -> frozenset[str]:
    """cfn-lint's list of data-bearing types (kept current by the pinned cfn-lint), plus KMS keys.

    The list includes log groups (flow and application logs are kept as evidence), queues and
    secrets: losing any of them by a replace is not undone by a redeploy. KMS keys are added
    explicitly because data encrypted under a deleted key is gone with it.
    """
    # Located without importing cfnlint, whose import alone costs most of a second.
    spec = importlib.util.find_spec("cfnlint")
    if spec is None or not spec.submodule_search_locations:
        raise WebstackError("cfn-lint is not installed; run pip install -e .", Exit.SOURCE)
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "AdditionalSpecs" / (
        "StatefulResources.json")
    return frozenset(json.loads(path.read_text(encoding="utf-8"))["ResourceTypes"]) | {
        "AWS::KMS::Key"}


STATEFUL_TYPES: frozenset[str] = _stateful_types()


class StatefulChangeRefused(WebstackError):
    """The change set would replace or remove a data-bearing resource."""

    exit_code = Exit.USAGE

    def __init__(self, violations: Sequence[Change]) -> None:
        self.violations = tuple(violations)
        listed = ", ".join(f"{c.address} ({c.resource_type}, {outcome(c)})" for c in violations)
        super().__init__(
            f"refusing to lose data: {listed}; rerun with --allow-replacement after taking "
            "a backup"
        )




def outcome(change: Change) -> str:
    """What happens to the resource, in words."""
    if change.action == "Remove":
        return "removed"
    if change.replacement == "Conditional":
        return "may be replaced"
    if change.replacement == "True":
        return "replaced"
    return change.action.lower()


def stateful_violations(
    changes: Iterable[Change], data_types: Collection[str] = STATEFUL_TYPES,
) -> list[Change]:
    """Removes and replacements (True or Conditional) of data-bearing resources.

    Conditional counts: CloudFormation decides at execution time, when it is too late.
    A nested stack counts only when removed or certainly replaced; its Conditional is a
    summary of its children, which are judged on their own from its nested change set.
    """
    found = []
    for change in changes:
        if change.resource_type not in data_types:
            continue
        if change.action == "Remove":
            found.append(change)
        elif change.resource_type == STACK_TYPE:
            if change.replacement == "True":
                found.append(change)
        elif change.replacement in REPLACING:
            found.append(change)
    return found


def stack_policy(resource_types: Iterable[str] = STATEFUL_TYPES) -> str:
    """A stack policy for protected environments: no replace or delete of data-bearing types.

    Keyed on ResourceType, not logical ids, so the same policy fits the root and each nested
    stack (a root policy does not reach resources inside children). awacs has no names for
    stack-policy actions, so they are spelled as generic ``Update:*`` actions.
    """
    from awacs.aws import Action, Allow, Condition, Deny, Policy, Principal, Statement, StringEquals

    policy = Policy(Statement=[
        Statement(
            Effect=Deny,
            Principal=Principal("*"),
            Action=[Action("Update", "Replace"), Action("Update", "Delete")],
            Resource=["*"],
            Condition=Condition(StringEquals({"ResourceType": sorted(resource_types)})),
        ),
        Statement(Effect=Allow, Principal=Principal("*"), Action=[Action("Update", "*")],
                  Resource=["*"]),
    ])
    return str(policy.to_json(indent=2, sort_keys=True))


# The property that names a resource of each data-bearing type webstack may replace:
# CloudFormation cannot replace a resource whose template sets it ("cannot update a stack
# when a custom-named resource requires replacing").
NAME_PROPERTIES: Final = {
    "AWS::RDS::DBInstance": "DBInstanceIdentifier", "AWS::RDS::DBCluster": "DBClusterIdentifier",
    "AWS::S3::Bucket": "BucketName", "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::DynamoDB::Table": "TableName", "AWS::SQS::Queue": "QueueName",
    "AWS::SecretsManager::Secret": "Name", "AWS::EFS::FileSystem": "FileSystemName",
}


def refuse_fixed_name_replacements(
        violations: Iterable[Change],
        template_of: Callable[[tuple[str, ...]], Mapping[str, Any] | None]) -> None:
    """--allow-replacement of a resource its template names: CloudFormation would fail the
    update mid-way and roll back, so it is refused (exit 2) before anything runs."""
    for change in violations:
        name = NAME_PROPERTIES.get(change.resource_type)
        if change.action == "Remove" or name is None:
            continue
        template = template_of(change.path) or {}
        resource = (template.get("Resources") or {}).get(change.logical_id) or {}
        if name in (resource.get("Properties") or {}):
            raise WebstackError(
                f"--allow-replacement cannot replace {change.address} ({change.resource_type}):"
                f" its template names it ({name}), and CloudFormation cannot replace a "
                "custom-named resource (the update would fail and roll back); give it a new "
                f"{name} in templates_src, or restore it from a snapshot under a new name",
                Exit.USAGE)


# -- prod's protection ------------------------------------------------------------------------


def protect(target: Target, emit: Callable[[str], None]) -> None:
    """Prod: termination protection on the root, a stack policy on root and children."""
    cfn = target.client("cloudformation")
    policy = stack_policy()
    with aws_errors("protect the prod stack"):
        cfn.update_termination_protection(EnableTerminationProtection=True,
                                          StackName=target.stack_name)
        stacks = [target.stack_name]
        for resource in cfn.list_stack_resources(StackName=target.stack_name)[
                "StackResourceSummaries"]:
            if resource["ResourceType"] == STACK_TYPE and resource.get("PhysicalResourceId"):
                stacks.append(resource["PhysicalResourceId"])
        for stack in stacks:
            cfn.set_stack_policy(StackName=stack, StackPolicyBody=policy)
    emit(f"protected: termination protection on, stack policy on {len(stacks)} stacks "
         "(no replace/delete of data-bearing resources)")


def ensure_protected(target: Target, stack: dict[str, Any], emit: Callable[[str], None]
                     ) -> None:
    """A prod stack that settled without its protection (a deploy interrupted after execute,
    a stack unprotected by hand) gets it: termination protection and the root's stack policy
    are read (one call), and ``protect`` sets both on every stack when either is missing."""
    cfn = target.client("cloudformation")
    if stack.get("EnableTerminationProtection"):
        with aws_errors(f"read the stack policy of {target.stack_name}"):
            policy = cfn.get_stack_policy(StackName=target.stack_name).get("StackPolicyBody")
        if policy and _same_policy(policy, stack_policy()):
            return
    protect(target, emit)


def _same_policy(found: str, wanted: str) -> bool:
    try:
        return bool(json.loads(found) == json.loads(wanted))
    except ValueError:
        return False
