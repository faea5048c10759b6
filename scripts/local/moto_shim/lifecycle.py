"""Gaps in the life of stacks and change sets: what executing one does, and what a failure does.

change_set_outputs
    ``execute_change_set`` creates the resources but never re-parses the template, so a stack
    made through a change set has no Outputs and its Exports are not registered. The patch
    rebuilds both after every execution.
executed_change_set_siblings_kept
    CloudFormation deletes every change set of a stack once one of them is executed; moto keeps
    them all, so a stale change set (or a stale plan file) could still run. The patch deletes
    the stack's other change sets after an execution.
last_updated_time
    moto never sets a stack's LastUpdatedTime. The patch sets it when an UPDATE change set runs
    (and on UpdateStack).
stack_tags_on_execution
    An UPDATE change set's Tags replace the stack's tags on AWS; moto ignores them. The patch
    applies them when the change set is executed.
create_change_set_for_live_stack
    CloudFormation refuses an UPDATE change set for a stack that can only be deleted
    (ROLLBACK_COMPLETE, ...): "Stack:<id> is in ROLLBACK_COMPLETE state and can not be
    updated."; moto tries, and answers HTTP 500. CloudFormation also refuses a CREATE change set
    for a stack name that already exists (unless the stack is still in REVIEW_IN_PROGRESS) with
    ValidationError "Stack [X] already exists and cannot be created again with the changeSet
    [Y]."; moto creates a second stack of that name.
duplicate_change_set_name
    CloudFormation refuses a CreateChangeSet whose ChangeSetName the stack already has, with
    AlreadyExistsException (HTTP 400) "ChangeSet [Y] already exists and cannot be created
    again": what a retried CreateChangeSet meets when the first answer was lost. moto makes a
    second change set of that name. The patch refuses it, on the stack named (by name or id).
nested_stack_failure
    A nested stack whose resource fails stays CREATE_IN_PROGRESS in moto, its resources kept.
    On AWS it is CREATE_FAILED and then deleted by its parent's rollback (DELETE_COMPLETE),
    and the parent's event names it; the patch does the same.
rollback_triggers
    moto accepts RollbackConfiguration and ignores it. The patch (the request side is kept by
    parameters.py) fails the operation when a trigger alarm is in ALARM, or missing, before or
    after the resources are deployed, and rolls the stack back; the stack keeps its triggers
    for later updates, as on AWS. The stack event reads "Rollback trigger <arn> is in ALARM
    state" (our wording). The monitoring period after the operation is not simulated.
list_change_sets_per_stack
    moto's ListChangeSets ignores StackName and lists every stack's change sets. The patch
    lists only the named stack's (by name or id).
failed_execution_breaks_stack
    When a resource fails while a change set runs, moto raises out of ExecuteChangeSet (HTTP
    500), leaves the stack (and a failing nested stack) IN_PROGRESS forever, and DescribeStacks
    on it keeps failing. The patch does what CloudFormation does: ExecuteChangeSet succeeds,
    the stack goes to ROLLBACK_COMPLETE (create: every created resource deleted) or
    UPDATE_ROLLBACK_COMPLETE (update: the previous template and parameters re-applied), with
    the failure's reason in the events, and the change set is EXECUTE_FAILED.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from typing import Any

from scripts.local.moto_shim import failures
from scripts.local.moto_shim.support import (
    PROBE_OUTPUT,
    PROBE_RESOURCES,
    Patch,
    Probe,
    cloudformation,
    output_value,
    require,
)
from scripts.local.moto_shim.support import backend as backend_of

REVIEW = "REVIEW_IN_PROGRESS"
# A stack in one of these can only be deleted (or, in review, get a CREATE change set).
NOT_UPDATABLE = frozenset({"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED",
                           "DELETE_FAILED", REVIEW})
_nesting = threading.local()  # > 0 while a nested stack is being created


def patches() -> list[Patch]:  # noqa: C901, PLR0915 - one closure per behaviour, side by side
    from moto.cloudformation import models, responses
    from moto.cloudformation.exceptions import AlreadyExistsException, ValidationError
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow

    backend_class = models.CloudFormationBackend
    require(backend_class, "execute_change_set", "describe_change_set", "create_change_set",
            "_validate_export_uniqueness", "update_stack", "create_stack")
    require(models.Stack, "_parse_template", "_create_output_map", "_add_stack_event")
    stock_execute: Callable[..., None] = backend_class.execute_change_set
    stock_create_change_set: Callable[..., tuple[str, str]] = backend_class.create_change_set
    stock_update_stack: Callable[..., Any] = backend_class.update_stack
    stock_create_stack: Callable[..., Any] = backend_class.create_stack
    stock_create_nested: Callable[..., Any] = models.Stack.__dict__[
        "create_from_cloudformation_json"].__func__

    def refresh_outputs(self: Any, stack: Any) -> None:
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        stack.output_map = stack._create_output_map()
        for name in [n for n, e in self.exports.items() if e.exporting_stack_id == stack.stack_id]:
            del self.exports[name]
        self._validate_export_uniqueness(stack)
        for export in stack.exports:
            self.exports[export.name] = export

    def roll_back(self: Any, stack: Any, change_set: Any, previous: dict[str, Any],
                  err: Exception) -> None:
        kind = change_set.change_set_type
        reason = _failed_to(kind.lower(), err)
        change_set.execution_status = "EXECUTE_FAILED"
        if kind == "CREATE":
            stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=reason)
            with contextlib.suppress(Exception):
                stack.resource_map.delete()
            stack.output_map = _EmptyOutputs()
            stack.status = "ROLLBACK_COMPLETE"
            stack._add_stack_event("ROLLBACK_COMPLETE")
            return
        stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=reason)
        stack.template = previous["template"]
        with failures.suspended(), contextlib.suppress(Exception):
            stack._parse_template()
            stack.resource_map.update(stack.template_dict, previous["parameters"])
            refresh_outputs(self, stack)
        stack.status = "UPDATE_ROLLBACK_COMPLETE"
        stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None
                           ) -> None:
        change_set = self.describe_change_set(change_set_name)
        stack = self.stacks[change_set.stack_id]
        previous = {"template": stack.template,
                    "parameters": dict(stack.resource_map.input_parameters or {})}
        for other in [cs_id for cs_id, cs in self.change_sets.items()
                      if cs.stack_id == stack.stack_id and cs is not change_set]:
            del self.change_sets[other]

        triggers = getattr(change_set, "rollback_triggers", None)
        if triggers is None:  # CloudFormation keeps a stack's triggers for later updates
            triggers = getattr(stack, "rollback_triggers", [])
        stack.rollback_triggers = triggers

        def run() -> None:
            try:
                _check_triggers(stack, triggers)
                stock_execute(self, change_set_name, stack_name)
                _check_triggers(stack, triggers)
            except Exception as err:  # any resource failure rolls the stack back
                roll_back(self, stack, change_set, previous, err)
            else:
                refresh_outputs(self, stack)
                if change_set.change_set_type == "UPDATE":
                    stack.last_updated_time = utcnow()
                    if change_set.tags:
                        stack.tags = dict(change_set.tags)

        if not failures.resource_seconds():
            run()
            return
        # Timed mode: answer now, work in the background, as CloudFormation does.
        stack.status = f"{change_set.change_set_type}_IN_PROGRESS"
        change_set.execution_status = "EXECUTE_IN_PROGRESS"
        threading.Thread(target=run, name=f"execute {change_set_name}", daemon=True).start()

    def create_change_set(self: Any, stack_name: str, change_set_name: str, *args: Any,
                          **kwargs: Any) -> tuple[str, str]:
        change_set_type = kwargs.get("change_set_type", args[4] if len(args) > 4 else None)
        live = [s for s in self.stacks.values() if s.name == stack_name]
        if any(cs.change_set_name == change_set_name and cs.stack_id in self.stacks
               and stack_name in (cs.stack_id, cs.stack.name) for cs in self.change_sets.values()):
            raise AlreadyExistsException(f"ChangeSet [{change_set_name}] already exists and "
                                         "cannot be created again")
        if live and change_set_type != "CREATE" and live[0].status in NOT_UPDATABLE:
            raise ValidationError(message=f"Stack:{live[0].stack_id} is in {live[0].status} "
                                          "state and can not be updated.")
        if change_set_type != "CREATE" or not live:
            return stock_create_change_set(self, stack_name, change_set_name, *args, **kwargs)
        if live[0].status != REVIEW:
            raise ValidationError(message=f"Stack [{stack_name}] already exists and cannot be "
                                          f"created again with the changeSet "
                                          f"[{change_set_name}].")
        # Still in review: CloudFormation adds the change set to the same stack.
        change_set_id, new_stack_id = stock_create_change_set(
            self, stack_name, change_set_name, *args, **kwargs)
        self.stacks.pop(new_stack_id)
        self.change_sets[change_set_id].stack = live[0]
        self.change_sets[change_set_id].stack_id = live[0].stack_id
        return change_set_id, str(live[0].stack_id)

    def update_stack(self: Any, *args: Any, **kwargs: Any) -> Any:
        stack = stock_update_stack(self, *args, **kwargs)
        stack.last_updated_time = utcnow()
        return stack

    def create_stack(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return stock_create_stack(self, name, *args, **kwargs)
        except Exception as err:
            failed = next((s for s in self.stacks.values() if s.name == name), None)
            if failed is None or not failed.status.endswith("IN_PROGRESS"):
                raise
            err.webstack_stack_id = failed.stack_id  # type: ignore[attr-defined]
            reason = _failed_to("create", err)
            failed._add_stack_event("CREATE_FAILED", resource_status_reason=reason)
            nested = getattr(_nesting, "depth", 0) > 0
            # A nested stack that failed is deleted by its parent's rollback; a stack created
            # by CreateStack rolls itself back.
            failed._add_stack_event("DELETE_IN_PROGRESS" if nested else "ROLLBACK_IN_PROGRESS",
                                    resource_status_reason=reason)
            with contextlib.suppress(Exception):
                failed.resource_map.delete()
            failed.output_map = _EmptyOutputs()
            failed.status = "DELETE_COMPLETE" if nested else "ROLLBACK_COMPLETE"
            failed._add_stack_event(failed.status)
            if nested:
                self.deleted_stacks[failed.stack_id] = self.stacks.pop(failed.stack_id)
            raise

    def create_nested_stack(cls: Any, /, *args: Any, **kwargs: Any) -> Any:
        _nesting.depth = getattr(_nesting, "depth", 0) + 1
        try:
            return stock_create_nested(cls, *args, **kwargs)
        finally:
            _nesting.depth -= 1

    def list_change_sets(self: Any, stack_name: str | None = None) -> list[Any]:
        return [cs for cs in self.change_sets.values()
                if stack_name in (None, cs.stack_id, cs.stack_name)]

    def list_change_sets_response(self: Any) -> Any:
        return ActionResult({"Summaries": self.cloudformation_backend.list_change_sets(
            stack_name=self._get_param("StackName"))})

    return [
        (backend_class, "list_change_sets", list_change_sets),
        (responses.CloudFormationResponse, "list_change_sets", list_change_sets_response),
        (backend_class, "execute_change_set", execute_change_set),
        (backend_class, "create_change_set", create_change_set),
        (backend_class, "update_stack", update_stack),
        (backend_class, "create_stack", create_stack),
        (models.Stack, "create_from_cloudformation_json", classmethod(create_nested_stack)),
    ]


class TriggerFired(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _check_triggers(stack: Any, arns: list[str]) -> None:
    """A rollback trigger in ALARM (or missing) fails the operation, as on AWS."""
    from moto.cloudwatch.models import cloudwatch_backends

    if not arns:
        return
    alarms = {a.alarm_arn: a for a in
              cloudwatch_backends[stack.account_id][stack.region_name].alarms.values()}
    for arn in arns:
        alarm = alarms.get(arn)
        if alarm is None:
            raise TriggerFired(f"Rollback trigger {arn} does not exist")
        if alarm.state_value == "ALARM":
            raise TriggerFired(f"Rollback trigger {arn} is in ALARM state")


def _failed_to(action: str, err: Exception) -> str:
    """CloudFormation's stack-level reason: which resource failed (the event has the why)."""
    logical_id = getattr(err, "webstack_logical_id", None)
    if logical_id:
        return f"The following resource(s) failed to {action}: [{logical_id}]."
    return str(getattr(err, "message", "") or err) or type(err).__name__


class _EmptyOutputs(dict[str, Any]):
    """A rolled-back stack's output map: nothing to resolve, so nothing to fail."""

    @property
    def exports(self) -> list[Any]:
        return []


# Probes -------------------------------------------------------------------------------------

def _probe_change_set_outputs() -> bool:
    from moto import mock_aws

    template = json.dumps({**PROBE_RESOURCES, **PROBE_OUTPUT})
    with mock_aws():
        backend = cloudformation()
        backend.create_change_set("probe", "probe", template, parameters={}, description="",
                                  change_set_type="CREATE")
        backend.execute_change_set("probe", "probe")
        return bool(output_value(backend.get_stack("probe")) != "probe")


def _updated_by_change_set(tags: dict[str, str] | None = None) -> tuple[Any, Any]:
    """(backend, stack) after a stack got two UPDATE change sets and the second was executed."""
    backend = cloudformation()
    template = {"Parameters": {"Name": {"Type": "String"}}, "Resources": {"Topic": {
        "Type": "AWS::SNS::Topic", "Properties": {"DisplayName": {"Ref": "Name"}}}}}
    backend.create_stack("probe", json.dumps(template), parameters={"Name": "a"})
    for name, value in (("first", "b"), ("second", "c")):
        backend.create_change_set("probe", name, json.dumps(template), parameters={"Name": value},
                                  description="", change_set_type="UPDATE", tags=tags)
    backend.execute_change_set("second", "probe")
    return backend, backend.get_stack("probe")


def _probe_executed_change_set_siblings_kept() -> bool:
    from moto import mock_aws

    with mock_aws():
        backend, _stack = _updated_by_change_set()
        return any(cs.change_set_name == "first" for cs in backend.change_sets.values())


def _probe_last_updated_time() -> bool:
    from moto import mock_aws

    with mock_aws():
        _backend, stack = _updated_by_change_set()
        return bool(getattr(stack, "last_updated_time", None) is None)


def _probe_stack_tags_on_execution() -> bool:
    from moto import mock_aws

    with mock_aws():
        _backend, stack = _updated_by_change_set(tags={"Owner": "probe"})
        return dict(stack.tags or {}).get("Owner") != "probe"


def _probe_create_change_set_for_live_stack() -> bool:
    from moto import mock_aws

    template = json.dumps(PROBE_RESOURCES)
    with mock_aws():
        backend = cloudformation()
        backend.create_stack("probe", template, parameters={})
        try:
            backend.create_change_set("probe", "again", template, parameters={}, description="",
                                      change_set_type="CREATE")
        except Exception:
            return False
        return bool(sum(s.name == "probe" for s in backend.stacks.values()) > 1)


def _probe_duplicate_change_set_name() -> bool:
    from moto import mock_aws

    template = json.dumps(PROBE_RESOURCES)
    with mock_aws():
        backend = cloudformation()
        backend.create_stack("probe", template, parameters={})
        try:
            for _ in range(2):
                backend.create_change_set("probe", "twice", template, parameters={},
                                          description="", change_set_type="UPDATE")
        except Exception as err:
            return getattr(err, "code", None) != "AlreadyExistsException"
        return True


def _probe_failed_execution_breaks_stack() -> bool:
    from moto import mock_aws

    # A subnet in a VPC that does not exist: moto raises while creating it.
    template = json.dumps({**PROBE_RESOURCES, "Resources": {
        **PROBE_RESOURCES["Resources"],
        "Subnet": {"Type": "AWS::EC2::Subnet", "DependsOn": "Topic",
                   "Properties": {"VpcId": "vpc-00000000", "CidrBlock": "10.0.0.0/24"}}}})
    with mock_aws():
        backend = cloudformation()
        backend.create_change_set("probe", "probe", template, parameters={}, description="",
                                  change_set_type="CREATE")
        try:
            backend.execute_change_set("probe", "probe")
        except Exception:
            return True
        return bool(backend.get_stack("probe").status != "ROLLBACK_COMPLETE")


def _probe_list_change_sets_per_stack() -> bool:
    from moto import mock_aws

    with mock_aws():
        backend, _stack = _updated_by_change_set()
        backend.create_change_set("other", "other", json.dumps(PROBE_RESOURCES), parameters={},
                                  description="", change_set_type="CREATE")
        try:
            listed = backend.list_change_sets(stack_name="other")
        except TypeError:
            return True
        return any(cs.stack_name != "other" for cs in listed)


def _probe_nested_stack_failure() -> bool:
    from moto import mock_aws

    from scripts.local.moto_shim.support import PROBE_BUCKET, PROBE_REGION, backend

    child = {"Resources": {"Subnet": {"Type": "AWS::EC2::Subnet", "Properties": {
        "VpcId": "vpc-00000000", "CidrBlock": "10.0.0.0/24"}}}}
    parent = {"Resources": {"Child": {"Type": "AWS::CloudFormation::Stack", "Properties": {
        "TemplateURL": f"http://localhost:5000/{PROBE_BUCKET}/child.json"}}}}
    with mock_aws():
        s3 = backend("s3")
        s3.create_bucket(PROBE_BUCKET, PROBE_REGION)
        s3.put_object(PROBE_BUCKET, "child.json", json.dumps(child).encode())
        cfn = cloudformation()
        with contextlib.suppress(Exception):
            cfn.create_stack("probe", json.dumps(parent), parameters={})
        return any(s.name.startswith("probe-Child") for s in cfn.stacks.values())


def _probe_rollback_triggers() -> bool:
    from moto import mock_aws

    with mock_aws():
        backend, stack = _updated_by_change_set()
        alarm = backend_of("cloudwatch").put_metric_alarm(
            name="probe", namespace="Probe", metric_name="Errors",
            comparison_operator="GreaterThanThreshold", evaluation_periods=1, period=60,
            threshold=1.0, statistic="Sum", description="probe", dimensions=[],
            alarm_actions=[])
        alarm.state_value = "ALARM"
        template = stack.template
        backend.create_change_set("probe", "third", template, parameters={"Name": "d"},
                                  description="", change_set_type="UPDATE")
        backend.describe_change_set("third").rollback_triggers = [alarm.alarm_arn]
        backend.execute_change_set("third", "probe")
        return bool(stack.status != "UPDATE_ROLLBACK_COMPLETE")


PROBES: dict[str, Probe] = {
    "change_set_outputs": _probe_change_set_outputs,
    "executed_change_set_siblings_kept": _probe_executed_change_set_siblings_kept,
    "last_updated_time": _probe_last_updated_time,
    "stack_tags_on_execution": _probe_stack_tags_on_execution,
    "create_change_set_for_live_stack": _probe_create_change_set_for_live_stack,
    "duplicate_change_set_name": _probe_duplicate_change_set_name,
    "list_change_sets_per_stack": _probe_list_change_sets_per_stack,
    "failed_execution_breaks_stack": _probe_failed_execution_breaks_stack,
    "nested_stack_failure": _probe_nested_stack_failure,
    "rollback_triggers": _probe_rollback_triggers,
}
