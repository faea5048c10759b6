"""Failure injection on the local endpoint: the seed's incident, end to end, with rollback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from scripts import cli
from scripts.errors import Exit
from scripts.local import endpoint as local
from templates_src.versions import POSTGRES_VERSION

pytest_plugins = ["local_endpoint"]

REGION = "us-east-1"
# What RDS answered in the seed's incident, with today's pin.
REASON = f"Cannot find version {POSTGRES_VERSION} for postgres"


def client(endpoint: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def failing(local_endpoint: str) -> Iterator[None]:
    try:
        yield
    finally:
        local.clear_failures()


def deploy(endpoint: str, name: str, *extra: str) -> list[str]:
    return ["deploy", "--env", "dev", "--region", REGION, "--stack-name", name, "--yes",
            "--param", "CostCenter=CC-1234", "--endpoint-url", endpoint, *extra]


def test_the_seed_incident_rolls_back_and_names_the_database_and_the_version(
        local_endpoint: str, failing: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["local", "fail", "--resource", "Database", "--on", "create",
                     "--reason", REASON, "--stack", "seed-incident"]) == 0
    capsys.readouterr()

    code = cli.main(deploy(local_endpoint, "seed-incident"))
    out, err = capsys.readouterr()

    assert code == Exit.FINDINGS, out + err
    cfn = client(local_endpoint, "cloudformation")
    root = cfn.describe_stacks(StackName="seed-incident")["Stacks"][0]
    assert root["StackStatus"] == "ROLLBACK_COMPLETE"
    causes = [line for line in (out + err).splitlines() if REASON in line]
    assert causes and all("Database" in line for line in causes), out + err
    # Nothing half-created: no database, no live nested stack, no stack but the rolled-back root.
    rds = client(local_endpoint, "rds").describe_db_instances()["DBInstances"]
    assert not [d for d in rds if d["DBInstanceIdentifier"].startswith("seed-incident")]
    live = [s["StackName"] for s in cfn.describe_stacks()["Stacks"]
            if s["StackName"].startswith("seed-incident-")]
    assert live == []


def test_an_update_that_fails_rolls_back_to_the_previous_state(
        local_endpoint: str, failing: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(deploy(local_endpoint, "fails-update")) == 0, capsys.readouterr()
    local.inject_failure("AlarmTopic", "update", "Rate exceeded", stack="fails-update")
    code = cli.main([*deploy(local_endpoint, "fails-update"), "--param", "CostCenter=CC-9999"])
    out, err = capsys.readouterr()
    assert code == Exit.FINDINGS, out + err
    assert "Rate exceeded" in out + err
    cfn = client(local_endpoint, "cloudformation")
    root = cfn.describe_stacks(StackName="fails-update")["Stacks"][0]
    assert root["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    values = {p["ParameterKey"]: p.get("ParameterValue") for p in root["Parameters"]}
    assert values["CostCenter"] == "CC-1234"



def test_a_nested_stack_whose_update_fails_updates_once_and_rolls_back_once(
        local_endpoint: str, failing: None, capsys: pytest.CaptureFixture[str]) -> None:
    """As on CloudFormation: the database fails once, its stack rolls back once, and nothing
    is started after the failure (moto tried every modified resource four times)."""
    assert cli.main(deploy(local_endpoint, "update-fails-once")) == 0, capsys.readouterr()
    local.inject_failure("Database", "update", "Cannot upgrade", stack="update-fails-once")
    code = cli.main([*deploy(local_endpoint, "update-fails-once"), "--param", "CostCenter=CC-9999"])
    out, err = capsys.readouterr()
    assert code == Exit.FINDINGS, out + err
    cfn = client(local_endpoint, "cloudformation")
    database = next(s for s in cfn.describe_stacks()["Stacks"]
                    if s["StackName"].startswith("update-fails-once-DatabaseStack"))
    events = cfn.describe_stack_events(StackName=database["StackId"])["StackEvents"]
    own = [e["ResourceStatus"] for e in reversed(events)
           if e["LogicalResourceId"] == database["StackName"]]
    assert own[own.index("UPDATE_IN_PROGRESS"):] == [
        "UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"]
    assert [e["ResourceStatus"] for e in events if e["LogicalResourceId"] == "Database"
            and e["ResourceStatus"] == "UPDATE_FAILED"] == ["UPDATE_FAILED"]
    root = cfn.describe_stacks(StackName="update-fails-once")["Stacks"][0]
    assert root["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert out.count("Cannot upgrade") == 2, out  # the failure line and the root cause

@pytest.mark.parametrize(("argv", "needle"), [
    (["--resource", "Database", "--on", "create", "--reason", "  "], "--reason is empty"),
    (["--resource", "Data base", "--on", "create", "--reason", "x"], "logical id"),
    (["--resource", "Database"], "--resource, --on and --reason together"),
])
def test_bad_failure_injection_is_refused_in_one_line(
        argv: list[str], needle: str, local_endpoint: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["local", "fail", *argv]) == Exit.USAGE
    _, err = capsys.readouterr()
    assert needle in err and len(err.strip().splitlines()) == 1
    assert local.read_failures() == []
