"""E9101: every resource taggable through ``Tags`` carries the cost tags.

cfn-lint loads this file by path (``append_rules``); what the rules share comes from
``_helpers.py`` beside it, loaded by path as cfn-lint loads the rule.
"""

# cfnlint ships no type information: to mypy its CloudFormationLintRule is Any.
# mypy: allow-subclassing-any

from __future__ import annotations

import os
from collections.abc import Iterable
from operator import attrgetter
from typing import TYPE_CHECKING, Any, ClassVar

from cfnlint.helpers import import_filename
from cfnlint.jsonschema import Validator
from cfnlint.rules import CloudFormationLintRule, RuleMatch
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER, ResourceNotFoundError
from cfnlint.template import Template

if TYPE_CHECKING:  # mypy reads the helpers as the package's module
    from scripts.rules._helpers import (
        NodePath,
        descend,
        is_intrinsic,
        literal_entries,
        outcomes,
        path_of,
        resources,
    )
else:  # cfn-lint loads a rule from its file (append_rules), in any environment: the helpers
    # come from beside it, never through the project's package (a plain cfn-lint has none)
    _helpers = import_filename("_helpers", os.path.dirname(os.path.abspath(__file__)))
    descend, is_intrinsic, literal_entries, outcomes, path_of, resources = attrgetter(
        "descend", "is_intrinsic", "literal_entries", "outcomes", "path_of", "resources")(_helpers)

REQUIRED_TAGS = ("Environment", "CostCenter", "DeploymentDate")
TAG_PROPERTY = "/properties/Tags"
ASG_TYPE = "AWS::AutoScaling::AutoScalingGroup"


def _certain(key_sets: Iterable[set[str] | None]) -> set[str] | None:
    """Keys present whichever way the conditions go: the intersection over the outcomes.

    None when an outcome cannot be inspected, or when there is none (a malformed ``Fn::If``).
    """
    certain: set[str] | None = None
    for keys in key_sets:
        if keys is None:
            return None
        certain = keys if certain is None else certain & keys
    return certain


def _item_keys(item: Any) -> set[str] | None:
    """Keys one entry of a tag list certainly sets; None when an intrinsic hides them."""
    if item is None:
        return set()  # AWS::NoValue
    if is_intrinsic(item):
        return None
    if not isinstance(item, dict):
        return set()
    key = item.get("Key")
    if isinstance(key, str):
        return {key}
    return None if is_intrinsic(key) else set()


def _outcome_keys(tags: Any, where: Validator) -> set[str] | None:
    """Tag keys one outcome of a ``Tags`` value carries; None when they cannot be read."""
    if tags is None:
        return set()  # absent, or AWS::NoValue
    if isinstance(tags, list):
        keys: set[str] = set()
        for index, item in enumerate(tags):
            item_outcomes = outcomes(item, descend(where, index))
            item_keys = _certain(_item_keys(entry) for entry, _ in item_outcomes)
            if item_keys is None:
                return None
            keys |= item_keys
        return keys
    if isinstance(tags, dict) and not is_intrinsic(tags):
        return {key for key in tags if isinstance(key, str)}
    # An intrinsic that cannot be read, a JSON string (a few types accept one) or something
    # malformed that schema rules report.
    return None


def tag_keys(tags: Any, where: Validator) -> set[str] | None:
    """Tag keys a ``Tags`` value certainly carries, or None when it cannot be inspected.

    Handles a list of ``{Key, Value}`` (with or without ``PropagateAtLaunch``) and a
    key->value map; ``Fn::If`` is followed into the branches that can apply.
    """
    return _certain(
        _outcome_keys(value, value_where) for value, value_where in outcomes(tags, where)
    )


def _is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


class RequiredCostTags(CloudFormationLintRule):
    """Cost reports group spend by these tags; an untagged resource is unattributed spend."""

    id = "E9101"
    shortdesc = "Required cost tags"
    description = (
        "Every resource whose type is taggable through its Tags property carries the "
        f"tags {', '.join(REQUIRED_TAGS)}. Taggability comes from cfn-lint's provider "
        "schemas. Types tagged through another property are not checked: "
        "AWS::EC2::LaunchTemplate tags through TagSpecifications, and a DeploymentDate in "
        "launch template data would make every deployment roll the fleet; the Auto Scaling "
        "group propagates the tags to its instances instead, so it must set "
        "PropagateAtLaunch on them."
    )
    source_url = "https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/cost-alloc-tags.html"
    tags: ClassVar[list[str]] = ["resources", "tags", "webstack"]

    def match(self, cfn: Template) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        for name, resource, where in resources(cfn):
            resource_type = resource.get("Type")
            properties = resource.get("Properties", {})
            if not isinstance(resource_type, str) or not isinstance(properties, dict):
                continue
            if not self._taggable_through_tags(resource_type, cfn.regions):
                continue
            matches.extend(self._check(name, resource_type, resource, where))
        return matches

    @staticmethod
    def _taggable_through_tags(resource_type: str, regions: list[str]) -> bool:
        """True when the provider schema says the type is tagged through ``Tags``.

        Older schemas have no ``tagging`` block; the resource-schema defaults
        (``taggable: true``, ``tagProperty: /properties/Tags``) then apply when the type
        declares a ``Tags`` property at all.
        """
        for region in regions:
            try:
                schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, resource_type)
            except ResourceNotFoundError:
                continue
            has_tags = "Tags" in schema.schema.get("properties", {})
            tagging = schema.schema.get("tagging")
            if not isinstance(tagging, dict):
                return has_tags
            return (
                bool(tagging.get("taggable", True))
                and tagging.get("tagProperty", TAG_PROPERTY) == TAG_PROPERTY
                and has_tags
            )
        return False

    def _check(
        self, name: str, resource_type: str, resource: dict[str, Any], where: Validator
    ) -> list[RuleMatch]:
        base: NodePath = ["Resources", name, "Properties"]
        tags = resource.get("Properties", {}).get("Tags")
        tags_where = descend(where, "Properties", "Tags")
        keys = tag_keys(tags, tags_where)
        if keys is None:
            return []
        matches: list[RuleMatch] = []
        missing = [key for key in REQUIRED_TAGS if key not in keys]
        if missing:
            them = "it" if len(missing) == 1 else "them"
            if tags is not None:
                where, path = f"add {them} to its Tags", [*base, "Tags"]
            else:
                where = f"give it Tags with {them}"
                path = base if "Properties" in resource else base[:2]
            noun = "tag" if len(missing) == 1 else "tags"
            matches.append(
                RuleMatch(
                    path,
                    f"{name} ({resource_type}) is missing cost {noun} {', '.join(missing)}; "
                    f"{where} so its spend is attributed",
                )
            )
        if resource_type == ASG_TYPE:
            for item, item_where in literal_entries(tags, tags_where):
                key = item.get("Key")
                if key in REQUIRED_TAGS and _is_false(item.get("PropagateAtLaunch")):
                    matches.append(
                        RuleMatch(
                            path_of(descend(item_where, "PropagateAtLaunch")),
                            f"{name} ({resource_type}) does not propagate cost tag {key} to "
                            "the instances it launches; set PropagateAtLaunch: true on it",
                        )
                    )
        return matches
