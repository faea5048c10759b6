"""The local AWS endpoint: moto's server plus the few fixes our nested templates need.

This is the only module that patches moto. Each patch closes one gap measured on the pinned
moto 5.2.5 and named in ``NEEDED``; ``stock_moto_gaps()`` measures them again on stock moto, so
a test fails when an upgrade fixes a gap (drop that patch) or moves the code a patch hooks into.

nested_stack_outputs
    moto's ``AWS::CloudFormation::Stack`` model (``moto.cloudformation.models.Stack``) has no
    ``get_cfn_attribute``, so ``Fn::GetAtt Child.Outputs.X`` raises AttributeError (HTTP 500 on
    the server, or a silently missing output). The patch reads the child stack's output.
change_set_outputs
    ``execute_change_set`` creates the resources but never re-parses the template, so a stack
    made through a change set has no Outputs and its Exports are not registered. The patch
    rebuilds both after every execution.
yaml_getatt_dots
    moto's YAML loader splits ``!GetAtt A.B.C`` at every dot, ``[A, B, C]``; CloudFormation
    splits at the first dot only, ``[A, "B.C"]``, which ``Outputs.X`` (and RDS's
    ``Endpoint.Address``) need. ``${Child.Outputs.X}`` inside ``Fn::Sub`` is still split at
    every dot by moto and is not supported.
change_set_parameter_changes
    moto's ChangeSet lists only resources whose template text changed, so an update that
    changes only a parameter shows an empty change list (which webstack rightly reads as
    "no changes"), although executing it would update the resources that use it. The patch
    computes the list the way moto's own update does, parameters included.
termination_protection
    moto records EnableTerminationProtection at create time but has no
    UpdateTerminationProtection action (HTTP 500) and deletes a protected stack. The patch adds
    the action and refuses DeleteStack on a protected stack with AWS's ValidationError.
target_group_attributes
    moto's ELBv2 ``FakeTargetGroup`` has no ``get_cfn_attribute``, so ``Fn::GetAtt
    TargetGroup.TargetGroupFullName`` (the CloudWatch dimension the alarms use) fails.
    The patch derives the documented attributes from the target group's ARN.
kms_key_tags
    moto's ``AWS::KMS::Key`` hands the template's ``Tags`` (``Key``/``Value``, as CloudFormation
    writes them) to ``create_key``, which wants the KMS API's ``TagKey``/``TagValue``: a tagged
    key fails with KeyError, and everything that reads its ARN with "undefined resource".
    The patch renames the tag fields before moto's own code runs.
db_parameter_group_ref
    moto's ``AWS::RDS::DBParameterGroup`` has no physical id, so ``Ref`` to it yields the model
    object instead of the group's name, and a ``DBInstance`` naming it fails (HTTP 500). The
    patch gives the model its name as physical id, as CloudFormation's ``Ref`` returns.
stack_drift
    moto has no DetectStackDrift, DescribeStackDriftDetectionStatus nor
    DescribeStackResourceDrifts. The patch adds them, completing at once: template properties
    (as moto evaluated them) against what the service holds, for log groups and databases;
    other types are NOT_CHECKED, as AWS reports a type it cannot check.

Run it with ``python -m scripts.local.moto_shim --host 127.0.0.1 --port N``; ``webstack local up``
does that in the background (see scripts/local.py).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from scripts.errors import Exit, UsageError, WebstackError

NEEDED: tuple[str, ...] = (
    "nested_stack_outputs", "change_set_outputs", "yaml_getatt_dots",
    "change_set_parameter_changes", "termination_protection", "target_group_attributes",
    "kms_key_tags", "db_parameter_group_ref", "stack_drift",
)

_MISSING = object()
_lock = threading.RLock()
# (owner, attribute, stock value or _MISSING, replacement), built once from stock moto.
_installed: list[tuple[Any, str, Any, Any]] = []


class ShimError(WebstackError):
    exit_code = Exit.AWS


def apply() -> None:
    """Patch moto in this process; safe to call again."""
    with _lock:
        if not _installed:
            _installed.extend(
                (owner, name, owner.__dict__.get(name, _MISSING), new)
                for owner, name, new in _patches()
            )
        _install(patched=True)


def stock_moto_gaps() -> dict[str, bool]:
    """Which gaps stock moto still has (True: the patch for it is still needed)."""
    with _lock:
        was_applied = _applied()
        _install(patched=False)
        try:
            return {name: probe() for name, probe in _PROBES.items()}
        finally:
            _install(patched=was_applied)


def shimmed_moto_gaps() -> dict[str, bool]:
    """The same probes with the shim applied (all False when it works); leaves moto as found."""
    with _lock:
        was_applied = _applied()
        apply()
        try:
            return {name: probe() for name, probe in _PROBES.items()}
        finally:
            _install(patched=was_applied)


def _applied() -> bool:
    return bool(_installed) and all(
        owner.__dict__.get(name) is new for owner, name, _stock, new in _installed
    )


def _install(*, patched: bool) -> None:
    for owner, name, stock, new in _installed:
        if patched:
            setattr(owner, name, new)
        elif stock is _MISSING:
            if name in owner.__dict__:
                delattr(owner, name)
        else:
            setattr(owner, name, stock)


def _require(owner: Any, *names: str) -> None:
    missing = [name for name in names if not hasattr(owner, name)]
    if missing:
        import moto

        where = getattr(owner, "__name__", repr(owner))
        raise ShimError(f"moto {moto.__version__} has no {where}.{', '.join(missing)}; "
                        "scripts/moto_shim.py needs updating for this moto version")


def _patches() -> list[tuple[Any, str, Any]]:  # noqa: C901, PLR0915 - one closure per gap, side by side
    """Every (owner, attribute, replacement) the shim installs, checked against this moto."""
    import yaml
    from moto.cloudformation import models, responses, utils
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException, ValidationError
    from moto.elbv2 import models as elbv2_models

    _require(models, "Stack", "CloudFormationBackend", "yaml_tag_constructor")
    _require(models.Stack, "outputs", "exports", "_parse_template", "_create_output_map")
    _require(models.CloudFormationBackend, "execute_change_set", "describe_change_set",
             "_validate_export_uniqueness")
    _require(utils, "yaml_tag_constructor")
    _require(responses, "yaml_tag_constructor")
    _require(elbv2_models, "FakeTargetGroup")
    _require(models, "ChangeSet", "Change")
    _require(responses, "CloudFormationResponse")
    _require(models.CloudFormationBackend, "delete_stack", "get_stack")
    from moto.core.responses import ActionResult
    from moto.kms import models as kms_models
    from moto.rds import models as rds_models

    _require(kms_models.Key, "create_from_cloudformation_json")
    _require(rds_models, "DBParameterGroup")
    stock_kms_key: Callable[..., Any] = kms_models.Key.__dict__[
        "create_from_cloudformation_json"].__func__

    def create_kms_key(cls: Any, /, resource_name: str, cloudformation_json: Any,
                       account_id: str, region_name: str, **kwargs: Any) -> Any:
        properties = cloudformation_json.get("Properties") or {}
        tags = [{"TagKey": tag["Key"], "TagValue": tag["Value"]} if "Key" in tag else tag
                for tag in properties.get("Tags") or []]
        renamed = {**cloudformation_json, "Properties": {**properties, "Tags": tags}}
        return stock_kms_key(cls, resource_name, renamed, account_id, region_name, **kwargs)

    def update_termination_protection(self: Any) -> Any:
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        stack.enable_termination_protection = self._get_param(
            "EnableTerminationProtection") in (True, "true", "True")
        return ActionResult({"StackId": stack.stack_id})

    stock_delete: Callable[..., None] = models.CloudFormationBackend.delete_stack

    def delete_stack(self: Any, name_or_stack_id: str) -> None:
        protected = [s for s in self.stacks.values()
                     if name_or_stack_id in (s.stack_id, s.name)
                     and getattr(s, "enable_termination_protection", False)]
        if protected:
            raise ValidationError(
                message=f"Stack [{protected[0].name}] cannot be deleted while "
                        "TerminationProtection is enabled")
        stock_delete(self, name_or_stack_id)
    _require(models.ChangeSet, "diff")

    def change_set_diff(self: Any) -> list[Any]:
        resource_map = self.stack.resource_map
        actions = resource_map.build_resource_diff(self.template_dict, self.parameters or None)
        new = self.template_dict.get("Resources") or {}
        return [
            models.Change(action=action, logical_resource_id=name,
                          resource_type=(new.get(name) or resource_map._resource_json_map[name])[
                              "Type"])
            for action in ("Add", "Modify", "Remove") for name in actions[action]
        ]

    def target_group_attribute(self: Any, attribute_name: str) -> Any:
        # arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>
        full_name = self.arn.split(":", 5)[5]
        attributes = {
            "TargetGroupFullName": full_name,
            "TargetGroupName": self.name,
            "TargetGroupArn": self.arn,
            "LoadBalancerArns": list(getattr(self, "load_balancer_arns", [])),
        }
        if attribute_name not in attributes:
            raise UnformattedGetAttTemplateException()
        return attributes[attribute_name]

    def get_cfn_attribute(self: Any, attribute_name: str) -> Any:
        prefix, _, output_key = attribute_name.partition(".")
        if prefix != "Outputs" or not output_key:
            raise UnformattedGetAttTemplateException()
        for output in self.outputs or []:
            if output["OutputKey"] == output_key:
                return output["OutputValue"]
        raise ValidationError(message=f"Template error: stack {self.name} has no output "
                                      f"{output_key} for Fn::GetAtt {attribute_name}")

    def has_cfn_attr(cls: Any, attr: str) -> bool:
        return attr.startswith("Outputs.") and len(attr) > len("Outputs.")

    stock_execute: Callable[..., None] = models.CloudFormationBackend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None
                           ) -> None:
        stock_execute(self, change_set_name, stack_name)
        stack = self.stacks[self.describe_change_set(change_set_name).stack_id]
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        stack.output_map = stack._create_output_map()
        for name in [n for n, e in self.exports.items() if e.exporting_stack_id == stack.stack_id]:
            del self.exports[name]
        self._validate_export_uniqueness(stack)
        for export in stack.exports:
            self.exports[export.name] = export

    stock_constructor: Callable[[Any, str, Any], Any] = utils.yaml_tag_constructor

    def yaml_tag_constructor(loader: Any, tag: str, node: Any) -> Any:
        if tag == "!GetAtt" and isinstance(node, yaml.ScalarNode):
            return {"Fn::GetAtt": node.value.split(".", 1)}
        return stock_constructor(loader, tag, node)

    drift = _stack_drift(models, ValidationError, ActionResult)
    return [
        *drift,
        (models.Stack, "get_cfn_attribute", get_cfn_attribute),
        (models.Stack, "has_cfn_attr", classmethod(has_cfn_attr)),
        (models.CloudFormationBackend, "execute_change_set", execute_change_set),
        # Each module calls the constructor through its own global name.
        (utils, "yaml_tag_constructor", yaml_tag_constructor),
        (models, "yaml_tag_constructor", yaml_tag_constructor),
        (responses, "yaml_tag_constructor", yaml_tag_constructor),
        (elbv2_models.FakeTargetGroup, "get_cfn_attribute", target_group_attribute),
        (models.ChangeSet, "diff", change_set_diff),
        (responses.CloudFormationResponse, "update_termination_protection",
         update_termination_protection),
        (models.CloudFormationBackend, "delete_stack", delete_stack),
        (kms_models.Key, "create_from_cloudformation_json", classmethod(create_kms_key)),
        (rds_models.DBParameterGroup, "physical_resource_id",
         property(lambda group: group.name)),
    ]


def _drift_readers() -> dict[str, Callable[[Any, str, str], dict[str, Any] | None]]:
    """Resource type -> (account, region, physical id) -> the live properties, None if gone."""
    from moto.logs.models import logs_backends
    from moto.rds.models import rds_backends

    def log_group(account: str, region: str, name: str) -> dict[str, Any] | None:
        group = logs_backends[account][region].groups.get(name)
        return None if group is None else {"RetentionInDays": group.retention_in_days}

    def db_instance(account: str, region: str, name: str) -> dict[str, Any] | None:
        db = rds_backends[account][region].databases.get(name)
        return None if db is None else {
            "DBInstanceClass": db.db_instance_class, "AllocatedStorage": db.allocated_storage,
            "BackupRetentionPeriod": db.backup_retention_period, "MultiAZ": db.multi_az,
            "DeletionProtection": db.deletion_protection}

    return {"AWS::Logs::LogGroup": log_group, "AWS::RDS::DBInstance": db_instance}


def _stack_drift(models: Any, validation_error: Any, action_result: Any
                 ) -> list[tuple[Any, str, Any]]:
    """stack_drift: the backend computes, the response actions only carry it."""
    from moto.cloudformation.parsing import clean_json
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.utils import utcnow

    readers = _drift_readers()

    def resource_drift(stack: Any, name: str, model: Any, now: Any) -> dict[str, Any]:
        spec = stack.resource_map._resource_json_map[name]
        row = {"StackId": stack.stack_id, "LogicalResourceId": name, "Timestamp": now,
               "PhysicalResourceId": getattr(model, "physical_resource_id", None) or name,
               "ResourceType": spec["Type"], "StackResourceDriftStatus": "NOT_CHECKED"}
        read = readers.get(spec["Type"])
        if read is None:
            return row
        actual = read(stack.account_id, stack.region_name, row["PhysicalResourceId"])
        if actual is None:
            return {**row, "StackResourceDriftStatus": "DELETED"}
        written = {k: v for k, v in (spec.get("Properties") or {}).items() if k in actual}
        expected = clean_json(written, stack.resource_map)
        actual = {k: v for k, v in actual.items() if k in expected}
        differences = [{"PropertyPath": f"/{k}", "ExpectedValue": json.dumps(want),
                        "ActualValue": json.dumps(actual[k]), "DifferenceType": "NOT_EQUAL"}
                       for k, want in sorted(expected.items())
                       if f"{want}".lower() != f"{actual[k]}".lower()]  # "false" is False
        return {**row, "StackResourceDriftStatus": "MODIFIED" if differences else "IN_SYNC",
                "ExpectedProperties": json.dumps(expected, sort_keys=True, default=str),
                "ActualProperties": json.dumps(actual, sort_keys=True, default=str),
                "PropertyDifferences": differences}

    def detect_stack_drift(self: Any, stack_name: str) -> str:
        stack, now = self.get_stack(stack_name), utcnow()
        drifts = [resource_drift(stack, name, model, now)
                  for name, model in stack.resource_map._parsed_resources.items()
                  if name in stack.resource_map._resource_json_map and model is not None]
        found = self.__dict__.setdefault("webstack_drift", {})
        detection_id = f"{stack.stack_id.rsplit('/', 1)[-1]}-drift-{len(found)}"
        drifted = sum(d["StackResourceDriftStatus"] in ("MODIFIED", "DELETED") for d in drifts)
        found[detection_id] = found[stack.stack_id] = {
            "stack_id": stack.stack_id, "drifts": drifts, "when": now, "count": drifted,
            "status": "DRIFTED" if drifted else "IN_SYNC"}
        return detection_id

    def detection(self: Any, detection_id: str) -> dict[str, Any]:
        if detection_id not in self.__dict__.get("webstack_drift", {}):
            raise validation_error(message=f"Drift detection {detection_id} not found")
        return dict(self.webstack_drift[detection_id])

    def detect_response(self: Any) -> Any:
        backend = self.cloudformation_backend
        found = backend.detect_stack_drift(self._get_param("StackName"))
        return action_result({"StackDriftDetectionId": found})

    def status_response(self: Any) -> Any:
        detection_id = self._get_param("StackDriftDetectionId")
        found = self.cloudformation_backend.stack_drift_detection(detection_id)
        return action_result({
            "StackId": found["stack_id"], "StackDriftDetectionId": detection_id,
            "StackDriftStatus": found["status"], "DetectionStatus": "DETECTION_COMPLETE",
            "DriftedStackResourceCount": found["count"], "Timestamp": found["when"]})

    def drifts_response(self: Any) -> Any:
        backend = self.cloudformation_backend
        stack = backend.get_stack(self._get_param("StackName"))
        wanted = self._get_param("StackResourceDriftStatusFilters") or []
        drifts = backend.stack_drift_detection(stack.stack_id)["drifts"]
        return action_result({"StackResourceDrifts": [
            d for d in drifts if not wanted or d["StackResourceDriftStatus"] in wanted]})

    return [
        (models.CloudFormationBackend, "detect_stack_drift", detect_stack_drift),
        (models.CloudFormationBackend, "stack_drift_detection", detection),
        (CloudFormationResponse, "detect_stack_drift", detect_response),
        (CloudFormationResponse, "describe_stack_drift_detection_status", status_response),
        (CloudFormationResponse, "describe_stack_resource_drifts", drifts_response),
    ]


# Probes run against moto's backends in this process, inside mock_aws (which resets them).
_PROBE_REGION = "us-east-1"
_PROBE_BUCKET = "webstack-shim-probe"
_PROBE_OUTPUT = {"Outputs": {"Value": {"Value": "probe"}}}
_PROBE_RESOURCES = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}


def _cloudformation() -> Any:
    from moto.cloudformation.models import cloudformation_backends
    from moto.core.models import DEFAULT_ACCOUNT_ID

    return cloudformation_backends[DEFAULT_ACCOUNT_ID][_PROBE_REGION]


def _output_value(stack: Any) -> Any:
    try:
        outputs = stack.outputs or []
    except AttributeError:  # stock moto: Stack has no get_cfn_attribute
        return None
    return {o["OutputKey"]: o["OutputValue"] for o in outputs}.get("Value")


def _probe_nested_stack_outputs() -> bool:
    from moto import mock_aws
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    child = {**_PROBE_RESOURCES, **_PROBE_OUTPUT}
    parent = {
        "Resources": {"Child": {"Type": "AWS::CloudFormation::Stack", "Properties": {
            "TemplateURL": f"http://localhost:5000/{_PROBE_BUCKET}/child.json"}}},
        "Outputs": {"Value": {"Value": {"Fn::GetAtt": ["Child", "Outputs.Value"]}}},
    }
    with mock_aws():
        s3 = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        s3.create_bucket(_PROBE_BUCKET, _PROBE_REGION)
        s3.put_object(_PROBE_BUCKET, "child.json", json.dumps(child).encode())
        stack = _cloudformation().create_stack("probe", json.dumps(parent), parameters={})
        return bool(_output_value(stack) != "probe")


def _probe_change_set_outputs() -> bool:
    from moto import mock_aws

    template = json.dumps({**_PROBE_RESOURCES, **_PROBE_OUTPUT})
    with mock_aws():
        backend = _cloudformation()
        backend.create_change_set("probe", "probe", template, parameters={}, description="",
                                  change_set_type="CREATE")
        backend.execute_change_set("probe", "probe")
        return bool(_output_value(backend.get_stack("probe")) != "probe")


def _probe_yaml_getatt_dots() -> bool:
    from moto.cloudformation.models import Stack

    parsed = Stack.parse_template("Value: !GetAtt Child.Outputs.Value\n")
    return bool(parsed["Value"] != {"Fn::GetAtt": ["Child", "Outputs.Value"]})


def _probe_change_set_parameter_changes() -> bool:
    from moto import mock_aws

    template = json.dumps({
        "Parameters": {"Name": {"Type": "String"}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic",
                                "Properties": {"DisplayName": {"Ref": "Name"}}}},
    })
    with mock_aws():
        backend = _cloudformation()
        backend.create_stack("probe", template, parameters={"Name": "old"})
        change_set_id, _ = backend.create_change_set(
            "probe", "probe-update", template, parameters={"Name": "new"}, description="",
            change_set_type="UPDATE")
        changes = backend.describe_change_set(change_set_id).changes
        return not any(change.logical_resource_id == "Topic" for change in changes)


def _probe_termination_protection() -> bool:
    from moto import mock_aws
    from moto.cloudformation.responses import CloudFormationResponse

    if not hasattr(CloudFormationResponse, "update_termination_protection"):
        return True
    with mock_aws():
        backend = _cloudformation()
        stack = backend.create_stack("probe", json.dumps(_PROBE_RESOURCES), parameters={},
                                     enable_termination_protection=True)
        try:
            backend.delete_stack(stack.stack_id)
        except Exception:
            return False
        return True


def _probe_target_group_attributes() -> bool:
    from moto import mock_aws
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends
    from moto.elbv2.models import elbv2_backends

    with mock_aws():
        vpc = ec2_backends[DEFAULT_ACCOUNT_ID][_PROBE_REGION].create_vpc("10.0.0.0/16")
        group = elbv2_backends[DEFAULT_ACCOUNT_ID][_PROBE_REGION].create_target_group(
            "probe", protocol="HTTP", port=80, vpc_id=vpc.id, target_type="instance")
        try:
            value = group.get_cfn_attribute("TargetGroupFullName")  # type: ignore[attr-defined]
        except AttributeError:
            return True
        return not str(value).startswith("targetgroup/probe/")


def _probe_kms_key_tags() -> bool:
    from moto import mock_aws

    template = json.dumps({"Resources": {"Key": {"Type": "AWS::KMS::Key", "Properties": {
        "KeyPolicy": {"Version": "2012-10-17", "Statement": []},
        "Tags": [{"Key": "CostCenter", "Value": "CC-1234"}],
    }}}})
    with mock_aws():
        try:
            _cloudformation().create_stack("probe", template, parameters={})
        except KeyError:
            return True
        return False


def _probe_db_parameter_group_ref() -> bool:
    from moto import mock_aws

    template = json.dumps({
        "Resources": {"Group": {"Type": "AWS::RDS::DBParameterGroup", "Properties": {
            "Description": "probe", "Family": "postgres13", "Parameters": {"rds.force_ssl": "1"},
        }}},
        "Outputs": {"Value": {"Value": {"Ref": "Group"}}},
    })
    with mock_aws():
        stack = _cloudformation().create_stack("probe", template, parameters={})
        return not isinstance(_output_value(stack), str)


def _probe_stack_drift() -> bool:
    """A log group's retention changed behind CloudFormation's back is reported MODIFIED."""
    from moto import mock_aws
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.logs.models import logs_backends

    template = json.dumps({"Resources": {"Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {
        "LogGroupName": "probe", "RetentionInDays": 7}}}})
    with mock_aws():
        backend = _cloudformation()
        if not hasattr(backend, "detect_stack_drift"):
            return True
        backend.create_stack("probe", template, parameters={})
        logs_backends[DEFAULT_ACCOUNT_ID][_PROBE_REGION].put_retention_policy("probe", "30")
        found = backend.stack_drift_detection(backend.detect_stack_drift("probe"))
        return not (found["status"] == "DRIFTED" and found["drifts"][0]["PropertyDifferences"])


_PROBES: dict[str, Callable[[], bool]] = {
    "nested_stack_outputs": _probe_nested_stack_outputs,
    "change_set_outputs": _probe_change_set_outputs,
    "yaml_getatt_dots": _probe_yaml_getatt_dots,
    "change_set_parameter_changes": _probe_change_set_parameter_changes,
    "termination_protection": _probe_termination_protection,
    "target_group_attributes": _probe_target_group_attributes,
    "kms_key_tags": _probe_kms_key_tags,
    "db_parameter_group_ref": _probe_db_parameter_group_ref,
    "stack_drift": _probe_stack_drift,
}
assert tuple(_PROBES) == NEEDED


def _check_loopback(host: str) -> None:
    try:
        loopback = ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UsageError(f"--host {host}: the local endpoint has no authentication, so it only "
                         "listens on an IPv4 loopback address; use 127.0.0.1")


def _exit_now(_signum: int, _frame: object) -> None:
    """Exit at once on SIGTERM: the state is in memory by design, and tearing down moto's
    modules at interpreter exit takes most of a second."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def serve(host: str, port: int) -> None:
    """Apply the shim and run moto's server in the foreground until SIGTERM or Ctrl-C."""
    _check_loopback(host)
    apply()
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    os.environ.setdefault("MOTO_PORT", str(port))  # moto builds some URLs from it
    signal.signal(signal.SIGTERM, _exit_now)
    run_simple(host, port, DomainDispatcherApplication(create_backend_app), threaded=True,
               request_handler=MotoRequestHandler)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.local.moto_shim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    args = parser.parse_args(argv)
    try:
        serve(args.host, args.port)
    except WebstackError as err:
        print(f"moto_shim: {err}", file=sys.stderr)
        return int(err.exit_code)
    except KeyboardInterrupt:
        return int(Exit.OK)
    return int(Exit.OK)


if __name__ == "__main__":
    raise SystemExit(main())
