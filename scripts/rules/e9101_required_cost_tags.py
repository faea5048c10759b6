"""E9101: every resource taggable through ``Tags`` carries the cost tags.

cfn-lint loads this file on its own (``append_rules``), so it imports only cfnlint and the
standard library.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from cfnlint.rules import CloudFormationLintRule, RuleMatch
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER, ResourceNotFoundError
from cfnlint.template import Template

REQUIRED_TAGS = ("Environment", "CostCenter", "DeploymentDate")
TAG_PROPERTY = "/properties/Tags"
ASG_TYPE = "AWS::AutoScaling::AutoScalingGroup"

Path = list[str | int]


def _is_intrinsic(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    (key,) = value
    return isinstance(key, str) and (key == "Ref" or key.startswith("Fn::"))


def _is_no_value(value: Any) -> bool:
    return isinstance(value, dict) and value == {"Ref": "AWS::NoValue"}


def _if_branches(value: Any) -> list[Any] | None:
    """The two outcomes of an ``Fn::If``, or None for any other (opaque) intrinsic."""
    args = value.get("Fn::If")
    if isinstance(args, list) and len(args) == 3:
        return [args[1], args[2]]
    return None


def _certain_keys(branches: list[Any], keys_of: Any) -> set[str] | None:
    """Keys present whichever way the condition goes: the intersection over the branches."""
    per_branch = [keys_of(branch) for branch in branches]
    if any(keys is None for keys in per_branch):
        return None
    return set.intersection(*per_branch)


def _item_keys(item: Any) -> set[str] | None:
    """Keys one entry of a tag list certainly sets; None when an intrinsic hides them."""
    if _is_no_value(item):
        return set()
    if _is_intrinsic(item):
        branches = _if_branches(item)
        return None if branches is None else _certain_keys(branches, _item_keys)
    if not isinstance(item, dict):
        return set()
    key = item.get("Key")
    if isinstance(key, str):
        return {key}
    return None if _is_intrinsic(key) else set()


def tag_keys(tags: Any) -> set[str] | None:
    """Tag keys a ``Tags`` value certainly carries, or None when it cannot be inspected.

    Handles a list of ``{Key, Value}`` (with or without ``PropagateAtLaunch``) and a
    key->value map; ``Fn::If`` is followed into both branches.
    """
    if _is_no_value(tags):
        return set()
    if _is_intrinsic(tags):
        branches = _if_branches(tags)
        return None if branches is None else _certain_keys(branches, tag_keys)
    if isinstance(tags, list):
        keys: set[str] = set()
        for item in tags:
            item_keys = _item_keys(item)
            if item_keys is None:
                return None
            keys |= item_keys
        return keys
    if isinstance(tags, dict):
        return {key for key in tags if isinstance(key, str)}
    # A JSON string (a few types accept one) or something malformed that schema rules report.
    return None


def _literal_tags(tags: Any, path: Path) -> Iterator[tuple[dict[str, Any], Path]]:
    """Each ``{Key, ...}`` entry of a tag list, following ``Fn::If`` branches."""
    if _is_intrinsic(tags):
        branches = _if_branches(tags)
        for index, branch in enumerate(branches or [], start=1):
            yield from _literal_tags(branch, [*path, "Fn::If", index])
    elif isinstance(tags, list):
        for index, item in enumerate(tags):
            if _is_intrinsic(item):
                yield from _literal_tags(item, [*path, index])
            elif isinstance(item, dict):
                yield item, [*path, index]


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
        for name, resource in cfn.get_resources().items():
            resource_type = resource.get("Type")
            properties = resource.get("Properties", {})
            if not isinstance(resource_type, str) or not isinstance(properties, dict):
                continue
            if not self._taggable_through_tags(resource_type, cfn.regions):
                continue
            matches.extend(self._check(str(name), resource_type, resource))
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

    def _check(self, name: str, resource_type: str, resource: dict[str, Any]) -> list[RuleMatch]:
        base: Path = ["Resources", name, "Properties"]
        tags = resource.get("Properties", {}).get("Tags")
        keys = set() if tags is None else tag_keys(tags)
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
            for item, item_path in _literal_tags(tags, [*base, "Tags"]):
                key = item.get("Key")
                if key in REQUIRED_TAGS and _is_false(item.get("PropagateAtLaunch")):
                    matches.append(
                        RuleMatch(
                            [*item_path, "PropagateAtLaunch"],
                            f"{name} ({resource_type}) does not propagate cost tag {key} to "
                            "the instances it launches; set PropagateAtLaunch: true on it",
                        )
                    )
        return matches
