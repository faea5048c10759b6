"""What a person reads while a stack changes: state lines in a log, a live view on a terminal,
every event in a file."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from scripts import cli
from scripts.deploy.events import StackEvent
from scripts.deploy.progress import LINE_WIDTH, EventLog, LiveView, StateLines, fit, log_path

pytest_plugins = ["local_endpoint"]

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
STACK = "AWS::CloudFormation::Stack"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LONG = "The DB instance class db.m6i.huge is not supported for PostgreSQL 13.23 " * 3


def event(second: int, path: tuple[str, ...], logical: str, status: str, *,
          type_: str = STACK, reason: str = "") -> StackEvent:
    name = "webstack-dev" if not path else f"webstack-dev-{path[-1]}-X"
    return StackEvent(T0 + timedelta(seconds=second), path, name, logical, type_, status,
                      reason, f"{path}-{logical}-{status}-{second}")


def failed_create() -> list[StackEvent]:
    """A root with a database child whose instance fails; the endpoint reports it twice."""
    db = ("DatabaseStack",)
    return [
        event(0, (), "webstack-dev", "CREATE_IN_PROGRESS", reason="User Initiated"),
        event(1, (), "DatabaseStack", "CREATE_IN_PROGRESS"),
        event(2, db, "webstack-dev-DatabaseStack-X", "CREATE_IN_PROGRESS"),
        event(3, db, "Database", "CREATE_IN_PROGRESS", type_="AWS::RDS::DBInstance"),
        event(4, db, "Database", "CREATE_FAILED", type_="AWS::RDS::DBInstance", reason=LONG),
        event(5, db, "Database", "CREATE_FAILED", type_="AWS::RDS::DBInstance", reason=LONG),
        event(6, db, "Subnets", "CREATE_FAILED", type_="AWS::RDS::DBSubnetGroup",
              reason="Resource creation cancelled"),
        event(7, db, "webstack-dev-DatabaseStack-X", "ROLLBACK_IN_PROGRESS",
              reason="The following resource(s) failed to create: [Database]."),
        event(8, (), "DatabaseStack", "CREATE_FAILED",
              reason="Embedded stack arn:... was not successfully created"),
        event(9, db, "webstack-dev-DatabaseStack-X", "ROLLBACK_COMPLETE"),
        event(10, (), "webstack-dev", "ROLLBACK_IN_PROGRESS"),
        event(75, (), "webstack-dev", "ROLLBACK_COMPLETE"),
    ]


def test_state_lines_say_each_stack_change_once_and_each_real_failure_once() -> None:
    lines: list[str] = []
    shown = StateLines(lines.append, {(): 1, ("DatabaseStack",): 2})
    for e in failed_create():
        shown.event(e)

    assert [line.split()[1:3] for line in lines] == [
        ["webstack-dev", "CREATE_IN_PROGRESS"],
        ["DatabaseStack", "CREATE_IN_PROGRESS"],
        ["DatabaseStack/Database", "CREATE_FAILED:"],
        ["DatabaseStack", "ROLLBACK_IN_PROGRESS"],
        ["DatabaseStack", "ROLLBACK_COMPLETE"],
        ["webstack-dev", "ROLLBACK_IN_PROGRESS"],
        ["webstack-dev", "ROLLBACK_COMPLETE"],
    ]
    assert all(len(line) <= LINE_WIDTH for line in lines), lines
    assert lines[2].endswith("…")  # the long reason is cut here; the summary gives it whole
    assert lines[-1].startswith(" 1:15 ")  # elapsed since the operation's first event
    assert lines[1].endswith("0/2 resources")  # done of the total the operation touches
    assert lines[4].endswith("2/2 resources")  # Database failed, Subnets cancelled: settled


def test_without_a_total_the_count_says_so_instead_of_counting_what_it_has_seen() -> None:
    lines: list[str] = []
    shown = StateLines(lines.append)
    for e in failed_create()[:3]:  # the database stack starts; none of its resources yet
        shown.event(e)
    shown.event(event(3, ("DatabaseStack",), "Subnets", "CREATE_COMPLETE",
                      type_="AWS::RDS::DBSubnetGroup"))
    shown.event(event(4, ("DatabaseStack",), "webstack-dev-DatabaseStack-X", "CREATE_COMPLETE"))
    assert lines[-1].endswith(" 1/? resources"), lines  # was 1/1: done of those seen


def test_totals_come_from_the_change_set_and_for_a_created_child_from_its_template() -> None:
    from scripts.deploy.changeset import Change
    from scripts.deploy.totals import built_children, expected

    created = [Change("Add", (), "NetworkStack", STACK), Change("Add", (), "MonitoringStack",
                                                                  STACK)]
    dev = built_children("dev", "us-east-1", {"CostCenter": "CC-1"})
    assert expected(created, dev) == {(): 2, ("NetworkStack",): 27, ("MonitoringStack",): 7}
    # a Condition that holds adds its resource: NotifyByEmail subscribes the address
    emailed = built_children("dev", "us-east-1", {"AlarmEmail": "ops@example.com"})
    assert expected(created, emailed)[("MonitoringStack",)] == 8
    # an update counts what its nested change sets list, whatever the templates hold
    updated = [Change("Modify", (), "NetworkStack", STACK, "False"),
               Change("Modify", ("NetworkStack",), "Vpc", "AWS::EC2::VPC", "False"),
               Change("Add", ("NetworkStack",), "NatGateway1", "AWS::EC2::NatGateway")]
    assert expected(updated, dev) == {(): 1, ("NetworkStack",): 2}
    # a child build/ does not describe has no total rather than a wrong one
    assert expected([Change("Add", (), "NoSuchStack", STACK)], dev) == {(): 1}


def test_fit_keeps_short_lines_and_cuts_long_ones_to_the_width() -> None:
    assert fit("short") == "short"
    assert fit("x" * 200, 20) == "x" * 19 + "…"


def test_the_live_view_keeps_every_line_within_the_terminal_and_colours_only_when_asked(
) -> None:
    for color in (False, True):
        screen = io.StringIO()
        view = LiveView(screen, color=color, width=60)
        for e in failed_create():
            view.event(e)
        view.close()
        drawn = ANSI.sub("", screen.getvalue()).replace("\r", "\n").splitlines()
        assert drawn and all(len(line) <= 60 for line in drawn), drawn
        assert any("DatabaseStack" in line and "ROLLBACK_COMPLETE" in line for line in drawn)
        assert ("\x1b[31m" in screen.getvalue() or "\x1b[1;31m" in screen.getvalue()) == color
        # the failure is printed above the live lines once, however often it was reported
        assert sum("Database CREATE_FAILED" in line for line in drawn) == 1, drawn


def test_the_event_log_keeps_every_event_in_full_and_never_fails_the_watch(
        tmp_path: Path) -> None:
    log = EventLog(log_path(tmp_path, "webstack-dev", "us-east-1", T0))
    for e in failed_create():
        log.event(e)
    log.close()
    written = log.path.read_text(encoding="utf-8").splitlines()
    assert log.path.parent == tmp_path / "events"
    assert len(written) == len(failed_create())
    assert sum(LONG.strip() in line for line in written) == 2  # nothing cut, nothing merged
    assert log.note == f"every event: {log.path}"

    (tmp_path / "blocked").write_text("a file where the folder should be")
    blocked = EventLog(tmp_path / "blocked" / "events" / "x.log")
    blocked.event(failed_create()[0])
    blocked.close()
    assert blocked.note.startswith("events not logged (")


def test_a_path_on_screen_is_read_from_here_or_home_else_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from scripts.paths import display

    log = tmp_path / "state" / "events" / "x.log"
    monkeypatch.chdir(tmp_path)
    assert display(log) == "state/events/x.log"
    monkeypatch.chdir("/")
    monkeypatch.setenv("HOME", str(tmp_path / "state"))
    assert display(log) == "~/events/x.log"
    monkeypatch.setenv("HOME", "/nonexistent")
    assert display(log) == str(log)


@pytest.fixture
def webstack(local_endpoint: str, capsys: pytest.CaptureFixture[str]
             ) -> Callable[..., tuple[int, str, str]]:
    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main([*argv, "--endpoint-url", local_endpoint])
        out, err = capsys.readouterr()
        return code, out, err

    return run


# A create of dev without a terminal, as a CI log shows it: every line of it, and how wide
# (the budget: at most about 40 lines, each within 100 columns).
CREATE_BUDGET = 40  # preflight and package 1, plan 8, progress 17, outputs 13, result 1
PROGRESS_BUDGET = 17  # each of 8 stacks in and out of progress, the log's path
WIDTH = 100


def test_a_create_of_dev_without_a_terminal_fits_the_line_budget_and_logs_every_event(
        webstack: Callable[..., tuple[int, str, str]], local_endpoint: str) -> None:
    from templates_src.database_logs import MONITORING_LOG_GROUP

    # A first stack set in the account: none kept RDS's monitoring log group behind (a
    # destroyed one did, in this session's endpoint, and a create says it uses that one).
    logs = boto3.client("logs", endpoint_url=local_endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")
    if logs.describe_log_groups(logGroupNamePrefix=MONITORING_LOG_GROUP)["logGroups"]:
        logs.delete_log_group(logGroupName=MONITORING_LOG_GROUP)
    code, out, err = webstack("deploy", "--env", "dev", "--region", "us-east-1", "--yes",
                              "--stack-name", "progress-create", "--param",
                              "CostCenter=CC-1234")
    assert code == 0, out + err
    lines = out.splitlines()
    outputs = next(i for i, line in enumerate(lines)
                   if line.startswith("outputs of progress-create (written to "))
    plan = next(i for i, line in enumerate(lines) if line.startswith("plan: "))
    progress = lines[plan + 1:outputs]
    assert len(lines) <= CREATE_BUDGET, f"{len(lines)} lines:\n{out}"
    assert len(progress) <= PROGRESS_BUDGET, "\n".join(progress)
    assert lines[0].startswith("preflight ok; packaged 7 child templates in "), lines[0]
    # every line fits, but what is printed whole: an output's value, a path
    assert [line for line in lines if len(line) > WIDTH and not line.startswith("  ")
            and line not in (progress[-1], lines[outputs])] == []
    assert "\x1b[" not in out  # no terminal, no colour
    assert progress[-1].startswith("every event: ")
    assert lines[-1].startswith("progress-create (dev) in us-east-1: create complete")

    log = Path(progress[-1].removeprefix("every event: "))
    logged = log.read_text(encoding="utf-8")
    cfn = boto3.client("cloudformation", endpoint_url=local_endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    stacks = [s for page in cfn.get_paginator("describe_stacks").paginate()  # the endpoint is
              for s in page["Stacks"] if s["StackName"].startswith("progress-create")]  # shared
    assert len(stacks) == 8
    resources = [r["LogicalResourceId"] for s in stacks for r in cfn.list_stack_resources(
        StackName=s["StackId"])["StackResourceSummaries"]
        if r["LogicalResourceId"]]  # moto lists a few resources it does not model, unnamed
    assert len(resources) > 50
    # each stack ends with all of its resources done, of a total known from its first line
    made: dict[str, set[str]] = {}
    for path, logical_id in re.findall(r"^\S+ \S+ (\S+) +CREATE_COMPLETE +\S+ +(\S+)$",
                                       logged, re.MULTILINE):
        label = "progress-create" if path == "root" else path.removeprefix("root/")
        made.setdefault(label, set()).add(logical_id)
    assert len(made) == 8
    for label, created in made.items():
        created -= {s["StackName"] for s in stacks}  # the stack's own event
        states = [line.split()[2:] for line in progress if line.split()[1:2] == [label]]
        assert states == [["CREATE_IN_PROGRESS", f"0/{len(created)}", "resources"],
                          ["CREATE_COMPLETE", f"{len(created)}/{len(created)}", "resources"]
                          ], label

    code, out, err = webstack("deploy", "--env", "dev", "--region", "us-east-1", "--yes",
                              "--stack-name", "progress-create", "--param",
                              "CostCenter=CC-4321", "--verbose")
    assert code == 0, out + err
    # --verbose: every event as a line of its own, as the log has it
    assert re.search(r"^\d\d:\d\d:\d\d root/StorageStack +UPDATE_COMPLETE +AWS::S3::Bucket "
                     r"+AppBucket$", out, re.MULTILINE), out


EVENT_LINE = re.compile(r"^\d\d:\d\d:\d\d root")  # one CloudFormation event, as --verbose shows


def test_recreate_and_destroy_wait_as_a_deploy_does_one_line_per_stack_state(
        webstack: Callable[..., tuple[int, str, str]]) -> None:
    from scripts.local import endpoint as local

    deploy = ("deploy", "--env", "dev", "--region", "us-east-1", "--yes", "--stack-name",
              "progress-again", "--param", "CostCenter=CC-1234")
    local.inject_failure("Database", "create", "Cannot find version", stack="progress-again")
    try:
        code, out, err = webstack(*deploy)
    finally:
        local.clear_failures()
    assert code == 1, out + err

    code, out, err = webstack(*deploy, "--recreate")
    assert code == 0, out + err
    lines = out.splitlines()
    deleting = lines.index("--recreate: deleting progress-again (ROLLBACK_COMPLETE) before "
                           "creating it")
    waited = lines[deleting + 1:next(i for i, line in enumerate(lines) if i > deleting
                                     and line.startswith("every event: ")) + 1]
    assert [line.split()[1:3] for line in waited[:2]] == [
        ["progress-again", "DELETE_IN_PROGRESS"], ["progress-again", "DELETE_COMPLETE"]], waited
    assert not [line for line in lines if EVENT_LINE.match(line)], out

    code, out, err = webstack("destroy", "--env", "dev", "--region", "us-east-1", "--yes",
                              "--stack-name", "progress-again")
    assert code == 0, out + err
    lines = out.splitlines()
    assert not [line for line in lines if EVENT_LINE.match(line)], out
    states = [line.split()[1:3] for line in lines if re.match(r"^ *\d+:\d\d ", line)]
    assert states == [["progress-again", "DELETE_IN_PROGRESS"],
                      ["progress-again", "DELETE_COMPLETE"]], out
    assert sum(line.startswith("every event: ") for line in lines) == 1

    code, out, err = webstack(*deploy)
    assert code == 0, out + err
    code, out, err = webstack("destroy", "--env", "dev", "--region", "us-east-1", "--yes",
                              "--stack-name", "progress-again", "--verbose")
    assert code == 0, out + err
    assert [line for line in out.splitlines() if EVENT_LINE.match(line)], out
