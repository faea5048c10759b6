"""Updates follow CloudFormation's rules: replace only for a createOnly property, else in place.

nested_stack_replaced_on_update
    moto's ``AWS::CloudFormation::Stack`` update deletes the nested stack and creates a new one,
    so any change to a child (even a parameter-only one, e.g. AlarmEmail) deletes and recreates
    every resource in it, the database included. CloudFormation updates a nested stack in
    place. The patch updates the child stack with its new template and parameters and keeps it.
resources_replaced_on_update
    moto re-creates most resources on any change (or, for types it cannot update, such as
    ``AWS::RDS::DBInstance``, drops them from the stack). The patch asks
    scripts/build/schemas.py, as ``webstack diff`` does: a change to a createOnly property
    replaces the resource (new physical id; the old one deleted unless UpdateReplacePolicy is
    Retain; a custom-named resource cannot be replaced, as on AWS); any other change updates it
    in place and keeps its physical id. Property values are applied in place for
    ``IN_PLACE`` types; other types keep moto's object as it was (documented in CONFORMANCE.md).
failed_update_retried
    moto's ``ResourceMap.update`` tries every modified resource again after any error, up to
    four passes, so one failing resource fails four times: a nested stack whose database fails
    updates, fails and rolls back four times, with four sets of events. CloudFormation starts
    no resource once one has failed and rolls back. The patch ends the update at its first
    failure: the resources not updated yet are not started, and moto's loop gets that failure
    back at once, without work or events, until it gives up and raises it. A nested stack's
    rollback re-applies its previous template without the UPDATE_IN_PROGRESS and
    UPDATE_COMPLETE events of an update of its own.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable
from typing import Any, Final

from scripts.build import schemas
from scripts.local.moto_shim import failures
from scripts.local.moto_shim import resolved as resolution
from scripts.local.moto_shim.support import Patch, Probe, cloudformation, require

STACK_TYPE: Final = "AWS::CloudFormation::Stack"
# Properties applied to moto's model on an in-place update: type -> {property: attribute}.
IN_PLACE: Final[dict[str, dict[str, str]]] = {
    "AWS::RDS::DBInstance": {
        "AllocatedStorage": "allocated_storage", "DBInstanceClass": "db_instance_class",
        "EngineVersion": "engine_version", "MultiAZ": "multi_az",
        "BackupRetentionPeriod": "backup_retention_period",
        "DeletionProtection": "deletion_protection",
        "PreferredBackupWindow": "preferred_backup_window",
        "MaxAllocatedStorage": "_max_allocated_storage",
    },
    "AWS::AutoScaling::AutoScalingGroup": {"MinSize": "min_size", "MaxSize": "max_size"},
}
# Attributes moto compares as numbers; a CloudFormation-made model may hold them as text
# ("20" from a mapping), and one int beside one str answers HTTP 500 for the whole region.
NUMERIC: Final[dict[str, tuple[str, ...]]] = {
    "AWS::RDS::DBInstance": ("allocated_storage", "_max_allocated_storage",
                             "backup_retention_period"),
    "AWS::AutoScaling::AutoScalingGroup": ("min_size", "max_size"),
}
SOURCE_ATTRIBUTE: Final = "webstack_source"
# On a ResourceMap while it updates: the first resource failure, which ends the update.
FAILED_ATTRIBUTE: Final = "webstack_update_failed"
# Types whose model updates in place itself (nested stacks here, alarms in alarms.py).
UPDATED_BY_MODEL: Final = frozenset({STACK_TYPE, "AWS::CloudWatch::Alarm"})


def changed_properties(old: tuple[dict[str, Any], dict[str, Any]],
                       new: tuple[dict[str, Any], dict[str, Any]]) -> set[str]:
    """Top-level properties whose template text or referenced parameter values changed."""
    from moto.cloudformation.parsing import get_references_from_template

    (old_props, old_params), (new_props, new_params) = old, new
    changed_params = {k for k in {*old_params, *new_params}
                      if old_params.get(k) != new_params.get(k)}
    return {k for k in {*old_props, *new_props}
            if old_props.get(k) != new_props.get(k)
            or changed_params & set(get_references_from_template(new_props.get(k) or {}))}


def _model_value(value: Any) -> Any:
    """A template value as moto's models hold it: "true" is True, "20" is 20."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def _source(resource_json: dict[str, Any], resources_map: Any) -> tuple[dict[str, Any],
                                                                         dict[str, Any]]:
    return (copy.deepcopy(resource_json.get("Properties") or {}),
            dict(resources_map.resolved_parameters))


def patches() -> list[Patch]:  # noqa: C901, PLR0915 - one closure per behaviour, side by side
    from moto.cloudformation import models, parsing
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.utils import get_stack_from_s3_url
    from moto.core.utils import utcnow
    from moto.utilities.utils import get_partition

    require(parsing, "parse_and_create_resource", "parse_and_update_resource",
            "parse_resource", "resource_name_property_from_type")
    require(models.Stack, "update_from_cloudformation_json", "update", "_parse_template",
            "_create_output_map")
    require(parsing.ResourceMap, "update")
    stock_create: Callable[..., Any] = parsing.parse_and_create_resource
    stock_update: Callable[..., Any] = parsing.parse_and_update_resource
    stock_map_update: Callable[..., None] = parsing.ResourceMap.update

    def parse_and_create_resource(logical_id: str, resource_json: dict[str, Any],
                                  resources_map: Any, account_id: str, region_name: str) -> Any:
        source = _source(resource_json, resources_map)
        resource = failures.around(
            resources_map, logical_id, resource_json, "create",
            lambda: stock_create(logical_id, resource_json, resources_map, account_id,
                                 region_name))
        if resource is not None:
            setattr(resource, SOURCE_ATTRIBUTE, source)
            setattr(resource, resolution.RESOLVED_ATTRIBUTE,
                    resolution.resolved_properties(resource_json, resources_map))
        return resource

    def replace(logical_id: str, resource_json: dict[str, Any], resources_map: Any,  # noqa: PLR0917 - moto's own signature plus the old resource
                account_id: str, region_name: str, old: Any) -> Any:
        kind = resource_json["Type"]
        name_property = parsing.resource_name_property_from_type(kind)
        old_props: dict[str, Any] = getattr(old, SOURCE_ATTRIBUTE, ({}, {}))[0]
        props = resource_json.get("Properties") or {}
        if name_property and name_property in props and \
                props.get(name_property) == old_props.get(name_property):
            raise ValidationError(message=(
                f"CloudFormation cannot update a stack when a custom-named resource requires "
                f"replacing. Rename {props[name_property]} and update the stack again."))
        new = parse_and_create_resource(logical_id, resource_json, resources_map, account_id,
                                        region_name)
        policy = resource_json.get("UpdateReplacePolicy", "Delete")
        if policy != "Retain":  # the old one goes as DeletionPolicy would send it (rds.py)
            resources_map._delete_resource(old, {**resource_json, "DeletionPolicy": policy})
        return new

    def parse_and_update_resource(logical_id: str, resource_json: dict[str, Any],
                                  resources_map: Any, account_id: str, region_name: str) -> Any:
        failed: Exception | None = getattr(resources_map, FAILED_ATTRIBUTE, None)
        if failed is not None:  # the update has already failed: start nothing more
            raise failed
        try:
            return failures.around(
                resources_map, logical_id, resource_json, "update",
                lambda: update_resource(logical_id, resource_json, resources_map, account_id,
                                        region_name))
        except Exception as err:
            setattr(resources_map, FAILED_ATTRIBUTE, err)
            raise

    def update_map(self: Any, template: dict[str, Any],
                   parameters: dict[str, Any] | None = None) -> None:
        setattr(self, FAILED_ATTRIBUTE, None)  # each update (a rollback too) starts afresh
        try:
            stock_map_update(self, template, parameters)
        finally:
            setattr(self, FAILED_ATTRIBUTE, None)

    def update_resource(logical_id: str, resource_json: dict[str, Any],
                        resources_map: Any, account_id: str, region_name: str) -> Any:
        kind = resource_json["Type"]
        old = resources_map._parsed_resources.get(logical_id)
        condition = resource_json.get("Condition")
        if condition and not resources_map.lazy_condition_map[condition]:
            # Its Condition is false now: CloudFormation removes it (if it was there).
            if old is not None and not isinstance(old, str):
                resources_map._delete_resource(old, resource_json)
            return None
        if old is None:  # its Condition turned true: CloudFormation adds it
            return parse_and_create_resource(logical_id, resource_json, resources_map,
                                             account_id, region_name)
        new_source = _source(resource_json, resources_map)
        now = resolution.resolved_properties(resource_json, resources_map)
        changed = changed_properties(getattr(old, SOURCE_ATTRIBUTE, ({}, {})), new_source) | \
            resolution.changed_keys(getattr(old, resolution.RESOLVED_ATTRIBUTE, None), now)
        if kind in UPDATED_BY_MODEL or isinstance(old, str):
            resource = stock_update(logical_id, resource_json, resources_map, account_id,
                                    region_name)
        elif schemas.replacement(kind, changed, region_name) == "True":
            return replace(logical_id, resource_json, resources_map, account_id, region_name,
                           old)
        else:
            resolved = parsing.parse_resource(copy.deepcopy(resource_json), resources_map)
            properties = resolved[1].get("Properties") or {} if resolved else {}
            for prop, attribute in IN_PLACE.get(kind, {}).items():
                if prop in properties:
                    setattr(old, attribute, _model_value(properties[prop]))
            for attribute in NUMERIC.get(kind, ()):
                setattr(old, attribute, _model_value(getattr(old, attribute, None)))
            resource = old
        if resource is not None:
            setattr(resource, SOURCE_ATTRIBUTE, new_source)
            setattr(resource, resolution.RESOLVED_ATTRIBUTE, now)
        return resource

    def update_nested_stack(cls: Any, original_resource: Any, new_resource_name: str,  # noqa: PLR0917 - moto's signature
                            cloudformation_json: Any, account_id: str, region_name: str) -> Any:
        properties = cloudformation_json["Properties"]
        template = get_stack_from_s3_url(properties["TemplateURL"], account_id=account_id,
                                         partition=get_partition(region_name))
        parameters = {k: str(v) for k, v in (properties.get("Parameters") or {}).items()}
        child = original_resource
        if not (child.has_template(template) and child.has_parameters(parameters)):
            previous = (child.template, dict(child.resource_map.input_parameters or {}))
            child.status = "UPDATE_IN_PROGRESS"
            try:
                child.update(template, parameters=parameters)
            except Exception as err:
                reason = str(getattr(err, "message", "") or err)
                child._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS",
                                       resource_status_reason=reason)
                # The previous state re-applied as part of the rollback, not as an update of
                # its own (moto's Stack.update would add UPDATE_IN_PROGRESS/COMPLETE events).
                with failures.suspended(), contextlib.suppress(Exception):
                    child.template = previous[0]
                    child._parse_template()
                    child.resource_map.update(child.template_dict, previous[1])
                    child.output_map = child._create_output_map()
                child.status = "UPDATE_ROLLBACK_COMPLETE"
                child._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
                err.webstack_stack_id = child.stack_id  # type: ignore[attr-defined]
                raise
            child.last_updated_time = utcnow()
            child.output_map = child._create_output_map()
        # The child's change sets (the nested one changes.py made) are spent, as on AWS.
        cfn = models.cloudformation_backends[account_id][region_name]
        for spent in [i for i, cs in cfn.change_sets.items() if cs.stack_id == child.stack_id]:
            del cfn.change_sets[spent]
        return child

    return [
        (parsing, "parse_and_create_resource", parse_and_create_resource),
        (parsing, "parse_and_update_resource", parse_and_update_resource),
        (parsing.ResourceMap, "update", update_map),
        (models.Stack, "update_from_cloudformation_json", classmethod(update_nested_stack)),
    ]


# Probes -------------------------------------------------------------------------------------

def _probe_nested_stack_replaced_on_update() -> bool:
    from moto import mock_aws

    from scripts.local.moto_shim.support import nested_parent, put_probe_child

    with mock_aws():
        put_probe_child()
        cfn = cloudformation()
        cfn.create_stack("probe", nested_parent("a"), parameters={})
        before = {s.stack_id for s in cfn.stacks.values() if s.name != "probe"}
        cfn.update_stack("probe", nested_parent("b"), role_arn=None, parameters=[], tags=None)
        after = {s.stack_id for s in cfn.stacks.values() if s.name != "probe"}
        return before != after


def _probe_resources_replaced_on_update() -> bool:
    from moto import mock_aws

    def template(storage: int) -> str:
        return json.dumps({"Resources": {"Db": {"Type": "AWS::RDS::DBInstance", "Properties": {
            "Engine": "postgres", "DBInstanceClass": "db.t3.micro",
            "AllocatedStorage": storage, "MasterUsername": "probe",
            "MasterUserPassword": "probe-password"}}}})

    with mock_aws():
        cfn = cloudformation()
        stack = cfn.create_stack("probe", template(20), parameters={})
        before = stack.resource_map["Db"].physical_resource_id
        cfn.update_stack("probe", template(30), role_arn=None, parameters=[], tags=None)
        after = stack.resource_map._parsed_resources.get("Db")
        return bool(getattr(after, "physical_resource_id", None) != before)


def _probe_failed_update_retried() -> bool:
    """A nested stack whose update fails: how often is it attempted in one stack update?
    Counted where stock moto and the shim both end up, the nested stack model's update."""
    from moto import mock_aws
    from moto.cloudformation import models

    from scripts.local.moto_shim.support import nested_parent, put_probe_child

    attempts: list[str] = []
    hook = "update_from_cloudformation_json"
    installed = models.Stack.__dict__[hook]  # stock moto's or the shim's, put back after

    def failing(cls: Any, *args: Any, **kwargs: Any) -> Any:
        attempts.append("update")
        raise ValueError("probe: this update fails")

    with mock_aws():
        put_probe_child()
        cfn = cloudformation()
        cfn.create_stack("probe", nested_parent("a"), parameters={})
        setattr(models.Stack, hook, classmethod(failing))
        try:
            with contextlib.suppress(Exception):
                cfn.update_stack("probe", nested_parent("b"), role_arn=None, parameters=[],
                                 tags=None)
        finally:
            setattr(models.Stack, hook, installed)
    return len(attempts) > 1


PROBES: dict[str, Probe] = {
    "nested_stack_replaced_on_update": _probe_nested_stack_replaced_on_update,
    "resources_replaced_on_update": _probe_resources_replaced_on_update,
    "failed_update_retried": _probe_failed_update_retried,
}
