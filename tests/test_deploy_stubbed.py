"""The deploy orchestrator against a stubbed CloudFormation: the paths the local endpoint cannot
produce (nested replacements, failed creates, blocked stacks, interrupts, throttling).

Every request and answer goes through botocore's Stubber, so each is checked against the
CloudFormation model. changeset.py and events.py have their own unit tests; these check how the
pipeline wires them: what is printed, what is deleted, and which exit code comes out. The gate,
the account checks of the preflight and packaging pass here (each has its own tests); rollback
triggers are off, so no test needs the stack's alarms.
"""

from __future__ import annotations

import io
import json
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

import boto3
import botocore.endpoint
import pytest
from botocore.stub import ANY, Stubber

from scripts import cli
from scripts.deploy import aws, changeset, package, pipeline, preflight
from scripts.deploy import prepare as preparing
from scripts.deploy.aws import AwsError, aws_errors, make_client
from scripts.deploy.changeset import StackStateError
from scripts.deploy.guard import StatefulChangeRefused
from scripts.deploy.options import Options, RegionResult
from scripts.deploy.package import Packaged
from scripts.deploy.pipeline import Interrupted
from scripts.deploy.prepare import Prepared
from scripts.deploy.waiting import Waiter
from scripts.errors import Exit, UsageError, WebstackError
from scripts.paths import BUILD_DIR

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "webstack-dev"
TODAY = "2026-11-29"
ROOT_CS = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/webstack-1/aaaa-0001"
DB_CS = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/webstack-1-Database/bbbb-0002"
DB = f"{STACK}-DatabaseStack-2DEF"
DB_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{DB}/0000-0003"
T0 = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
ROOT_BODY = (BUILD_DIR / "root.yaml").read_text(encoding="utf-8")
NO_CHANGES = ("The submitted information didn't contain changes. Submit different information "
              "to create a change set.")
EMBEDDED = (f"Embedded stack {DB_ID} was not successfully created: "
            "The following resource(s) failed to create: [Database].")
VERSION_GONE = "Cannot find version 13.7 for postgres (Service: Rds, Status Code: 400)"


def stack_id(name: str = STACK) -> str:
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/1111-2222"


def options(**kwargs: Any) -> Options:
    kwargs.setdefault("stack_name", STACK)
    return Options(environment="dev", regions=[REGION], rollback_triggers=False, today=TODAY,
                   **kwargs)


def resource_change(logical_id: str, resource_type: str, replacement: str = "False", *,
                    nested: str | None = None) -> dict[str, Any]:
    change: dict[str, Any] = {
        "Action": "Modify", "LogicalResourceId": logical_id, "ResourceType": resource_type,
        "PhysicalResourceId": f"{logical_id.lower()}-physical", "Replacement": replacement,
        "Scope": ["Properties"],
    }
    if nested:
        change["ChangeSetId"] = nested
    return {"Type": "Resource", "ResourceChange": change}


# The root change set shows DatabaseStack as one change; the replacement sits in its own set.
DATABASE_REPLACED = {
    ROOT_CS: [resource_change("DatabaseStack", "AWS::CloudFormation::Stack", nested=DB_CS)],
    DB_CS: [resource_change("Database", "AWS::RDS::DBInstance", "True")],
}
STORAGE_CS = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/webstack-1-Storage/cccc-0004"
DATA_KEY_REPLACED = {  # a data-bearing resource its template does not name: it can be replaced
    ROOT_CS: [resource_change("StorageStack", "AWS::CloudFormation::Stack", nested=STORAGE_CS)],
    STORAGE_CS: [resource_change("DataKey", "AWS::KMS::Key", "True")],
}
LAUNCH_TEMPLATE_CHANGED = {
    ROOT_CS: [resource_change("LaunchTemplate", "AWS::EC2::LaunchTemplate")],
}


def event(second: float, logical: str, status: str, *, stack: str = STACK,
          type_: str = "AWS::CloudFormation::Stack", physical: str = "", reason: str = ""
          ) -> dict[str, Any]:
    """One StackEvents item of ``stack`` (a name); the stack's own event when logical is it."""
    sid = DB_ID if stack == DB else stack_id(stack)
    item = {
        "StackId": sid, "StackName": stack, "EventId": f"{stack}-{logical}-{status}-{second}",
        "LogicalResourceId": logical, "PhysicalResourceId": sid if logical == stack else physical,
        "ResourceType": type_, "ResourceStatus": status,
        "Timestamp": T0 + timedelta(seconds=second),
    }
    if reason:
        item["ResourceStatusReason"] = reason
    return item


class Cloud:
    """The stubbed CloudFormation API, queued in the order deploy.py calls it.

    ``calls`` lists every operation the code asked for, answered or not: delete_quietly
    swallows an unexpected call, so "not deleted" is checked here rather than by the Stubber.
    """

    def __init__(self, cfn: Any, stubber: Stubber, calls: list[str]) -> None:
        self.cfn = cfn
        self.stubber = stubber
        self.calls = calls

    def stack(self, status: str, *, name: str = STACK, asked: str | None = None,
              outputs: dict[str, str] | None = None, environment: str = "dev") -> None:
        found: dict[str, Any] = {
            "StackName": name, "StackId": stack_id(name), "StackStatus": status,
            "CreationTime": T0, "Tags": [{"Key": "Environment", "Value": environment}],
            "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in {
                "AlarmEmail": "", "CertificateArn": "", "CostCenter": "CC-1234",
                "DatabaseUsername": "webstack_admin", "DeploymentDate": TODAY,
                "Environment": environment}.items()],
        }
        if outputs:
            found["Outputs"] = [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]
        self.stubber.add_response("describe_stacks", {"Stacks": [found]},
                                  {"StackName": asked or name})

    def deployed_template(self, body: str) -> None:
        self.stubber.add_response("get_template", {"TemplateBody": body},
                                  {"StackName": stack_id(), "TemplateStage": "Original"})

    def create_change_set(self) -> None:
        self.stubber.add_response(
            "create_change_set", {"Id": ROOT_CS, "StackId": stack_id()},
            {"StackName": STACK, "ChangeSetName": ANY, "ChangeSetType": "UPDATE",
             "Parameters": ANY, "Capabilities": ANY, "IncludeNestedStacks": True,
             "Description": ANY, "Tags": ANY, "TemplateBody": ROOT_BODY},
        )

    def change_set(self, change_set_id: str = ROOT_CS, status: str = "CREATE_COMPLETE", *,
                   changes: list[Any] | None = None, reason: str = "",
                   execution: str | None = None, by_stack: bool = False) -> None:
        answer: dict[str, Any] = {
            "ChangeSetId": change_set_id, "ChangeSetName": change_set_id.split("/")[1],
            "StackId": stack_id(), "StackName": STACK, "Status": status, "CreationTime": T0,
            "ExecutionStatus": execution or (
                "AVAILABLE" if status == "CREATE_COMPLETE" else "UNAVAILABLE"),
            "Changes": changes or [],
        }
        if reason:
            answer["StatusReason"] = reason
        asked = {"ChangeSetName": change_set_id, **({"StackName": STACK} if by_stack else {})}
        self.stubber.add_response("describe_change_set", answer, asked)

    def deleted(self) -> None:
        self.stubber.add_response("delete_change_set", {}, {"ChangeSetName": ROOT_CS})

    def executed(self, name: str = STACK) -> None:
        self.stubber.add_response("execute_change_set", {},
                                  {"ChangeSetName": ROOT_CS, "StackName": name})
        self.change_set(execution="EXECUTE_IN_PROGRESS")  # _wait_until_executing

    def events(self, stack: str, *newest_first: dict[str, Any]) -> None:
        self.stubber.add_response("describe_stack_events", {"StackEvents": list(newest_first)},
                                  {"StackName": DB_ID if stack == DB else stack_id(stack)})

    def planned(self, change_sets: dict[str, list[Any]]) -> None:
        """prepare() of an UPDATE up to a ready change set holding ``change_sets``."""
        self.stack("UPDATE_COMPLETE")  # prepare's own look
        self.deployed_template("# the previous root\n")  # the fast path: root differs
        self.stack("UPDATE_COMPLETE")  # change_set_type
        self.create_change_set()
        self.change_set(changes=change_sets[ROOT_CS], by_stack=True)  # wait_until_ready
        for change_set_id, changes in change_sets.items():  # describe_all, nested after root
            self.change_set(change_set_id, changes=changes)


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    """Every Target's CloudFormation client is this Stubber-wrapped one; STS answers the
    account; no other service."""
    cfn = boto3.client("cloudformation", region_name=REGION, aws_access_key_id="x",
                       aws_secret_access_key="x")
    calls: list[str] = []
    cfn.meta.events.register("provide-client-params.cloudformation.*",
                             lambda model, **_: calls.append(model.name))

    def make(service: str, *_: Any, **__: Any) -> Any:
        if service == "sts":  # the deploy lock asks once which account it is in
            return SimpleNamespace(get_caller_identity=lambda: {"Account": "123456789012"})
        assert service == "cloudformation", f"unexpected {service} client"
        return cfn

    monkeypatch.setattr(aws, "make_client", make)
    with Stubber(cfn) as stubber:
        yield Cloud(cfn, stubber, calls)
        stubber.assert_no_pending_responses()


class FakeTime:
    """The waits' clock, moving only when they sleep; ``interrupt`` stands in for Ctrl-C."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.interrupt = False
        self.cancel = threading.Event()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if self.interrupt:
            self.cancel.set()  # what the signal handler does on Ctrl-C
            return
        self.sleeps.append(seconds)
        self.now += seconds

    def waiter(self) -> Waiter:
        return Waiter(self.cancel, sleep=self.sleep, clock=self.clock)


@pytest.fixture(autouse=True)
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    """Every wait of the pipeline sleeps on the fake clock."""
    fake = FakeTime()
    monkeypatch.setattr(pipeline, "Waiter", fake.waiter)
    monkeypatch.setattr(preparing, "Waiter", fake.waiter)
    return fake


@pytest.fixture(autouse=True)
def packaged(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The gate, the account checks and packaging pass; returns the regions uploaded to
    (a dry run, which only computes the packaged root, is not an upload)."""
    regions: list[str] = []

    def fake_package(target: Any, build_dir: Path, *, dry_run: bool = False,
                     **_: Any) -> Packaged:
        if not dry_run:
            regions.append(target.region)
        return Packaged(root_body=ROOT_BODY, root_url=None, child_urls={},
                        template_hashes={}, uploaded=[],
                        bucket=f"webstack-artifacts-{ACCOUNT}-{target.region}")

    monkeypatch.setattr(pipeline, "check_build", lambda *_, **__: None)
    monkeypatch.setattr(package, "package", fake_package)
    for function, name in [("check_ami", "ami"), ("check_availability_zones", "availability-zones"),
                           ("check_engine_version", "engine-version"),
                           ("check_instance_class", "instance-class")]:
        monkeypatch.setattr(preflight, function,
                            lambda *_, _name=name, **__: preflight.Check(_name, True, "stubbed"))
    return regions


# -- 1. a nested replacement of the database --------------------------------------------------


def test_replacing_the_nested_database_prints_the_plan_refuses_and_deletes(cloud: Cloud) -> None:
    cloud.planned(DATABASE_REPLACED)
    cloud.deleted()
    lines: list[str] = []

    with pytest.raises(StatefulChangeRefused) as refused:
        preparing.prepare(options(), REGION, lines.append)

    assert refused.value.exit_code == Exit.USAGE == 2
    assert "DatabaseStack/Database (AWS::RDS::DBInstance, replaced)" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert any(line.split()[:4] == ["modify", "DatabaseStack/Database",
                                    "AWS::RDS::DBInstance", "True"] for line in lines)
    assert "refused: DatabaseStack/Database replaced; rerun with --allow-replacement after " \
           "taking a backup" in lines
    assert cloud.calls[-1] == "DeleteChangeSet"


def test_allow_replacement_keeps_the_change_set_and_says_it_is_allowed(cloud: Cloud) -> None:
    cloud.planned(DATA_KEY_REPLACED)
    lines: list[str] = []

    prepared = preparing.prepare(options(allow_replacement=True), REGION, lines.append)

    assert prepared.change_set_id == ROOT_CS and not prepared.no_changes
    assert [c.address for c in prepared.changes] == ["StorageStack", "StorageStack/DataKey"]
    assert "DeleteChangeSet" not in cloud.calls
    assert "allowed: StorageStack/DataKey replaced (--allow-replacement)" in lines
    assert not any(line.startswith("refused:") for line in lines)


def test_allow_replacement_of_the_named_database_is_refused_before_it_runs(
        cloud: Cloud) -> None:
    """The database is named (DBInstanceIdentifier): CloudFormation cannot replace it, so
    --allow-replacement was accepted and the update failed mid-way and rolled back."""
    cloud.planned(DATABASE_REPLACED)
    cloud.deleted()

    with pytest.raises(WebstackError) as refused:
        preparing.prepare(options(allow_replacement=True), REGION, lambda _: None)

    assert refused.value.exit_code == 2
    assert str(refused.value).startswith(
        "--allow-replacement cannot replace DatabaseStack/Database (AWS::RDS::DBInstance): its "
        "template names it (DBInstanceIdentifier), and CloudFormation cannot replace a "
        "custom-named resource")
    assert "ExecuteChangeSet" not in cloud.calls and "DeleteChangeSet" in cloud.calls


# -- 2. a failed create names the nested root cause -------------------------------------------


def test_a_failed_create_prints_the_nested_root_cause_and_exits_1(cloud: Cloud,
                                                                  fake_time: FakeTime) -> None:
    db = {"stack": DB, "type_": "AWS::RDS::DBInstance"}
    cloud.executed()
    cloud.stack("CREATE_IN_PROGRESS")
    cloud.events(STACK,
                 event(1, "DatabaseStack", "CREATE_IN_PROGRESS", physical=DB_ID),
                 event(0, STACK, "CREATE_IN_PROGRESS", reason="User Initiated"))
    cloud.events(DB,
                 event(2, "Database", "CREATE_IN_PROGRESS", **db),
                 event(1, DB, "CREATE_IN_PROGRESS", stack=DB))
    cloud.stack("ROLLBACK_COMPLETE", asked=stack_id())
    cloud.events(STACK,
                 event(12, STACK, "ROLLBACK_COMPLETE"),
                 event(11, "DatabaseStack", "DELETE_COMPLETE", physical=DB_ID),
                 event(9, "DatabaseStack", "DELETE_IN_PROGRESS", physical=DB_ID),
                 event(8, STACK, "ROLLBACK_IN_PROGRESS", reason="The following resource(s) "
                       "failed to create: [DatabaseStack]. Rollback requested by user."),
                 event(7, "DatabaseStack", "CREATE_FAILED", physical=DB_ID, reason=EMBEDDED))
    cloud.events(DB,
                 event(10, DB, "DELETE_COMPLETE", stack=DB),
                 event(6, DB, "ROLLBACK_COMPLETE", stack=DB),
                 event(5, "Database", "DELETE_COMPLETE", **db),
                 event(4, DB, "ROLLBACK_IN_PROGRESS", stack=DB, reason="The following "
                       "resource(s) failed to create: [Database]. Rollback requested by user."),
                 event(3, "Database", "CREATE_FAILED", reason=VERSION_GONE, **db))
    lines: list[str] = []
    prepared = Prepared(options().target(REGION), lines.append, change_set_id=ROOT_CS,
                        change_set_type="CREATE")

    result = pipeline.execute(options(), prepared, fake_time.waiter())

    assert result == RegionResult(REGION, "failed (ROLLBACK_COMPLETE)", result.elapsed, 1,
                                  detail=result.detail)
    # The line stderr gets: the root cause, then what to do with the stack left behind.
    assert result.detail == (f"ended ROLLBACK_COMPLETE; root cause: root/DatabaseStack "
                             f"Database: {VERSION_GONE}; stack {STACK} in {REGION} is "
                             "ROLLBACK_COMPLETE: it was never created successfully; rerun "
                             "with --recreate to delete and create it again "
                             "('webstack deploy --env dev --region us-east-1 --recreate')")
    causes = [line for line in lines if line.startswith("root cause:")]
    assert causes == ["root cause: root/DatabaseStack Database (AWS::RDS::DBInstance): "
                      f"{VERSION_GONE}"]
    # the parent's echo of the failure is kept in the event log, not shown, not the cause
    assert not any(EMBEDDED in line for line in lines)
    log = Path(lines[-1].removeprefix("every event: "))
    assert EMBEDDED in log.read_text(encoding="utf-8")
    assert fake_time.sleeps == [1.0]
    assert "DeleteChangeSet" not in cloud.calls


# -- 3. a stack no change set can start from ---------------------------------------------------


def test_update_rollback_failed_is_refused_before_any_change_set(cloud: Cloud,
                                                                 packaged: list[str]) -> None:
    cloud.stack("UPDATE_ROLLBACK_FAILED")
    lines: list[str] = []

    with pytest.raises(StackStateError) as refused:
        preparing.prepare(options(), REGION, lines.append)

    message = str(refused.value)
    assert refused.value.exit_code == Exit.USAGE == 2
    assert "\n" not in message
    assert message.startswith(f"stack {STACK} in {REGION} is UPDATE_ROLLBACK_FAILED")
    assert ("then run: aws cloudformation continue-update-rollback --stack-name webstack-dev "
            "--region us-east-1 [--resources-to-skip LogicalId ...]") in message
    assert f"preflight: stack-state FAILED: {message}" in lines
    assert cloud.calls == ["DescribeStacks"] and packaged == []


@pytest.mark.parametrize("status", ["UPDATE_IN_PROGRESS", "CREATE_IN_PROGRESS",
                                    "UPDATE_ROLLBACK_IN_PROGRESS"])
def test_a_stack_in_progress_is_refused_pointing_at_webstack_watch(
        cloud: Cloud, packaged: list[str], status: str) -> None:
    cloud.stack(status)

    with pytest.raises(StackStateError) as refused:
        preparing.prepare(options(), REGION, lambda _line: None)

    assert refused.value.exit_code == 2
    assert str(refused.value) == (f"stack {STACK} in {REGION} is {status}; wait, or attach "
                                  "with 'webstack watch --env dev --region us-east-1'")
    assert cloud.calls == ["DescribeStacks"] and packaged == []


# -- 4. throttling, with botocore's real retry handler -----------------------------------------

THROTTLED = b"""<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>
  <RequestId>00000000-0000-0000-0000-000000000001</RequestId>
</ErrorResponse>"""
DESCRIBED = f"""<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <DescribeStacksResult>
    <Stacks>
      <member>
        <StackName>{STACK}</StackName>
        <StackId>{stack_id()}</StackId>
        <CreationTime>2026-11-29T03:00:00.000Z</CreationTime>
        <StackStatus>UPDATE_COMPLETE</StackStatus>
      </member>
    </Stacks>
  </DescribeStacksResult>
  <ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000002</RequestId></ResponseMetadata>
</DescribeStacksResponse>""".encode()


class Endpoint:
    """A CloudFormation stand-in on 127.0.0.1 that throttles its first ``throttle`` requests.

    It serves at most ``limit`` requests (HTTP/1.0: one request per connection), then stops.
    """

    def __init__(self, throttle: int, limit: int) -> None:
        self.throttle = throttle
        self.requests: list[dict[str, list[str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append(parse_qs(body.decode()))
                throttled = len(outer.requests) <= outer.throttle
                payload = THROTTLED if throttled else DESCRIBED
                self.send_response(400 if throttled else 200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.server.timeout = 0.05
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._stop = threading.Event()

        def serve() -> None:
            while len(self.requests) < limit and not self._stop.is_set():
                self.server.handle_request()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.server.server_close()
        assert not self._thread.is_alive()


@pytest.fixture
def retry_delays(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[float]:
    """The delays botocore's retry handler asks for, recorded instead of slept.

    botocore.endpoint sleeps between attempts with ``time.sleep``; its ``time`` is swapped for
    a recorder. Credentials and config come from nowhere but this fixture. The throttling
    endpoint listens on 127.0.0.1 but stands for AWS, so it gets AWS's retry policy.
    """
    delays: list[float] = []
    monkeypatch.setattr(aws, "LOCAL_RETRIES", aws.RETRIES)
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=delays.append))
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN",
                 "AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return delays


def test_throttling_is_retried_with_backoff_until_it_succeeds(retry_delays: list[float]) -> None:
    endpoint = Endpoint(throttle=2, limit=3)
    try:
        cfn = make_client("cloudformation", REGION, endpoint_url=endpoint.url)
        with aws_errors("describe stack"):
            answer = cfn.describe_stacks(StackName=STACK)
    finally:
        endpoint.close()

    assert answer["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    assert answer["ResponseMetadata"]["RetryAttempts"] == 2
    assert [r["Action"] for r in endpoint.requests] == [["DescribeStacks"]] * 3
    # Standard mode: full jitter over 1 s, then 2 s (throttling scale), never zero retries.
    assert len(retry_delays) == 2
    assert 0 <= retry_delays[0] <= 1 and 0 <= retry_delays[1] <= 2


def test_throttling_past_ten_attempts_is_one_line(retry_delays: list[float]) -> None:
    endpoint = Endpoint(throttle=100, limit=20)  # answers more than asked, so nothing hangs
    try:
        cfn = make_client("cloudformation", REGION, endpoint_url=endpoint.url)
        with pytest.raises(AwsError) as failed, aws_errors("describe stack"):
            cfn.describe_stacks(StackName=STACK)
    finally:
        endpoint.close()

    assert str(failed.value) == ("describe stack: still throttled after 10 attempts; "
                                 "retry in a minute")
    assert failed.value.exit_code == Exit.AWS
    assert len(endpoint.requests) == 10 and len(retry_delays) == 9


# -- 4b. a CreateChangeSet whose answer was lost ----------------------------------------------

OWN_NAME = "webstack-20261129030000-0a1b2c3d"


def test_a_create_change_set_whose_answer_was_lost_is_adopted_and_the_plan_goes_on(
        cloud: Cloud, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The first CreateChangeSet answered HTTP 500 (InternalFailure) after CloudFormation made
    the change set; botocore's retry met AlreadyExistsException. The Stubber answers in place
    of the wire, so it sees only the retry's answer (tests/test_lost_answers.py loses the first
    answer for real on the local endpoint). The change set is the run's own: planned, then
    deleted by the plan as any other."""
    monkeypatch.setattr(changeset, "new_name", lambda: OWN_NAME)
    cloud.stack("UPDATE_COMPLETE")
    cloud.deployed_template("# the previous root\n")
    cloud.stack("UPDATE_COMPLETE")
    cloud.stubber.add_client_error(
        "create_change_set", service_error_code="AlreadyExistsException",
        service_message=f"ChangeSet [{OWN_NAME}] already exists and cannot be created again",
        http_status_code=400, expected_params={
            "StackName": STACK, "ChangeSetName": OWN_NAME, "ChangeSetType": "UPDATE",
            "Parameters": ANY, "Capabilities": ANY, "IncludeNestedStacks": True,
            "Description": "webstack deploy", "Tags": ANY, "TemplateBody": ROOT_BODY})
    cloud.stubber.add_response("describe_change_set", {
        "ChangeSetId": ROOT_CS, "ChangeSetName": OWN_NAME, "StackId": stack_id(),
        "StackName": STACK, "Status": "CREATE_IN_PROGRESS", "ExecutionStatus": "UNAVAILABLE",
        "CreationTime": T0}, {"ChangeSetName": OWN_NAME, "StackName": STACK})
    cloud.change_set(changes=LAUNCH_TEMPLATE_CHANGED[ROOT_CS], by_stack=True)
    cloud.change_set(changes=LAUNCH_TEMPLATE_CHANGED[ROOT_CS])
    cloud.deleted()

    code = pipeline.plan_only(options())

    out, err = capsys.readouterr()
    assert code == Exit.OK == 0 and err == ""
    assert any(line.split()[:3] == ["modify", "LaunchTemplate", "AWS::EC2::LaunchTemplate"]
               for line in out.splitlines()), out
    assert cloud.calls.count("CreateChangeSet") == 1
    assert cloud.calls[-1] == "DeleteChangeSet"  # the adopted change set, by its Id


# -- 5. Ctrl-C, or no answer, before execute ---------------------------------------------------


def test_ctrl_c_at_the_prompt_deletes_the_change_set_and_exits_130(
        cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    cloud.planned(LAUNCH_TEMPLATE_CHANGED)
    cloud.deleted()
    prompts: list[str] = []

    def ctrl_c(prompt: str) -> str:
        prompts.append(prompt)
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "input", ctrl_c, raising=False)

    with pytest.raises(Interrupted) as interrupted:
        pipeline.deploy(options(interactive=True))

    assert interrupted.value.exit_code == Exit.INTERRUPTED == 130
    assert prompts == [f"Deploy {STACK} (dev) to {REGION}? [y/N] "]
    assert cloud.calls[-1] == "DeleteChangeSet" and "ExecuteChangeSet" not in cloud.calls


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_ctrl_c_at_the_prompt_is_one_line_and_exit_130_from_the_cli(
        cloud: Cloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def prepared(opts: Options, region: str, emit: Any, _waiter: Any = None,
                 **_: Any) -> Prepared:
        return Prepared(opts.target(region), emit, change_set_id=ROOT_CS)

    def ctrl_c(_prompt: str) -> str:
        raise KeyboardInterrupt

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "stdin", _Terminal())
    monkeypatch.setattr(pipeline, "prepare", prepared)
    monkeypatch.setattr(pipeline, "input", ctrl_c, raising=False)
    cloud.deleted()

    code = cli.main(["deploy", "--env", "dev", "--region", REGION])

    err = capsys.readouterr().err
    assert code == 130
    assert err.splitlines() == ["webstack deploy: interrupted before execute; change sets "
                                "deleted, nothing changed"]
    assert cloud.calls == ["DeleteChangeSet"]


def test_no_terminal_and_no_yes_refuses_with_exit_2_before_any_upload(
        cloud: Cloud, packaged: list[str]) -> None:
    cloud.stack("UPDATE_COMPLETE")
    cloud.deployed_template("# the previous root\n")

    with pytest.raises(UsageError) as refused:
        pipeline.deploy(options(interactive=False, yes=False))

    assert refused.value.exit_code == 2
    assert str(refused.value).startswith("refusing to deploy without confirmation: stdin is "
                                         "not a terminal")
    assert packaged == []
    assert "CreateChangeSet" not in cloud.calls and "ExecuteChangeSet" not in cloud.calls


# -- 6. Ctrl-C while the stack changes ---------------------------------------------------------


@pytest.mark.parametrize(("name", "reattach"), [
    (STACK, "webstack watch --env dev --region us-east-1"),
    ("shop-dev", "webstack watch --env dev --region us-east-1 --stack-name shop-dev"),
])
def test_ctrl_c_while_watching_leaves_the_stack_running_and_says_how_to_reattach(
        *, cloud: Cloud, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], name: str, reattach: str) -> None:
    def prepared(opts: Options, region: str, emit: Any, _waiter: Any = None,
                 **_: Any) -> Prepared:
        return Prepared(opts.target(region), emit, change_set_id=ROOT_CS)

    monkeypatch.setattr(pipeline, "prepare", prepared)
    cloud.executed(name)
    cloud.stack("UPDATE_IN_PROGRESS", name=name)
    cloud.events(name, event(0, name, "UPDATE_IN_PROGRESS", stack=name,
                             reason="User Initiated"))
    cloud.stack("UPDATE_IN_PROGRESS", name=name)  # the state named on the way out
    fake_time.interrupt = True  # Ctrl-C lands while the watcher waits for the next poll

    with pytest.raises(Interrupted) as interrupted:
        pipeline.deploy(options(stack_name=name, yes=True))

    assert interrupted.value.exit_code == 130
    assert str(interrupted.value) == (f"interrupted after execute; {name} goes on in us-east-1; "
                                      f"reattach with: {reattach}")
    out = capsys.readouterr().out.splitlines()
    assert f"interrupted; {name} goes on (UPDATE_IN_PROGRESS). Reattach with: {reattach}" in out
    assert out[-1].startswith(f"{name} (dev) in us-east-1: interrupted (UPDATE_IN_PROGRESS)")
    assert "DeleteChangeSet" not in cloud.calls


# -- 7. nothing to change ----------------------------------------------------------------------


# Nothing changes, so the outputs printed are those of the stack described first.
OUTPUTS = {"LoadBalancerUrl": "http://lb.example"}


def _no_change_set(cloud: Cloud) -> None:
    """The packaged root and the parameters equal the deployed ones: no change set at all."""
    cloud.stack("UPDATE_COMPLETE", outputs=OUTPUTS)
    cloud.deployed_template(ROOT_BODY)


def _change_set_refused(cloud: Cloud) -> None:
    """CreateChangeSet itself says so (older stacks, some regions): nothing to delete."""
    cloud.stack("UPDATE_COMPLETE", outputs=OUTPUTS)
    cloud.deployed_template("# the previous root\n")
    cloud.stack("UPDATE_COMPLETE")
    cloud.stubber.add_client_error("create_change_set", service_error_code="ValidationError",
                                   service_message="No updates are to be performed.")


def _settled(status: str, reason: str = "") -> Any:
    def queue(cloud: Cloud) -> None:
        cloud.stack("UPDATE_COMPLETE", outputs=OUTPUTS)
        cloud.deployed_template("# the previous root\n")
        cloud.stack("UPDATE_COMPLETE")
        cloud.create_change_set()
        cloud.change_set(status=status, reason=reason, by_stack=True)
        cloud.deleted()

    return queue


@pytest.mark.parametrize(("answer", "said", "deleted"), [
    pytest.param(_settled("FAILED", NO_CHANGES), "is up to date", 1, id="failed-no-changes"),
    pytest.param(_settled("FAILED", "No updates are to be performed."), "is up to date", 1,
                 id="failed-no-updates"),
    pytest.param(_settled("CREATE_COMPLETE"), "is up to date", 1, id="complete-but-empty"),
    pytest.param(_change_set_refused, "is up to date", 0, id="create-refused"),
    pytest.param(_no_change_set, "already runs this template set", 0, id="same-template"),
])
def test_nothing_to_change_exits_0_with_no_changes_and_leaves_no_change_set(
        *, cloud: Cloud, tmp_path: Path, capsys: pytest.CaptureFixture[str], answer: Any,
        said: str, deleted: int) -> None:
    answer(cloud)
    outputs = tmp_path / "outputs.json"

    # No --yes and no terminal: when webstack itself sees nothing would change, nothing is
    # uploaded and there is nothing to confirm. When only CloudFormation can tell (a change
    # set), the templates are uploaded first, which an unattended run must have said --yes to.
    unattended_ok = answer is _no_change_set
    code = pipeline.deploy(options(outputs_file=str(outputs), yes=not unattended_ok))

    out = capsys.readouterr().out
    assert code == Exit.OK == 0
    assert f"no changes: {STACK} {said}" in out
    assert json.loads(outputs.read_text()) == {STACK: OUTPUTS}
    assert "ExecuteChangeSet" not in cloud.calls
    assert cloud.calls.count("DeleteChangeSet") == deleted


def test_prepare_marks_a_failed_no_changes_change_set_and_deletes_it(cloud: Cloud) -> None:
    _settled("FAILED", NO_CHANGES)(cloud)
    lines: list[str] = []

    prepared = preparing.prepare(options(), REGION, lines.append)

    assert prepared.no_changes and prepared.change_set_id is None
    assert lines[-1] == f"no changes: {STACK} is up to date"
    assert cloud.calls[-1] == "DeleteChangeSet"


def test_rollback_complete_is_refused_and_points_at_recreate(cloud: Cloud,
                                                            packaged: list[str]) -> None:
    cloud.stack("ROLLBACK_COMPLETE")
    with pytest.raises(StackStateError) as refused:
        preparing.prepare(options(), REGION, [].append)
    assert refused.value.exit_code == Exit.USAGE
    assert "--recreate" in str(refused.value)
    assert "DeleteStack" not in cloud.calls and packaged == []


def test_recreate_never_deletes_a_prod_stack(cloud: Cloud, packaged: list[str]) -> None:
    cloud.stack("ROLLBACK_COMPLETE", name="webstack-prod", environment="prod")
    prod = Options(environment="prod", regions=[REGION], stack_name="webstack-prod",
                   recreate=True, rollback_triggers=False, today=TODAY)
    with pytest.raises(UsageError, match="--recreate never deletes it"):
        preparing.prepare(prod, REGION, [].append)
    assert "DeleteStack" not in cloud.calls


def test_rollback_triggers_are_the_stacks_own_alarms_at_most_five() -> None:
    """Updates pass the stack's alarms (found in nested stacks too) as rollback triggers."""
    cfn = boto3.client("cloudformation", region_name=REGION, aws_access_key_id="x",
                       aws_secret_access_key="x")
    cloudwatch = boto3.client("cloudwatch", region_name=REGION, aws_access_key_id="x",
                              aws_secret_access_key="x")
    monitoring = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}-Mon/0000-0009"
    names = [f"alarm-{i}" for i in range(6)]
    target = Options(environment="dev", regions=[REGION], stack_name=STACK).target(REGION)
    target.use_client("cloudformation", cfn).use_client("cloudwatch", cloudwatch)

    def summary(logical: str, kind: str, physical: str) -> dict[str, Any]:
        return {"LogicalResourceId": logical, "PhysicalResourceId": physical,
                "ResourceType": kind, "LastUpdatedTimestamp": T0,
                "ResourceStatus": "CREATE_COMPLETE"}

    with Stubber(cfn) as cfn_stub, Stubber(cloudwatch) as cw_stub:
        cfn_stub.add_response("list_stack_resources", {"StackResourceSummaries": [
            summary("MonitoringStack", "AWS::CloudFormation::Stack", monitoring)]},
            {"StackName": stack_id()})
        cfn_stub.add_response("list_stack_resources", {"StackResourceSummaries": [
            summary(name, "AWS::CloudWatch::Alarm", name) for name in names]},
            {"StackName": monitoring})
        cw_stub.add_response("describe_alarms", {"MetricAlarms": [
            {"AlarmName": name, "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"}
            for name in names]}, {"AlarmNames": names})
        triggers = preparing.rollback_triggers(target, {"StackId": stack_id()})
    assert triggers == [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"
                        for name in names[:5]]


def test_missing_credentials_are_one_line_naming_the_fix(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    aws.reset_sessions()
    code = cli.main(["outputs", "--env", "dev", "--region", REGION])
    err = capsys.readouterr().err
    assert code == 4
    assert err.count("\n") == 1
    assert "no AWS credentials; set AWS_PROFILE or run 'aws configure', or use --local" in err


def test_recreate_deletes_a_non_prod_rolled_back_stack_and_waits_until_it_is_gone(
        cloud: Cloud, fake_time: FakeTime) -> None:
    # What the failed create kept outside the stack: nothing, in its events.
    cloud.stubber.add_response("describe_stack_events", {"StackEvents": []},
                               {"StackName": stack_id()})
    cloud.stubber.add_response("delete_stack", {}, {"StackName": stack_id()})
    cloud.stubber.add_client_error(
        "describe_stacks", service_error_code="ValidationError",
        service_message=f"Stack with id {stack_id()} does not exist",
        expected_params={"StackName": stack_id()})
    lines: list[str] = []
    target = options().target(REGION)
    preparing.recreate(target, options(recreate=True),
                       {"StackId": stack_id(), "StackStatus": "ROLLBACK_COMPLETE"}, lines.append,
                       fake_time.waiter())
    assert lines[0] == ("--recreate: deleting webstack-dev (ROLLBACK_COMPLETE) before "
                        "creating it")
    assert "DeleteStack" in cloud.calls


def test_the_reattach_hint_names_everything_needed_to_find_the_stack_again(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    custom = Options(environment="dev", regions=[REGION], stack_name="shop-dev",
                     profile="sandbox", endpoint_url="https://cfn.example.test")
    assert custom.reattach(REGION) == (
        "webstack watch --env dev --region us-east-1 --stack-name shop-dev --profile sandbox "
        "--endpoint-url https://cfn.example.test")
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("WEBSTACK_STATE_DIR", str(state))
    (state / "local.json").write_text(json.dumps({
        "pid": 1, "port": 5000, "url": "http://localhost:5000", "started": "now"}))
    local = Options(environment="dev", regions=[REGION], stack_name=STACK,
                    endpoint_url="http://127.0.0.1:5000")
    assert local.reattach(REGION) == (
        "webstack watch --env dev --region us-east-1 --local")
    # Another server on the loopback is not the one --local reaches: named by its URL (a
    # hint with --local destroyed a healthy stack on the state directory's endpoint).
    other = Options(environment="dev", regions=[REGION], stack_name=STACK,
                    endpoint_url="http://localhost:5999")
    assert other.reattach(REGION) == (
        "webstack watch --env dev --region us-east-1 --endpoint-url http://localhost:5999")


def test_recreate_without_a_terminal_or_yes_deletes_nothing(cloud: Cloud,
                                                            packaged: list[str]) -> None:
    cloud.stack("ROLLBACK_COMPLETE")
    with pytest.raises(UsageError, match="refusing to deploy without confirmation"):
        pipeline.deploy(options(recreate=True, overrides={"CostCenter": "CC-1234"}))
    assert "DeleteStack" not in cloud.calls and packaged == []



@pytest.mark.parametrize("service", ["cloudformation", "s3", "ec2", "rds", "logs", "sts"])
def test_the_models_read_as_plain_dicts_are_botocores_own_in_the_same_order(service: str) -> None:
    """The clients' loader reads botocore's model files without an OrderedDict per object
    (aws.PlainJSONFiles): what a client is built from must be exactly what botocore reads."""
    import json

    from botocore.exceptions import DataNotFoundError
    from botocore.loaders import create_loader

    from scripts.deploy.aws import PlainJSONFiles

    theirs, ours = create_loader(None), create_loader(None)
    ours.file_loader = PlainJSONFiles()
    for kind in ("service-2", "paginators-1", "waiters-2", "endpoint-rule-set-1"):
        try:
            expected = json.dumps(theirs.load_service_model(service, kind))
        except DataNotFoundError:
            with pytest.raises(DataNotFoundError):
                ours.load_service_model(service, kind)
            continue
        assert json.dumps(ours.load_service_model(service, kind)) == expected, kind
    for name in ("endpoints", "partitions", "_retry"):
        assert json.dumps(ours.load_data(name)) == json.dumps(theirs.load_data(name)), name
