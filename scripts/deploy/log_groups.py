"""Named log groups a new stack set creates, checked against the account before anything is.

The database stack owns the log groups RDS writes to, so they exist encrypted and expiring
before RDS would make its own: ``/aws/rds/instance/<stack>-db/<log>`` (this stack set's) and
``RDSOSMetrics`` (enhanced monitoring's, one per account and region). Both are kept when a
stack is deleted (logs are evidence), so a new stack set can meet them:

- RDSOSMetrics already exists (another stack set in the account owns it, or owned it):
  the new stack set does not create it (``RdsMonitoringLogGroup=existing``), and says so.
- the instance groups of this stack name exist (a destroyed stack of the same name): the
  deploy is refused, naming them; the operator keeps the old logs under another stack name
  or deletes them. CloudFormation would otherwise fail halfway through the create.

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


def _existing(target: Target, names: list[str]) -> list[str]:
    logs = target.client("logs")
    found = []
    with aws_errors(f"look up log groups in {target.region}"):
        for name in names:
            groups = logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
            if any(group.get("logGroupName") == name for group in groups):
                found.append(name)
    return found


def for_new_stack(options: Options, target: Target, emit: Callable[[str], None]) -> Options:
    """The options a new stack set is created with: refused if this stack name's log groups
    already exist (an earlier stack's, or made by hand), told not to create RDSOSMetrics if it
    exists."""
    left = _existing(target, [instance_log_group(log, target.stack_name)
                              for log in EXPORTED_LOGS])
    if left:
        groups = f"log groups {', '.join(left)} already exist" if len(left) > 1 else \
            f"log group {left[0]} already exists"
        them = "them" if len(left) > 1 else "it"
        raise UsageError(
            f"{groups} in {target.region} (left by an earlier stack named "
            f"'{target.stack_name}', or made by hand), and this stack would create "
            f"{them}: choose another --stack-name, or delete {them} (aws logs "
            "delete-log-group) once the logs are no longer needed"
        )
    if MONITORING_PARAMETER in options.overrides or not _existing(target, [MONITORING_LOG_GROUP]):
        return options
    emit(f"{MONITORING_LOG_GROUP} already exists in {target.region}: this stack set uses it "
         f"and does not create it ({MONITORING_PARAMETER}=existing)")
    return replace(options, overrides={**options.overrides, MONITORING_PARAMETER: "existing"})
