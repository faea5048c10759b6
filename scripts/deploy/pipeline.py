"""The deploy pipeline: gate, preflight, package, change set, plan, execute, watch, outputs.

The deployer never builds resources: it ships what build/ holds. Each step either
finishes or leaves nothing behind (a change set is deleted on refusal or interrupt).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from scripts.deploy.aws import Target, aws_errors, error_code, error_message
from scripts.errors import Exit, UsageError, WebstackError
from scripts.paths import BUILD_DIR, REPO_ROOT
from templates_src.environments import is_protected

DEFAULT_TIMEOUT = 3600.0
OUTPUTS_DIR = REPO_ROOT / ".webstack" / "outputs"


class Interrupted(WebstackError):
    exit_code = Exit.INTERRUPTED


@dataclass
class Options:
    """What the user asked for, common to every region of one deploy."""

    environment: str
    regions: list[str]
    stack_name: str
    profile: str | None = None
    endpoint_url: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    yes: bool = False
    allow_replacement: bool = False
    recreate: bool = False
    strict_preflight: bool = False
    rollback_triggers: bool = True
    timeout: float = DEFAULT_TIMEOUT
    outputs_file: str | None = None
    plan_file: str | None = None
    cost_center: str | None = None
    today: str = field(default_factory=lambda: date.today().isoformat())
    color: bool = False
    interactive: bool = False

    def target(self, region: str) -> Target:
        return Target(self.environment, region, self.stack_name, self.profile, self.endpoint_url)


class Console:
    """Line output shared by parallel regions; each line prefixed with its region."""

    def __init__(self, prefix: bool) -> None:
        self._prefix = prefix
        self._lock = threading.Lock()

    def emitter(self, region: str) -> Callable[[str], None]:
        def emit(line: str) -> None:
            with self._lock:
                print(f"[{region}] {line}" if self._prefix else line, flush=True)

        return emit


# -- interrupts --------------------------------------------------------------------------


class _InterruptState:
    """First Ctrl-C/SIGTERM: finish cleanly. A second one: exit at once."""

    def __init__(self) -> None:
        self.count = 0

    def handler(self, signum: int, frame: object) -> None:
        self.count += 1
        if self.count > 1:
            print("\nwebstack: interrupted again; exiting now", file=sys.stderr, flush=True)
            raise SystemExit(int(Exit.INTERRUPTED))
        raise KeyboardInterrupt


@contextmanager
def interrupt_handling() -> Iterator[_InterruptState]:
    state = _InterruptState()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, state.handler)
    try:
        yield state
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# -- the gate, before anything touches an account ------------------------------------------


def check_build(build_dir: Path | None = None) -> None:
    """build/ must equal a fresh render and pass the gate; otherwise nothing is deployed."""
    from scripts.build.gate import gate_set_cached
    from scripts.cli import _fresh_render, _stale_files

    rendered = _fresh_render()
    stale = _stale_files(rendered, build_dir or BUILD_DIR)
    if stale:
        raise UsageError(f"build/ is stale ({', '.join(stale)}); run 'webstack build' and "
                         "commit it before deploying")
    findings = gate_set_cached({f"build/{n}": t for n, t in rendered.items()})
    if findings:
        for finding in findings:
            print(finding, file=sys.stderr)
        raise WebstackError(f"the gate found {len(findings)} problem(s); nothing was deployed",
                            Exit.FINDINGS)


# -- one region ------------------------------------------------------------------------------


@dataclass
class Prepared:
    """A region ready to execute: its change set and plan, or nothing to do."""

    target: Target
    emit: Callable[[str], None]
    change_set_id: str | None = None
    change_set_type: str = "UPDATE"
    changes: list[Any] = field(default_factory=list)
    no_changes: bool = False
    started: float = field(default_factory=time.perf_counter)
    stack: dict[str, Any] | None = None


def _describe_stack(target: Target) -> dict[str, Any] | None:
    cfn = target.client("cloudformation")
    try:
        with aws_errors(f"describe stack {target.stack_name} in {target.region}"):
            stacks = cfn.describe_stacks(StackName=target.stack_name)["Stacks"]
    except Exception as err:  # the stack not existing is an answer, not an error
        if error_code(err) == "ValidationError" and "does not exist" in error_message(err):
            return None
        raise
    return stacks[0] if stacks else None


def _tags(options: Options, existing: dict[str, Any] | None, date_value: str) -> dict[str, str]:
    previous = {t["Key"]: t["Value"] for t in (existing or {}).get("Tags", [])}
    params = {p["ParameterKey"]: p.get("ParameterValue", "")
              for p in (existing or {}).get("Parameters", [])}
    cost_center = options.overrides.get("CostCenter") or params.get("CostCenter") or \
        previous.get("CostCenter", "")
    return {"Environment": options.environment, "CostCenter": cost_center,
            "DeploymentDate": date_value}


def _recreate(target: Target, options: Options, stack: dict[str, Any],
              emit: Callable[[str], None]) -> None:
    if is_protected(options.environment):
        raise UsageError(f"{target.stack_name} is a {options.environment} stack in "
                         f"{stack['StackStatus']}; --recreate never deletes it: review and "
                         "delete it by hand")
    emit(f"--recreate: deleting {target.stack_name} ({stack['StackStatus']}) before creating it")
    from scripts.deploy.events import Watcher

    cfn = target.client("cloudformation")
    with aws_errors("delete stack"):
        cfn.delete_stack(StackName=stack["StackId"])
    result = Watcher(cfn, stack["StackId"], emit=emit, timeout=options.timeout,
                     deleting=True).run()
    if not result.succeeded:
        raise WebstackError(f"could not delete {target.stack_name}: {result.final_status}",
                            Exit.FINDINGS)


def _parameters_for(options: Options, packaged_root: dict[str, Any],
                    stack: dict[str, Any] | None, date_value: str) -> list[dict[str, Any]]:
    from scripts.deploy.changeset import build_parameters

    declared = packaged_root.get("Parameters", {})
    unknown = sorted(set(options.overrides) - set(declared))
    if unknown:
        raise UsageError(f"--param {unknown[0]} is not a parameter of the root template; "
                         f"valid: {', '.join(sorted(declared))}")
    overrides = {"Environment": options.environment, "DeploymentDate": date_value,
                 **options.overrides}
    if stack is None and "CostCenter" not in overrides:
        raise UsageError("a new stack needs a cost center: pass --param CostCenter=CC-1234")
    existing = None if stack is None else {
        p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])
    }
    result: list[dict[str, Any]] = build_parameters(declared, overrides, existing)
    return result


def prepare(options: Options, region: str, emit: Callable[[str], None]) -> Prepared:
    """Preflight, package and plan one region. Nothing is executed here."""
    from scripts.build import yamlio
    from scripts.deploy import changeset, package, plan, preflight

    target = options.target(region)
    prepared = Prepared(target, emit)
    cfn = target.client("cloudformation")

    stack = _describe_stack(target)
    if stack is not None and stack["StackStatus"] == "ROLLBACK_COMPLETE" and options.recreate:
        _recreate(target, options, stack, emit)
        stack = None

    if stack is not None and not stack["StackStatus"].endswith("_IN_PROGRESS"):
        # Fast path: the deployed stack already runs exactly this set. Nothing would be
        # created, so neither preflight nor uploads are needed.
        with aws_errors(f"compare with the deployed stack in {region}"):
            preview = package.package(target, BUILD_DIR, dry_run=True)
        if preview.root_body is not None:
            root_preview = yamlio.load(preview.root_body)
            deployed_date = _deployed_date(stack) or options.today
            if _unchanged(cfn, stack, preview,
                          _parameters_for(options, root_preview, stack, deployed_date)):
                emit(f"no changes: {target.stack_name} already runs this template set with "
                     "these parameters")
                prepared.no_changes = True
                return prepared

    def stack_state() -> str | None:
        return None if stack is None else changeset.blocking_state(
            stack["StackStatus"], options.environment, target.stack_name, region)

    checks = preflight.run_preflight(target, strict=options.strict_preflight,
                                     stack_state=stack_state, emit=emit)
    blocked = stack_state()
    if blocked is not None:  # a refused action (exit 2), as change_set_type would raise it
        raise changeset.StackStateError(blocked)
    preflight.raise_on_failure(checks, options.strict_preflight)

    with aws_errors(f"package templates in {region}"):
        packaged = package.package(target, BUILD_DIR)
    emit(f"packaged {len(packaged.child_urls)} child templates into s3://{packaged.bucket} "
         f"({len(packaged.uploaded)} uploaded, the rest unchanged)")
    root_body = packaged.root_body
    if root_body is None:
        root_dict = yamlio.load((BUILD_DIR / "root.yaml").read_text(encoding="utf-8"))
    else:
        root_dict = yamlio.load(root_body)

    kept_date = _deployed_date(stack) or options.today
    change_set_type = "UPDATE" if stack is not None else "CREATE"
    if stack is not None:
        change_set_type, _ = changeset.change_set_type(cfn, target.stack_name)
        if change_set_type == "CREATE":
            stack = None
    triggers = _rollback_triggers(target, stack) if (
        options.rollback_triggers and stack is not None) else []

    def make(date_value: str) -> tuple[str | None, Any]:
        params = _parameters_for(options, root_dict, stack, date_value)
        name = f"webstack-{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}"
        with aws_errors(f"create change set in {region}"):
            change_set_id = changeset.create(
                cfn, stack_name=target.stack_name, change_set_name=name,
                change_set_type=change_set_type, parameters=params,
                tags=_tags(options, stack, date_value), template_body=root_body,
                template_url=packaged.root_url, rollback_triggers=triggers,
            )
        if change_set_id is None:
            return None, None
        result = changeset.wait_until_ready(cfn, change_set_id, stack_name=target.stack_name,
                                            timeout=options.timeout)
        return change_set_id, result

    change_set_id, result = make(kept_date)
    if change_set_id is None or result.no_changes:
        emit(f"no changes: {target.stack_name} is up to date")
        prepared.no_changes = True
        return prepared
    if kept_date != options.today:
        # Something real changes, so the deployment date moves with it (tags follow).
        changeset.delete_quietly(cfn, change_set_id)
        change_set_id, result = make(options.today)
        if change_set_id is None or result.no_changes:
            prepared.no_changes = True
            return prepared

    prepared.change_set_id = change_set_id
    prepared.change_set_type = change_set_type
    prepared.stack = stack
    try:
        with aws_errors(f"describe change set in {region}"):
            prepared.changes = changeset.describe_all(cfn, change_set_id)
        for line in plan.render(prepared.changes, color=options.color,
                                allow_replacement=options.allow_replacement):
            emit(line)
        violations = changeset.stateful_violations(prepared.changes)
        if violations and not options.allow_replacement:
            raise changeset.StatefulChangeRefused(violations)
    except BaseException:
        changeset.delete_quietly(cfn, change_set_id)
        raise
    return prepared


def _deployed_date(stack: dict[str, Any] | None) -> str | None:
    for parameter in (stack or {}).get("Parameters", []):
        if parameter["ParameterKey"] == "DeploymentDate":
            return str(parameter.get("ParameterValue") or "") or None
    return None


def _unchanged(cfn: Any, stack: dict[str, Any], packaged: Any,
               parameters: list[dict[str, Any]]) -> bool:
    """The packaged root and the parameters equal what is deployed: skip the change set."""
    if stack["StackStatus"] not in {"CREATE_COMPLETE", "UPDATE_COMPLETE",
                                    "UPDATE_ROLLBACK_COMPLETE"}:
        return False
    if any(not p.get("UsePreviousValue") for p in parameters if p["ParameterKey"] not in {
            "Environment", "DeploymentDate"}):
        deployed = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters",
                                                                                   [])}
        for p in parameters:
            if not p.get("UsePreviousValue") and deployed.get(p["ParameterKey"]) != p.get(
                    "ParameterValue"):
                return False
    if packaged.root_body is None:
        return False
    with aws_errors("read the deployed template"):
        deployed_body = cfn.get_template(StackName=stack["StackId"],
                                         TemplateStage="Original")["TemplateBody"]
    if not isinstance(deployed_body, str):
        deployed_body = json.dumps(deployed_body)
    return bool(deployed_body == packaged.root_body)


def _rollback_triggers(target: Target, stack: dict[str, Any] | None) -> list[str]:
    """The stack's own CloudWatch alarms, so a bad update rolls back on them."""
    if stack is None:
        return []
    cfn = target.client("cloudformation")
    alarms: list[str] = []
    stacks = [stack["StackId"]]
    with aws_errors("list the stack's alarms"):
        while stacks:
            current = stacks.pop()
            paginator = cfn.get_paginator("list_stack_resources")
            for page in paginator.paginate(StackName=current):
                for resource in page["StackResourceSummaries"]:
                    if resource["ResourceType"] == "AWS::CloudFormation::Stack":
                        if resource.get("PhysicalResourceId"):
                            stacks.append(resource["PhysicalResourceId"])
                    elif resource["ResourceType"] == "AWS::CloudWatch::Alarm":
                        alarms.append(resource["PhysicalResourceId"])
        if not alarms:
            return []
        found = target.client("cloudwatch").describe_alarms(AlarmNames=alarms[:100])
    # CloudFormation accepts at most five rollback triggers.
    return [alarm["AlarmArn"] for alarm in found.get("MetricAlarms", [])][:5]


@dataclass
class RegionResult:
    region: str
    result: str
    elapsed: float
    code: int
    outputs: dict[str, str] = field(default_factory=dict)


def execute(options: Options, prepared: Prepared, interrupts: _InterruptState) -> RegionResult:
    """Execute a prepared change set and watch it settle."""
    from scripts.deploy import changeset
    from scripts.deploy.events import Watcher, summary

    target, emit = prepared.target, prepared.emit
    if prepared.no_changes:
        outputs = fetch_outputs(target)
        return RegionResult(target.region, "no changes", time.perf_counter() - prepared.started,
                            Exit.OK, outputs)
    assert prepared.change_set_id is not None
    cfn = target.client("cloudformation")
    try:
        with aws_errors(f"execute change set in {target.region}"):
            cfn.execute_change_set(ChangeSetName=prepared.change_set_id,
                                   StackName=target.stack_name)
            _wait_until_executing(cfn, prepared.change_set_id)
    except KeyboardInterrupt:
        changeset.delete_quietly(cfn, prepared.change_set_id)
        raise
    except Exception as err:
        code = error_code(err)
        if not code:
            raise
        # The local endpoint reports failures from ExecuteChangeSet itself.
        emit(f"execute failed: {error_message(err)}")
        changeset.delete_quietly(cfn, prepared.change_set_id)
        return RegionResult(target.region, f"failed: {error_message(err)}",
                            time.perf_counter() - prepared.started, Exit.FINDINGS)
    try:
        # since=None: the watcher starts at this operation's own *_IN_PROGRESS event,
        # which is immune to clock skew between this machine and AWS.
        result = Watcher(cfn, target.stack_name, emit=emit, timeout=options.timeout,
                         color=options.color).run()
    except KeyboardInterrupt:
        state = _describe_stack(target)
        status = state["StackStatus"] if state else "unknown"
        emit(f"interrupted; {target.stack_name} goes on ({status}). Reattach with: "
             f"{_reattach(options, target)}")
        raise
    for line in summary(result):
        emit(line)
    if result.timed_out:
        emit(f"still {result.final_status} after {options.timeout:.0f}s; reattach with "
             f"'{_reattach(options, target)}'")
        return RegionResult(target.region, f"timed out ({result.final_status})",
                            time.perf_counter() - prepared.started, Exit.FINDINGS)
    if not result.succeeded:
        return RegionResult(target.region, f"failed ({result.final_status})",
                            time.perf_counter() - prepared.started, Exit.FINDINGS)
    if is_protected(options.environment):
        protect(target, emit)
    outputs = fetch_outputs(target)
    return RegionResult(target.region, result.final_status.lower().replace("_", " "),
                        time.perf_counter() - prepared.started, Exit.OK, outputs)


def _reattach(options: Options, target: Target) -> str:
    """The watch command that finds this very stack again (cli's default name is implied)."""
    command = f"webstack watch --env {options.environment} --region {target.region}"
    if target.stack_name != f"webstack-{options.environment}":
        command += f" --stack-name {target.stack_name}"
    if target.profile and target.profile != os.environ.get("AWS_PROFILE"):
        command += f" --profile {target.profile}"
    if target.local:
        return command + " --local"
    if target.endpoint_url and target.endpoint_url != os.environ.get("AWS_ENDPOINT_URL"):
        command += f" --endpoint-url {target.endpoint_url}"
    return command


def _wait_until_executing(cfn: Any, change_set_id: str, limit: float = 30.0) -> None:
    """Right after ExecuteChangeSet the stack may still show its previous *_COMPLETE;
    wait until the change set reports that execution started, so the watcher does not
    mistake the old status for the new one."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            status = cfn.describe_change_set(ChangeSetName=change_set_id).get("ExecutionStatus")
        except Exception as err:
            if error_code(err) == "ChangeSetNotFound":
                return  # some endpoints drop an executed change set at once
            raise
        if status not in {"AVAILABLE", "UNAVAILABLE"}:
            return
        time.sleep(0.2)


def protect(target: Target, emit: Callable[[str], None]) -> None:
    """Prod: termination protection on the root, a stack policy on root and children."""
    from scripts.deploy.changeset import stack_policy

    cfn = target.client("cloudformation")
    policy = stack_policy()
    with aws_errors("protect the prod stack"):
        cfn.update_termination_protection(EnableTerminationProtection=True,
                                          StackName=target.stack_name)
        stacks = [target.stack_name]
        for resource in cfn.list_stack_resources(StackName=target.stack_name)[
                "StackResourceSummaries"]:
            if resource["ResourceType"] == "AWS::CloudFormation::Stack" and resource.get(
                    "PhysicalResourceId"):
                stacks.append(resource["PhysicalResourceId"])
        for stack in stacks:
            cfn.set_stack_policy(StackName=stack, StackPolicyBody=policy)
    emit(f"protected: termination protection on, stack policy on {len(stacks)} stacks "
         "(no replace/delete of data-bearing resources)")


def fetch_outputs(target: Target) -> dict[str, str]:
    stack = _describe_stack(target)
    if stack is None:
        raise UsageError(f"stack {target.stack_name} does not exist in {target.region}; "
                         "deploy it first")
    return {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}


def write_outputs(path: str | Path, stack_name: str, by_region: Mapping[str, Mapping[str, str]]
                  ) -> Path:
    """CDK's format: {"<stack>": {"Key": "value"}}; several regions key by stack@region."""
    if len(by_region) == 1:
        document = {stack_name: dict(next(iter(by_region.values())))}
    else:
        document = {f"{stack_name}@{region}": dict(o) for region, o in by_region.items()}
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def print_outputs(outputs: Mapping[str, str], emit: Callable[[str], None]) -> None:
    width = max((len(k) for k in outputs), default=0)
    for key in sorted(outputs):
        emit(f"  {key.ljust(width)}  {outputs[key]}")


def _confirm(options: Options, prepared: Sequence[Prepared]) -> None:
    pending = [p for p in prepared if not p.no_changes]
    if not pending or options.yes:
        return
    if not options.interactive:
        raise UsageError("refusing to deploy without confirmation: stdin is not a terminal; "
                         "review the plan and rerun with --yes")
    regions = ", ".join(p.target.region for p in pending)
    answer = input(f"Deploy {options.stack_name} ({options.environment}) to {regions}? [y/N] ")
    if answer.strip().lower() not in {"y", "yes"}:
        raise UsageError("deploy cancelled; nothing was executed")


def deploy(options: Options) -> int:
    """The whole pipeline for every region; returns the exit code."""

    check_build()
    console = Console(prefix=len(options.regions) > 1)
    with interrupt_handling() as interrupts:
        prepared: list[Prepared] = []
        try:
            if options.plan_file:
                if len(options.regions) != 1:
                    raise UsageError("--plan-file takes one --region")
                prepared = [prepare_from_plan(options, console.emitter(options.regions[0]))]
            else:
                prepared = _parallel(options.regions, lambda region: prepare(
                    options, region, console.emitter(region)))
            _confirm(options, prepared)
        except (KeyboardInterrupt, EOFError):
            for p in prepared:
                if p.change_set_id:
                    _discard(p)
            raise Interrupted("interrupted before execute; change sets deleted, nothing changed"
                              ) from None
        except BaseException:
            for p in prepared:
                if p.change_set_id:
                    _discard(p)
            raise
        try:
            results = _parallel([p.target.region for p in prepared], lambda region: execute(
                options, next(p for p in prepared if p.target.region == region), interrupts))
        except KeyboardInterrupt:
            raise Interrupted("interrupted after execute; the stack goes on (see above)"
                              ) from None
    return _finish(options, results, console)


def _finish(options: Options, results: list[RegionResult], console: Console) -> int:
    good = {r.region: r.outputs for r in results if r.code == Exit.OK}
    for result in results:
        if result.code == Exit.OK:
            emit = console.emitter(result.region)
            emit(f"outputs of {options.stack_name}:")
            print_outputs(result.outputs, emit)
    if good:
        path = options.outputs_file or (
            OUTPUTS_DIR / f"{options.stack_name}-{'-'.join(sorted(good))}.json")
        written = write_outputs(path, options.stack_name, good)
        print(f"outputs written to {written}")
    if len(results) > 1:
        print(f"{'region':<12} {'result':<40} elapsed")
        for r in results:
            print(f"{r.region:<12} {r.result:<40} {r.elapsed:.1f}s")
    else:
        for r in results:
            print(f"{options.stack_name} ({options.environment}) in {r.region}: {r.result} "
                  f"[{r.elapsed:.1f}s]")
    return max((int(r.code) for r in results), default=0)


def _parallel(regions: Sequence[str], work: Callable[[str], Any]) -> list[Any]:
    if len(regions) == 1:
        return [work(regions[0])]
    with ThreadPoolExecutor(max_workers=len(regions)) as pool:
        futures = [pool.submit(work, region) for region in regions]
        return [future.result() for future in futures]


def watch(target: Target, options: Options) -> int:
    """Attach to a stack and stream its events until it settles."""
    from scripts.deploy.events import Watcher, summary

    stack = _describe_stack(target)
    if stack is None:
        raise UsageError(f"stack {target.stack_name} does not exist in {target.region}")
    emit = print
    if not stack["StackStatus"].endswith("_IN_PROGRESS"):
        emit(f"{target.stack_name}: {stack['StackStatus']} (nothing in progress)")
        return Exit.OK if stack["StackStatus"].endswith("_COMPLETE") and "ROLLBACK" not in \
            stack["StackStatus"] else Exit.FINDINGS
    with interrupt_handling():
        try:
            result = Watcher(target.client("cloudformation"), stack["StackId"], emit=emit,
                             timeout=options.timeout, color=options.color).run()
        except KeyboardInterrupt:
            raise Interrupted("stopped watching; the stack goes on") from None
    for line in summary(result):
        emit(line)
    return Exit.OK if result.succeeded else Exit.FINDINGS


def plan_only(options: Options) -> int:
    """Create the change set and print the plan; keep it only for a --plan-file."""
    from scripts.deploy import plan as plans

    check_build()
    if options.plan_file and len(options.regions) != 1:
        raise UsageError("--plan-file takes one --region")
    console = Console(prefix=len(options.regions) > 1)
    with interrupt_handling():
        prepared: list[Prepared] = []
        try:
            prepared = _parallel(options.regions, lambda region: prepare(
                options, region, console.emitter(region)))
        except KeyboardInterrupt:
            raise Interrupted("interrupted; change sets deleted") from None
        finally:
            if not options.plan_file:
                for p in prepared:
                    if p.change_set_id:
                        _discard(p)
    if options.plan_file:
        (p,) = prepared
        if p.no_changes or p.change_set_id is None:
            print("no changes: no plan file written")
            return Exit.OK
        plans.write_plan(options.plan_file, plans.Plan(
            stack_name=options.stack_name, region=p.target.region,
            environment=options.environment, change_set_id=p.change_set_id,
            change_set_type=p.change_set_type, template_hashes=plans.hash_templates(BUILD_DIR),
            stack=plans.stack_state(p.stack), changes=p.changes,
        ))
        print(f"plan written to {options.plan_file}; the change set is kept for "
              f"'webstack deploy --plan-file {options.plan_file}'")
    return Exit.OK


def _discard(prepared: Prepared) -> None:
    """Delete an unexecuted change set, and the empty REVIEW_IN_PROGRESS stack a CREATE
    change set brings with it, so a plan leaves the account as it found it."""
    from contextlib import suppress

    from scripts.deploy.changeset import delete_quietly

    cfn = prepared.target.client("cloudformation")
    assert prepared.change_set_id is not None
    delete_quietly(cfn, prepared.change_set_id)
    if prepared.change_set_type == "CREATE":
        with suppress(Exception):
            cfn.delete_stack(StackName=prepared.target.stack_name)


def prepare_from_plan(options: Options, emit: Callable[[str], None]) -> Prepared:
    """The reviewed change set, refused if the templates or the stack moved since."""
    from scripts.deploy import plan as plans

    assert options.plan_file is not None
    reviewed = plans.read_plan(options.plan_file)
    region = options.regions[0]
    target = options.target(region)
    stack = _describe_stack(target)
    plans.verify_plan(reviewed, plans.hash_templates(BUILD_DIR), plans.stack_state(stack),
                      environment=options.environment, region=region,
                      stack_name=options.stack_name)
    plans.verify_change_set(target.client("cloudformation"), reviewed)
    emit(f"executing the reviewed change set from {options.plan_file} "
         f"({len(reviewed.changes)} change(s))")
    return Prepared(target, emit, change_set_id=reviewed.change_set_id,
                    change_set_type=reviewed.change_set_type, changes=list(reviewed.changes),
                    stack=stack)
