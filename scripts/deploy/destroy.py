"""``webstack destroy``: delete a stack set, keeping what holds data, and say what was kept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from scripts.build.yamlio import load
from scripts.deploy.aws import Target, aws_errors, error_code
from scripts.deploy.events import WatchResult
from scripts.deploy.leftovers import Leftover, clear, exists, still_there
from scripts.deploy.stacks import STACK_TYPE, StackStatus, identified_stack, reattach_command
from scripts.deploy.waiting import Cancelled, Waiter, handle_interrupts
from scripts.errors import Exit, UsageError, WebstackError
from templates_src.environments import is_protected

KEPT_POLICIES = frozenset({"Retain", "RetainExceptOnCreate", "Snapshot"})
UNREADABLE = "Unreadable"  # a nested stack whose template could not be read


@dataclass(frozen=True)
class Kept:
    """A resource that outlives the stack: retained as is, or snapshotted first."""

    path: str
    logical_id: str
    resource_type: str
    physical_id: str
    policy: str

    @property
    def address(self) -> str:
        return f"{self.path}/{self.logical_id} ({self.resource_type}) {self.physical_id}"

    def line(self) -> str:
        what = "snapshotted" if self.policy == "Snapshot" else "retained"
        return f"{what}: {self.address}"


def _snapshotted(target: Target, kind: str, physical: str) -> bool | None:
    """Whether the final snapshot of a deleted database exists; None for another type."""
    try:
        if kind == "AWS::RDS::DBInstance":
            found = target.client("rds").describe_db_snapshots(
                DBInstanceIdentifier=physical).get("DBSnapshots", [])
        elif kind == "AWS::RDS::DBCluster":
            found = target.client("rds").describe_db_cluster_snapshots(
                DBClusterIdentifier=physical).get("DBClusterSnapshots", [])
        else:
            return None
    except Exception as err:
        if error_code(err):
            return False
        raise
    # The final snapshot is a manual one; automated backups go with the instance.
    return bool(physical) and any(s.get("Status") != "failed" and s.get("SnapshotType")
                                  in {None, "manual"} for s in found)


def verified_lines(target: Target, kept: list[Kept]) -> list[str]:
    """What destroy can say of each kept resource, checked against the account."""
    lines = []
    for item in kept:
        if item.policy == UNREADABLE:
            lines.append(f"could not verify what {item.address} kept: its template could "
                         "not be read before the delete")
        elif item.policy == "Snapshot":
            found = _snapshotted(target, item.resource_type, item.physical_id)
            lines.append(item.line() if found else
                         f"NOT snapshotted: {item.address}: no final snapshot found"
                         if found is False else
                         f"could not verify the snapshot of {item.address}")
        else:
            found = exists(target, item.resource_type, item.physical_id)
            lines.append(item.line() if found else
                         f"NOT retained: {item.address} no longer exists"
                         if found is False else
                         f"could not verify that {item.address} was retained")
    return lines


def kept_resources(cfn: Any, stack: str, path: str = "root") -> list[Kept]:
    """Walk the stack and its children; read each template's DeletionPolicy."""
    body = cfn.get_template(StackName=stack, TemplateStage="Original")["TemplateBody"]
    template = load(body) if isinstance(body, str) else dict(body)
    resources = template.get("Resources", {})
    kept: list[Kept] = []
    paginator = cfn.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack):
        for resource in page["StackResourceSummaries"]:
            logical_id = resource["LogicalResourceId"]
            physical = resource.get("PhysicalResourceId", "")
            if resource["ResourceType"] == STACK_TYPE and physical:
                try:
                    kept += kept_resources(cfn, physical, f"{path}/{logical_id}")
                except Exception as err:  # a child a failed run left half-made or gone
                    if not error_code(err):
                        raise
                    kept.append(Kept(path, logical_id, STACK_TYPE, physical, UNREADABLE))
                continue
            policy = resources.get(logical_id, {}).get("DeletionPolicy", "Delete")
            if policy in KEPT_POLICIES:
                kept.append(Kept(path, logical_id, resource["ResourceType"], physical, policy))
    return kept


def destroy(target: Target, *, yes: bool, force: bool, interactive: bool, timeout: float,
            emit: Callable[[str], None] = print, verbose: bool = False,
            live_stream: IO[str] | None = None, color: bool = False) -> int:
    """Delete the stack set, once the stack itself says it may go: what it is (its own
    Environment, not ``--env``), that nothing is running on it, and its protection. The
    delete is shown as a deploy is (progress.py): state lines, a live view, or every event."""
    cfn = target.client("cloudformation")
    stack = identified_stack(cfn, target.stack_name, target.environment)
    if stack is None:
        emit(f"stack {target.stack_name} does not exist in {target.region}; nothing to destroy")
        return Exit.OK
    _refuse_unsafe(target, stack, force=force)
    kept, left = _announce(target, cfn, stack, emit)
    _confirm(target.stack_name, yes=yes, interactive=interactive)
    with aws_errors("delete the stack"):
        if stack.get("EnableTerminationProtection"):
            emit("lifting termination protection (--force)")
            cfn.update_termination_protection(EnableTerminationProtection=False,
                                              StackName=stack["StackId"])
        cfn.delete_stack(StackName=stack["StackId"])
    result = _watch_delete(cfn, stack["StackId"], target, emit, timeout,
                           verbose=verbose, live_stream=live_stream, color=color)
    if not result.succeeded:
        raise WebstackError(f"delete of {target.stack_name} ended {result.final_status}; "
                            "see the root cause above", Exit.FINDINGS)
    with aws_errors("check what the stack kept"):
        for line in verified_lines(target, kept):
            emit(line)
    clear(target, left, emit)
    return Exit.OK


def _announce(target: Target, cfn: Any, stack: dict[str, Any], emit: Callable[[str], None]
              ) -> tuple[list[Kept], list[Leftover]]:
    """Say what goes and what stays: what the stack keeps, or, for a create that failed,
    what its rollback left outside it."""
    status = StackStatus(stack["StackStatus"])
    never_created = status.startswith("ROLLBACK_") or status.awaiting_review
    kept: list[Kept] = []
    left: list[Leftover] = []
    if not never_created:  # a failed create's children: reading them can remake them
        with aws_errors("list what the stack keeps"):
            kept = kept_resources(cfn, stack["StackId"])
    elif status == "ROLLBACK_COMPLETE":
        left = still_there(target, stack["StackId"])
    emit(f"destroying {target.stack_name} in {target.region} ({status})")
    if never_created:
        emit(f"  {target.stack_name} was never created ({status}): its resources were rolled "
             "back" + (f"; its rollback kept {len(left)} outside the stack, which go too if "
                       "empty:" if left else ""))
    for leftover in left:
        emit(f"  left by the failed create: {leftover.address}")
    for item in kept:
        emit(f"  cannot read what {item.address} keeps" if item.policy == UNREADABLE
             else f"  will keep ({item.policy}): {item.address}")
    return kept, left


def _refuse_unsafe(target: Target, stack: dict[str, Any], *, force: bool) -> None:
    """A busy stack, a protected environment or termination protection without ``--force``:
    refused (exit 2) before anything is read or changed. The environment is the stack's own
    (``identified_stack`` made sure ``--env`` says the same)."""
    name, region = target.stack_name, target.region
    status = StackStatus(stack["StackStatus"])
    if status.in_progress:
        watch = reattach_command(target.environment, region, name, profile=target.profile,
                                 endpoint_url=target.endpoint_url)
        raise UsageError(f"stack {name} in {region} is {status}: CloudFormation is still "
                         f"working on it; wait for it with '{watch}', then destroy it")
    if is_protected(target.environment) and not force:
        raise UsageError(f"{name} is a {target.environment} stack (deletion protection in the "
                         "environment table); destroy refuses it unless --force is given")
    if stack.get("EnableTerminationProtection") and not force:
        raise UsageError(f"{name} in {region} has termination protection on; destroy lifts it "
                         "only when --force is given")


def _confirm(stack_name: str, *, yes: bool, interactive: bool) -> None:
    """The user types the stack's name, unless --yes; with no terminal and no --yes, refuse."""
    if yes:
        return
    if not interactive:
        raise UsageError("refusing to destroy without confirmation: stdin is not a terminal; "
                         "rerun with --yes")
    answer = input(f"Type the stack name ({stack_name}) to destroy it: ")
    if answer.strip() != stack_name:
        raise UsageError("destroy cancelled; nothing was deleted")


def _watch_delete(cfn: Any, stack_id: str, target: Target, emit: Callable[[str], None],
                  timeout: float, *, verbose: bool, live_stream: IO[str] | None,
                  color: bool) -> WatchResult:
    from scripts.deploy import progress

    waiter = Waiter()
    with handle_interrupts(waiter):
        try:
            return progress.watch(cfn, stack_id, emit=emit, stack_name=target.stack_name,
                                  region=target.region, verbose=verbose,
                                  live_stream=live_stream, color=color, waiter=waiter,
                                  timeout=timeout, deleting=True)
        except Cancelled:
            raise WebstackError(f"stopped watching; the delete of {target.stack_name} goes on",
                                Exit.INTERRUPTED) from None
