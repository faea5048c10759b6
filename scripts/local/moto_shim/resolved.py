"""What changes is what a resource resolves to, not the text that describes it.

resolved_changes
    moto decides which resources an update (and a change set) modifies from the template's
    text and the parameters each resource names. A value behind ``Fn::FindInMap`` (webstack's
    environment table), a ``Fn::If`` whose condition flips, or a condition on the resource
    itself changes nothing in that text: the change set listed no resource, and executing it
    left the database's backup retention, the launch template's instance type and the Auto
    Scaling group's sizes as they were, so ``drift`` then reported drift against webstack's
    own deploy. CloudFormation compares what each resource resolves to. The patch resolves
    each resource's properties against the stack as it is and against the new template and
    parameters (Mappings, Conditions, parameters; references to other resources read as the
    resources that exist), and modifies every resource whose resolved properties or whose
    condition differ. changes.py (the change set) and updates.py (the update) read the same
    resolution, so the plan and what the endpoint applies agree.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any, Final

from scripts.local.moto_shim.support import Patch, Probe, cloudformation, require

RESOLVED_ATTRIBUTE: Final = "webstack_resolved"  # a model's properties as last resolved


def planned_map(current: Any, template: dict[str, Any], parameters: dict[str, Any] | None
                ) -> Any:
    """A ResourceMap of ``template`` that creates nothing: its Mappings, parameters and
    conditions loaded, every resource that exists now standing for itself, a new one for its
    logical id."""
    from moto.cloudformation import parsing

    planned = parsing.ResourceMap(
        current.stack_id, current["AWS::StackName"],
        dict(parameters if parameters is not None else current.input_parameters or {}),
        current.tags, current._region_name, current._account_id, template,
        current.cross_stack_resources)
    existing = current._parsed_resources
    planned._parsed_resources.update({
        name: existing[name] if name in existing and name in current._resource_json_map
        else name for name in template.get("Resources") or {}})
    planned.load_mapping()
    planned.load_parameters()
    planned.load_conditions()
    return planned


def resolved_properties(resource_json: dict[str, Any], resources_map: Any
                        ) -> dict[str, Any] | None:
    """The properties as ``resources_map`` resolves them; None when they cannot be resolved
    without making something (an attribute of a resource that does not exist yet)."""
    from moto.cloudformation import parsing

    try:
        value = parsing.clean_json(copy.deepcopy(resource_json.get("Properties") or {}),
                                   resources_map)
        # Model objects compare by identity; what a template sees of them is their text.
        return dict(json.loads(json.dumps(value, sort_keys=True, default=str)))
    except Exception:
        return None


def condition_holds(resource_json: dict[str, Any], resources_map: Any) -> bool:
    condition = resource_json.get("Condition")
    return not condition or bool(resources_map.lazy_condition_map[condition])


def changed_keys(old: dict[str, Any] | None, new: dict[str, Any] | None) -> set[str]:
    """Top-level properties whose resolved values differ (none when either is unknown)."""
    if old is None or new is None:
        return set()
    return {key for key in {*old, *new} if old.get(key) != new.get(key)}


def patches() -> list[Patch]:
    from moto.cloudformation import parsing

    require(parsing.ResourceMap, "build_resource_diff", "load_mapping", "load_parameters",
            "load_conditions")
    stock_diff: Callable[..., dict[str, list[str]]] = parsing.ResourceMap.build_resource_diff

    def build_resource_diff(self: Any, other_template: dict[str, Any],
                            parameters: dict[str, Any] | None = None) -> dict[str, list[str]]:
        actions = stock_diff(self, other_template, parameters)
        try:
            planned = planned_map(self, other_template, parameters)
        except Exception:
            return actions  # moto's own verdict stands (a template it cannot load)
        for name, new_json in (other_template.get("Resources") or {}).items():
            old_json = self._resource_json_map.get(name)
            if old_json is None or name in actions["Modify"]:
                continue
            try:
                flipped = condition_holds(old_json, self) != condition_holds(new_json, planned)
            except Exception:
                flipped = False
            made = self._parsed_resources.get(name)
            if flipped or (made is not None and not isinstance(made, str) and changed_keys(
                    resolved_properties(old_json, self),
                    resolved_properties(new_json, planned))):
                actions["Modify"].append(name)
        return actions

    return [(parsing.ResourceMap, "build_resource_diff", build_resource_diff)]


def _probe_resolved_changes() -> bool:
    from moto import mock_aws

    def template(size: str) -> str:
        return json.dumps({
            "Mappings": {"Config": {"dev": {"Name": size}}},
            "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {
                "DelaySeconds": {"Fn::FindInMap": ["Config", "dev", "Name"]}}}}})

    with mock_aws():
        backend = cloudformation()
        backend.create_stack("probe", template("1"), parameters={})
        change_set_id, _ = backend.create_change_set(
            "probe", "u", template("2"), parameters={}, description="",
            change_set_type="UPDATE")
        changes = backend.describe_change_set(change_set_id).changes
        return not any(c.logical_resource_id == "Queue" for c in changes)


PROBES: dict[str, Probe] = {"resolved_changes": _probe_resolved_changes}
