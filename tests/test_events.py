"""The watcher against a stubbed CloudFormation client: what a user sees while a deploy runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from scripts.deploy.events import StackEvent, Watcher, WatchResult, root_causes, summary
from scripts.deploy.waiting import Waiter
from scripts.errors import UsageError

ACCOUNT = "arn:aws:cloudformation:us-east-1:123456789012:stack"
ROOT = "webstack-dev"
ROOT_ID = f"{ACCOUNT}/{ROOT}/00000000-0000-0000-0000-000000000001"
NET = "webstack-dev-NetworkStack-1ABC"
NET_ID = f"{ACCOUNT}/{NET}/00000000-0000-0000-0000-000000000002"
DB = "webstack-dev-DatabaseStack-2DEF"
DB_ID = f"{ACCOUNT}/{DB}/00000000-0000-0000-0000-000000000003"
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
STACK = "AWS::CloudFormation::Stack"
EMBEDDED = (f"Embedded stack {DB_ID} was not successfully created: "
            "The following resource(s) failed to create: [Database].")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ev(second: float, logical: str, status: str, *, stack: str = ROOT_ID, type_: str = STACK,
       reason: str = "", physical: str = "") -> dict[str, Any]:
    """One StackEvents item; a stack's own event when logical is the stack's name."""
    name = stack.split("/")[1]
    if logical == name:
        physical = stack
    item = {
        "StackId": stack, "EventId": f"{logical}-{status}-{second}", "StackName": name,
        "LogicalResourceId": logical, "PhysicalResourceId": physical, "ResourceType": type_,
        "Timestamp": at(second), "ResourceStatus": status,
    }
    if reason:
        item["ResourceStatusReason"] = reason
    return item


class FakeTime:
    """A clock that only moves when the watcher sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


class Cloud:
    """Queues the calls one poll makes: describe_stacks, then events of each followed stack."""

    def __init__(self, cfn: Any, stubber: Stubber) -> None:
        self.cfn = cfn
        self.stubber = stubber
        self.resolved = False  # the first describe_stacks asks by name, later ones by id

    def _asked(self, asked: str | None) -> str:
        if asked is None:
            asked = ROOT_ID if self.resolved else ROOT
        self.resolved = True
        return asked

    def status(self, status: str, asked: str | None = None) -> None:
        self.stubber.add_response(
            "describe_stacks",
            {"Stacks": [{"StackName": ROOT, "StackId": ROOT_ID,
                         "CreationTime": T0, "StackStatus": status}]},
            {"StackName": self._asked(asked)},
        )

    def gone(self, asked: str | None = None, operation: str = "describe_stacks") -> None:
        if operation == "describe_stacks":
            asked = self._asked(asked)
        self.stubber.add_client_error(
            operation, service_error_code="ValidationError",
            service_message=f"Stack with id {asked} does not exist", http_status_code=400,
            expected_params={"StackName": asked},
        )

    def events(self, stack: str, *newest_first: dict[str, Any], token: str | None = None,
               asked_token: str | None = None) -> None:
        response: dict[str, Any] = {"StackEvents": list(newest_first)}
        if token:
            response["NextToken"] = token
        params = {"StackName": stack}
        if asked_token:
            params["NextToken"] = asked_token
        self.stubber.add_response("describe_stack_events", response, params)


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    client = boto3.client("cloudformation", region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield Cloud(client, stubber)
        stubber.assert_no_pending_responses()


@pytest.fixture
def cfn(cloud: Cloud) -> Any:
    return cloud.cfn


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def watch(cfn: Any, fake: FakeTime, lines: list[str], **kwargs: Any) -> WatchResult:
    kwargs.setdefault("since", T0)
    return Watcher(cfn, kwargs.pop("name", ROOT), emit=lines.append,
                   waiter=Waiter(sleep=fake.sleep, clock=fake.clock), **kwargs).run()


def columns(line: str) -> tuple[str, str, str, str, str]:
    time_, path, status, type_, logical = line.split()[:5]
    return time_, path, status, type_, logical


def test_create_streams_root_and_nested_events_in_order_once(cfn: Any, cloud: Cloud,
                                                             fake: FakeTime) -> None:
    cloud.status("CREATE_IN_PROGRESS")
    cloud.events(ROOT_ID,
                 ev(2, "NetworkStack", "CREATE_IN_PROGRESS", physical=NET_ID,
                    reason="Resource creation Initiated"),
                 ev(1, "NetworkStack", "CREATE_IN_PROGRESS"),
                 token="page2")
    cloud.events(ROOT_ID, ev(0, ROOT, "CREATE_IN_PROGRESS", reason="User Initiated"),
                 asked_token="page2")
    cloud.events(NET_ID,
                 ev(4, "Vpc", "CREATE_IN_PROGRESS", stack=NET_ID, type_="AWS::EC2::VPC"),
                 ev(3, NET, "CREATE_IN_PROGRESS", stack=NET_ID, reason="User Initiated"))
    # Second poll: the root's newest event was already seen, so its next page is never read.
    cloud.status("CREATE_IN_PROGRESS")
    cloud.events(ROOT_ID, ev(2, "NetworkStack", "CREATE_IN_PROGRESS", physical=NET_ID,
                             reason="Resource creation Initiated"), token="stale")
    cloud.events(NET_ID,
                 ev(5, "Vpc", "CREATE_COMPLETE", stack=NET_ID, type_="AWS::EC2::VPC"),
                 ev(4, "Vpc", "CREATE_IN_PROGRESS", stack=NET_ID, type_="AWS::EC2::VPC"))
    cloud.status("CREATE_COMPLETE")
    cloud.events(ROOT_ID,
                 ev(8, ROOT, "CREATE_COMPLETE"),
                 ev(7, "NetworkStack", "CREATE_COMPLETE", physical=NET_ID))
    cloud.events(NET_ID, ev(6, NET, "CREATE_COMPLETE", stack=NET_ID))

    lines: list[str] = []
    result = watch(cfn, fake, lines)

    assert [columns(line)[1:] for line in lines] == [
        ("root", "CREATE_IN_PROGRESS", STACK, ROOT),
        ("root", "CREATE_IN_PROGRESS", STACK, "NetworkStack"),
        ("root", "CREATE_IN_PROGRESS", STACK, "NetworkStack"),
        ("root/NetworkStack", "CREATE_IN_PROGRESS", STACK, NET),
        ("root/NetworkStack", "CREATE_IN_PROGRESS", "AWS::EC2::VPC", "Vpc"),
        ("root/NetworkStack", "CREATE_COMPLETE", "AWS::EC2::VPC", "Vpc"),
        ("root/NetworkStack", "CREATE_COMPLETE", STACK, NET),
        ("root", "CREATE_COMPLETE", STACK, "NetworkStack"),
        ("root", "CREATE_COMPLETE", STACK, ROOT),
    ]
    assert [columns(line)[0] for line in lines] == [
        "12:00:00", "12:00:01", "12:00:02", "12:00:03", "12:00:04",
        "12:00:05", "12:00:06", "12:00:07", "12:00:08"]
    assert lines[2].endswith("Resource creation Initiated")
    assert result.final_status == "CREATE_COMPLETE" and result.succeeded
    assert not result.timed_out and result.root_causes == []
    assert len({e.event_id for e in result.events}) == len(result.events) == 9
    assert summary(result) == ["webstack-dev: CREATE_COMPLETE in 2.0s"]


def test_failed_create_names_the_nested_root_cause(cfn: Any, cloud: Cloud, fake: FakeTime) -> None:
    db = {"stack": DB_ID, "type_": "AWS::RDS::DBInstance"}
    cloud.status("CREATE_IN_PROGRESS")
    cloud.events(ROOT_ID,
                 ev(1, "DatabaseStack", "CREATE_IN_PROGRESS", physical=DB_ID),
                 ev(0, ROOT, "CREATE_IN_PROGRESS", reason="User Initiated"))
    cloud.events(DB_ID,
                 ev(2, "Database", "CREATE_IN_PROGRESS", **db),
                 ev(1, DB, "CREATE_IN_PROGRESS", stack=DB_ID))
    cloud.status("ROLLBACK_IN_PROGRESS")
    cloud.events(ROOT_ID,
                 ev(9, "DatabaseStack", "DELETE_IN_PROGRESS", physical=DB_ID),
                 ev(8, ROOT, "ROLLBACK_IN_PROGRESS", reason="The following resource(s) failed "
                    "to create: [DatabaseStack]. Rollback requested by user."),
                 ev(7, "DatabaseStack", "CREATE_FAILED", physical=DB_ID, reason=EMBEDDED))
    cloud.events(DB_ID,
                 ev(6, DB, "ROLLBACK_COMPLETE", stack=DB_ID),
                 ev(5, "Database", "DELETE_COMPLETE", **db),
                 ev(4, DB, "ROLLBACK_IN_PROGRESS", stack=DB_ID, reason="The following "
                    "resource(s) failed to create: [Database]. Rollback requested by user."),
                 ev(3, "DatabaseSubnetGroup", "CREATE_FAILED", stack=DB_ID,
                    type_="AWS::RDS::DBSubnetGroup", reason="Resource creation cancelled"),
                 ev(3, "Database", "CREATE_FAILED", reason="Cannot find version 13.7 for "
                    "postgres (Service: Rds, Status Code: 400)", **db))
    # The parent deleting the child during rollback keeps the child followed.
    cloud.status("ROLLBACK_COMPLETE")
    cloud.events(ROOT_ID,
                 ev(12, ROOT, "ROLLBACK_COMPLETE"),
                 ev(11, "DatabaseStack", "DELETE_COMPLETE", physical=DB_ID))
    cloud.events(DB_ID, ev(10, DB, "DELETE_COMPLETE", stack=DB_ID))

    lines: list[str] = []
    result = watch(cfn, fake, lines)

    assert result.final_status == "ROLLBACK_COMPLETE" and not result.succeeded
    assert len(lines) == 15
    [cause] = result.root_causes
    assert (cause.path, cause.logical_id, cause.status) == (
        "root/DatabaseStack", "Database", "CREATE_FAILED")
    assert summary(result) == [
        "webstack-dev: ROLLBACK_COMPLETE in 2.0s",
        "root cause: root/DatabaseStack Database (AWS::RDS::DBInstance): "
        "Cannot find version 13.7 for postgres (Service: Rds, Status Code: 400)",
    ]


def test_update_rollback_failed_is_final_and_failed(cfn: Any, cloud: Cloud,
                                                    fake: FakeTime) -> None:
    cloud.status("UPDATE_ROLLBACK_FAILED")
    cloud.events(ROOT_ID)  # a local endpoint may record no events at all

    result = watch(cfn, fake, [])

    assert (result.final_status, result.succeeded, result.timed_out) == (
        "UPDATE_ROLLBACK_FAILED", False, False)
    assert fake.sleeps == []
    assert summary(result) == ["webstack-dev: UPDATE_ROLLBACK_FAILED in 0.0s"]


def test_cleanup_in_progress_is_not_final(cfn: Any, cloud: Cloud, fake: FakeTime) -> None:
    cloud.status("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
    cloud.events(ROOT_ID)
    cloud.status("UPDATE_COMPLETE")
    cloud.events(ROOT_ID)

    assert watch(cfn, fake, []).final_status == "UPDATE_COMPLETE"


def test_deadline_returns_timed_out(cfn: Any, cloud: Cloud, fake: FakeTime) -> None:
    for _ in range(5):
        cloud.status("UPDATE_IN_PROGRESS")
        cloud.events(ROOT_ID)

    result = watch(cfn, fake, [], timeout=5.0, poll_max=2.0)

    assert result.timed_out and not result.succeeded
    assert result.final_status == "UPDATE_IN_PROGRESS"
    assert fake.sleeps == [1.0, 1.5, 2.0, 0.5]
    assert result.elapsed == 5.0
    assert summary(result) == [
        "webstack-dev: still UPDATE_IN_PROGRESS after 5 s; reattach with webstack watch"]


def test_backoff_grows_to_poll_max_and_resets_on_new_events(cfn: Any, cloud: Cloud,
                                                             fake: FakeTime) -> None:
    busy = ev(1, "Vpc", "UPDATE_IN_PROGRESS", type_="AWS::EC2::VPC")
    cloud.status("UPDATE_IN_PROGRESS")
    cloud.events(ROOT_ID, busy)
    for _ in range(3):
        cloud.status("UPDATE_IN_PROGRESS")
        cloud.events(ROOT_ID, busy)
    cloud.status("UPDATE_IN_PROGRESS")
    cloud.events(ROOT_ID, ev(9, "Vpc", "UPDATE_COMPLETE", type_="AWS::EC2::VPC"), busy)
    cloud.status("UPDATE_IN_PROGRESS")
    cloud.events(ROOT_ID)
    cloud.status("UPDATE_COMPLETE")
    cloud.events(ROOT_ID, ev(12, ROOT, "UPDATE_COMPLETE"))

    lines: list[str] = []
    result = watch(cfn, fake, lines, poll_max=2.0)

    assert fake.sleeps == [1.0, 1.5, 2.0, 2.0, 1.0, 1.5]
    assert len(lines) == 3 and result.succeeded


def test_events_before_since_are_not_printed(cfn: Any, cloud: Cloud, fake: FakeTime) -> None:
    cloud.status("UPDATE_COMPLETE")
    cloud.events(ROOT_ID,
                 ev(20, ROOT, "UPDATE_COMPLETE"),
                 ev(10, ROOT, "UPDATE_IN_PROGRESS", reason="User Initiated"),
                 ev(-5, ROOT, "CREATE_COMPLETE"),
                 token="older")  # never read: the page already reached `since`

    lines: list[str] = []
    result = watch(cfn, fake, lines, since=at(10))

    assert [columns(line)[2] for line in lines] == ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"]
    assert result.succeeded


def test_without_since_the_latest_operation_is_shown(cfn: Any, cloud: Cloud,
                                                     fake: FakeTime) -> None:
    cloud.status("UPDATE_COMPLETE")
    cloud.events(ROOT_ID,
                 ev(20, ROOT, "UPDATE_COMPLETE"),
                 ev(10, ROOT, "UPDATE_IN_PROGRESS", reason="User Initiated"),
                 ev(5, ROOT, "CREATE_COMPLETE"),
                 token="older")

    lines: list[str] = []
    watch(cfn, fake, lines, since=None)

    assert [columns(line)[2] for line in lines] == ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"]


def test_a_deleted_stack_ends_a_delete_watch(cfn: Any, cloud: Cloud, fake: FakeTime) -> None:
    cloud.status("DELETE_IN_PROGRESS")
    cloud.events(ROOT_ID, ev(1, ROOT, "DELETE_IN_PROGRESS", reason="User Initiated"))
    cloud.gone()
    cloud.events(ROOT_ID, ev(3, ROOT, "DELETE_COMPLETE"),
                 ev(1, ROOT, "DELETE_IN_PROGRESS", reason="User Initiated"))

    lines: list[str] = []
    result = watch(cfn, fake, lines)

    assert result.final_status == "DELETE_COMPLETE" and result.succeeded
    assert [columns(line)[2] for line in lines] == ["DELETE_IN_PROGRESS", "DELETE_COMPLETE"]


def test_a_stack_already_gone_ends_a_delete_watch_at_once(cfn: Any, cloud: Cloud,
                                                          fake: FakeTime) -> None:
    cloud.gone()

    result = watch(cfn, fake, [], deleting=True)

    assert (result.final_status, result.succeeded, result.events) == ("DELETE_COMPLETE", True, [])


def test_watching_a_missing_stack_is_a_one_line_error(cfn: Any, cloud: Cloud,
                                                      fake: FakeTime) -> None:
    cloud.gone()

    with pytest.raises(UsageError, match="stack 'webstack-dev' does not exist"):
        watch(cfn, fake, [])


def test_completion_is_noticed_within_one_poll_interval(cfn: Any, cloud: Cloud,
                                                        fake: FakeTime) -> None:
    polled_at: list[float] = []
    cfn.meta.events.register("before-parameter-build.cloudformation.DescribeStacks",
                             lambda **_: polled_at.append(fake.clock()))
    for _ in range(6):
        cloud.status("UPDATE_IN_PROGRESS")
        cloud.events(ROOT_ID)
    cloud.status("UPDATE_COMPLETE")  # flipped at any moment after the previous poll
    cloud.events(ROOT_ID)

    result = watch(cfn, fake, [], poll_min=1.0, poll_max=2.0)

    last_seen_in_progress = polled_at[-2]
    assert result.final_status == "UPDATE_COMPLETE"
    assert 0 < result.elapsed - last_seen_in_progress <= 2.0


def test_a_nested_stack_unknown_to_the_endpoint_is_dropped(cfn: Any, cloud: Cloud,
                                                           fake: FakeTime) -> None:
    cloud.status("CREATE_IN_PROGRESS")
    cloud.events(ROOT_ID, ev(1, "NetworkStack", "CREATE_IN_PROGRESS", physical=NET_ID))
    cloud.gone(NET_ID, operation="describe_stack_events")
    cloud.status("CREATE_COMPLETE")
    cloud.events(ROOT_ID)

    assert watch(cfn, fake, []).succeeded


def failure(second: float, path: tuple[str, ...], logical: str, type_: str, reason: str, *,
            status: str = "CREATE_FAILED", stack_name: str = "") -> StackEvent:
    return StackEvent(at(second), path, stack_name or "s", logical, type_, status, reason,
                      f"{logical}-{second}")


def test_root_cause_prefers_the_child_even_when_the_parent_reason_is_unfamiliar() -> None:
    child = failure(1, ("AppStack",), "Role", "AWS::IAM::Role", "Access denied")
    parent = failure(2, (), "AppStack", STACK, "Nested stack failed for some reason")
    assert root_causes([parent, child]) == [child]


def test_root_cause_ignores_failures_during_rollback() -> None:
    real = failure(1, (), "Bucket", "AWS::S3::Bucket", "already exists")
    rollback = StackEvent(at(2), (), ROOT, ROOT, STACK, "ROLLBACK_IN_PROGRESS", "", "rb")
    cleanup = failure(3, (), "Queue", "AWS::SQS::Queue", "in use", status="DELETE_FAILED")
    assert root_causes([cleanup, rollback, real]) == [real]


def test_root_cause_of_a_failed_delete_is_every_resource_that_failed() -> None:
    first = failure(1, (), "Bucket", "AWS::S3::Bucket", "not empty", status="DELETE_FAILED")
    second = failure(2, ("NetworkStack",), "Vpc", "AWS::EC2::VPC", "has dependencies",
                     status="DELETE_FAILED")
    echo = failure(3, (), ROOT, STACK, "The following resource(s) failed to delete: [Bucket]",
                   status="DELETE_FAILED", stack_name=ROOT)
    assert root_causes([echo, second, first]) == [first, second]


def test_line_colours_status_only_when_asked() -> None:
    def event(status: str) -> StackEvent:
        return StackEvent(at(3661), ("DatabaseStack",), DB, "Database",
                          "AWS::RDS::DBInstance", status, "why", "e")

    plain = event("CREATE_FAILED").line()
    assert plain.split() == ["13:01:01", "root/DatabaseStack", "CREATE_FAILED",
                             "AWS::RDS::DBInstance", "Database", "why"]
    assert "\x1b[" not in plain
    assert "\x1b[31mUPDATE_ROLLBACK_FAILED\x1b[0m" in event("UPDATE_ROLLBACK_FAILED").line(True)
    assert "\x1b[32mUPDATE_COMPLETE\x1b[0m" in event("UPDATE_COMPLETE").line(True)
    assert "\x1b[33mROLLBACK_COMPLETE\x1b[0m" in event("ROLLBACK_COMPLETE").line(True)
    assert "\x1b[33mCREATE_IN_PROGRESS\x1b[0m" in event("CREATE_IN_PROGRESS").line(True)
    paris = datetime(2024, 5, 1, 16, 0, tzinfo=timezone(timedelta(hours=2)))
    local = StackEvent(paris, (), ROOT, "Vpc", "AWS::EC2::VPC", "CREATE_COMPLETE", "", "e")
    assert local.line().split()[0] == "14:00:00"


def test_by_default_no_wait_between_polls_exceeds_one_and_a_half_seconds(
        cfn: Any, cloud: Cloud, fake: FakeTime) -> None:
    """Completion latency: reported within the longest wait plus one round of calls (< 2 s)."""
    for _ in range(5):
        cloud.status("UPDATE_IN_PROGRESS")
        cloud.events(ROOT_ID)
    watch(cfn, fake, [], timeout=5.5)
    assert fake.sleeps[:4] == [1.0, 1.5, 1.5, 1.5]
    assert max(fake.sleeps) <= 1.5
