"""``webstack drift``: what changed behind CloudFormation's back, in the root and every child.

DetectStackDrift starts on every stack of the set at once (the root's own detection does not
look inside its nested stacks), each is waited for through the one cancellable ``Waiter``
against a deadline, then every drifted resource is listed with its property differences.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from scripts.deploy.aws import Target, aws_errors
from scripts.deploy.deployed import LiveStack, live_stacks, root_stack
from scripts.deploy.waiting import Waiter
from scripts.errors import Exit, WebstackError

DRIFTED: Final = ("MODIFIED", "DELETED")
DEFAULT_TIMEOUT: Final = 600.0


class DriftTimeout(WebstackError):
    exit_code = Exit.AWS


@dataclass(frozen=True)
class Difference:
    path: str
    expected: str
    actual: str
    kind: str  # ADD | REMOVE | NOT_EQUAL


@dataclass(frozen=True)
class ResourceDrift:
    address: str  # DatabaseStack/Database
    resource_type: str
    status: str  # MODIFIED | DELETED
    physical_id: str
    differences: tuple[Difference, ...]


@dataclass(frozen=True)
class StackDrift:
    address: str
    status: str  # DRIFTED | IN_SYNC | UNKNOWN | NOT_CHECKED
    detection: str  # DETECTION_COMPLETE | DETECTION_FAILED
    reason: str
    resources: tuple[ResourceDrift, ...]


def detect(target: Target, waiter: Waiter, timeout: float = DEFAULT_TIMEOUT) -> list[StackDrift]:
    """Detect drift on every stack of the set and read what drifted."""
    cfn = target.client("cloudformation")
    stack = root_stack(target, "drift", settled=True)
    stacks = [live for live, _parent in live_stacks(target, stack["StackId"])]
    started: dict[LiveStack, str] = {}
    with aws_errors(f"start drift detection in {target.region}"):
        for live in stacks:
            started[live] = cfn.detect_stack_drift(StackName=live.stack_id)[
                "StackDriftDetectionId"]
    statuses = _wait(cfn, started, waiter, timeout)
    return [_read(cfn, live, statuses[live]) for live in stacks]


def _wait(cfn: Any, started: dict[LiveStack, str], waiter: Waiter, timeout: float
          ) -> dict[LiveStack, dict[str, Any]]:
    done: dict[LiveStack, dict[str, Any]] = {}

    def probe() -> tuple[bool, None]:
        with aws_errors("read the drift detection status"):
            for live, detection_id in started.items():
                if live in done:
                    continue
                status = cfn.describe_stack_drift_detection_status(
                    StackDriftDetectionId=detection_id)
                if status["DetectionStatus"] != "DETECTION_IN_PROGRESS":
                    done[live] = status
        return len(done) == len(started), None

    finished, _ = waiter.poll(probe, timeout=timeout, first=1.0, maximum=5.0)
    if not finished:
        pending = ", ".join(live.address for live in started if live not in done)
        raise DriftTimeout(f"drift detection still running after {timeout:.0f}s on {pending}; "
                           "run 'webstack drift' again later")
    return done


def _read(cfn: Any, live: LiveStack, status: dict[str, Any]) -> StackDrift:
    resources: list[ResourceDrift] = []
    token: dict[str, str] = {}
    with aws_errors(f"read the drift of {live.address}"):
        while True:  # boto3 has no paginator for it; each page moves the token on
            page = cfn.describe_stack_resource_drifts(
                StackName=live.stack_id, StackResourceDriftStatusFilters=list(DRIFTED), **token)
            resources += [_resource(live, drift) for drift in page["StackResourceDrifts"]]
            if not page.get("NextToken"):
                break
            token = {"NextToken": page["NextToken"]}
    return StackDrift(live.address, str(status.get("StackDriftStatus", "UNKNOWN")),
                      str(status["DetectionStatus"]), str(status.get("DetectionStatusReason", "")),
                      tuple(sorted(resources, key=lambda r: r.address)))


def _resource(live: LiveStack, drift: dict[str, Any]) -> ResourceDrift:
    logical = str(drift["LogicalResourceId"])
    return ResourceDrift(
        address=logical if live.address == "root" else f"{live.address}/{logical}",
        resource_type=str(drift["ResourceType"]),
        status=str(drift["StackResourceDriftStatus"]),
        physical_id=str(drift.get("PhysicalResourceId", "")),
        differences=tuple(Difference(str(d["PropertyPath"]), str(d.get("ExpectedValue", "")),
                                     str(d.get("ActualValue", "")), str(d["DifferenceType"]))
                          for d in drift.get("PropertyDifferences") or []),
    )


def report(drifts: Sequence[StackDrift], emit: Callable[[str], None], stack_name: str,
           fmt: str = "text") -> int:
    """Print the drift; exit 1 when anything drifted."""
    drifted = [r for s in drifts for r in s.resources]
    if fmt == "json":
        emit(json.dumps([{"stack": s.address, "status": s.status, "detection": s.detection,
                          "reason": s.reason,
                          "resources": [{"address": r.address, "type": r.resource_type,
                                         "status": r.status, "physical_id": r.physical_id,
                                         "differences": [d.__dict__ for d in r.differences]}
                                        for r in s.resources]} for s in drifts],
                        indent=2, sort_keys=True))
        return Exit.FINDINGS if drifted else Exit.OK
    for stack in drifts:
        if stack.detection != "DETECTION_COMPLETE":
            emit(f"warning: {stack.address}: {stack.detection} {stack.reason}".rstrip())
    for resource in drifted:
        emit(f"{resource.status.lower():<9} {resource.address} ({resource.resource_type}) "
             f"{resource.physical_id}")
        for d in resource.differences:
            emit(f"    {d.path}: expected {d.expected}, actual {d.actual} ({d.kind.lower()})")
    if drifted:
        emit(f"drift: {len(drifted)} resource(s) drifted in {stack_name} "
             f"({len(drifts)} stack(s) checked)")
        return Exit.FINDINGS
    emit(f"in sync: {stack_name} and its {len(drifts) - 1} nested stack(s) match their "
         "templates (resources whose type drift detection cannot check are not counted)")
    return Exit.OK
