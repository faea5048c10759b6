"""Every environment deploys to every region on the local endpoint, with a long stack name too."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from scripts import cli
from templates_src.environments import ENVIRONMENTS
from templates_src.regions import REGIONS

pytest_plugins = ["local_endpoint"]

# Issue 10 asked for each pair's local deploy time; -s shows them.
TIMES: dict[tuple[str, str], float] = {}


def client(endpoint: str, service: str, region: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.mark.parametrize("region", sorted(REGIONS))
@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_each_environment_deploys_to_each_region(local_endpoint: str, env: str, region: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    name = f"webstack-{env}-{region}" if env != "staging" else \
        f"webstack-{env}-a-long-but-valid-stack-name-{region}"
    from scripts.local.certificate import request_certificate

    extra = [] if env == "dev" else [  # HTTPS outside dev, a subscriber in prod (root Rules)
        "--param", f"CertificateArn={request_certificate(local_endpoint, region)}",
        "--param", "AlarmEmail=oncall@example.com"]
    started = time.perf_counter()
    code = cli.main(["deploy", "--env", env, "--region", region, "--stack-name", name, "--yes",
                     "--param", "CostCenter=CC-1234", *extra, "--endpoint-url", local_endpoint])
    TIMES[env, region] = time.perf_counter() - started
    out, err = capsys.readouterr()
    assert code == 0, err or out
    cfn = client(local_endpoint, "cloudformation", region)
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    databases = client(local_endpoint, "rds", region).describe_db_instances()["DBInstances"]
    ours = [d["DBInstanceIdentifier"] for d in databases
            if d["DBInstanceIdentifier"].startswith(name.lower()[:20])]
    assert ours and all(len(i) <= 63 for i in ours)
    with capsys.disabled():
        print(f"\n  local deploy {env} {region}: {TIMES[env, region]:.2f} s")


def _dev_stack(endpoint: str, region: str) -> str:
    """The dev stack test_each_environment_deploys_to_each_region made in ``region`` (settled,
    CREATE_COMPLETE); deployed here only when that test did not run first in this session."""
    name = f"webstack-dev-{region}"
    cfn = client(endpoint, "cloudformation", region)
    try:
        status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except cfn.exceptions.ClientError:
        status = None
    if status != "CREATE_COMPLETE":
        assert status is None, f"{name} is {status}"
        assert cli.main(["deploy", "--env", "dev", "--region", region, "--stack-name", name,
                         "--yes", "--param", "CostCenter=CC-1234",
                         "--endpoint-url", endpoint]) == 0
    return name


def _database(endpoint: str, region: str, stack_name: str) -> dict[str, Any]:
    databases = client(endpoint, "rds", region).describe_db_instances()["DBInstances"]
    ours = [d for d in databases if d["DBInstanceIdentifier"].startswith(stack_name.lower())]
    assert len(ours) == 1, [d["DBInstanceIdentifier"] for d in databases]
    return ours[0]


def _deployed_dev(local_endpoint: str, region: str, capsys: pytest.CaptureFixture[str]
                  ) -> tuple[str, list[str], dict[str, Any]]:
    """The settled dev stack of ``region``, the deploy arguments that update it, and its
    database as it is before the update."""
    name = _dev_stack(local_endpoint, region)
    capsys.readouterr()
    base = ["deploy", "--env", "dev", "--region", region, "--stack-name", name, "--yes",
            "--param", "CostCenter=CC-1234", "--endpoint-url", local_endpoint]
    return name, base, _database(local_endpoint, region, name)


def test_a_parameter_only_update_keeps_the_database(local_endpoint: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    region = "us-east-1"
    name, base, before = _deployed_dev(local_endpoint, region, capsys)
    alarms = client(local_endpoint, "cloudwatch", region).describe_alarms()["MetricAlarms"]
    ours = {a["AlarmName"]: a["AlarmArn"] for a in alarms if a["AlarmName"].startswith(name)}
    assert len(ours) >= 3  # created from the monitoring template: rollback triggers exist

    assert cli.main([*base, "--param", "AlarmEmail=ops@example.com"]) == 0, capsys.readouterr()
    out, _ = capsys.readouterr()
    assert "UPDATE_COMPLETE" in out
    after = _database(local_endpoint, region, name)
    assert after["DBInstanceIdentifier"] == before["DBInstanceIdentifier"]
    assert after["InstanceCreateTime"] == before["InstanceCreateTime"]
    alarms = client(local_endpoint, "cloudwatch", region).describe_alarms()["MetricAlarms"]
    assert {a["AlarmName"]: a["AlarmArn"] for a in alarms if a["AlarmName"].startswith(name)} \
        == ours

    # The values applied in place are the model's own types: the database can still be
    # destroyed (a "false" string once read as deletion protection on).
    assert cli.main(["destroy", "--env", "dev", "--region", region, "--stack-name", name,
                     "--yes", "--endpoint-url", local_endpoint]) == 0, capsys.readouterr()
    databases = client(local_endpoint, "rds", region).describe_db_instances()["DBInstances"]
    assert not [d for d in databases if d["DBInstanceIdentifier"].startswith(name)]


def test_a_create_only_change_is_refused_by_the_guard_and_cannot_replace_a_named_database(
        local_endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    region = "us-west-2"
    name, base, before = _deployed_dev(local_endpoint, region, capsys)
    rename = [*base, "--param", "DatabaseUsername=other_admin"]  # MasterUsername: createOnly

    assert cli.main(rename) == 2
    _, err = capsys.readouterr()
    assert "refusing to lose data" in err and "AWS::RDS::DBInstance, replaced" in err
    kept = _database(local_endpoint, region, name)
    assert (kept["DBInstanceIdentifier"], kept["MasterUsername"]) == (
        before["DBInstanceIdentifier"], before["MasterUsername"])

    # The database is named after the stack (SECURITY.md): CloudFormation cannot replace a
    # custom-named resource, so even an allowed replacement is refused before it runs.
    assert cli.main([*rename, "--allow-replacement"]) == 2
    _, err = capsys.readouterr()
    assert "--allow-replacement cannot replace DatabaseStack/Database" in err
    assert "CloudFormation cannot replace a custom-named resource" in err
    after = _database(local_endpoint, region, name)
    assert (after["DBInstanceIdentifier"], after["MasterUsername"]) == (
        before["DBInstanceIdentifier"], before["MasterUsername"])
