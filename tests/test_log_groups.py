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


def test_a_destroyed_namesakes_database_logs_refuse_the_create(local_endpoint):
    region = "ap-southeast-2"
    _logs(local_endpoint, region).create_log_group(
        logGroupName="/aws/rds/instance/lg-again-db/postgresql")
    target = Target("dev", region, "lg-again", endpoint_url=local_endpoint)
    with pytest.raises(UsageError, match=r"^log group /aws/rds/instance/lg-again-db/postgresql "
                       r"already exists in ap-southeast-2 \(left by an earlier stack named "
                       r"'lg-again', or made by hand\), and this stack would create it"):
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
