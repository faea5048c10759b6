"""Drift detection, which moto does not have.

stack_drift
    moto has no DetectStackDrift, DescribeStackDriftDetectionStatus nor
    DescribeStackResourceDrifts. The patch adds them, completing at once: template properties
    (as moto evaluated them) against what the service holds, for log groups and databases;
    other types are NOT_CHECKED, as AWS reports a type it cannot check.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from scripts.local.moto_shim.support import PROBE_REGION, Patch, Probe, cloudformation, require


def patches() -> list[Patch]:
    from moto.cloudformation import models
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult

    require(models, "CloudFormationBackend")
    require(CloudFormationResponse, "_get_param")
    return _stack_drift(models, ValidationError, ActionResult)


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
                 ) -> list[Patch]:
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


def _probe_stack_drift() -> bool:
    """A log group's retention changed behind CloudFormation's back is reported MODIFIED."""
    from moto import mock_aws
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.logs.models import logs_backends

    template = json.dumps({"Resources": {"Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {
        "LogGroupName": "probe", "RetentionInDays": 7}}}})
    with mock_aws():
        backend = cloudformation()
        if not hasattr(backend, "detect_stack_drift"):
            return True
        backend.create_stack("probe", template, parameters={})
        logs_backends[DEFAULT_ACCOUNT_ID][PROBE_REGION].put_retention_policy("probe", "30")
        found = backend.stack_drift_detection(backend.detect_stack_drift("probe"))
        return not (found["status"] == "DRIFTED" and found["drifts"][0]["PropertyDifferences"])


PROBES: dict[str, Probe] = {
    "stack_drift": _probe_stack_drift,
}
