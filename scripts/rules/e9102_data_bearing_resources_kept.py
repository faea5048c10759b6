"""E9102: deleting or replacing a data-bearing resource keeps its data.

cfn-lint loads this file on its own (``append_rules``), so it imports only cfnlint and the
standard library.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from cfnlint.rules import CloudFormationLintRule, RuleMatch
from cfnlint.template import Template

# A database is kept as a final snapshot; a bucket cannot be snapshotted, so it is retained.
# A KMS key is retained too: whatever it encrypted (snapshots, logs, objects) dies with it.
KEPT_AS = {
    "AWS::RDS::DBInstance": "Snapshot",
    "AWS::RDS::DBCluster": "Snapshot",
    "AWS::S3::Bucket": "Retain",
    "AWS::KMS::Key": "Retain",
}
POLICIES = ("DeletionPolicy", "UpdateReplacePolicy")

Path = list[str | int]


def _outcomes(value: Any, path: Path) -> Iterator[tuple[Any, Path]]:
    """Each value ``value`` can take, following ``Fn::If``; ``AWS::NoValue`` is None (unset)."""
    if value == {"Ref": "AWS::NoValue"}:
        value = None
    if isinstance(value, dict) and len(value) == 1 and "Fn::If" in value:
        args = value["Fn::If"]
        if isinstance(args, list) and len(args) == 3:
            for index in (1, 2):
                yield from _outcomes(args[index], [*path, "Fn::If", index])
            return
    yield value, path


def _branch(path: Path) -> str:
    return " in one branch of its Fn::If" if "Fn::If" in path else ""


def _is_opaque(value: Any) -> bool:
    """Any other intrinsic (Ref to a parameter, FindInMap...): accepted, it cannot be read."""
    return isinstance(value, dict) and len(value) == 1


class DataBearingResourcesKept(CloudFormationLintRule):
    """A stack delete or a replacing update must not take the data with it."""

    id = "E9102"
    shortdesc = "Data-bearing resources are kept"
    description = (
        "AWS::RDS::DBInstance and AWS::RDS::DBCluster set DeletionPolicy and "
        "UpdateReplacePolicy to Snapshot; AWS::S3::Bucket and AWS::KMS::Key set both to "
        "Retain. A missing "
        "policy counts as wrong: the defaults differ by type and by property."
    )
    source_url = (
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/"
        "aws-attribute-deletionpolicy.html"
    )
    tags: ClassVar[list[str]] = ["resources", "deletionpolicy", "updatereplacepolicy", "webstack"]

    def match(self, cfn: Template) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        for name, resource in cfn.get_resources(list(KEPT_AS)).items():
            resource_type = resource["Type"]
            wanted = KEPT_AS[resource_type]
            for policy in POLICIES:
                for value, path in _outcomes(resource.get(policy), ["Resources", name, policy]):
                    if value == wanted or _is_opaque(value):
                        continue
                    if value is None:
                        problem = f"has no {policy}{_branch(path)}"
                    else:
                        problem = f"{policy} is {value!r}{_branch(path)}"
                    matches.append(
                        RuleMatch(
                            path if policy in resource else ["Resources", name],
                            f"{name} ({resource_type}) {problem}; set {policy} to {wanted} "
                            "so its data outlives the resource",
                        )
                    )
        return matches
