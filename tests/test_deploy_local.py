"""End to end against the local endpoint: deploy build/, redeploy, update, destroy."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from scripts import cli, paths
from scripts.local.certificate import request_certificate
from scripts.paths import BUILD_DIR
from templates_src.stacks import CHILDREN
from templates_src.stacks.root import ROOT_OUTPUTS

pytestmark = pytest.mark.usefixtures("local_endpoint")


def client(endpoint: str, service: str, region: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def webstack(local_endpoint, capsys) -> Callable[..., tuple[int, str, str]]:
    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main([*argv, "--endpoint-url", local_endpoint])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def stack(endpoint: str, region: str, name: str) -> dict[str, Any] | None:
    cfn = client(endpoint, "cloudformation", region)
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]
    except cfn.exceptions.ClientError:
        return None


@pytest.fixture(scope="module")
def deployed(local_endpoint, tmp_path_factory) -> dict[str, Any]:
    """dev in us-east-1 and prod in eu-west-1, deployed once for the module."""
    outputs = tmp_path_factory.mktemp("outputs")
    results = {}
    # prod refuses plain HTTP and silent alarms: a local certificate and an address.
    prod_params = ["--param", "AlarmEmail=oncall@example.com", "--param",
                   f"CertificateArn={request_certificate(local_endpoint, 'eu-west-1')}"]
    for env, region, extra in (("dev", "us-east-1", []), ("prod", "eu-west-1", prod_params)):
        path = outputs / f"{env}.json"
        code = cli.main(["deploy", "--env", env, "--region", region, "--stack-name",
                         f"it-{env}", "--yes", "--param", "CostCenter=CC-1234", *extra,
                         "--outputs-file", str(path), "--endpoint-url", local_endpoint])
        results[env] = {"code": code, "region": region, "outputs_file": path}
    return results


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_deploy_creates_the_root_and_every_nested_stack(deployed, local_endpoint, env):
    region = deployed[env]["region"]
    assert deployed[env]["code"] == 0
    root = stack(local_endpoint, region, f"it-{env}")
    assert root is not None and root["StackStatus"] == "CREATE_COMPLETE"
    resources = client(local_endpoint, "cloudformation", region).list_stack_resources(
        StackName=f"it-{env}")["StackResourceSummaries"]
    nested = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources
              if r["ResourceType"] == "AWS::CloudFormation::Stack"}
    assert set(nested) == {f"{name.capitalize()}Stack" for name in CHILDREN}
    for physical_id in nested.values():
        child = stack(local_endpoint, region, physical_id)
        assert child is not None and child["StackStatus"].endswith("COMPLETE")


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_root_output_is_present_and_the_outputs_file_matches(deployed, local_endpoint,
                                                                   env):
    root = stack(local_endpoint, deployed[env]["region"], f"it-{env}")
    assert root is not None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in root["Outputs"]}
    assert set(outputs) == {*ROOT_OUTPUTS, "Environment"}
    assert outputs["Environment"] == env
    assert all(outputs.values())
    written = json.loads(deployed[env]["outputs_file"].read_text(encoding="utf-8"))
    assert written == {f"it-{env}": outputs}


def test_prod_deploys_locally_with_its_certificate_and_serves_https(deployed, local_endpoint):
    root = stack(local_endpoint, "eu-west-1", "it-prod")
    assert root is not None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in root["Outputs"]}
    assert outputs["AppUrl"].startswith("https://")
    values = {p["ParameterKey"]: p.get("ParameterValue") for p in root["Parameters"]}
    assert values["CertificateArn"].startswith("arn:aws:acm:eu-west-1:")
    assert values["AlarmEmail"] == "oncall@example.com"


def test_the_database_writes_to_log_groups_the_stack_owns(deployed, local_endpoint):
    groups = {g["logGroupName"]: g for g in client(local_endpoint, "logs", "eu-west-1")
              .describe_log_groups(logGroupNamePrefix="/aws/rds/instance/it-prod-db/")
              ["logGroups"]}
    assert set(groups) == {"/aws/rds/instance/it-prod-db/postgresql",
                           "/aws/rds/instance/it-prod-db/upgrade"}
    # Their data key is proved on the template (moto 5.2.5 drops KmsKeyId from CloudFormation).
    assert all(int(g["retentionInDays"]) == 365 for g in groups.values())
    rds = client(local_endpoint, "rds", "eu-west-1")
    identifiers = [db["DBInstanceIdentifier"] for db in rds.describe_db_instances()["DBInstances"]]
    assert "it-prod-db" in identifiers


def test_prod_gets_termination_protection_and_a_stack_policy(deployed, local_endpoint):
    root = stack(local_endpoint, "eu-west-1", "it-prod")
    assert root is not None and root["EnableTerminationProtection"] is True
    policy = client(local_endpoint, "cloudformation", "eu-west-1").get_stack_policy(
        StackName="it-prod")["StackPolicyBody"]
    assert "Update:Replace" in policy and "AWS::RDS::DBInstance" in policy


def test_an_identical_redeploy_says_no_changes_and_creates_no_change_set(deployed, webstack,
                                                                        local_endpoint):
    cfn = client(local_endpoint, "cloudformation", "us-east-1")
    before = cfn.list_change_sets(StackName="it-dev")["Summaries"]
    code, out, _ = webstack("deploy", "--env", "dev", "--region", "us-east-1",
                            "--stack-name", "it-dev", "--yes")
    assert code == 0
    assert "no changes" in out
    assert "preflight" not in out, "nothing is created, so nothing needs a preflight"
    assert cfn.list_change_sets(StackName="it-dev")["Summaries"] == before


def test_outputs_go_to_the_state_folder_not_the_checkout_without_outputs_file(deployed,
                                                                              webstack):
    """$WEBSTACK_STATE_DIR is webstack's state folder (the session's endpoint fixture sets it):
    a deploy without --outputs-file writes there, and never into .webstack/ of the checkout."""
    state = Path(os.environ[paths.STATE_DIR_ENV])
    in_checkout = paths.REPO_ROOT / ".webstack" / "outputs" / "it-dev-us-east-1.json"
    before = in_checkout.stat().st_mtime_ns if in_checkout.exists() else None
    code, out, _ = webstack("deploy", "--env", "dev", "--region", "us-east-1",
                            "--stack-name", "it-dev", "--yes")
    assert code == 0, out
    written = state / "outputs" / "it-dev-us-east-1.json"
    assert f"outputs of it-dev (written to {paths.display(written)}):" in out
    assert json.loads(written.read_text(encoding="utf-8"))["it-dev"]["Environment"] == "dev"
    assert (in_checkout.stat().st_mtime_ns if in_checkout.exists() else None) == before


@pytest.mark.parametrize("blocker", ["file", "broken symlink"])
def test_a_blocked_default_outputs_folder_is_refused_before_anything_is_created(
        webstack, local_endpoint, tmp_path, monkeypatch, blocker):
    state = tmp_path / "state"
    state.mkdir()
    if blocker == "file":
        (state / "outputs").write_text("", encoding="utf-8")
    else:
        (state / "outputs").symlink_to(tmp_path / "nowhere")
    monkeypatch.setenv(paths.STATE_DIR_ENV, str(state))
    code, out, err = webstack("deploy", "--env", "dev", "--region", "us-east-1",
                              "--stack-name", "it-noout", "--yes", "--param", "CostCenter=CC-1234")
    assert code == 2, out
    assert err.count("\n") == 1 and f"{state / 'outputs'} is " in err
    assert "--outputs-file" in err and paths.STATE_DIR_ENV in err
    assert stack(local_endpoint, "us-east-1", "it-noout") is None


def test_a_blocked_default_outputs_folder_is_refused_before_a_local_endpoint_starts(
        tmp_path, monkeypatch, capsys):
    from scripts.local import endpoint as local

    state = tmp_path / "state"
    state.mkdir()
    (state / "outputs").write_text("", encoding="utf-8")
    monkeypatch.setenv(paths.STATE_DIR_ENV, str(state))
    try:
        code = cli.main(["deploy", "--env", "dev", "--region", "us-east-1", "--local", "--yes",
                         "--stack-name", "it-noout", "--param", "CostCenter=CC-1234"])
        err = capsys.readouterr().err
        assert (code, err.count("\n")) == (2, 1), err
        assert not local.state_file().exists(), "an endpoint was started for nothing"
    finally:
        if local.state_file().exists():
            local.down()


def test_a_path_with_a_newline_stays_on_one_line(webstack, tmp_path):
    odd = tmp_path / "two\nlines"
    odd.write_text("", encoding="utf-8")  # a file where a folder should be
    code, _, err = webstack("deploy", "--env", "dev", "--region", "us-east-1", "--yes",
                            "--param", "CostCenter=CC-1234", "--outputs-file", str(odd / "o.json"))
    assert (code, err.count("\n")) == (2, 1), err
    assert "two\\nlines" in err


def test_outputs_that_cannot_be_written_after_a_deploy_name_the_file_and_exit_74(
        deployed, webstack, local_endpoint):
    code, out, err = webstack("deploy", "--env", "dev", "--region", "us-east-1",
                              "--stack-name", "it-dev", "--yes", "--outputs-file", "/dev/full")
    assert code == 74, err
    assert err.count("\n") == 1
    assert "it-dev is deployed in us-east-1, but the outputs could not be written to " \
           "/dev/full: [Errno 28] No space left on device" in err
    assert "it-dev (dev) in us-east-1: no changes" in out  # the summary is still shown
    code, _, err = webstack("outputs", "--env", "dev", "--region", "us-east-1",
                            "--stack-name", "it-dev", "--outputs-file", "/dev/full")
    assert (code, err.count("\n")) == (74, 1)
    assert "the outputs could not be written to /dev/full" in err


def test_a_parameter_change_is_planned_and_applied(webstack, local_endpoint):
    code, out, _ = webstack("deploy", "--env", "dev", "--region", "us-west-2",
                            "--stack-name", "it-update", "--yes", "--param", "CostCenter=CC-1234")
    assert code == 0, out
    try:
        code, out, _ = webstack("deploy", "--env", "dev", "--region", "us-west-2",
                                "--stack-name", "it-update", "--yes", "--param",
                                "CostCenter=CC-5678")
    finally:
        if code != 0:  # stock moto's half-recreated children break every later describe_stacks
            cfn = client(local_endpoint, "cloudformation", "us-west-2")
            for summary in cfn.list_stacks()["StackSummaries"]:
                if (summary["StackName"].startswith("it-update")
                        and summary["StackStatus"] != "DELETE_COMPLETE"):
                    cfn.delete_stack(StackName=summary["StackId"])
    assert code == 0, out
    assert "to modify" in out and "UPDATE_COMPLETE" in out
    root = stack(local_endpoint, "us-west-2", "it-update")
    assert root is not None
    values = {p["ParameterKey"]: p.get("ParameterValue") for p in root["Parameters"]}
    assert values["CostCenter"] == "CC-5678"
    assert values["DeploymentDate"]  # kept, not re-sent as something else


def test_outputs_command_reads_what_deploy_made(deployed, webstack):
    code, out, _ = webstack("outputs", "--env", "dev", "--region", "us-east-1",
                            "--stack-name", "it-dev")
    assert code == 0
    assert "VpcId" in out and "AppUrl" in out


def test_watch_on_a_settled_stack_reports_its_status(deployed, webstack):
    """it-dev, as the module deployed it (before the destroy tests below remove it)."""
    assert deployed["dev"]["code"] == 0
    code, out, _ = webstack("watch", "--env", "dev", "--region", "us-east-1",
                            "--stack-name", "it-dev")
    assert code == 0
    assert "nothing in progress" in out


def test_destroy_refuses_prod_without_force(deployed, webstack, local_endpoint):
    code, _, err = webstack("destroy", "--env", "prod", "--region", "eu-west-1",
                            "--stack-name", "it-prod", "--yes")
    assert code == 2
    assert "--force" in err
    assert stack(local_endpoint, "eu-west-1", "it-prod") is not None


def test_destroy_deletes_the_stack_and_retains_the_bucket(deployed, webstack, local_endpoint):
    root = stack(local_endpoint, "us-east-1", "it-dev")
    assert root is not None
    bucket = {o["OutputKey"]: o["OutputValue"] for o in root["Outputs"]}["BucketName"]
    rds = client(local_endpoint, "rds", "us-east-1")
    database = rds.describe_db_instances()["DBInstances"]
    code, out, _ = webstack("destroy", "--env", "dev", "--region", "us-east-1",
                            "--stack-name", "it-dev", "--yes")
    assert code == 0, out
    assert f"retained: root/StorageStack/AppBucket (AWS::S3::Bucket) {bucket}" in out
    # "snapshotted" only when the final snapshot really exists on the endpoint.
    snapshots = [s for d in database for s in rds.describe_db_snapshots(
        DBInstanceIdentifier=d["DBInstanceIdentifier"], SnapshotType="manual")["DBSnapshots"]]
    line = next(line for line in out.splitlines() if "root/DatabaseStack/Database" in line
                and "will keep" not in line)
    assert line.startswith("snapshotted: " if snapshots else "NOT snapshotted: "), line
    assert stack(local_endpoint, "us-east-1", "it-dev") is None
    client(local_endpoint, "s3", "us-east-1").head_bucket(Bucket=bucket)  # still there


def test_the_seed_incident_is_refused_before_anything_is_created(webstack, local_endpoint,
                                                                 tmp_path, monkeypatch):
    """A set pinned to PostgreSQL 13.7 never reaches the account."""
    from scripts.build.render import render
    from templates_src.stacks import database
    from templates_src.versions import PostgresMajor

    monkeypatch.setattr(database, "POSTGRES", PostgresMajor("13.7"))
    rotten = tmp_path / "build"
    shutil.copytree(BUILD_DIR, rotten)
    for name, text in render().items():
        (rotten / name).write_text(text, encoding="utf-8")
    monkeypatch.setattr(paths, "BUILD_DIR", rotten)
    code, _, err = webstack("deploy", "--env", "dev", "--region", "us-east-1",
                            "--stack-name", "it-incident", "--yes",
                            "--param", "CostCenter=CC-1234")
    assert code == 1
    assert "W3691" in err and "13.7" in err
    assert "nothing was deployed" in err
    assert stack(local_endpoint, "us-east-1", "it-incident") is None


@pytest.mark.parametrize(("argv", "needle"), [
    (["deploy", "--env", "qa", "--region", "us-east-1"], "unknown environment 'qa'"),
    (["deploy", "--env", "dev", "--region", "mars-1"], "unknown region 'mars-1'"),
    (["deploy", "--env", "dev", "--region", "us-east-1", "--param", "CostCenter"], "Key=Value"),
    (["deploy", "--env", "prod", "--region", "us-east-1", "--stack-name", "it-tty",
      "--param", "CostCenter=CC-1234", "--param", "AlarmEmail=oncall@example.com",
      "--param", "CertificateArn=arn:aws:acm:us-east-1:123456789012:certificate/tty"],
     "stdin is not a terminal"),
    (["deploy", "--env", "dev", "--region", "us-east-1", "--param", "CostCenter=CC-1234",
      "--stack-name", "it-long", "--outputs-file", f"/tmp/{'x' * 300}.json"],
     "cannot be used: File name too long"),
])
def test_bad_deploy_input_is_one_line_and_exit_2(webstack, argv, needle):
    code, _, err = webstack(*argv)
    assert code == 2
    assert needle in err
    assert err.strip().count("\n") == 0 or err.strip().splitlines()[-1].startswith("webstack")


def test_a_stale_build_is_refused_with_exit_2(webstack, tmp_path, monkeypatch):
    stale = tmp_path / "build"
    shutil.copytree(BUILD_DIR, stale)
    (stale / "iam.yaml").write_text("# edited by hand\n", encoding="utf-8")
    monkeypatch.setattr(paths, "BUILD_DIR", stale)
    code, _, err = webstack("deploy", "--env", "dev", "--region", "us-east-1", "--yes",
                            "--stack-name", "it-stale", "--param", "CostCenter=CC-1234")
    assert code == 2
    assert "build/ is stale (build/iam.yaml)" in err


def test_destroy_prod_with_force_lifts_termination_protection(deployed, webstack,
                                                              local_endpoint):
    code, out, _ = webstack("destroy", "--env", "prod", "--region", "eu-west-1",
                            "--stack-name", "it-prod", "--yes", "--force")
    assert code == 0, out
    assert "lifting termination protection" in out
    assert stack(local_endpoint, "eu-west-1", "it-prod") is None


def test_two_regions_deploy_in_parallel_with_prefixed_lines_and_a_table(webstack, tmp_path):
    outputs = tmp_path / "outputs.json"
    # dev: staging and prod need a certificate in each region, and one --param reaches every
    # region alike (ACM certificates are regional), so they deploy one region at a time.
    code, out, _ = webstack("deploy", "--env", "dev", "--region", "us-west-2",
                            "--region", "eu-west-1", "--stack-name", "it-multi", "--yes",
                            "--param", "CostCenter=CC-1234", "--outputs-file", str(outputs))
    assert code == 0, out
    assert "[us-west-2] plan: 7 to add" in out and "[eu-west-1] plan: 7 to add" in out
    table = out[out.index("region       result"):].splitlines()
    assert [line.split()[0] for line in table[1:3]] == ["us-west-2", "eu-west-1"]
    assert all("create complete" in line for line in table[1:3])
    assert set(json.loads(outputs.read_text(encoding="utf-8"))) == {
        "it-multi@us-west-2", "it-multi@eu-west-1"}


def test_a_reviewed_plan_file_is_executed_exactly_and_refused_once_stale(webstack, tmp_path,
                                                                          local_endpoint):
    plan_file = tmp_path / "plan.json"
    code, out, _ = webstack("plan", "--env", "dev", "--region", "us-west-2", "--stack-name",
                            "it-plan", "--param", "CostCenter=CC-1234", "--plan-file",
                            str(plan_file))
    assert code == 0, out
    reviewed = json.loads(plan_file.read_text(encoding="utf-8"))
    assert stack(local_endpoint, "us-west-2", "it-plan")["StackStatus"] == "REVIEW_IN_PROGRESS"
    code, out, _ = webstack("deploy", "--env", "dev", "--region", "us-west-2", "--stack-name",
                            "it-plan", "--yes", "--plan-file", str(plan_file))
    assert code == 0, out
    assert "executing the reviewed change set" in out
    root = stack(local_endpoint, "us-west-2", "it-plan")
    assert root is not None and root["StackStatus"] == "CREATE_COMPLETE"
    assert reviewed["change_set_id"]
    code, _, err = webstack("deploy", "--env", "dev", "--region", "us-west-2", "--stack-name",
                            "it-plan", "--yes", "--plan-file", str(plan_file))
    assert code == 2
    assert "since the plan was made" in err or "no longer" in err


def test_plan_without_a_plan_file_leaves_no_change_set(webstack, local_endpoint):
    code, out, _ = webstack("plan", "--env", "dev", "--region", "us-west-2", "--stack-name",
                            "it-plan-only", "--param", "CostCenter=CC-1234")
    assert code == 0, out
    assert "plan: 7 to add" in out
    assert stack(local_endpoint, "us-west-2", "it-plan-only") is None, (
        "a plan of a new stack must not leave its REVIEW_IN_PROGRESS stack behind")


def test_an_unreachable_endpoint_is_one_line_exit_4(capsys):
    code = cli.main(["outputs", "--env", "dev", "--region", "us-east-1",
                     "--endpoint-url", "http://localhost:1"])
    err = capsys.readouterr().err
    assert code == 4
    assert "cannot reach the endpoint" in err and err.count("\n") == 1
