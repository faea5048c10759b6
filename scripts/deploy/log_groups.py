"""Named log groups a new stack set creates, checked against the account before anything is.

The database stack owns the log groups RDS writes to, so they exist encrypted and expiring
before RDS would make its own: ``/aws/rds/instance/<stack>-db/<log>`` (this stack set's) and
``RDSOSMetrics`` (enhanced monitoring's, one per account and region). Both are kept when a
stack is deleted (logs are evidence), so a new stack set can meet them:

- RDSOSMetrics already exists (another stack set in the account owns it, or owned it):
  the new stack set does not create it (``RdsMonitoringLogGroup=existing``), and says so.
- the instance groups of this stack name exist (a destroyed stack of the same name, or a
  failed create, kept them): the new stack set adopts them (``DatabaseLogGroups=existing``);
  groups that are not encrypted or never expire were made by hand, and are refused.

The stack name also becomes the database identifier, which RDS lowercases: a name the
database stack's ``RootStackName`` pattern refuses is refused here, before anything exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from scripts.deploy.aws import Target, aws_errors
from scripts.deploy.options import Options
from scripts.errors import UsageError
from templates_src.database_logs import EXPORTED_LOGS, MONITORING_LOG_GROUP, instance_log_group

MONITORING_PARAMETER = "RdsMonitoringLogGroup"
LOG_GROUPS_PARAMETER = "DatabaseLogGroups"


def _existing(target: Target, names: list[str]) -> dict[str, dict[str, object]]:
    """The groups of ``names`` that exist, each as DescribeLogGroups describes it."""
    logs = target.client("logs")
    found: dict[str, dict[str, object]] = {}
    with aws_errors(f"look up log groups in {target.region}"):
        for name in names:
            groups = logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
            found.update((name, group) for group in groups if group.get("logGroupName") == name)
    return found


def for_new_stack(options: Options, target: Target, emit: Callable[[str], None]) -> Options:
    """The options a new stack set is created with.

    - This stack name's instance groups exist, encrypted and expiring as this stack set makes
      them (a destroyed stack of the same name kept them, or a failed create left them): the
      new stack set adopts them (``DatabaseLogGroups=existing``), and says so. A group that is
      not encrypted or never expires was not made by this stack set: refused, naming it.
    - RDSOSMetrics exists: the new stack set does not create it (``RdsMonitoringLogGroup=
      existing``), and says so.
    The user's own ``--param`` for either wins.
    """
    overrides = dict(options.overrides)
    names = [instance_log_group(log, target.stack_name) for log in EXPORTED_LOGS]
    left = _existing(target, names) if LOG_GROUPS_PARAMETER not in overrides else {}
    foreign = [name for name, group in left.items()
               if not group.get("kmsKeyId") or not group.get("retentionInDays")]
    if foreign:
        raise UsageError(
            f"log group {foreign[0]} already exists in {target.region} unencrypted or never "
            f"expiring: this stack set did not make it, and the database '{target.stack_name}' "
            "would write to it; choose another --stack-name, or delete it (aws logs "
            "delete-log-group) once its logs are no longer needed"
        )
    if left:
        if len(left) < len(names):
            missing = sorted(set(names) - set(left))
            raise UsageError(f"log group {missing[0]} is gone but {next(iter(left))} is kept: "
                             "the stack set cannot both adopt and create them; pass --param "
                             f"{LOG_GROUPS_PARAMETER}=existing to adopt what is there")
        overrides[LOG_GROUPS_PARAMETER] = "existing"
        emit(f"{' and '.join(left)} already exist in {target.region} (kept from an earlier "
             f"'{target.stack_name}'): this stack set adopts them "
             f"({LOG_GROUPS_PARAMETER}=existing)")
    if MONITORING_PARAMETER not in overrides and _existing(target, [MONITORING_LOG_GROUP]):
        emit(f"{MONITORING_LOG_GROUP} already exists in {target.region}: this stack set uses "
             f"it and does not create it ({MONITORING_PARAMETER}=existing)")
        overrides[MONITORING_PARAMETER] = "existing"
    return replace(options, overrides=overrides)


def adopted(options: Options, stack_name: str) -> frozenset[str]:
    """The log groups a stack set created with ``options`` uses without owning them."""
    names: list[str] = []
    if options.overrides.get(LOG_GROUPS_PARAMETER) == "existing":
        names += [instance_log_group(log, stack_name) for log in EXPORTED_LOGS]
    if options.overrides.get(MONITORING_PARAMETER) == "existing":
        names.append(MONITORING_LOG_GROUP)
    return frozenset(names)
