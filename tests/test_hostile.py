"""The deployer used as a hostile new user would, against the local endpoint.

Every case of ``CASES`` runs one ``webstack`` command and asserts three things: the exit code,
exactly one line on stderr that says what is wrong, and the endpoint's state (stacks, change
sets, buckets and their objects, database instances) before and after: a refused command
changes nothing. (A snapshot is retaken only when the endpoint's request log grew since the
last one: its state moves by requests only.) Expectations are what real CloudFormation does;
a case that needs a fix of the local endpoint first is marked xfail(strict) with the gap it
waits for.

The cases share one deployed dev stack (``hx-dev`` in us-east-1) and one endpoint, so the module
costs one full deploy; the cases that need a process of their own (real Ctrl-C) follow the table.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from scripts import cli, paths
from scripts.deploy.aws import Target
from scripts.deploy.lock import target_lock
from scripts.deploy.validate import STACK_NAME_BUDGET, check_stack_name
from scripts.local import endpoint as local
from templates_src.environments import ENVIRONMENT_NAMES
from templates_src.stacks import CHILDREN

pytestmark = pytest.mark.usefixtures("local_endpoint")

REPO = Path(__file__).resolve().parent.parent
REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
STACK = "hx-dev"  # deployed once for the module, in us-east-1
FRESH = "hx-new"  # never deployed: every case against it must leave nothing behind
COST = "CostCenter=CC-1234"
State = dict[str, frozenset[Any]]


@functools.cache
def client(endpoint: str, service: str, region: str) -> Any:
    """One client per endpoint, service and region for the module: creating a boto3 client
    costs more than the calls a snapshot makes with it."""
    return boto3.client(service, endpoint_url=endpoint, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def snapshot(endpoint: str) -> State:
    """Everything a half-done command could leave on the endpoint, in every region we use."""
    stacks, change_sets, databases = set(), set(), set()
    for region in REGIONS:
        cfn = client(endpoint, "cloudformation", region)
        for page in cfn.get_paginator("list_stacks").paginate():
            for summary in page["StackSummaries"]:
                if summary["StackStatus"] == "DELETE_COMPLETE":
                    continue
                stacks.add((region, summary["StackName"], summary["StackStatus"]))
                for cs in cfn.list_change_sets(StackName=summary["StackId"]).get(
                        "Summaries", []):
                    change_sets.add((region, summary["StackName"], cs["ChangeSetName"],
                                     cs.get("ExecutionStatus")))
        rds = client(endpoint, "rds", region)
        databases |= {(region, d["DBInstanceIdentifier"])
                      for d in rds.describe_db_instances()["DBInstances"]}
    s3 = client(endpoint, "s3", "us-east-1")
    buckets = set()
    for bucket in s3.list_buckets()["Buckets"]:
        listed = s3.list_objects_v2(Bucket=bucket["Name"])
        buckets.add((bucket["Name"], listed.get("KeyCount", 0)))
    return {"stacks": frozenset(stacks), "change_sets": frozenset(change_sets),
            "buckets": frozenset(buckets), "databases": frozenset(databases)}


# The last snapshot taken and the size of the endpoint's request log right after it.
_last: dict[str, tuple[int, State]] = {}


def _requests_logged(endpoint: str) -> int | None:
    """How far ``endpoint``'s request log has grown (the server logs each request before it
    answers, so an unchanged size means no request reached it since); None when the state
    folder's log is not this endpoint's."""
    server = local.read_state()
    if server is None or server.url != endpoint:
        return None
    return local.log_file().stat().st_size


def current_state(endpoint: str) -> State:
    """The endpoint's state: the last snapshot while no request has reached the endpoint since
    it was taken (state moves only by requests), a fresh one otherwise."""
    seen = _last.get(endpoint)
    logged = _requests_logged(endpoint)
    if seen is not None and logged is not None and seen[0] == logged:
        return seen[1]
    return remembered_snapshot(endpoint)


def remembered_snapshot(endpoint: str) -> State:
    state = snapshot(endpoint)
    logged = _requests_logged(endpoint)
    if logged is not None:
        _last[endpoint] = (logged, state)
    return state


def changed(before: State, after: State) -> dict[str, Any]:
    return {kind: {"gone": sorted(before[kind] - after[kind]),
                   "new": sorted(after[kind] - before[kind])}
            for kind in before if before[kind] != after[kind]}


class NotATerminal(io.StringIO):
    def isatty(self) -> bool:
        return False


def run(argv: list[str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", NotATerminal(""))
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def deployed(local_endpoint: str) -> str:
    """hx-dev, deployed once: the existing stack the update cases aim at."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stdin", NotATerminal(""))
        code = cli.main(["deploy", "--env", "dev", "--region", "us-east-1", "--stack-name",
                         STACK, "--yes", "--param", COST, "--endpoint-url", local_endpoint])
    assert code == 0
    return local_endpoint


# -- the table -------------------------------------------------------------------------------

Setup = Callable[[Path, pytest.MonkeyPatch], None]


@dataclass(frozen=True)
class Case:
    """One hostile command: ``{url}`` and ``{tmp}`` in argv are filled in at run time."""

    id: str
    argv: tuple[str, ...]
    code: int
    error: str  # a regex the one stderr line must match
    setup: Setup | None = None
    marks: tuple[Any, ...] = ()
    allowed: frozenset[str] = field(default_factory=frozenset)  # state kinds that may move
    check: Callable[[Path], None] | None = None  # more to assert on the case's tmp folder


def deploy(*extra: str, stack: str = STACK, env: str = "dev",
           region: str = "us-east-1") -> tuple[str, ...]:
    return ("deploy", "--env", env, "--region", region, "--stack-name", stack,
            "--endpoint-url", "{url}", *extra)


def new(*extra: str, env: str = "dev", region: str = "us-west-2") -> tuple[str, ...]:
    return deploy(*extra, stack=FRESH, env=env, region=region)


def _write(name: str, data: bytes) -> Setup:
    def setup(tmp: Path, _patch: pytest.MonkeyPatch) -> None:
        (tmp / name).write_bytes(data)
    return setup


def _folder(name: str, mode: int | None = None) -> Setup:
    def setup(tmp: Path, _patch: pytest.MonkeyPatch) -> None:
        (tmp / name).mkdir()
        if mode is not None:
            (tmp / name).chmod(mode)
    return setup


def _build_copy(edit: Callable[[Path], None]) -> Setup:
    """A copy of build/ that cli and the deployer read instead of the real one."""
    def setup(tmp: Path, patch: pytest.MonkeyPatch) -> None:
        copy = tmp / "build"
        shutil.copytree(paths.BUILD_DIR, copy)
        edit(copy)
        patch.setattr(paths, "BUILD_DIR", copy)
        patch.setattr(cli, "BUILD_DIR", copy)
    return setup


def _stale_and_read_only(build: Path) -> None:
    (build / "network.yaml").write_text("# hand-edited\n", encoding="utf-8")
    (build / "storage.yaml").write_text("# hand-edited too\n", encoding="utf-8")
    (build / "storage.yaml").chmod(0o444)


def _stale_and_blocked(build: Path) -> None:
    (build / "network.yaml").write_text("# hand-edited\n", encoding="utf-8")
    (build / "storage.yaml").unlink()
    (build / "storage.yaml").mkdir()


def _untouched(build: Path) -> None:
    """Nothing of the refused build was written: the hand edit is still there, no leftovers."""
    assert (build / "network.yaml").read_text(encoding="utf-8") == "# hand-edited\n"
    assert sorted(p.name for p in build.iterdir() if p.name.startswith(".")) == []


def _held_lock(tmp: Path, patch: pytest.MonkeyPatch) -> None:
    """Another deploy of hx-dev holds the lock (a thread of this process, as a second
    process would: flock locks belong to the open file, not the process)."""
    endpoint = os.environ["HX_URL"]
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with target_lock(Target("dev", "us-east-1", STACK, None, endpoint), "deploy"):
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert holding.wait(10), "the other deploy could not take the lock"
    patch.setattr(_held_lock, "release", release, raising=False)
    patch.setattr(_held_lock, "holder", thread, raising=False)


LONG = "CC-" + "1" * 300
# Permissions do not bind root (containers often run tests as root): those cases need a user.
AS_ROOT = pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
ROOT_RULE = "the root template's rule DatabaseUsernameAllowed refuses"
NOT_TTY = "refusing to deploy without confirmation: stdin is not a terminal"

CASES = [
    # Parameter values the root template refuses: never reach a change set.
    Case("costcenter-300-digits-on-existing-stack",
         deploy("--yes", "--param", f"CostCenter={LONG}"),
         2, r"CostCenter='CC-1{34}\.\.\. \(303 characters\)' does not match.*CC- followed by"),
    Case("costcenter-with-a-space-new-stack", new("--yes", "--param", "CostCenter=CC 1234"),
         2, r"CostCenter='CC 1234' does not match the allowed pattern; expected CC- followed"),
    Case("costcenter-wrong-prefix", new("--yes", "--param", "CostCenter=XX-99"),
         2, r"CostCenter='XX-99' does not match"),
    Case("costcenter-empty-new-stack", new("--yes", "--param", "CostCenter="),
         2, r"CostCenter='' does not match"),
    Case("new-stack-without-costcenter", new("--yes"), 2, r"a new stack needs a cost center"),
    Case("alarm-email-without-domain", deploy("--yes", "--param", "AlarmEmail=ops@example"),
         2, r"AlarmEmail='ops@example' does not match.*an e-mail address"),
    Case("certificate-not-an-arn", deploy("--yes", "--param", "CertificateArn=my-cert"),
         2, r"CertificateArn='my-cert' does not match.*ACM certificate ARN"),
    Case("database-username-reserved-by-rule", deploy("--yes", "--param",
                                                     "DatabaseUsername=admin"),
         2, ROOT_RULE + r".*must not be postgres or admin"),
    Case("database-username-too-long", deploy("--yes", "--param", "DatabaseUsername=" + "u" * 64),
         2, r"DatabaseUsername=.* is 64 characters, longer than 63"),
    Case("database-username-starts-with-digit", deploy("--yes", "--param",
                                                      "DatabaseUsername=1st"),
         2, r"DatabaseUsername='1st' does not match.*a letter, then"),
    Case("deployment-date-month-13", deploy("--yes", "--param", "DeploymentDate=2020-13-01"),
         2, r"DeploymentDate='2020-13-01' does not match.*YYYY-MM-DD"),
    Case("environment-as-param", deploy("--yes", "--param", "Environment=prod"),
         2, r"--param Environment is not allowed; use --env"),
    Case("unknown-param-key-before-preflight", deploy("--yes", "--param", "Bogus=1"),
         2, r"--param Bogus is not a parameter of the root template; valid: AlarmEmail"),
    Case("param-without-equals", deploy("--yes", "--param", "CostCenter"),
         2, r"--param 'CostCenter' is not Key=Value"),
    Case("plan-refuses-a-bad-value-too", ("plan", "--env", "dev", "--region", "us-west-2",
                                          "--stack-name", FRESH, "--param", "CostCenter=1",
                                          "--endpoint-url", "{url}"),
         2, r"CostCenter='1' does not match"),
    # Stack names CloudFormation, RDS or a nested stack would refuse.
    Case("stack-name-underscore-bang", deploy("--yes", "--param", COST, stack="my_stack!"),
         2, r"--stack-name 'my_stack!' is not a stack name"),
    Case("stack-name-129-chars", deploy("--yes", "--param", COST, stack="s" * 129),
         2, r"has 129 characters; webstack allows 60"),
    Case("stack-name-61-chars-db-identifier", deploy("--yes", "--param", COST, stack="s" * 61),
         2, r"has 61 characters; webstack allows 60 so the database identifier"),
    Case("stack-name-empty", deploy("--yes", "--param", COST, stack=""),
         2, r"--stack-name is empty"),
    Case("stack-name-starts-with-digit", deploy("--yes", "--param", COST, stack="1web"),
         2, r"'1web' is not a stack name"),
    Case("stack-name-double-hyphen", deploy("--yes", "--param", COST, stack="web--dev"),
         2, r"double or trailing hyphen"),
    Case("stack-name-trailing-hyphen", deploy("--yes", "--param", COST, stack="web-dev-"),
         2, r"double or trailing hyphen"),
    Case("stack-name-on-watch-too", ("watch", "--env", "dev", "--region", "us-east-1",
                                     "--stack-name", "a b", "--endpoint-url", "{url}"),
         2, r"'a b' is not a stack name"),
    # Options and paths.
    Case("negative-timeout", deploy("--yes", "--timeout", "-5"), 2,
         r"--timeout -5 is not a positive number"),
    Case("zero-timeout", deploy("--yes", "--timeout", "0"), 2, r"--timeout 0 is not a positive"),
    Case("nan-timeout", deploy("--yes", "--timeout", "nan"), 2, r"--timeout nan is not"),
    Case("outputs-file-is-a-directory", deploy("--yes", "--param", "AlarmEmail=a@b.io",
                                               "--outputs-file", "{tmp}/out"),
         2, r"--outputs-file '.*/out' is a directory", setup=_folder("out")),
    Case("outputs-file-in-read-only-folder", deploy("--yes", "--param", "AlarmEmail=a@b.io",
                                                    "--outputs-file", "{tmp}/ro/o.json"),
         2, r"cannot be written \(permission denied", setup=_folder("ro", 0o555),
         marks=(AS_ROOT,)),
    Case("outputs-file-under-a-file", deploy("--yes", "--param", "AlarmEmail=a@b.io",
                                             "--outputs-file", "{tmp}/f/o.json"),
         2, r"--outputs-file '.*/f/o.json': .*/f is not a folder", setup=_write("f", b"x")),
    Case("outputs-command-file-is-a-directory",
         ("outputs", "--env", "dev", "--region", "us-east-1", "--stack-name", STACK,
          "--outputs-file", "{tmp}/out", "--endpoint-url", "{url}"),
         2, r"is a directory", setup=_folder("out")),
    Case("plan-file-is-a-directory", ("plan", "--env", "dev", "--region", "us-east-1",
                                      "--stack-name", STACK, "--plan-file", "{tmp}/p",
                                      "--endpoint-url", "{url}"),
         2, r"--plan-file '.*/p' is a directory", setup=_folder("p")),
    Case("plan-file-binary", deploy("--plan-file", "{tmp}/plan.bin", "--yes"),
         2, r"plan file .*plan.bin is not text \(byte 1 is not UTF-8\)",
         setup=_write("plan.bin", b"\x00\xff\xfe\x00binary")),
    Case("plan-file-truncated", deploy("--plan-file", "{tmp}/plan.json", "--yes"),
         2, r"plan file .*plan.json is not a webstack plan",
         setup=_write("plan.json", b'{"format": 1, "stack_name": "hx-')),
    Case("plan-file-missing", deploy("--plan-file", "{tmp}/none.json", "--yes"),
         2, r"cannot read the plan file .*none.json: No such file"),
    Case("plan-file-no-terminal-no-yes", deploy("--plan-file", "{tmp}/plan.json"),
         2, NOT_TTY, setup=_write("plan.json", b"{}")),
    Case("unknown-environment", deploy("--yes", env="qa"), 2, r"unknown environment 'qa'"),
    Case("unknown-region", deploy("--yes", region="mars-1"), 2, r"unknown region 'mars-1'"),
    Case("local-and-endpoint-url", deploy("--yes", "--local"),
         2, r"give --local or --endpoint-url, not both"),
    # Confirmation: no terminal and no --yes is refused before any upload.
    Case("no-terminal-no-yes-new-stack", new("--param", COST), 2, NOT_TTY),
    Case("no-terminal-no-yes-prod", new(
        "--param", COST, "--param", "AlarmEmail=oncall@example.com", "--param",
        "CertificateArn=arn:aws:acm:eu-west-1:123456789012:certificate/0000-1111",
        env="prod", region="eu-west-1"), 2, NOT_TTY),
    Case("prod-without-a-certificate", new("--param", COST, "--param", "AlarmEmail=a@b.io",
                                           env="prod", region="eu-west-1"),
         2, "rule HttpsRequired refuses these parameters: CertificateArn"),
    Case("no-terminal-no-yes-update", deploy("--param", "AlarmEmail=a@b.io"), 2, NOT_TTY),
    # Concurrency: a second deploy of a target another run holds.
    Case("concurrent-deploy-same-target", deploy("--yes", "--param", "AlarmEmail=a@b.io"),
         2, r"hx-dev in us-east-1 is busy: webstack deploy \(pid \d+\) holds its lock",
         setup=_held_lock),
    Case("destroy-while-a-deploy-holds-the-target",
         ("destroy", "--env", "dev", "--region", "us-east-1", "--stack-name", STACK, "--yes",
          "--endpoint-url", "{url}"),
         2, r"hx-dev in us-east-1 is busy: webstack deploy \(pid \d+\) holds its lock",
         setup=_held_lock),
    # watch and destroy.
    Case("watch-missing-stack", ("watch", "--env", "dev", "--region", "us-west-2",
                                 "--stack-name", FRESH, "--endpoint-url", "{url}"),
         2, r"stack hx-new does not exist in us-west-2"),
    Case("destroy-as-prod-without-force", ("destroy", "--env", "prod", "--region", "us-east-1",
                                           "--stack-name", STACK, "--yes",
                                           "--endpoint-url", "{url}"),
         2, r"stack hx-dev in us-east-1 is a dev stack, not prod \(its Environment tag"),
    Case("destroy-no-terminal-no-yes", ("destroy", "--env", "dev", "--region", "us-east-1",
                                        "--stack-name", STACK, "--endpoint-url", "{url}"),
         2, r"refusing to destroy without confirmation"),
    # Offline commands with hostile input.
    Case("show-unknown-param", ("show", "--env", "dev", "--region", "us-east-1", "--param",
                                "Bogus=1"), 2, r"--param Bogus is not a parameter"),
    Case("show-unknown-stack", ("show", "--env", "dev", "--region", "us-east-1", "cache"),
         2, r"unknown stack 'cache'; valid: root, storage \(StorageStack\), network"),
    Case("show-with-build-file-deleted", ("show", "--env", "dev", "--region", "us-east-1",
                                          "compute"),
         2, r"build/ is incomplete: build/compute.yaml is missing; run 'webstack build'",
         setup=_build_copy(lambda b: (b / "compute.yaml").unlink())),
    Case("show-with-binary-build-file", ("show", "--env", "dev", "--region", "us-east-1"),
         2, r"network.yaml is not a text template",
         setup=_build_copy(lambda b: (b / "network.yaml").write_bytes(b"\xff\xfe\x00"))),
    Case("engine-versions-major-abc", ("engine-versions", "--major", "abc"),
         2, r"--major 'abc' is not a major version"),
    Case("lint-binary-file", ("lint", "--no-build", "{tmp}/t.yaml"),
         2, r"t.yaml is not a text template \(byte 0 is not UTF-8\)",
         setup=_write("t.yaml", b"\x89PNG\r\n\x1a\n")),
    Case("lint-missing-file", ("lint", "--no-build", "{tmp}/none.yaml"),
         2, r"no template at .*none.yaml"),
    Case("render-into-read-only-folder", ("render", "--output", "{tmp}/ro"),
         2, r"cannot write --output \(.*/ro: permission denied\)", setup=_folder("ro", 0o555),
         marks=(AS_ROOT,)),
    Case("render-into-a-folder-under-a-file", ("render", "--output", "{tmp}/f/out"),
         2, r"cannot write --output \(.*/f/out: Not a directory\)", setup=_write("f", b"x")),
    Case("render-onto-a-file", ("render", "--output", "{tmp}/f"),
         2, r"cannot write --output", setup=_write("f", b"x")),
    Case("build-with-a-read-only-file", ("build",),
         2, r"cannot write build/ \(.*storage.yaml: read-only file\)",
         setup=_build_copy(_stale_and_read_only), marks=(AS_ROOT,),
         check=lambda tmp: _untouched(tmp / "build")),
    Case("build-with-a-folder-in-the-way", ("build",),
         2, r"cannot write build/ \(.*storage.yaml: is a directory\)",
         setup=_build_copy(_stale_and_blocked), check=lambda tmp: _untouched(tmp / "build")),
    # An endpoint botocore cannot use: exit 2 naming where it came from, not an internal error.
    Case("endpoint-url-not-a-url", ("deploy", "--env", "dev", "--region", "us-east-1", "--yes",
                                    "--param", COST, "--endpoint-url", "garbage"),
         2, r"--endpoint-url 'garbage' is not a URL botocore can use"),
    Case("aws-endpoint-url-with-an-unclosed-bracket",
         ("outputs", "--env", "dev", "--region", "us-east-1"),
         2, r"AWS_ENDPOINT_URL 'http://\[::1' is not a URL botocore can use",
         setup=lambda _tmp, patch: patch.setenv("AWS_ENDPOINT_URL", "http://[::1")),
    Case("plan-output-under-a-file", ("plan", "--env", "dev", "--region", "us-east-1",
                                      "--stack-name", STACK, "--endpoint-url", "{url}",
                                      "--plan-output", "{tmp}/f/plan.json"),
         2, r"--plan-output '.*/f/plan.json': .*/f is not a folder", setup=_write("f", b"x")),
    Case("outputs-file-empty", deploy("--yes", "--outputs-file", ""),
         2, r"--outputs-file '' is empty; give a file path"),
    Case("deploy-with-stale-build", deploy("--yes", "--param", COST),
         2, r"build/ is stale \(build/network.yaml\)",
         setup=_build_copy(lambda b: (b / "network.yaml").write_text("# x\n"))),
]


def test_the_table_has_at_least_40_cases() -> None:
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)


def _fill(argv: tuple[str, ...], url: str, tmp: Path) -> list[str]:
    return [a.replace("{url}", url).replace("{tmp}", str(tmp)) for a in argv]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_hostile_input(case: Case, deployed: str, tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HX_URL", deployed)
    monkeypatch.delenv("AWS_REGION", raising=False)
    if case.setup is not None:
        case.setup(tmp_path, monkeypatch)
    before = current_state(deployed)
    try:
        code, out, err = run(_fill(case.argv, deployed, tmp_path), monkeypatch, capsys)
    finally:
        release = getattr(_held_lock, "release", None)
        if release is not None:
            release.set()
            _held_lock.holder.join(10)  # type: ignore[attr-defined]  # unlocked before the next case
        for path in tmp_path.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
    after = current_state(deployed)  # a command that sent no request changed nothing
    lines = err.strip().splitlines()
    assert code == case.code, (code, out[-2000:], err)
    assert len(lines) == 1, f"stderr is not one line: {err!r}"
    assert re.search(case.error, lines[0]), lines[0]
    assert "internal error" not in err
    moved = {kind: delta for kind, delta in changed(before, after).items()
             if kind not in case.allowed}
    assert moved == {}, f"the endpoint changed: {moved}"
    if case.check is not None:
        case.check(tmp_path)


# -- cases with more than one step -------------------------------------------------------------


def test_derived_names_fit_for_every_default_stack_name() -> None:
    """webstack-staging (16 characters) once made a database identifier over 63."""
    for env in ENVIRONMENT_NAMES:
        name = f"webstack-{env}"
        check_stack_name(name)
        assert len(f"{name}-db") <= 63
        longest = max(len(f"{child.capitalize()}Stack") for child in CHILDREN)
        assert len(f"{name}-{'x' * longest}-{'r' * 13}") <= 128
    check_stack_name("s" * STACK_NAME_BUDGET)


def test_a_plan_file_is_refused_once_another_deploy_moved_the_stack(
        deployed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The reviewed plan would silently revert another deploy's AlarmEmail."""
    plan = tmp_path / "plan.json"
    base = ["--env", "dev", "--region", "us-east-1", "--stack-name", STACK,
            "--endpoint-url", deployed]
    code, _, err = run(["plan", *base, "--param", "AlarmEmail=first@example.com",
                          "--plan-file", str(plan)], monkeypatch, capsys)
    assert code == 0, err
    code, _, err = run(["deploy", *base, "--yes", "--param",
                          "AlarmEmail=second@example.com"], monkeypatch, capsys)
    assert code == 0, err
    before = snapshot(deployed)
    cfn = client(deployed, "cloudformation", "us-east-1")
    reviewed = json.loads(plan.read_text())["change_set_id"]
    try:
        code, _, err = run(["deploy", *base, "--yes", "--plan-file", str(plan)],
                             monkeypatch, capsys)
    finally:  # CloudFormation (and the endpoint) already deleted it with the other execution
        with contextlib.suppress(cfn.exceptions.ChangeSetNotFoundException):
            cfn.delete_change_set(ChangeSetName=reviewed)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert re.search(r"stack hx-dev in us-east-1 changed since the plan was made.*run "
                     r"'webstack plan' again", lines[0]), lines[0]
    assert changed(before, snapshot(deployed)).keys() <= {"change_sets"}  # only ours deleted
    parameters = {p["ParameterKey"]: p["ParameterValue"]
                  for p in cfn.describe_stacks(StackName=STACK)["Stacks"][0]["Parameters"]}
    assert parameters["AlarmEmail"] == "second@example.com"


def test_watch_on_a_stack_waiting_for_review_returns_at_once_with_what_to_do(
        deployed: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    cfn = client(deployed, "cloudformation", "eu-west-1")
    created = cfn.create_change_set(
        StackName="hx-review", ChangeSetName="pending", ChangeSetType="CREATE",
        Tags=[{"Key": "Environment", "Value": "dev"}],
        TemplateBody=json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}))
    try:
        started = time.monotonic()
        code, _, err = run(["watch", "--env", "dev", "--region", "eu-west-1", "--stack-name",
                            "hx-review", "--timeout", "600", "--endpoint-url", deployed],
                           monkeypatch, capsys)
        elapsed = time.monotonic() - started
    finally:
        cfn.delete_change_set(ChangeSetName=created["Id"])
        cfn.delete_stack(StackName=created["StackId"])
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert elapsed < 10
    assert re.search(r"hx-review in eu-west-1 is REVIEW_IN_PROGRESS: .* 'webstack deploy --env "
                     r"dev --region eu-west-1 --stack-name hx-review.*'webstack destroy",
                     lines[0]), lines[0]


# -- Ctrl-C with real signals, in a process of its own ---------------------------------------


@pytest.fixture
def webstack_process(deployed: str) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start(*argv: str) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
        process = subprocess.Popen([sys.executable, "-m", "scripts", *argv], cwd=REPO,
                                   env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("delay", [0.0, 0.05])
def test_ctrl_c_after_packaging_leaves_no_change_set_and_no_review_stack(
        delay: float, deployed: str,
        webstack_process: Callable[..., subprocess.Popen[str]]) -> None:
    """SIGINT at several instants between "packaged" and execute: nothing is left behind.

    On the local endpoint a change set is ready within milliseconds; a later signal lands after
    execute, which the deploy must then say (and this test then cleans up)."""
    before = snapshot(deployed)
    process = webstack_process("deploy", "--env", "dev", "--region", "us-west-2",
                               "--stack-name", "hx-int", "--param", COST, "--yes",
                               "--endpoint-url", deployed)
    assert process.stdout is not None and process.stderr is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("packaged ") or "; packaged " in line:
            time.sleep(delay)
            process.send_signal(signal.SIGINT)
            break
    out = "".join(seen) + process.stdout.read()
    code = process.wait(timeout=60)
    err = process.stderr.read()
    after = snapshot(deployed)
    lines = [line for line in err.strip().splitlines()
             if "press Ctrl-C again" not in line and line.strip()]
    if code == 0:  # the signal landed after execute: the deploy must have said so
        client(deployed, "cloudformation", "us-west-2").delete_stack(StackName="hx-int")
        assert "interrupted after execute; hx-int had already settled" in out, out
        return
    assert code == 130, (out, err)
    assert lines == ["webstack deploy: interrupted before execute; change sets deleted, "
                     "nothing changed"], err
    moved = changed(before, after)
    moved.pop("buckets", None)  # packaging ran: the artifact bucket and its objects may exist
    assert moved == {}, moved


# -- errors that used to end as "internal error" (exit 70) -----------------------------------


def _source_copy(tmp: Path) -> Path:
    """The parts of the repository a render needs, to break templates_src/ in a copy."""
    root = tmp / "repo"
    root.mkdir()
    for name in ("scripts", "templates_src", "build"):
        shutil.copytree(REPO / name, root / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / ".cfnlintrc.yaml", root)
    return root


@pytest.mark.parametrize(("edit", "argv", "expected"), [
    pytest.param(("db_backup_retention_days=7,", 'db_backup_retention_days="7",'),
                 ("show", "--env", "dev", "--region", "us-east-1", "root"),
                 r"staging\.db_backup_retention_days: must be int, not str \('7'\).*"
                 r"\(templates_src/environments\.py:\d+\)$", id="quoted-number-in-table"),
    pytest.param(("db_backup_retention_days=7,", "db_backup_retention_days=7,,"),
                 ("build", "--check"),
                 r"templates_src/environments\.py:\d+: invalid syntax", id="syntax-error"),
])
def test_a_broken_template_source_is_exit_3_naming_file_and_line(
        tmp_path: Path, edit: tuple[str, str], argv: tuple[str, ...], expected: str) -> None:
    root = _source_copy(tmp_path)
    table = root / "templates_src" / "environments.py"
    text = table.read_text(encoding="utf-8")
    assert edit[0] in text
    table.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    broken_line = next(number for number, line in enumerate(
        table.read_text(encoding="utf-8").splitlines(), 1) if edit[1] in line)
    result = subprocess.run([sys.executable, "-m", "scripts", *argv], cwd=root,
                            capture_output=True, text=True, timeout=120, check=False)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 3, result.stderr
    assert len(lines) == 1 and re.search(expected, lines[0]), result.stderr
    if "syntax" in expected:
        assert f"environments.py:{broken_line}:" in lines[0]


def test_an_aws_error_no_step_explains_is_exit_4_not_an_internal_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """An endpoint answering HTTP 500 must not read as a webstack bug."""
    from botocore.exceptions import ClientError

    from scripts.deploy import aws, pipeline

    def failing(_options: object) -> int:
        aws.make_client("cloudformation", "us-east-1", None, "http://127.0.0.1:9")
        raise ClientError({"Error": {"Code": "InternalFailure", "Message": "boom\nat line 2"},
                           "ResponseMetadata": {"HTTPStatusCode": 500}}, "DescribeStacks")

    monkeypatch.setattr(pipeline, "deploy", failing)
    monkeypatch.setattr(aws, "ENDPOINTS_USED", [])
    code, _, err = run(["deploy", "--env", "dev", "--region", "us-east-1", "--yes",
                        "--endpoint-url", "http://127.0.0.1:9"], monkeypatch, capsys)
    assert code == 4
    assert err.strip().splitlines() == [
        "webstack deploy: http://127.0.0.1:9 failed DescribeStacks (HTTP 500, InternalFailure: "
        "boom at line 2); the service broke, not the request: retry, and if it goes on, check "
        "the endpoint (for a local one, its log: 'webstack local status')"]


def test_an_aws_refusal_no_step_explains_says_what_aws_said(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from botocore.exceptions import ClientError

    from scripts.deploy import pipeline

    def failing(_options: object) -> int:
        raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"},
                           "ResponseMetadata": {"HTTPStatusCode": 400}}, "DescribeStacks")

    monkeypatch.setattr(pipeline, "deploy", failing)
    code, _, err = run(["deploy", "--env", "dev", "--region", "us-east-1", "--yes",
                        "--endpoint-url", "http://127.0.0.1:9"], monkeypatch, capsys)
    assert code == 4
    assert err.strip().splitlines() == [
        "webstack deploy: AWS refused DescribeStacks (Throttling): Rate exceeded; check "
        "the stack's events with 'webstack watch', then retry"]


def test_a_create_change_set_racing_another_first_deploy_is_one_clear_line() -> None:
    """Across machines the lock cannot help: CloudFormation's own refusal is reported."""
    from botocore.exceptions import ClientError

    from scripts.deploy import changeset

    class Cfn:
        class meta:
            region_name = "us-east-1"

        def create_change_set(self, **_: Any) -> None:
            raise ClientError({"Error": {"Code": "AlreadyExistsException",
                                         "Message": "Stack [hx-race] already exists"}},
                              "CreateChangeSet")

    with pytest.raises(changeset.StackStateError) as refused:
        changeset.create(Cfn(), stack_name="hx-race", change_set_name="c",
                         change_set_type="CREATE", parameters=[],
                         tags={"Environment": "dev"}, template_body="{}")
    assert refused.value.exit_code == 2
    assert str(refused.value) == (
        "stack hx-race in us-east-1 was created by another deploy meanwhile (Stack [hx-race] "
        "already exists); wait for it with 'webstack watch --env dev --region us-east-1 "
        "--stack-name hx-race', then deploy again")


def test_losing_the_endpoint_after_execute_still_says_how_to_reattach(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from scripts.deploy import pipeline
    from scripts.deploy.aws import AwsError
    from scripts.deploy.options import Options
    from scripts.deploy.prepare import Prepared

    class Cfn:
        def execute_change_set(self, **_: Any) -> None:
            return None

    def unreachable(*_: Any) -> None:
        raise AwsError("describe stack hx-dev in us-east-1: cannot reach the endpoint")

    monkeypatch.setattr(Target, "client", lambda self, service: Cfn())
    monkeypatch.setattr(pipeline, "_watch_execution", unreachable)
    options = Options(environment="dev", regions=["us-east-1"], stack_name=STACK, yes=True)
    lines: list[str] = []
    result = pipeline.execute(options, Prepared(options.target("us-east-1"), lines.append,
                                                change_set_id="cs-1"))
    assert result.code == 4
    assert result.detail == (
        "describe stack hx-dev in us-east-1: cannot reach the endpoint; the stack goes on: "
        "reattach with 'webstack watch --env dev --region us-east-1 --stack-name hx-dev'")


def test_destroy_says_snapshotted_and_the_final_snapshot_exists(
        deployed: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """As real CloudFormation does: deleting a DeletionPolicy Snapshot database leaves its
    final snapshot. Today the endpoint leaves none, and destroy says so ("NOT snapshotted")."""
    base = ["--env", "dev", "--region", "eu-west-1", "--stack-name", "hx-snap",
            "--endpoint-url", deployed]
    code, _, err = run(["deploy", *base, "--yes", "--param", COST], monkeypatch, capsys)
    assert code == 0, err
    rds = client(deployed, "rds", "eu-west-1")
    before = {d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]}
    code, out, err = run(["destroy", *base, "--yes"], monkeypatch, capsys)
    assert code == 0, err
    snapshots = [s for db in before for s in rds.describe_db_snapshots(
        DBInstanceIdentifier=db, SnapshotType="manual")["DBSnapshots"]]
    assert [line for line in out.splitlines()
            if line.startswith("snapshotted: root/DatabaseStack/Database")]
    assert snapshots
