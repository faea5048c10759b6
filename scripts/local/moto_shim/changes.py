"""What a change set says it will do: the resources, Replacement, Scope, Details, nested sets.

change_set_parameter_changes
    moto's ChangeSet lists only resources whose template text changed, so an update that
    changes only a parameter shows an empty change list (which webstack rightly reads as
    "no changes"), although executing it would update the resources that use it. The patch
    computes the list the way moto's own update does, parameters included.
change_set_replacement
    moto's changes carry no Replacement, Scope, Details or PhysicalResourceId, so webstack's
    data guard cannot tell an in-place update from a replacement. The patch fills them the way
    CloudFormation does, from the changed top-level properties and scripts/build/schemas.py
    (the same rule the update itself follows, see updates.py).
nested_change_sets
    CloudFormation (with IncludeNestedStacks, which webstack always sets) gives each modified
    nested stack its own change set and points to it from the parent's change (ChangeSetId);
    moto has no nested change sets, so a database replacement inside a child is invisible. The
    patch creates them (always, as if IncludeNestedStacks were set) for every modified nested
    stack, recursively.
delete_missing_change_set
    DeleteChangeSet of a change set that no longer exists (executed, or deleted with its
    stack's siblings) answers HTTP 500 in moto (an unbound local); CloudFormation answers
    ChangeSetNotFound (404), which webstack's clean-up expects and ignores.
change_set_template
    GetTemplate with ChangeSetName answers the template the change set was made from
    (CloudFormation's TemplateStage Original); moto ignores ChangeSetName and answers the
    stack's current template, so a change set made from another template reads as the
    deployed one. The patch answers the change set's own template, or ChangeSetNotFound.
"""

from __future__ import annotations

import json
from typing import Any, Final

from scripts.build import schemas
from scripts.local.moto_shim import resolved
from scripts.local.moto_shim.support import (
    PROBE_CHILD,
    PROBE_REGION,
    Patch,
    Probe,
    nested_parent,
    put_probe_child,
    require,
)
from scripts.local.moto_shim.support import cloudformation as cloudformation_backend
from scripts.local.moto_shim.updates import SOURCE_ATTRIBUTE, STACK_TYPE, changed_properties

RECREATION: Final = {"True": "Always", "Conditional": "Conditionally", "False": "Never"}


def _with_parameters(value: Any, parameters: dict[str, Any]) -> Any:
    """``value`` with each ``{"Ref": P}`` of a parameter replaced by P's new value."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in parameters:
            return parameters[value["Ref"]]
        return {k: _with_parameters(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_parameters(v, parameters) for v in value]
    return value


def _new_parameters(change_set: Any) -> dict[str, Any]:
    declared = change_set.template_dict.get("Parameters") or {}
    values = {k: spec["Default"] for k, spec in declared.items() if "Default" in spec}
    return {**values, **(change_set.parameters or {})}


def patches() -> list[Patch]:
    from moto.cloudformation import models, parsing
    from moto.cloudformation.utils import get_stack_from_s3_url
    from moto.utilities.utils import get_partition

    from scripts.local.moto_shim.support import require

    require(models, "ChangeSet", "Change")
    require(models.ChangeSet, "diff")
    require(parsing, "clean_json")

    def nested_change_set(change_set: Any, logical_id: str, child: Any,
                          resource_json: dict[str, Any], parameters: dict[str, Any]) -> str | None:
        stack = change_set.stack
        properties = parsing.clean_json(
            _with_parameters(resource_json.get("Properties") or {}, parameters),
            stack.resource_map)
        template = get_stack_from_s3_url(properties["TemplateURL"], account_id=stack.account_id,
                                         partition=get_partition(stack.region_name))
        child_parameters = {k: str(v) for k, v in (properties.get("Parameters") or {}).items()}
        cfn = models.cloudformation_backends[stack.account_id][stack.region_name]
        name = f"{change_set.change_set_name}-{logical_id}"[:128]
        change_set_id, _ = cfn.create_change_set(
            stack_name=child.name, change_set_name=name, template=template,
            parameters=child_parameters, description=f"nested in {change_set.change_set_name}",
            change_set_type="UPDATE")
        nested = cfn.change_sets[change_set_id]
        if nested.status == "FAILED":  # nothing changes in the child: AWS makes none
            cfn.delete_change_set(change_set_id)
            return None
        return str(change_set_id)

    def describe(change_set: Any, change: Any, old: Any, resource_json: dict[str, Any],  # noqa: PLR0917 - one change, described from all it is made of
                 parameters: dict[str, Any], planned: Any) -> None:
        kind = change.resource_type
        change.physical_resource_id = getattr(old, "physical_resource_id", None)
        if change.action != "Modify":
            return
        new_source = (resource_json.get("Properties") or {}, parameters)
        changed = changed_properties(getattr(old, SOURCE_ATTRIBUTE, ({}, {})), new_source) | \
            _resolved_change(change_set.stack.resource_map, change.logical_resource_id,
                             resource_json, planned)
        replacement = "False" if kind == STACK_TYPE else schemas.replacement(
            kind, changed, change_set.stack.region_name)
        change.replacement = replacement
        change.scope = ["Properties"] if changed else []
        change.details = [
            {"Target": {"Attribute": "Properties", "Name": name,
                        "RequiresRecreation": "Never" if kind == STACK_TYPE else RECREATION[
                            schemas.replacement(kind, {name}, change_set.stack.region_name)]},
             "Evaluation": "Static",
             "ChangeSource": "DirectModification"}
            for name in sorted(changed)
        ]
        if kind == STACK_TYPE and old is not None:
            change.change_set_id = nested_change_set(change_set, change.logical_resource_id, old,
                                                     resource_json, parameters)

    def change_set_diff(self: Any) -> list[Any]:
        resource_map = self.stack.resource_map
        actions = resource_map.build_resource_diff(self.template_dict, self.parameters or None)
        new = self.template_dict.get("Resources") or {}
        parameters = _new_parameters(self)
        planned = _planned(resource_map, self.template_dict, self.parameters or None)
        changes = []
        for action in ("Add", "Modify", "Remove"):
            for name in actions[action]:
                resource_json = new.get(name) or resource_map._resource_json_map[name]
                old = resource_map._parsed_resources.get(name) if action != "Add" else None
                shown = _shown_action(action, old, resource_json, planned)
                if shown == "Modify" and old is None:
                    continue  # never created (its Condition is false): nothing to modify
                change = models.Change(action=shown, logical_resource_id=name,
                                       resource_type=resource_json["Type"])
                describe(self, change, None if isinstance(old, str) else old, resource_json,
                         parameters, planned)
                changes.append(change)
        return changes

    return [(models.ChangeSet, "diff", change_set_diff), *_delete_missing_change_set(),
            *_change_set_template()]


def _planned(current: Any, template: dict[str, Any], parameters: dict[str, Any] | None
             ) -> Any:
    try:
        return resolved.planned_map(current, template, parameters)
    except Exception:
        return None  # a template moto cannot load: its own verdict stands


def _resolved_change(current: Any, name: str, resource_json: dict[str, Any], planned: Any
                     ) -> set[str]:
    """The top-level properties whose resolved values the change set changes."""
    if planned is None:
        return set()
    return resolved.changed_keys(
        resolved.resolved_properties(current._resource_json_map[name], current),
        resolved.resolved_properties(resource_json, planned))


def _shown_action(action: str, old: Any, resource_json: dict[str, Any], planned: Any) -> str:
    """A Modify whose resource's Condition flips is an Add (it turned true) or a Remove."""
    if action != "Modify" or planned is None:
        return action
    try:
        holds = resolved.condition_holds(resource_json, planned)
    except Exception:
        return action
    if old is None and holds:
        return "Add"
    if old is not None and not holds:
        return "Remove"
    return action


def _change_set_not_found() -> type[Exception]:
    from moto.cloudformation.exceptions import CloudFormationError

    class ChangeSetNotFound(CloudFormationError):
        code = "ChangeSetNotFoundException"  # the model's shape; answered as ChangeSetNotFound

    return ChangeSetNotFound


def _find_change_set(backend: Any, name: str, stack: str | None = None) -> Any:
    """A change set by ARN, or by name within the stack named (name or id), or None."""
    found = backend.change_sets.get(name)
    if found is not None:
        return found
    return next((cs for cs in backend.change_sets.values() if cs.change_set_name == name
                 and stack in (None, cs.stack_name, cs.stack_id)), None)


def _change_set_template() -> list[Patch]:
    from moto.cloudformation import responses
    from moto.core.responses import ActionResult

    require(responses.CloudFormationResponse, "get_template")
    not_found = _change_set_not_found()
    stock_get_template = responses.CloudFormationResponse.get_template

    def get_template(self: Any) -> Any:
        name = self._get_param("ChangeSetName")
        if not name:
            return stock_get_template(self)
        found = _find_change_set(self.cloudformation_backend, name, self._get_param("StackName"))
        if found is None:
            raise not_found(f"ChangeSet [{name}] does not exist")
        return ActionResult({"TemplateBody": found.template, "StagesAvailable": ["Original"]})

    return [(responses.CloudFormationResponse, "get_template", get_template)]


def _delete_missing_change_set() -> list[Patch]:
    from moto.cloudformation import models

    ChangeSetNotFound = _change_set_not_found()

    stock_delete = models.CloudFormationBackend.delete_change_set

    def delete_change_set(self: Any, change_set_name: str) -> None:
        found = _find_change_set(self, change_set_name)
        if found is None:
            raise ChangeSetNotFound(f"ChangeSet [{change_set_name}] does not exist")
        # As CloudFormation does for a change set made with IncludeNestedStacks: its nested
        # change sets (nested_change_sets made them) go with it.
        for change in getattr(found, "changes", None) or []:
            nested = getattr(change, "change_set_id", None)
            if nested and nested in self.change_sets:
                delete_change_set(self, nested)
        stock_delete(self, change_set_name)

    return [(models.CloudFormationBackend, "delete_change_set", delete_change_set)]


# Probes -------------------------------------------------------------------------------------



def _probe_change_set_parameter_changes() -> bool:
    from moto import mock_aws

    with mock_aws():
        cfn = cloudformation_backend()
        cfn.create_stack("probe", json.dumps(PROBE_CHILD), parameters={"Name": "old"})
        change_set_id, _ = cfn.create_change_set(
            "probe", "probe-update", json.dumps(PROBE_CHILD), parameters={"Name": "new"},
            description="", change_set_type="UPDATE")
        changes = cfn.describe_change_set(change_set_id).changes
        return not any(change.logical_resource_id == "Topic" for change in changes)


def _probe_change_set_replacement() -> bool:
    from moto import mock_aws

    def template(name: str) -> str:
        return json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue",
                                                   "Properties": {"QueueName": name}}}})

    with mock_aws():
        cfn = cloudformation_backend()
        cfn.create_stack("probe", template("a"), parameters={})
        change_set_id, _ = cfn.create_change_set("probe", "u", template("b"), parameters={},
                                                 description="", change_set_type="UPDATE")
        changes = cfn.describe_change_set(change_set_id).changes
        return [getattr(c, "replacement", None) for c in changes] != ["True"]


def _probe_nested_change_sets() -> bool:
    from moto import mock_aws

    with mock_aws():
        put_probe_child()
        cfn = cloudformation_backend()
        cfn.create_stack("probe", nested_parent("a"), parameters={})
        change_set_id, _ = cfn.create_change_set("probe", "u", nested_parent("b"), parameters={},
                                                 description="", change_set_type="UPDATE")
        changes = cfn.describe_change_set(change_set_id).changes
        return not any(getattr(c, "change_set_id", None) for c in changes)


def _probe_delete_missing_change_set() -> bool:
    from moto import mock_aws

    with mock_aws():
        try:
            cloudformation_backend().delete_change_set("no-such-change-set")
        except UnboundLocalError:
            return True
        except Exception as err:
            return not getattr(err, "code", "").startswith("ChangeSetNotFound")
        return True


def _probe_change_set_template() -> bool:
    import boto3
    from moto import mock_aws

    other = json.dumps({**PROBE_CHILD, "Description": "the change set's"})
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name=PROBE_REGION)
        cfn.create_stack(StackName="probe", TemplateBody=json.dumps(PROBE_CHILD),
                         Parameters=[{"ParameterKey": "Name", "ParameterValue": "a"}])
        made = cfn.create_change_set(StackName="probe", ChangeSetName="u", TemplateBody=other,
                                     ChangeSetType="UPDATE",
                                     Parameters=[{"ParameterKey": "Name", "ParameterValue": "a"}])
        body = cfn.get_template(StackName="probe", ChangeSetName=made["Id"])["TemplateBody"]
        return bool(body != json.loads(other))


PROBES: dict[str, Probe] = {
    "change_set_template": _probe_change_set_template,
    "delete_missing_change_set": _probe_delete_missing_change_set,
    "change_set_parameter_changes": _probe_change_set_parameter_changes,
    "change_set_replacement": _probe_change_set_replacement,
    "nested_change_sets": _probe_nested_change_sets,
}
