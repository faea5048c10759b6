"""Issue 19 (I): a CreateChangeSet whose answer is lost, against the local endpoint.

The first CreateChangeSet of a run reaches the endpoint, which makes the change set (and, for a
new stack, the REVIEW_IN_PROGRESS stack); its answer is then replaced by HTTP 500
InternalFailure, or by a read timeout. botocore's own standard retry sends the request again,
and the endpoint answers AlreadyExistsException, as CloudFormation does (the shim's gap
``duplicate_change_set_name``). The run adopts its own change set and goes on. Each test
asserts the exit code, stderr, and the endpoint's state before and after
(``test_hostile.snapshot``).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

import botocore.endpoint
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from botocore.httpsession import URLLib3Session
from test_hostile import changed, client, run, snapshot

from scripts.deploy import aws

pytestmark = pytest.mark.usefixtures("local_endpoint")

REGION = "us-west-2"
COST = "CostCenter=CC-1234"
INTERNAL_FAILURE = b"""<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <Error><Type>Receiver</Type><Code>InternalFailure</Code>
    <Message>We encountered an internal error. Please try again.</Message></Error>
  <RequestId>00000000-0000-0000-0000-000000000500</RequestId>
</ErrorResponse>"""


class _Body:
    """What AWSResponse reads an answer's body from."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


class LostAnswer:
    """Every CloudFormation client of the run loses the answer to the first CreateChangeSet
    (after the endpoint did it), as HTTP 500 or a read timeout; ``every``: the answer to each
    attempt is a 500. ``sent`` lists the ChangeSetName of every attempt, ``delays`` the waits
    botocore's retry asked for (recorded, not slept)."""

    def __init__(self, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.how = how
        self.sent: list[str] = []
        self.delays: list[float] = []
        self._session = URLLib3Session()
        stock = aws.make_client

        def make(service: str, *args: Any, **kwargs: Any) -> Any:
            made = stock(service, *args, **kwargs)
            if service == "cloudformation":
                made.meta.events.register_first(
                    "before-send.cloudformation.CreateChangeSet", self._send)
            return made

        monkeypatch.setattr(aws, "make_client", make)
        monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=self.delays.append))

    def _send(self, request: Any, **_: Any) -> AWSResponse | None:
        body = request.body if isinstance(request.body, str) else request.body.decode()
        self.sent.append(parse_qs(body)["ChangeSetName"][0])
        if len(self.sent) > 1 and self.how != "every":
            return None  # the retry goes out as botocore sends it
        self._session.send(request)  # the endpoint makes the change set; its answer is lost
        if self.how == "timeout":
            raise ReadTimeoutError(endpoint_url=request.url)
        return AWSResponse(request.url, 500, {"Content-Type": "text/xml"},
                           _Body(INTERNAL_FAILURE))


def _review_stacks(endpoint: str) -> list[str]:
    cfn = client(endpoint, "cloudformation", REGION)
    return [s["StackName"] for s in cfn.list_stacks()["StackSummaries"]
            if s["StackStatus"] == "REVIEW_IN_PROGRESS"]


@pytest.mark.parametrize("how", ["500", "timeout"])
def test_a_plan_of_a_new_stack_whose_create_answer_was_lost_plans_and_leaves_nothing(
        how: str, local_endpoint: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """It was exit 2 ('was created by another deploy meanwhile'), leaving the run's own
    REVIEW_IN_PROGRESS stack and change set behind."""
    stack = f"lost-plan-{how}"
    lost = LostAnswer(how, monkeypatch)
    before = snapshot(local_endpoint)

    code, out, err = run(["plan", "--env", "dev", "--region", REGION, "--stack-name", stack,
                          "--param", COST, "--endpoint-url", local_endpoint],
                         monkeypatch, capsys)

    assert (code, err) == (0, ""), (code, out[-1500:], err)
    assert any(line.split()[:2] == ["add", "NetworkStack"] for line in out.splitlines()), out
    assert len(lost.sent) == 2 and lost.sent[0] == lost.sent[1]  # one request, sent again
    assert len(lost.delays) == 1
    # A plan uploads the templates it plans (the artifacts bucket); nothing else moves.
    moved = {kind: delta for kind, delta in changed(before, snapshot(local_endpoint)).items()
             if kind != "buckets"}
    assert moved == {}, f"the endpoint changed: {moved}"
    assert stack not in _review_stacks(local_endpoint)


def test_a_deploy_whose_create_answer_was_lost_executes_its_own_change_set(
        local_endpoint: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    stack = "lost-deploy"
    lost = LostAnswer("500", monkeypatch)
    argv = ["--env", "dev", "--region", REGION, "--stack-name", stack,
            "--endpoint-url", local_endpoint]

    code, out, err = run(["deploy", *argv, "--yes", "--param", COST], monkeypatch, capsys)

    assert (code, err) == (0, ""), (code, out[-1500:], err)
    cfn = client(local_endpoint, "cloudformation", REGION)
    assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    assert [(s["ChangeSetName"], s["ExecutionStatus"]) for s in
            cfn.list_change_sets(StackName=stack)["Summaries"]] == [
        (lost.sent[0], "EXECUTE_COMPLETE")]
    assert lost.sent == [lost.sent[0]] * 2
    code, out, err = run(["destroy", *argv, "--yes"], monkeypatch, capsys)
    assert (code, err) == (0, ""), (code, out[-1500:], err)


def test_a_create_whose_every_answer_was_lost_is_one_line_and_leaves_nothing(
        local_endpoint: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """botocore gives up (the endpoint's two attempts): the change set the first one made is
    found by its name, and it and its REVIEW_IN_PROGRESS stack are deleted."""
    stack = "lost-every"
    lost = LostAnswer("every", monkeypatch)
    before = snapshot(local_endpoint)

    code, out, err = run(["plan", "--env", "dev", "--region", REGION, "--stack-name", stack,
                          "--param", COST, "--endpoint-url", local_endpoint],
                         monkeypatch, capsys)

    lines = err.strip().splitlines()
    assert code == 4, (code, out[-1500:], err)
    assert len(lines) == 1 and "failed CreateChangeSet (HTTP 500, InternalFailure" in lines[0]
    assert len(lost.sent) == 2
    moved = {kind: delta for kind, delta in changed(before, snapshot(local_endpoint)).items()
             if kind != "buckets"}
    assert moved == {}, f"the endpoint changed: {moved}"
