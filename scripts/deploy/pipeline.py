"""The deploy pipeline: gate, prepare every region, confirm, execute, watch, outputs.

The deployer never builds resources: it ships what build/ holds. Regions run side by side, each
in a worker thread; one ``Waiter`` is shared by all, so the first Ctrl-C wakes every wait at
once. A change set not yet executed is then deleted; a stack already changing is left to
CloudFormation, and each region prints its state and the command that reattaches to it.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from scripts import paths
from scripts.build.verify import check_build
from scripts.deploy import changeset, guard, stacks
from scripts.deploy import plan as plans
from scripts.deploy.aws import Target, aws_errors, error_code, error_message
from scripts.deploy.changeset import blocking_state
from scripts.deploy.lock import target_lock
from scripts.deploy.options import Console, Options, RegionResult
from scripts.deploy.outputs import (
    OutputsNotWritten,
    default_outputs_path,
    fetch_outputs,
    print_outputs,
    stack_outputs,
    write_outputs,
)
from scripts.deploy.prepare import (
    Prepared,
    discard,
    prepare,
    prepare_from_plan,
    refuse_unconfirmed,
)
from scripts.deploy.stacks import StackStatus, describe_stack, identified_stack
from scripts.deploy.validate import check_writable_file
from scripts.deploy.waiting import Cancelled, Waiter, handle_interrupts
from scripts.errors import Exit, UsageError, WebstackError, aws_error_line, one_line, shown
from templates_src.environments import is_protected

T = TypeVar("T")
# How long the stack may keep showing its previous status after ExecuteChangeSet.
EXECUTE_START_LIMIT = 30.0
NOT_EXECUTED = "interrupted before execute"


class Interrupted(WebstackError):
    exit_code = Exit.INTERRUPTED


def deploy(options: Options) -> int:
    """The whole pipeline for every region; returns the exit code."""
    if options.plan_file:
        refuse_unconfirmed(options)
    check_build()
    with locked(options, "deploy"):
        return _deploy(options)


@contextmanager
def locked(options: Options, command: str) -> Iterator[None]:
    """Every target region's lock (scripts/deploy/lock.py) while the block runs."""
    with ExitStack() as stack:
        for region in options.regions:
            stack.enter_context(target_lock(options.target(region), command))
        yield


def _deploy(options: Options) -> int:
    console = _console(options)
    waiter = Waiter()
    with handle_interrupts(waiter) as interrupts:
        prepared: list[Prepared] = []
        try:
            if options.plan_file:
                if len(options.regions) != 1:
                    raise UsageError("--plan-file takes one --region")
                prepared = [prepare_from_plan(options, console.emitter(options.regions[0]))]
            else:
                prepared = _prepare_all(options, console, waiter, deploying=True)
            publish_plan(options, prepared)
            with interrupts.raising():
                _confirm(options, prepared)
            waiter.check()
        except (KeyboardInterrupt, EOFError, Cancelled):
            for p in prepared:
                discard(p)
            raise Interrupted(f"interrupted before execute; {_left(options)}") from None
        except BaseException:
            for p in prepared:
                discard(p)
            raise
        return execute_all(options, prepared, console, waiter)


def execute_all(options: Options, prepared: Sequence[Prepared], console: Console,
                waiter: Waiter) -> int:
    """Execute every prepared region side by side, then report: the outputs, one line (or a
    table) of results, and the exit code; Interrupted when a region was left running."""
    by_region = {p.target.region: p for p in prepared}
    results = _parallel(list(by_region), lambda region: execute(
        options, by_region[region], waiter))
    return _finish(options, results, console)


def execute(options: Options, prepared: Prepared, waiter: Waiter | None = None) -> RegionResult:
    """Execute a prepared change set and watch it settle; an interrupt after execute leaves
    the stack to CloudFormation and says how to reattach."""
    waiter = waiter or Waiter()
    target, emit = prepared.target, prepared.emit
    if prepared.no_changes:
        if is_protected(options.environment) and prepared.stack is not None:
            guard.ensure_protected(target, prepared.stack, emit)
        outputs = (stack_outputs(prepared.stack) if prepared.stack is not None
                   else fetch_outputs(target))
        return RegionResult(target.region, "no changes", time.perf_counter() - prepared.started,
                            Exit.OK, outputs)
    assert prepared.change_set_id is not None
    if waiter.cancelled:
        discard(prepared)
        return _result(prepared, NOT_EXECUTED, Exit.INTERRUPTED)
    cfn = target.client("cloudformation")
    try:
        with aws_errors(f"execute change set in {target.region}"):
            cfn.execute_change_set(ChangeSetName=prepared.change_set_id,
                                   StackName=target.stack_name)
    except Exception as err:
        not_executed = _not_executed(options, prepared, err)
        if not_executed is not None:
            return not_executed
    try:
        result = _watch_execution(options, prepared, waiter)
        if waiter.cancelled:  # the interrupt came after execute, and the stack settled anyway
            emit(f"interrupted after execute; {target.stack_name} had already settled: "
                 f"{result.result}")
        return result
    except Cancelled:
        state = describe_stack(cfn, target.stack_name)
        status = state["StackStatus"] if state else "unknown"
        protects = " (it protects the prod stack once it settles)" if is_protected(
            options.environment) else ""
        emit(f"interrupted; {target.stack_name} goes on ({status}). Reattach with: "
             f"{options.reattach(target.region)}{protects}")
        return _result(prepared, f"interrupted ({status})", Exit.INTERRUPTED)
    except WebstackError as err:  # the endpoint failed while the stack changes: it goes on
        lost = _result(prepared, "lost track after execute", err.exit_code)
        lost.detail = (f"{err}; the stack goes on: reattach with "
                       f"'{options.reattach(target.region)}'")
        if target.local and _unreachable(err) and _local_stopped(target):
            lost.detail = (f"{str(err).split('; ')[0]}; if the local endpoint was stopped, "
                           "the stacks it held in memory went with it: start it with 'webstack "
                           "local up', then deploy again; if it runs elsewhere, reattach with "
                           f"'{options.reattach(target.region)}'")
        return lost


def _not_executed(options: Options, prepared: Prepared, err: Exception
                  ) -> RegionResult | None:
    """ExecuteChangeSet failed. A plain refusal (the local endpoint reports a failed create
    there) deletes the change set. An answer that was lost, unreadable or a service failure
    (the SDK's retry of a call that did run is refused as InvalidChangeSetStatus) says
    nothing about what happened: the change set itself says whether it runs. None: it runs,
    watch it."""
    target = prepared.target
    cause = err.__cause__ if isinstance(err, WebstackError) and err.__cause__ else err
    if not _ambiguous(cause):
        if isinstance(err, WebstackError):  # credentials: nothing ran
            discard(prepared)
            raise err
        prepared.emit(f"execute failed: {error_message(err)}")
        discard(prepared)
        result = _result(prepared, "failed to execute", Exit.FINDINGS)
        result.detail = (f"CloudFormation refused to execute: {one_line(error_message(err))}; "
                         f"{_next_step(options, target, None)}")
        return result
    said = one_line(err if isinstance(err, WebstackError) else
                    (aws_error_line(err) or err)).split("; ")[0][:200]
    status = _execution_status(prepared)
    if status is not None and status not in {"AVAILABLE", "UNAVAILABLE"}:
        prepared.emit(f"the answer to ExecuteChangeSet was lost ({said}), but the change set "
                      f"is {status}: following it")
        return None
    if status is not None:  # still waiting to be executed: it did not run
        discard(prepared)
        result = _result(prepared, "not executed", Exit.AWS)
        result.detail = (f"{said}; the change set did not run and nothing changed: retry the "
                         "deploy")
        return result
    lost = _result(prepared, "lost track at execute", Exit.AWS)
    lost.detail = (f"the answer to ExecuteChangeSet was lost ({said}); the change set may be "
                   f"running: check with '{options.reattach(target.region)}'")
    return lost


def _local_stopped(target: Target) -> bool:
    """No local endpoint 'webstack local up' runs answers at the target's URL."""
    from scripts.local.endpoint import runs_at

    return target.endpoint_url is not None and not runs_at(target.endpoint_url)


def _unreachable(err: BaseException) -> bool:
    """The endpoint does not answer at all (refused or closed connections)."""
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError

    return isinstance(err.__cause__, EndpointConnectionError | ConnectionClosedError)


def _ambiguous(err: BaseException) -> bool:
    """An ExecuteChangeSet failure that does not say the call did nothing."""
    from botocore.exceptions import ClientError

    if isinstance(err, WebstackError):
        return False
    if not isinstance(err, ClientError):
        return True  # unreadable, cut off, timed out
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return (isinstance(status, int) and status >= 500) or error_code(err) in {
        "InvalidChangeSetStatus", "Throttling", "ThrottlingException", "RequestLimitExceeded"}


def _execution_status(prepared: Prepared) -> str | None:
    """The change set's ExecutionStatus; None when it cannot be asked or is gone (executed
    and dropped, or deleted: nobody can tell)."""
    assert prepared.change_set_id is not None
    cfn = prepared.target.client("cloudformation")
    with suppress(Exception):
        return str(cfn.describe_change_set(ChangeSetName=prepared.change_set_id)
                   .get("ExecutionStatus") or "") or None
    return None


def _watch_execution(options: Options, prepared: Prepared, waiter: Waiter) -> RegionResult:
    target, emit = prepared.target, prepared.emit
    cfn = target.client("cloudformation")
    assert prepared.change_set_id is not None
    _wait_until_executing(cfn, prepared.change_set_id, waiter)
    # since=None: the watcher starts at this operation's own *_IN_PROGRESS event,
    # which is immune to clock skew between this machine and AWS.
    from scripts.deploy import progress  # only when a stack changes: not on a no-op deploy

    result = progress.watch(cfn, target.stack_name, emit=emit, stack_name=target.stack_name,
                            region=target.region, verbose=options.verbose,
                            live_stream=options.live_stream(), color=options.color,
                            waiter=waiter, timeout=options.timeout, totals=prepared.totals)
    if result.timed_out:
        emit(f"still {result.final_status} after {options.timeout:.0f}s; reattach with "
             f"'{options.reattach(target.region)}'")
        timed_out = _result(prepared, f"timed out ({result.final_status})", Exit.FINDINGS)
        timed_out.detail = (f"still {result.final_status} after {options.timeout:.0f}s; "
                            f"reattach with '{options.reattach(target.region)}'")
        return timed_out
    if not result.succeeded:
        failed = _result(prepared, f"failed ({result.final_status})", Exit.FINDINGS)
        cause = next((f"{e.path} {e.logical_id}: {one_line(e.reason)}"
                      for e in result.root_causes), "no resource reported a reason")
        failed.detail = (f"ended {result.final_status}; root cause: {cause}; "
                         f"{_next_step(options, target, result.final_status)}")
        return failed
    if is_protected(options.environment):
        guard.protect(target, emit)
    return _result(prepared, result.final_status.lower().replace("_", " "), Exit.OK,
                   fetch_outputs(target))


def _next_step(options: Options, target: Target, status: str | None) -> str:
    """What the user does about a stack a deploy left failed or rolled back."""
    if status is None:
        return "fix the cause, then deploy again"
    blocked = blocking_state(status, options.environment, target.stack_name, target.region,
                             options.reattach(target.region), profile=target.profile,
                             endpoint_url=target.endpoint_url)
    return blocked or f"{target.stack_name} is {status}: fix the cause, then deploy again"


def _result(prepared: Prepared, result: str, code: int,
            outputs: dict[str, str] | None = None) -> RegionResult:
    return RegionResult(prepared.target.region, result, time.perf_counter() - prepared.started,
                        code, outputs or {})


def _wait_until_executing(cfn: Any, change_set_id: str, waiter: Waiter) -> None:
    """Right after ExecuteChangeSet the stack may still show its previous *_COMPLETE;
    wait until the change set reports that execution started, so the watcher does not
    mistake the old status for the new one."""
    def started() -> tuple[bool, None]:
        try:
            status = cfn.describe_change_set(ChangeSetName=change_set_id).get("ExecutionStatus")
        except Exception as err:
            if error_code(err) == "ChangeSetNotFound":
                return True, None  # some endpoints drop an executed change set at once
            raise
        return status not in {"AVAILABLE", "UNAVAILABLE"}, None

    waiter.poll(started, timeout=EXECUTE_START_LIMIT, first=0.2, maximum=0.2)


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
        raise UsageError("deploy cancelled; nothing was executed"
                         + (f"; {_left(options)}" if options.plan_file else ""))


def _left(options: Options) -> str:
    """What a deploy that executed nothing leaves: a kept plan's change set stays for it."""
    if options.plan_file:
        return (f"nothing changed; the reviewed change set is kept: 'webstack deploy "
                f"--plan-file {shown(options.plan_file)}' runs it")
    return "change sets deleted, nothing changed"


def _finish(options: Options, results: list[RegionResult], console: Console) -> int:
    good = {r.region: r.outputs for r in results if r.code == Exit.OK}
    written, unwritten = _write_outputs(options, good) if good else (None, None)
    for result in results:
        if result.code == Exit.OK:
            emit = console.emitter(result.region)
            emit(f"outputs of {options.stack_name}"
                 + (f" (written to {paths.display(written)}):" if written else ":"))
            print_outputs(result.outputs, emit)
    _print_results(options, results)
    failed = [r for r in results if r.code != Exit.OK]
    if unwritten is not None and failed:
        print(f"webstack deploy: {unwritten}", file=sys.stderr)  # the failure is raised below
    interrupted = [r.region for r in failed if r.code == Exit.INTERRUPTED
                   and r.result != NOT_EXECUTED]
    if interrupted:
        commands = "; ".join(options.reattach(region) for region in interrupted)
        raise Interrupted(f"interrupted after execute; {options.stack_name} goes on in "
                          f"{', '.join(interrupted)}; reattach with: {commands}")
    if any(r.code == Exit.INTERRUPTED for r in failed):
        raise Interrupted(f"interrupted before execute; {_left(options)}")
    if failed:
        raise WebstackError("; ".join(
            f"{options.stack_name} in {r.region}: {r.detail or r.result}" for r in failed),
            Exit(max(int(r.code) for r in failed)))
    if unwritten is not None:
        raise unwritten
    return Exit.OK


def _write_outputs(options: Options, good: dict[str, dict[str, str]]
                   ) -> tuple[Path | None, OutputsNotWritten | None]:
    """Write the outputs file: where it went, or what went wrong, to be raised once the
    results are shown."""
    path = options.outputs_file or default_outputs_path(options.stack_name, good)
    try:
        return write_outputs(path, options.stack_name, good), None
    except OutputsNotWritten as err:
        return None, OutputsNotWritten(
            f"{options.stack_name} is deployed in {', '.join(good)}, but {err}; "
            "'webstack outputs' prints them again (--outputs-file writes them elsewhere)")


def _print_results(options: Options, results: Sequence[RegionResult]) -> None:
    if len(results) > 1:
        print(f"{'region':<12} {'result':<40} elapsed")
        for r in results:
            print(f"{r.region:<12} {r.result:<40} {r.elapsed:.1f}s")
    else:
        for r in results:
            print(f"{options.stack_name} ({options.environment}) in {r.region}: {r.result} "
                  f"[{r.elapsed:.1f}s]")


def _console(options: Options) -> Console:
    """Progress on stdout, unless stdout carries the plan document (``--format`` without
    ``--plan-output``): then on stderr, so the document can be piped as it is."""
    document_on_stdout = options.plan_format != "text" and not options.plan_output
    return Console(prefix=len(options.regions) > 1,
                   stream=sys.stderr if document_on_stdout else None)


def publish_plan(options: Options, prepared: Sequence[Prepared]) -> None:
    """The plan as a document (markdown or json) on stdout, or in ``--plan-output``."""
    if options.plan_format == "text" and not options.plan_output:
        return  # the plan lines were already printed region by region
    text = plans.document(
        [plans.RegionPlan(options.stack_name, options.environment, p.target.region,
                          None if p.no_changes else p.changes) for p in prepared],
        options.plan_format, allow_replacement=options.allow_replacement)
    if options.plan_output:
        path = Path(options.plan_output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"plan ({options.plan_format}) written to {path}")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def _prepare_all(options: Options, console: Console, waiter: Waiter, *,
                 deploying: bool = False) -> list[Prepared]:
    """Every region prepared, or none: when one region fails or is interrupted, the change
    sets the others made are deleted before the first error is raised. With several regions,
    every region's stack is first checked to be what ``--env`` says (one DescribeStacks each),
    so a foreign stack in one region is refused before any other region creates anything."""
    if len(options.regions) > 1:
        _parallel(options.regions, lambda region: identified_stack(
            options.target(region).client("cloudformation"), options.stack_name,
            options.environment))
    outcomes = _parallel(options.regions, lambda region: _outcome(
        lambda: prepare(options, region, console.emitter(region), waiter,
                        deploying=deploying)))
    errors = [error for _, error in outcomes if error is not None]
    if errors:
        for prepared, _ in outcomes:
            if prepared is not None:
                discard(prepared)
        raise next((e for e in errors if not isinstance(e, Cancelled)), errors[0])
    return [prepared for prepared, _ in outcomes if prepared is not None]


def _outcome(work: Callable[[], T]) -> tuple[T | None, BaseException | None]:
    try:
        return work(), None
    except (Exception, KeyboardInterrupt) as err:
        return None, err


def _parallel(regions: Sequence[str], work: Callable[[str], T]) -> list[T]:
    """``work`` for each region, in worker threads when there are several."""
    if len(regions) == 1:
        return [work(regions[0])]
    with ThreadPoolExecutor(max_workers=len(regions)) as pool:
        futures = [pool.submit(work, region) for region in regions]
        return [future.result() for future in futures]


def watch(target: Target, options: Options) -> int:
    """Attach to a stack and stream its events until it settles."""
    stack = identified_stack(target.client("cloudformation"), target.stack_name,
                             target.environment)
    if stack is None:
        raise UsageError(f"stack {target.stack_name} does not exist in {target.region}")
    status = StackStatus(stack["StackStatus"])
    if status.awaiting_review:
        where = options.reattach(target.region).replace("webstack watch", "{}", 1)
        raise WebstackError(
            f"{target.stack_name} in {target.region} is REVIEW_IN_PROGRESS: only an unexecuted "
            "change set holds it and it will not move by itself; create it with "
            f"'{where.format('webstack deploy')}', or remove it with "
            f"'{where.format('webstack destroy')}'", Exit.FINDINGS)
    if not status.in_progress:
        print(f"{target.stack_name}: {status} (nothing in progress)")
        if not status.succeeded:
            raise WebstackError(_next_step(options, target, status), Exit.FINDINGS)
        if is_protected(target.environment) and status != "DELETE_COMPLETE":
            guard.ensure_protected(target, stack, print)
        return Exit.OK
    from scripts.deploy import progress

    waiter = Waiter()
    with handle_interrupts(waiter):
        try:
            result = progress.watch(
                target.client("cloudformation"), stack["StackId"], emit=print,
                stack_name=target.stack_name, region=target.region, verbose=options.verbose,
                live_stream=options.live_stream(), color=options.color, waiter=waiter,
                timeout=options.timeout)
        except Cancelled:
            raise Interrupted("stopped watching; the stack goes on") from None
    if not result.succeeded:
        raise WebstackError(_next_step(options, target, result.final_status), Exit.FINDINGS)
    settled = describe_stack(target.client("cloudformation"), stack["StackId"])
    if is_protected(target.environment) and settled is not None:
        guard.ensure_protected(target, settled, print)  # after a deploy interrupted mid-way
    return Exit.OK


def plan_only(options: Options) -> int:
    """Create the change set and print the plan; keep it only for a --plan-file."""
    if options.plan_file and len(options.regions) != 1:
        raise UsageError("--plan-file takes one --region")
    if options.plan_file:
        check_writable_file(options.plan_file, "--plan-file")
    check_build()
    with locked(options, "plan"):
        return _plan(options)


def _plan(options: Options) -> int:
    console = _console(options)
    waiter = Waiter()
    with handle_interrupts(waiter):
        prepared: list[Prepared] = []
        kept = False
        try:
            prepared = _prepare_all(options, console, waiter)
            waiter.check()
            publish_plan(options, prepared)
            waiter.check()
            if options.plan_file:
                kept = _keep_plan(options, prepared[0])
            else:  # a plan without --plan-file leaves the account as it found it
                left = [line for line in map(discard, prepared) if line]
                if left:
                    raise WebstackError("the plan is above, but " + "; ".join(left), Exit.AWS)
            waiter.check()  # a Ctrl-C that came late still means: not done
        except (KeyboardInterrupt, Cancelled):
            for p in prepared:
                discard(p)
            if kept and options.plan_file:  # its change set is gone: no plan to run
                with suppress(OSError):
                    os.unlink(options.plan_file)
            raise Interrupted("interrupted; change sets deleted, no plan kept") from None
        except BaseException:
            for p in prepared:
                discard(p)
            raise
    return Exit.OK


def _keep_plan(options: Options, p: Prepared) -> bool:
    """Write the plan file for the kept change set: what it was made from, the stack it
    belongs to and its parameters as CloudFormation reports them, and the changes reviewed.
    A file that cannot be written deletes the change set (the caller discards it)."""
    assert options.plan_file is not None
    if p.no_changes or p.change_set_id is None:
        print("no changes: no plan file written")
        return False
    cfn = p.target.client("cloudformation")
    with aws_errors(f"describe the planned change set in {p.target.region}"):
        described = cfn.describe_change_set(ChangeSetName=p.change_set_id,
                                            StackName=p.target.stack_name)
    stack = None if p.stack is None else describe_stack(cfn, p.target.stack_name)
    reviewed = plans.Plan(
        stack_name=options.stack_name, region=p.target.region,
        environment=options.environment, change_set_id=p.change_set_id,
        change_set_type=p.change_set_type,
        template_hashes=plans.hash_templates(paths.BUILD_DIR),
        stack=plans.stack_state(stack, plans.stack_fingerprint(cfn, stack)),
        changes=p.changes, parameters=described.get("Parameters") or [],
        stack_id=str(described.get("StackId", "")),
        allow_replacement=options.allow_replacement,
    )
    replaced = _held_plan(options.plan_file)
    try:
        plans.write_plan(options.plan_file, reviewed)
    except OSError as err:
        raise WebstackError(f"could not write the plan file {shown(options.plan_file)}: "
                            f"{one_line(err.strerror or err)}; the change set was deleted, "
                            "nothing changed", Exit.OUTPUT) from err
    run_it = stacks.as_verb(options.reattach(p.target.region), "deploy", "--plan-file",
                            shlex.quote(options.plan_file))
    print(f"plan written to {options.plan_file}; the change set is kept for '{run_it}'")
    if replaced is not None and replaced.change_set_id != p.change_set_id:
        _forget_replaced(options.plan_file, replaced, p)
    return True


def _held_plan(path: str) -> plans.Plan | None:
    """The plan a plan file holds before it is overwritten, if it holds one."""
    with suppress(Exception):
        return plans.read_plan(path) if os.path.isfile(path) else None
    return None


def _forget_replaced(path: str, replaced: plans.Plan, p: Prepared) -> None:
    """A plan file written over another plan: nothing can run the old change set any more,
    so it is deleted when it is this stack's; another stack's is named, not touched."""
    target = p.target
    if (replaced.stack_name, replaced.region) != (target.stack_name, target.region):
        print(f"{path} held a plan for {replaced.stack_name} in {replaced.region}; its change "
              f"set {replaced.change_set_id} is left as it is")
        return
    cfn = target.client("cloudformation")
    try:
        status = cfn.describe_change_set(ChangeSetName=replaced.change_set_id).get(
            "ExecutionStatus")
    except Exception:  # expired or deleted: nothing left to forget
        return
    if status != "AVAILABLE":  # executed: it is history, not a plan
        return
    failed = changeset.delete_quietly(cfn, replaced.change_set_id)
    print(f"the plan {path} held before is replaced: its change set "
          + ("was deleted" if failed is None else f"could not be deleted ({failed})"))
