"""E9102: deleting or replacing a data-bearing resource keeps its data.

cfn-lint loads this file by path (``append_rules``); what the rules share comes from
``_helpers.py`` beside it, loaded by path as cfn-lint loads the rule.
"""

# cfnlint ships no type information: to mypy its CloudFormationLintRule is Any.
# mypy: allow-subclassing-any

from __future__ import annotations

import os
from operator import attrgetter
from typing import TYPE_CHECKING, Any, ClassVar

from cfnlint.helpers import import_filename
from cfnlint.rules import CloudFormationLintRule, RuleMatch
from cfnlint.template import Template

if TYPE_CHECKING:  # mypy reads the helpers as the package's module
    from scripts.rules._helpers import branch_note, descend, outcomes, path_of, resources
else:  # cfn-lint loads a rule from its file (append_rules), in any environment: the helpers
    # come from beside it, never through the project's package (a plain cfn-lint has none)
    _helpers = import_filename("_helpers", os.path.dirname(os.path.abspath(__file__)))
    branch_note, descend, outcomes, path_of, resources = attrgetter(
        "branch_note", "descend", "outcomes", "path_of", "resources")(_helpers)

# A database is kept as a final snapshot; a bucket cannot be snapshotted, so it is retained.
# A KMS key is retained too: whatever it encrypted (snapshots, logs, objects) dies with it.
KEPT_AS = {
    "AWS::RDS::DBInstance": "Snapshot",
    "AWS::RDS::DBCluster": "Snapshot",
    "AWS::S3::Bucket": "Retain",
    "AWS::KMS::Key": "Retain",
}
POLICIES = ("DeletionPolicy", "UpdateReplacePolicy")


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
        for name, resource, where in resources(cfn, list(KEPT_AS)):
            resource_type = resource["Type"]
            wanted = KEPT_AS[resource_type]
            for policy in POLICIES:
                for value, value_where in outcomes(resource.get(policy), descend(where, policy)):
                    if value == wanted or _is_opaque(value):
                        continue
                    path = path_of(value_where)
                    note = branch_note(path, "its Fn::If")
                    if value is None:
                        problem = f"has no {policy}{note}"
                    else:
                        problem = f"{policy} is {value!r}{note}"
                    matches.append(
                        RuleMatch(
                            path if policy in resource else ["Resources", name],
                            f"{name} ({resource_type}) {problem}; set {policy} to {wanted} "
                            "so its data outlives the resource",
                        )
                    )
        return matches
