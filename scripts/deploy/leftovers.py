"""What a failed create left behind: the Retain resources its rollback kept outside the stack.

When a create rolls back, CloudFormation keeps every resource whose DeletionPolicy is Retain
(the buckets, the data key, the log groups) and says so only in the events of the stack that
held it (DELETE_SKIPPED, with the physical id). Nothing refers to them afterwards: each failed
attempt leaves another set. ``destroy`` and ``deploy --recreate`` of a ROLLBACK_COMPLETE stack
find them in the events of the stack and of its nested stacks, delete those that hold nothing
(an empty bucket, a log group without streams, then the key once nothing it encrypts is
kept), and name every other one with the command that removes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from scripts.deploy.aws import Target, aws_errors, cli_command, error_code
from scripts.deploy.stacks import STACK_TYPE

SKIPPED: Final = "DELETE_SKIPPED"
KEY_WINDOW_DAYS: Final = 7  # the shortest pending window KMS allows
Emit = Callable[[str], None]


@dataclass(frozen=True)
class Leftover:
    """A resource a rollback kept: where it was, what it is, its physical id."""

    stack_name: str
    logical_id: str
    resource_type: str
    physical_id: str

    @property
    def address(self) -> str:
        return f"{self.stack_name}/{self.logical_id} ({self.resource_type}) {self.physical_id}"


def _events(cfn: Any, stack_id: str) -> Iterator[dict[str, Any]]:
    for page in cfn.get_paginator("describe_stack_events").paginate(StackName=stack_id):
        yield from page.get("StackEvents", [])


def find(cfn: Any, stack_id: str) -> list[Leftover]:
    """Every DELETE_SKIPPED resource in the events of the stack and its nested stacks (a
    deleted nested stack still answers by its id)."""
    found: dict[tuple[str, str], Leftover] = {}
    queue, seen = [stack_id], {stack_id}
    while queue:
        current = queue.pop(0)
        for event in _events(cfn, current):
            physical = str(event.get("PhysicalResourceId") or "")
            kind = str(event.get("ResourceType", ""))
            if kind == STACK_TYPE and physical.startswith("arn:") and physical not in seen:
                seen.add(physical)
                queue.append(physical)
            elif event.get("ResourceStatus") == SKIPPED and physical:
                found.setdefault((kind, physical), Leftover(
                    str(event.get("StackName", "")), str(event.get("LogicalResourceId", "")),
                    kind, physical))
    return list(found.values())


def exists(target: Target, kind: str, physical: str) -> bool | None:
    """Whether a kept resource still exists; None when webstack cannot check the type."""
    checks: dict[str, Callable[[], bool]] = {
        "AWS::S3::Bucket": lambda: bool(target.client("s3").head_bucket(Bucket=physical)),
        "AWS::KMS::Key": lambda: target.client("kms").describe_key(KeyId=physical)[
            "KeyMetadata"]["KeyState"] not in {"PendingDeletion", "PendingReplicaDeletion"},
        "AWS::Logs::LogGroup": lambda: any(
            group["logGroupName"] == physical for group in target.client("logs")
            .describe_log_groups(logGroupNamePrefix=physical).get("logGroups", [])),
        "AWS::RDS::DBInstance": lambda: bool(target.client("rds").describe_db_instances(
            DBInstanceIdentifier=physical).get("DBInstances")),
    }
    if kind not in checks or not physical:
        return None
    try:
        return checks[kind]()
    except Exception as err:
        if error_code(err):
            return False  # NotFound, NoSuchBucket, DBInstanceNotFound, ...
        raise


def still_there(target: Target, stack_id: str) -> list[Leftover]:
    """The leftovers of the stack's failed create that exist now (or cannot be checked)."""
    cfn = target.client("cloudformation")
    with aws_errors("read what the failed create left"):
        return [item for item in find(cfn, stack_id)
                if exists(target, item.resource_type, item.physical_id) is not False]


def _aws(target: Target, *words: str) -> str:
    return cli_command(*words, region=target.region, profile=target.profile,
                       endpoint_url=target.endpoint_url)


def removal_command(target: Target, item: Leftover) -> str | None:
    if item.resource_type == "AWS::S3::Bucket":
        return _aws(target, "s3", "rb", f"s3://{item.physical_id}", "--force")
    if item.resource_type == "AWS::Logs::LogGroup":
        return _aws(target, "logs", "delete-log-group", "--log-group-name", item.physical_id)
    if item.resource_type == "AWS::KMS::Key":
        return _aws(target, "kms", "schedule-key-deletion", "--key-id", item.physical_id,
                    "--pending-window-in-days", str(KEY_WINDOW_DAYS))
    return None


def _contents(target: Target, item: Leftover) -> str | None:
    """What a leftover holds, or None when it is empty (and webstack can delete it)."""
    if item.resource_type == "AWS::S3::Bucket":
        page = target.client("s3").list_object_versions(Bucket=item.physical_id, MaxKeys=1)
        return "it holds objects" if page.get("Versions") or page.get("DeleteMarkers") else None
    if item.resource_type == "AWS::Logs::LogGroup":
        streams = target.client("logs").describe_log_streams(
            logGroupName=item.physical_id, limit=1).get("logStreams", [])
        return "it holds log streams" if streams else None
    return "webstack does not delete this type"


def _snapshots_of(target: Target, key: str) -> bool:
    """Whether a database snapshot is encrypted with the key (a rollback's final snapshot)."""
    paginator = target.client("rds").get_paginator("describe_db_snapshots")
    return any(str(s.get("KmsKeyId", "")).endswith(key) for page in paginator.paginate()
               for s in page.get("DBSnapshots", []))


def _delete(target: Target, item: Leftover) -> None:
    if item.resource_type == "AWS::S3::Bucket":
        target.client("s3").delete_bucket(Bucket=item.physical_id)
    elif item.resource_type == "AWS::Logs::LogGroup":
        target.client("logs").delete_log_group(logGroupName=item.physical_id)
    else:
        target.client("kms").schedule_key_deletion(KeyId=item.physical_id,
                                                   PendingWindowInDays=KEY_WINDOW_DAYS)


def clear(target: Target, leftovers: list[Leftover], emit: Emit, *,
          adopted: frozenset[str] = frozenset()) -> None:
    """Delete the empty leftovers, then the keys when nothing they encrypt is kept; say what
    happened to each, with the command that removes what stays. ``adopted``: the physical ids
    the stack about to be created uses (log groups it adopts), kept whatever they hold."""
    keys = [item for item in leftovers if item.resource_type == "AWS::KMS::Key"]
    kept = False
    with aws_errors("remove what the failed create left"):
        for item in [item for item in leftovers if item not in keys]:
            held = "the new stack adopts it" if item.physical_id in adopted else \
                _contents(target, item)
            if held is None:
                _delete(target, item)
                emit(f"  deleted (left empty by the failed create): {item.address}")
            else:
                kept = True
                _say_kept(target, item, held, emit)
        for key in keys:
            if kept or _snapshots_of(target, key.physical_id):
                _say_kept(target, key, "it encrypts what is kept", emit)
            else:
                _delete(target, key)
                emit(f"  scheduled for deletion in {KEY_WINDOW_DAYS} days (left by the failed "
                     f"create, nothing it encrypts is kept): {key.address}")


def _say_kept(target: Target, item: Leftover, held: str, emit: Emit) -> None:
    command = removal_command(target, item)
    how = f"remove it with '{command}'" if command else "remove it by hand"
    emit(f"  kept ({held}): {item.address}; once you no longer need it, {how}")
