"""Issue 19: answers lost, cut off or incomplete, and plans kept or replaced.

A proxy in front of the local endpoint forwards every request and, for one API action, loses
the answer (the call ran; the client hears HTTP 500), blocks the call (it never reaches the
endpoint) or answers an XML document missing members AWS always sends. Each scenario asserts
the exit code, one stderr line, and what the endpoint holds after.
"""

from __future__ import annotations

import http.client
import http.server
import io
import json
import re
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_hostile import changed, client, run, snapshot

from scripts import cli

pytestmark = pytest.mark.usefixtures("local_endpoint")

COST = "CostCenter=CC-1234"
HTML_500 = b"<html><body>502 Bad Gateway</body></html>"
XMLNS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"


class Faults:
    """What the proxy does to requests of one action: ``lose`` (forward, answer 500),
    ``block`` (answer 500, forward nothing), ``partial`` (forward, answer ``partial``'s
    XML). ``times`` limits it to the first matching requests."""

    def __init__(self) -> None:
        self.rules: dict[str, tuple[str, int, str]] = {}
        self.partial = ""
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()

    def set(self, action: str, mode: str, times: int = 1000, *, after: str = "") -> None:
        """``after``: only once a request of that action was hit."""
        with self.lock:
            self.rules[action] = (mode, times, after)
            self.hits[action] = 0

    def take(self, action: str) -> str | None:
        with self.lock:
            mode, times, after = self.rules.get(action, ("", 0, ""))
            if not mode or self.hits[action] >= times or (after and not self.hits.get(after)):
                return None
            self.hits[action] += 1
            return mode

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()


@pytest.fixture(scope="module")
def proxy(local_endpoint: str) -> Iterator[tuple[str, Faults]]:
    faults = Faults()
    parsed = urllib.parse.urlparse(local_endpoint)
    upstream_host, upstream_port = parsed.hostname or "127.0.0.1", parsed.port or 80

    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            action = urllib.parse.parse_qs(body.decode("latin-1")).get("Action", [""])[0]
            mode = faults.take(action) if action else None
            if mode == "block":
                return self.reply(500, HTML_500, "text/html")
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in {"content-length", "connection", "expect"}}
            upstream = http.client.HTTPConnection(upstream_host, upstream_port, timeout=120)
            try:  # http.client, not urllib: urllib adds a form Content-Type S3 then misreads
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                answer = upstream.getresponse()
                status, data = answer.status, answer.read()
                kind = answer.getheader("Content-Type") or "text/xml"
            finally:
                upstream.close()
            if mode == "lose":
                return self.reply(500, HTML_500, "text/html")
            if mode == "partial":
                return self.reply(200, faults.partial.format(action=action).encode(), "text/xml")
            return self.reply(status, data, kind)

        def reply(self, status: int, data: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", faults
    server.shutdown()


@pytest.fixture
def faults(proxy: tuple[str, Faults]) -> Iterator[Faults]:
    yield proxy[1]
    proxy[1].clear()


def args(stack: str, url: str, region: str = "us-west-2") -> list[str]:
    return ["--env", "dev", "--region", region, "--stack-name", stack, "--endpoint-url", url]


def _status(url: str, stack: str, region: str = "us-west-2") -> str | None:
    found = [s for r, s_name, s in snapshot(url)["stacks"] if s_name == stack and r == region]
    return found[0] if found else None


def _ends(argv: list[str], monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str], *, code: int, pattern: str) -> str:
    """Run ``argv``; assert its exit code and one stderr line matching ``pattern``."""
    got, _, err = run(argv, monkeypatch, capsys)
    line = _one_line(err)
    assert got == code, err
    assert re.search(pattern, line), line
    return line


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "internal error" not in err and "Traceback" not in err
    return lines[0]


# -- ExecuteChangeSet: what happened is asked of the change set, not guessed ---------------------


def test_a_lost_execute_answer_follows_the_change_set_it_started(
        proxy: tuple[str, Faults], faults: Faults, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The endpoint ran ExecuteChangeSet and the answer was lost (HTTP 500, then the SDK's
    retry is refused): it was reported as "refused", exit 1, while the stack was created."""
    url, _ = proxy
    faults.set("ExecuteChangeSet", "lose")
    code, out, err = run(["deploy", *args("ta-lost", url), "--yes", "--param", COST],
                         monkeypatch, capsys)
    assert code == 0, err
    assert re.search(r"the answer to ExecuteChangeSet was lost \(.*HTTP 500.*\), but the "
                     r"change set is EXECUTE_\w+: following it", out), out
    assert _status(url, "ta-lost") == "CREATE_COMPLETE"
    assert faults.hits["ExecuteChangeSet"] >= 1


def test_an_execute_that_never_reached_the_endpoint_deletes_its_change_set_exit_4(
        proxy: tuple[str, Faults], faults: Faults, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = proxy
    before = snapshot(url)
    faults.set("ExecuteChangeSet", "block")
    _ends(["deploy", *args("ta-blocked", url), "--yes", "--param", COST], monkeypatch,
          capsys, code=4,
          pattern=r"ta-blocked in us-west-2: .*failed ExecuteChangeSet \(HTTP 500.*; the "
                  r"change set did not run and nothing changed: retry the deploy")
    assert changed(before, snapshot(url)) == {}


def test_an_execute_whose_outcome_cannot_be_asked_says_it_may_be_running(
        proxy: tuple[str, Faults], faults: Faults, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = proxy
    faults.set("ExecuteChangeSet", "lose")
    faults.set("DescribeChangeSet", "block", after="ExecuteChangeSet")  # the plan needs it
    _ends(["deploy", *args("ta-unknown", url), "--yes", "--param", COST], monkeypatch,
          capsys, code=4,
          pattern=r"the answer to ExecuteChangeSet was lost \(.*\); the change set may be "
                  r"running: check with 'webstack watch --env dev --region us-west-2 "
                  r"--stack-name ta-unknown --endpoint-url http://127\.0\.0\.1:\d+'")
    assert _status(url, "ta-unknown") == "CREATE_COMPLETE"  # it did run


# -- answers missing what AWS always sends ---------------------------------------------------


def _partial(faults: Faults, member: str) -> None:
    faults.partial = (f'<{{action}}Response xmlns="{XMLNS}"><{{action}}Result><{member}><member>'
                      "<StackName>x</StackName></member></" + member + "></{action}Result>"
                      "</{action}Response>")


def test_a_stack_without_its_status_is_exit_4_naming_what_is_missing(
        proxy: tuple[str, Faults], faults: Faults, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = proxy
    _partial(faults, "Stacks")
    faults.set("DescribeStacks", "partial")
    _ends(["outputs", *args("ta-any", url)], monkeypatch, capsys, code=4,
          pattern=r"http://127\.0\.0\.1:\d+ answered DescribeStacks without "
                  r"Stacks\[0\]\.\w+, which AWS always sends")


def test_events_without_timestamps_after_execute_are_exit_4_with_the_watch_command(
        proxy: tuple[str, Faults], faults: Faults, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = proxy
    _partial(faults, "StackEvents")
    faults.set("DescribeStackEvents", "partial")
    _ends(["deploy", *args("ta-events", url), "--yes", "--param", COST], monkeypatch,
          capsys, code=4,
          pattern=r"answered DescribeStackEvents without StackEvents\[0\]\.\w+, which AWS "
                  r"always sends.*the stack goes on: reattach with 'webstack watch --env dev "
                  r"--region us-west-2 --stack-name ta-events --endpoint-url ")


# -- plans: what is kept, what is left -------------------------------------------------------


def test_a_plain_plan_whose_change_set_cannot_be_deleted_says_so_exit_4(
        proxy: tuple[str, Faults], faults: Faults, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """It exited 0 and left the change set and its REVIEW_IN_PROGRESS stack."""
    url, _ = proxy
    faults.set("DeleteChangeSet", "block")
    code, out, err = run(["plan", *args("ta-plan", url), "--param", COST], monkeypatch, capsys)
    line = _one_line(err)
    assert code == 4, err
    assert "CREATE" in out or "create" in out
    assert re.search(r"the plan is above, but the change set arn:\S+ in us-west-2 could not be "
                     r"deleted \(.*\); delete it with 'AWS_ACCESS_KEY_ID=testing "
                     r"AWS_SECRET_ACCESS_KEY=testing aws cloudformation delete-change-set "
                     r"--change-set-name arn:\S+ --region us-west-2 --endpoint-url ", line), line
    cfn = client(url, "cloudformation", "us-west-2")
    cfn.delete_stack(StackName="ta-plan")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_declining_a_kept_plan_keeps_its_change_set_for_the_plan_file(
        local_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """'n' at `deploy --plan-file`'s prompt deleted the reviewed change set: the plan file
    could never run again."""
    plan_file = tmp_path / "p.json"
    base = args("ta-kept", local_endpoint)
    code, _, err = run(["plan", *base, "--param", COST, "--plan-file", str(plan_file)],
                       monkeypatch, capsys)
    assert code == 0, err
    before = snapshot(local_endpoint)
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    code = cli.main(["deploy", *base, "--plan-file", str(plan_file)])
    _, err = capsys.readouterr()
    line = _one_line(err)
    assert code == 2
    assert line == (f"webstack deploy: deploy cancelled; nothing was executed; nothing changed; "
                    f"the reviewed change set is kept: 'webstack deploy --plan-file {plan_file}'"
                    " runs it")
    assert changed(before, snapshot(local_endpoint)) == {}
    code, _, err = run(["deploy", *base, "--plan-file", str(plan_file), "--yes"],
                       monkeypatch, capsys)
    assert code == 0, err
    assert _status(local_endpoint, "ta-kept") == "CREATE_COMPLETE"


def test_a_plan_written_over_a_kept_plan_deletes_the_change_set_nothing_can_run(
        local_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    plan_file = tmp_path / "p.json"
    base = args("ta-replan", local_endpoint)
    code, _, err = run(["deploy", *base, "--yes", "--param", COST], monkeypatch, capsys)
    assert code == 0, err
    for email in ("a@example.com", "b@example.com"):
        code, out, err = run(["plan", *base, "--param", f"AlarmEmail={email}", "--plan-file",
                              str(plan_file)], monkeypatch, capsys)
        assert code == 0, err
    assert f"the plan {plan_file} held before is replaced: its change set was deleted" in out
    kept = json.loads(plan_file.read_text(encoding="utf-8"))["change_set_id"]
    held = [c for _, s, c, status in snapshot(local_endpoint)["change_sets"]
            if s == "ta-replan" and status == "AVAILABLE"]
    assert len(held) == 1 and kept.split("/")[1] == held[0], held
    client(local_endpoint, "cloudformation", "us-west-2").delete_stack(StackName="ta-replan")


# -- identity: webstack sets both the Environment tag and parameter --------------------------

TOPIC = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
WITH_PARAMETER = {"Parameters": {"Environment": {"Type": "String"}}, **TOPIC}


@pytest.mark.parametrize(("has", "verb"), [
    ("tag", ["destroy", "--yes"]), ("tag", ["deploy", "--yes", "--param", COST]),
    ("parameter", ["destroy", "--yes"]), ("parameter", ["deploy", "--yes", "--param", COST])],
    ids=lambda v: v if isinstance(v, str) else v[0])
def test_a_stack_with_only_one_environment_mark_is_not_taken_for_webstacks(
        has: str, verb: list[str], local_endpoint: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A stack tagged Environment=dev by hand (or with only the parameter) was updated by
    deploy and deleted by destroy."""
    from test_trust import refused

    cfn = client(local_endpoint, "cloudformation", "us-west-2")
    name = f"ta-one-{has}"
    if has == "tag":
        cfn.create_stack(StackName=name, TemplateBody=json.dumps(TOPIC),
                         Tags=[{"Key": "Environment", "Value": "dev"}])
    else:
        cfn.create_stack(StackName=name, TemplateBody=json.dumps(WITH_PARAMETER),
                         Parameters=[{"ParameterKey": "Environment", "ParameterValue": "dev"}])
    try:
        refused([verb[0], *args(name, local_endpoint), *verb[1:]], local_endpoint, monkeypatch,
                capsys, code=2, pattern=rf"stack {name} in us-west-2 names its Environment only "
                rf"in its {has} .*webstack sets both, so it did not make this stack")
    finally:
        cfn.delete_stack(StackName=name)


def test_a_foreign_stack_waiting_for_review_is_not_destroyed(
        local_endpoint: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Someone's untagged CREATE change set (a REVIEW_IN_PROGRESS stack) was deleted by
    `destroy --env dev`."""
    from test_trust import refused

    cfn = client(local_endpoint, "cloudformation", "us-west-2")
    made = cfn.create_change_set(StackName="ta-theirs", ChangeSetName="theirs",
                                 ChangeSetType="CREATE", TemplateBody=json.dumps(TOPIC))
    try:
        refused(["destroy", *args("ta-theirs", local_endpoint), "--yes"], local_endpoint,
                monkeypatch, capsys, code=2,
                pattern=r"stack ta-theirs in us-west-2 is REVIEW_IN_PROGRESS and neither it nor "
                r"its change sets name an Environment: webstack did not make it")
    finally:
        cfn.delete_change_set(ChangeSetName=made["Id"])
        cfn.delete_stack(StackName=made["StackId"])


# -- prod keeps its protection, however the deploy ended ---------------------------------------

ALLOW_ALL = json.dumps({"Statement": [{"Effect": "Allow", "Action": "Update:*",
                                       "Principal": "*", "Resource": "*"}]})


def test_a_prod_stack_left_unprotected_is_protected_by_a_no_op_deploy_and_by_watch(
        local_endpoint: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A prod deploy interrupted after execute ended without termination protection or stack
    policy, and neither `watch` nor a no-op redeploy ever set them."""
    from scripts.local.certificate import request_certificate

    cert = request_certificate(local_endpoint, "eu-west-1", "shop.example.com")
    base = ["--env", "prod", "--region", "eu-west-1", "--stack-name", "ta-prod",
            "--endpoint-url", local_endpoint]
    params = ["--param", COST, "--param", f"CertificateArn={cert}",
              "--param", "AlarmEmail=oncall@example.com"]
    cfn = client(local_endpoint, "cloudformation", "eu-west-1")

    def unprotect() -> None:
        cfn.update_termination_protection(StackName="ta-prod", EnableTerminationProtection=False)
        cfn.set_stack_policy(StackName="ta-prod", StackPolicyBody=ALLOW_ALL)

    def protected() -> bool:
        stack = cfn.describe_stacks(StackName="ta-prod")["Stacks"][0]
        policy = cfn.get_stack_policy(StackName="ta-prod").get("StackPolicyBody", "")
        return bool(stack["EnableTerminationProtection"]) and "Deny" in policy

    code, _, err = run(["deploy", *base, "--yes", *params], monkeypatch, capsys)
    assert code == 0, err
    assert protected()
    try:
        unprotect()
        code, out, err = run(["deploy", *base, "--yes", *params], monkeypatch, capsys)
        assert code == 0, err
        assert "no changes" in out and "protected: termination protection on" in out, out
        assert protected()
        unprotect()
        code, out, err = run(["watch", *base], monkeypatch, capsys)
        assert code == 0, err
        assert "protected: termination protection on" in out, out
        assert protected()
        code, out, err = run(["deploy", *base, "--yes", *params], monkeypatch, capsys)
        assert code == 0 and "protected:" not in out, out  # already protected: one read
    finally:
        cfn.update_termination_protection(StackName="ta-prod", EnableTerminationProtection=False)
        cfn.delete_stack(StackName="ta-prod")


def test_an_interrupt_while_recreate_deletes_does_not_say_nothing_changed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM after '--recreate: deleting' said "change sets deleted, nothing changed"
    while CloudFormation deleted the stack."""
    from types import SimpleNamespace

    from scripts.deploy import leftovers, prepare, progress
    from scripts.deploy.aws import Target
    from scripts.deploy.options import Options
    from scripts.deploy.waiting import Cancelled, Waiter
    from scripts.errors import WebstackError

    deleted: list[str] = []

    def delete_stack(**request: str) -> None:
        deleted.append(request["StackName"])

    cfn = SimpleNamespace(meta=SimpleNamespace(region_name="us-west-2"),
                          delete_stack=delete_stack)

    def interrupted(*_: Any, **__: Any) -> None:
        raise Cancelled("interrupted")

    monkeypatch.setattr(leftovers, "still_there", lambda *_: [])
    monkeypatch.setattr(progress, "watch", interrupted)
    target = Target("dev", "us-west-2", "ta-rc").use_client("cloudformation", cfn)
    options = Options(environment="dev", regions=["us-west-2"], stack_name="ta-rc")
    with pytest.raises(WebstackError) as raised:
        prepare.recreate(target, options, {"StackId": "arn:ta-rc", "StackStatus":
                                           "ROLLBACK_COMPLETE"}, lambda _: None, Waiter())
    assert deleted == ["arn:ta-rc"]
    assert raised.value.exit_code == 130
    assert str(raised.value) == (
        "interrupted while --recreate deletes ta-rc (ROLLBACK_COMPLETE): the delete goes on in "
        "CloudFormation and nothing new was created; wait for it with 'webstack watch --env dev "
        "--region us-west-2 --stack-name ta-rc', then deploy again")


def test_a_foreign_stack_in_one_region_is_refused_before_any_region_does_anything(
        local_endpoint: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """us-east-1 packaged and made its change set before us-west-2's prod stack refused."""
    from test_trust import refused

    cfn = client(local_endpoint, "cloudformation", "us-west-2")
    cfn.create_stack(StackName="ta-multi", TemplateBody=json.dumps(WITH_PARAMETER),
                     Tags=[{"Key": "Environment", "Value": "prod"}],
                     Parameters=[{"ParameterKey": "Environment", "ParameterValue": "prod"}])
    try:
        refused(["plan", "--env", "dev", "--region", "us-east-1", "--region", "us-west-2",
                 "--stack-name",
                 "ta-multi", "--endpoint-url", local_endpoint, "--param", COST],
                local_endpoint, monkeypatch, capsys, code=2,
                pattern=r"stack ta-multi in us-west-2 is a prod stack, not dev")
    finally:
        cfn.delete_stack(StackName="ta-multi")


def test_a_local_endpoint_gone_after_execute_does_not_promise_the_stack_goes_on(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """After 'webstack local down' mid-deploy the message said "the stack goes on: reattach"
    and the suggested watch started a new, empty endpoint."""
    from types import SimpleNamespace

    from botocore.exceptions import EndpointConnectionError

    from scripts.deploy import pipeline
    from scripts.deploy.options import Options
    from scripts.deploy.prepare import Prepared

    monkeypatch.setenv("WEBSTACK_STATE_DIR", str(tmp_path))  # no endpoint recorded as running
    url = "http://127.0.0.1:5999"

    def gone(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url=url)

    cfn = SimpleNamespace(
        meta=SimpleNamespace(region_name="us-west-2"), execute_change_set=lambda **_: None,
        describe_change_set=lambda **_: {"ExecutionStatus": "EXECUTE_IN_PROGRESS"},
        describe_stack_events=gone, describe_stacks=gone,
        get_paginator=lambda _: SimpleNamespace(paginate=gone))
    options = Options(environment="dev", regions=["us-west-2"], stack_name="ta-gone",
                      endpoint_url=url, yes=True, timeout=30)
    target = options.target("us-west-2").use_client("cloudformation", cfn)
    monkeypatch.setattr(Options, "target", lambda self, region: target)
    result = pipeline.execute(options, Prepared(target, lambda _: None, change_set_id="cs-1"))
    assert result.code == 4
    assert "the stack goes on" not in result.detail
    assert result.detail.endswith(
        "if the local endpoint was stopped, the stacks it held in memory went with it: start "
        "it with 'webstack local up', then deploy again; if it runs elsewhere, reattach with "
        "'webstack watch --env dev --region us-west-2 --stack-name ta-gone --endpoint-url "
        "http://127.0.0.1:5999'"), result.detail


@pytest.mark.parametrize(("status", "deletes"), [("REVIEW_IN_PROGRESS", True),
                                                 ("CREATE_IN_PROGRESS", False),
                                                 ("CREATE_COMPLETE", False)])
def test_discarding_a_create_change_set_deletes_only_the_empty_review_stack(
        status: str, deletes: bool) -> None:
    """A lost ExecuteChangeSet answer let discard delete a stack CloudFormation was
    creating."""
    from types import SimpleNamespace

    from scripts.deploy.aws import Target
    from scripts.deploy.prepare import Prepared, discard

    calls: list[str] = []
    cfn = SimpleNamespace(
        delete_change_set=lambda **_: calls.append("DeleteChangeSet"),
        describe_stacks=lambda **_: {"Stacks": [{"StackId": "arn:ta", "StackStatus": status}]},
        delete_stack=lambda **_: calls.append("DeleteStack"))
    target = Target("dev", "us-west-2", "ta-d").use_client("cloudformation", cfn)
    assert discard(Prepared(target, lambda _: None, change_set_id="cs-1",
                            change_set_type="CREATE")) is None
    assert calls == ["DeleteChangeSet", *(["DeleteStack"] if deletes else [])]

