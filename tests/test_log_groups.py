"""A new stack set meets the named log groups its database stack creates: RDSOSMetrics shared
with the account's other stack sets, its own instance groups left from a destroyed namesake."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from scripts import cli
from scripts.deploy import log_groups
from scripts.deploy.aws import Target
from scripts.deploy.options import Options
from scripts.errors import UsageError

pytestmark = pytest.mark.usefixtures("local_endpoint")


def _logs(endpoint: str, region: str) -> Any:
    return boto3.client("logs", endpoint_url=endpoint, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _options(endpoint: str, **overrides: str) -> Options:
    return Options("dev", ["ap-south-1"], "lg-dev", endpoint_url=endpoint,
                   overrides={"CostCenter": "CC-1234", **overrides})


def test_a_new_stack_set_creates_rdsosmetrics_only_where_none_exists(local_endpoint):
    region = "ap-northeast-1"
    target = Target("dev", region, "lg-first", endpoint_url=local_endpoint)
    said: list[str] = []
    first = log_groups.for_new_stack(_options(local_endpoint), target, said.append)
    assert "RdsMonitoringLogGroup" not in first.overrides and said == []
    _logs(local_endpoint, region).create_log_group(logGroupName="RDSOSMetrics")
    second = log_groups.for_new_stack(_options(local_endpoint),
                                      Target("dev", region, "lg-second",
                                             endpoint_url=local_endpoint), said.append)
    assert second.overrides["RdsMonitoringLogGroup"] == "existing"
    assert second.overrides["CostCenter"] == "CC-1234"
    assert said == ["RDSOSMetrics already exists in ap-northeast-1: this stack set uses it and "
                    "does not create it (RdsMonitoringLogGroup=existing)"]
    told = log_groups.for_new_stack(_options(local_endpoint, RdsMonitoringLogGroup="create"),
                                    target, said.append)
    assert told.overrides["RdsMonitoringLogGroup"] == "create"  # the user's word wins


def test_log_groups_made_by_hand_unencrypted_refuse_the_create(local_endpoint):
    region = "ap-southeast-2"
    for log in ("postgresql", "upgrade"):
        _logs(local_endpoint, region).create_log_group(
            logGroupName=f"/aws/rds/instance/lg-again-db/{log}")
    target = Target("dev", region, "lg-again", endpoint_url=local_endpoint)
    with pytest.raises(UsageError, match=r"^log group /aws/rds/instance/lg-again-db/postgresql "
                       r"already exists in ap-southeast-2 unencrypted or never expiring: this "
                       r"stack set did not make it"):
        log_groups.for_new_stack(_options(local_endpoint), target, print)


def test_a_destroyed_namesakes_kept_database_logs_are_adopted(local_endpoint):
    """What a destroyed stack of this name kept (encrypted, expiring) the next one adopts,
    so destroy then deploy works again (it was refused, naming the groups)."""
    region = "ap-northeast-1"
    logs = _logs(local_endpoint, region)
    for log in ("postgresql", "upgrade"):
        logs.create_log_group(logGroupName=f"/aws/rds/instance/lg-kept-db/{log}",
                              kmsKeyId=f"arn:aws:kms:{region}:123456789012:key/k")
        logs.put_retention_policy(logGroupName=f"/aws/rds/instance/lg-kept-db/{log}",
                                  retentionInDays=30)
    said: list[str] = []
    target = Target("dev", region, "lg-kept", endpoint_url=local_endpoint)
    adopted = log_groups.for_new_stack(_options(local_endpoint), target, said.append)
    assert adopted.overrides["DatabaseLogGroups"] == "existing"
    assert said[0].startswith("/aws/rds/instance/lg-kept-db/postgresql and /aws/rds/instance/"
                              "lg-kept-db/upgrade already exist in ap-northeast-1 (kept from an "
                              "earlier 'lg-kept'): this stack set adopts them")
    logs.delete_log_group(logGroupName="/aws/rds/instance/lg-kept-db/upgrade")
    with pytest.raises(UsageError, match=r"upgrade is gone but .*postgresql is kept"):
        log_groups.for_new_stack(_options(local_endpoint), target, print)


@pytest.mark.parametrize("name", ["Webstack-Dev", "web--stack", "a" * 61, "stack-"])
def test_a_stack_name_that_cannot_name_the_database_is_refused_before_anything(
        local_endpoint, capsys, name):
    code = cli.main(["deploy", "--env", "dev", "--region", "us-east-1", "--stack-name", name,
                     "--yes", "--param", "CostCenter=CC-1234", "--endpoint-url", local_endpoint])
    err = capsys.readouterr().err
    # Issue 9's stack-name budget may refuse first; either way the reason is the database's name.
    assert code == 2 and "database" in err and len(err.strip().splitlines()) == 1
    cfn = boto3.client("cloudformation", endpoint_url=local_endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    assert name not in [s["StackName"] for s in cfn.list_stacks()["StackSummaries"]]
