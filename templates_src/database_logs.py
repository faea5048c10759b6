"""The database's log groups by name: what the database stack creates and what a deploy checks
in the account before a new stack set is created (``scripts/deploy/log_groups.py``).

A module of its own, without troposphere: the deploy reads these names on every create, and
importing the stack modules costs a process about 0.1 s.
"""

from __future__ import annotations

from typing import Final

# Logs the instance exports to CloudWatch, each into a group the database stack owns.
EXPORTED_LOGS: Final = ("postgresql", "upgrade")
# Enhanced monitoring's group: one per account and region, shared by every instance.
MONITORING_LOG_GROUP: Final = "RDSOSMetrics"


def instance_log_group(log: str, root_stack_name: str = "${RootStackName}") -> str:
    """The name RDS gives the group of one exported log (``Fn::Sub`` text by default)."""
    return f"/aws/rds/instance/{root_stack_name}-db/{log}"
