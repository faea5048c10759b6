"""``webstack drift`` and ``webstack diff --deployed`` against a live stack set.

End to end on the local endpoint (a resource changed behind CloudFormation's back), and with a
Stubber for what the endpoint cannot do (a detection that takes its time, or never ends).
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from scripts import cli
from scripts.build import yamlio
from scripts.deploy import drift
from scripts.deploy.aws import Target
from scripts.deploy.waiting import Cancelled, Waiter
from scripts.paths import BUILD_DIR

STACK = "drift-dev"
REGION = "us-west-2"


def client(endpoint: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture(scope="module")
def deployed(local_endpoint: str) -> str:
    code = cli.main(["deploy", "--env", "dev", "--region", REGION, "--stack-name", STACK,
                     "--yes", "--param", "CostCenter=CC-1234", "--endpoint-url", local_endpoint])
    assert code == 0
    return local_endpoint


def _run(capsys: pytest.CaptureFixture[str], endpoint: str, *argv: str) -> tuple[int, str, str]:
    code = cli.main([*argv, "--env", "dev", "--region", REGION, "--stack-name", STACK,
                     "--endpoint-url", endpoint])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_deployed_set_is_identical_to_build_without_a_change_set(
        deployed: str, capsys: pytest.CaptureFixture[str]):
    cfn = client(deployed, "cloudformation")
    before = cfn.list_change_sets(StackName=STACK)["Summaries"]
    code, out, _ = _run(capsys, deployed, "diff", "--deployed")
    assert code == 0
    assert out.startswith(f"identical: deployed {STACK} (dev, {REGION}) and working tree")
    assert cfn.list_change_sets(StackName=STACK)["Summaries"] == before


def test_a_release_folder_is_compared_with_what_runs(
        deployed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    head = tmp_path / "release"
    shutil.copytree(BUILD_DIR, head / "build")
    path = head / "build" / "database.yaml"
    template = yamlio.load(path.read_text(encoding="utf-8"))
    template["Resources"]["Database"]["Properties"]["BackupRetentionPeriod"] = 3
    path.write_text(yamlio.dump(template), encoding="utf-8")
    code, out, _ = _run(capsys, deployed, "diff", "--deployed", str(head), "--format", "json")
    assert code == 0
    (row,) = json.loads(out)
    assert (row["stack"], row["logical_id"], row["action"], row["properties"]) == (
        "DatabaseStack", "Database", "modify",
        [{"path": "BackupRetentionPeriod", "old": "1", "new": 3}])


def test_a_stack_that_does_not_exist_is_one_line(local_endpoint: str,
                                                 capsys: pytest.CaptureFixture[str]):
    code = cli.main(["drift", "--env", "dev", "--region", REGION, "--stack-name", "nope",
                     "--endpoint-url", local_endpoint])
    err = capsys.readouterr().err
    assert code == 2 and "stack nope does not exist in us-west-2" in err


def test_drift_is_reported_after_a_change_behind_cloudformations_back(
        deployed: str, capsys: pytest.CaptureFixture[str]):
    code, out, _ = _run(capsys, deployed, "drift")
    assert (code, out.split(":")[0]) == (0, "in sync")

    rds = client(deployed, "rds")
    (database,) = [d for d in rds.describe_db_instances()["DBInstances"]
                   if d["DBInstanceIdentifier"].startswith(STACK)]
    rds.modify_db_instance(DBInstanceIdentifier=database["DBInstanceIdentifier"],
                           BackupRetentionPeriod=5, ApplyImmediately=True)
    code, out, _ = _run(capsys, deployed, "drift")
    assert code == 1
    assert (f"modified  DatabaseStack/Database (AWS::RDS::DBInstance) "
            f"{database['DBInstanceIdentifier']}") in out
    assert '    /BackupRetentionPeriod: expected "1", actual 5 (not_equal)' in out
    assert f"drift: 1 resource(s) drifted in {STACK} (8 stack(s) checked)" in out


def _stubbed(responses: list[tuple[str, dict[str, Any]]]) -> tuple[Target, Stubber]:
    cfn = boto3.client("cloudformation", region_name=REGION, aws_access_key_id="x",
                       aws_secret_access_key="x")
    stubber = Stubber(cfn)
    for method, response in responses:
        stubber.add_response(method, response)
    stubber.activate()
    return Target("dev", REGION, STACK).use_client("cloudformation", cfn), stubber


ROOT_ID = f"arn:aws:cloudformation:{REGION}:123456789012:stack/{STACK}/1"
CHILD_ID = f"arn:aws:cloudformation:{REGION}:123456789012:stack/{STACK}-Db/2"
DESCRIBE = {"Stacks": [{"StackName": STACK, "StackId": ROOT_ID, "StackStatus": "UPDATE_COMPLETE",
                        "CreationTime": "2026-01-01T00:00:00Z",
                        "Tags": [{"Key": "Environment", "Value": "dev"}],
                        "Parameters": [{"ParameterKey": "Environment", "ParameterValue": "dev"}]}]}
RESOURCES = [
    ("list_stack_resources", {"StackResourceSummaries": [{
        "LogicalResourceId": "DatabaseStack", "PhysicalResourceId": CHILD_ID,
        "ResourceType": "AWS::CloudFormation::Stack", "ResourceStatus": "UPDATE_COMPLETE",
        "LastUpdatedTimestamp": "2026-01-01T00:00:00Z"}]}),
    ("list_stack_resources", {"StackResourceSummaries": []}),
]


def _status(detection: str, status: str = "IN_SYNC") -> dict[str, Any]:
    return {"StackId": ROOT_ID, "StackDriftDetectionId": "d", "DetectionStatus": detection,
            "StackDriftStatus": status, "Timestamp": "2026-01-01T00:00:00Z"}


def test_a_detection_in_progress_is_waited_for_then_read_stubbed():
    sleeps: list[float] = []
    target, stubber = _stubbed([
        ("describe_stacks", DESCRIBE), *RESOURCES,
        ("detect_stack_drift", {"StackDriftDetectionId": "root"}),
        ("detect_stack_drift", {"StackDriftDetectionId": "child"}),
        ("describe_stack_drift_detection_status", _status("DETECTION_IN_PROGRESS")),
        ("describe_stack_drift_detection_status", _status("DETECTION_COMPLETE", "DRIFTED")),
        ("describe_stack_drift_detection_status", _status("DETECTION_COMPLETE")),
        ("describe_stack_resource_drifts", {"StackResourceDrifts": []}),
        ("describe_stack_resource_drifts", {"StackResourceDrifts": [{
            "StackId": CHILD_ID, "LogicalResourceId": "Database", "ResourceType":
            "AWS::RDS::DBInstance", "StackResourceDriftStatus": "DELETED",
            "PhysicalResourceId": "db-1", "Timestamp": "2026-01-01T00:00:00Z"}]}),
    ])
    found = drift.detect(target, Waiter(sleep=sleeps.append), timeout=60)
    stubber.assert_no_pending_responses()
    assert sleeps == [1.0]
    lines: list[str] = []
    assert drift.report(found, lines.append, STACK) == 1
    assert lines == ["deleted   DatabaseStack/Database (AWS::RDS::DBInstance) db-1",
                     f"drift: 1 resource(s) drifted in {STACK} (2 stack(s) checked)"]


def test_a_detection_that_never_ends_is_bounded_and_cancellable():
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    target, _ = _stubbed([("describe_stacks", DESCRIBE), *RESOURCES[1:],
                          ("detect_stack_drift", {"StackDriftDetectionId": "root"})]
                         + [("describe_stack_drift_detection_status",
                             _status("DETECTION_IN_PROGRESS"))] * 20)
    with pytest.raises(drift.DriftTimeout, match="still running after 10s on root"):
        drift.detect(target, Waiter(clock=lambda: now[0], sleep=sleep), timeout=10)

    cancel = threading.Event()
    cancel.set()
    target, _ = _stubbed([("describe_stacks", DESCRIBE), *RESOURCES[1:],
                          ("detect_stack_drift", {"StackDriftDetectionId": "root"}),
                          ("describe_stack_drift_detection_status",
                           _status("DETECTION_IN_PROGRESS"))])
    with pytest.raises(Cancelled):
        drift.detect(target, Waiter(cancel), timeout=60)


def test_a_plan_goes_to_stdout_as_json_with_the_progress_on_stderr(
        deployed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    code, out, err = _run(capsys, deployed, "plan", "--param", "AlarmEmail=ops@example.com",
                          "--format", "json")
    assert code == 0
    (region,) = json.loads(out)
    assert (region["region"], region["no_changes"]) == (REGION, False)
    assert "MonitoringStack" in {c["logical_id"] for c in region["changes"]}
    assert "plan: " in err

    written = tmp_path / "plan.md"
    code, out, _ = _run(capsys, deployed, "plan", "--param", "AlarmEmail=ops@example.com",
                        "--format", "markdown", "--plan-output", str(written))
    assert code == 0 and f"plan (markdown) written to {written}" in out
    assert written.read_text(encoding="utf-8").startswith(
        f"### webstack plan: `{STACK}` (dev, {REGION})")
