"""One region made ready to execute: preflight, package, change set, plan and the data guard.

Nothing here executes anything. Each step either finishes or leaves nothing behind: the change
set is recorded on ``Prepared`` the moment CloudFormation returns its id, so an interrupt at any
later instant can delete it (``discard``).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from scripts import paths
from scripts.build import yamlio
from scripts.deploy import (
    changeset,
    guard,
    leftovers,
    log_groups,
    package,
    plan,
    preflight,
    totals,
    validate,
)
from scripts.deploy.aws import Target, aws_errors, cli_command
from scripts.deploy.options import Options
from scripts.deploy.stacks import STACK_TYPE, StackStatus, identified_stack
from scripts.deploy.waiting import Cancelled, Waiter
from scripts.errors import Exit, UsageError, WebstackError
from templates_src.environments import is_protected

Emit = Callable[[str], None]
# Parameters webstack sets itself; an unchanged deploy compares every other one.
MANAGED_PARAMETERS = frozenset({"Environment", "DeploymentDate"})


@dataclass
class Prepared:
    """A region ready to execute: its change set and plan, or nothing to do."""

    target: Target
    emit: Emit
    change_set_id: str | None = None
    change_set_type: str = "UPDATE"
    changes: list[Any] = field(default_factory=list)
    no_changes: bool = False
    started: float = field(default_factory=time.perf_counter)
    stack: dict[str, Any] | None = None
    # Resources each stack will have done, by stack path, for progress (totals.py).
    totals: dict[tuple[str, ...], int] = field(default_factory=dict)
    # A kept plan's change set (deploy --plan-file): not executing it keeps it for the plan.
    reviewed: bool = False


def discard(prepared: Prepared) -> str | None:
    """Delete an unexecuted change set, and the empty REVIEW_IN_PROGRESS stack a CREATE
    change set brings with it, so a plan leaves the account as it found it. A kept plan's
    change set stays for its plan file: it was made and reviewed before this command.

    None when nothing is left; else one line naming the change set that could not be
    deleted and the command that deletes it."""
    if prepared.change_set_id is None or prepared.reviewed:
        return None
    target = prepared.target
    cfn = target.client("cloudformation")
    failed = changeset.delete_quietly(cfn, prepared.change_set_id)
    left = None if failed is None else (
        f"the change set {prepared.change_set_id} in {target.region} could not be deleted "
        f"({failed}); delete it with '" + cli_command(
            "cloudformation", "delete-change-set", "--change-set-name",
            prepared.change_set_id, region=target.region, profile=target.profile,
            endpoint_url=target.endpoint_url) + "'")
    if prepared.change_set_type == "CREATE":
        with suppress(Exception):
            # Only the empty stack the change set brought: one CloudFormation is creating
            # (an ExecuteChangeSet whose answer was lost) is never deleted from here.
            found = cfn.describe_stacks(StackName=prepared.target.stack_name)["Stacks"]
            if found and found[0].get("StackStatus") == "REVIEW_IN_PROGRESS":
                cfn.delete_stack(StackName=found[0]["StackId"])
    prepared.change_set_id = None
    return left


def refuse_unconfirmed(options: Options) -> None:
    """No terminal to ask and no --yes: refuse before anything is uploaded or created."""
    if not options.yes and not options.interactive:
        raise UsageError("refusing to deploy without confirmation: stdin is not a terminal; "
                         "review the plan with 'webstack plan', then rerun with --yes")


def prepare(options: Options, region: str, emit: Emit, waiter: Waiter | None = None, *,
            deploying: bool = False) -> Prepared:
    """Preflight, package and plan one region. Nothing is executed here.

    ``deploying``: a deploy that cannot ask (no terminal, no --yes) is refused once it is
    known to change something, before the preflight and any upload.
    """
    waiter = waiter or Waiter()
    target = options.target(region)
    prepared = Prepared(target, emit)
    cfn = target.client("cloudformation")

    stack, recreating = _existing(options, target)
    if stack is not None and not recreating and not StackStatus(
            stack["StackStatus"]).in_progress and _unchanged(options, target, stack):
        emit(f"no changes: {target.stack_name} already runs this template set with "
             "these parameters")
        prepared.no_changes = True
        prepared.stack = stack  # its outputs are current: nothing will change them
        return prepared
    if deploying:  # --recreate deletes a stack: never before the user could confirm
        refuse_unconfirmed(options)
    waiter.check()
    options, packaged = _checked_and_packaged(options, target, stack, recreating=recreating,
                                              emit=emit, waiter=waiter)
    if recreating:
        stack = None
    waiter.check()
    if stack is not None:
        change_set_type, _ = changeset.change_set_type(
            cfn, target.stack_name, waiter=waiter, reattach=options.reattach(region),
            profile=target.profile, endpoint_url=target.endpoint_url)
        if change_set_type == "CREATE":
            stack = None
    prepared.stack = stack
    prepared.change_set_type = "UPDATE" if stack is not None else "CREATE"
    try:
        _make_change_set(options, prepared, packaged, waiter)
        if prepared.change_set_id is not None:
            _review(options, prepared)
            prepared.totals = totals.expected(prepared.changes, totals.built_children(
                options.environment, region, options.overrides))
    except BaseException:
        discard(prepared)
        raise
    return prepared


def _checked_and_packaged(options: Options, target: Target, stack: dict[str, Any] | None, *,
                          recreating: bool, emit: Emit, waiter: Waiter
                          ) -> tuple[Options, package.Packaged]:
    """Preflight, a new stack's log groups, --recreate's delete, then the upload; the options
    with the log groups' choice. Everything that could refuse the create runs before
    --recreate deletes anything."""
    passed = _preflight(options, target, None if recreating else stack, emit)

    def say(line: str) -> None:  # the preflight's verdict waits for the packaged line
        while passed:
            emit(passed.pop())
        emit(line)

    # An empty REVIEW_IN_PROGRESS stack (an orphan) is created anew, as a missing one is.
    if stack is None or recreating or StackStatus(stack["StackStatus"]).awaiting_review:
        options = log_groups.for_new_stack(options, target, say)
    if stack is not None and recreating:
        recreate(target, options, stack, say, waiter)
    waiter.check()
    with aws_errors(f"package templates in {target.region}"):
        packaged = package.package(target, paths.BUILD_DIR)
    line = (f"packaged {len(packaged.child_urls)} child templates in {packaged.bucket} "
            f"({len(packaged.uploaded)} new)")
    emit("; ".join([*passed, line]))
    return options, packaged


def _existing(options: Options, target: Target) -> tuple[dict[str, Any] | None, bool]:
    """The stack as it is (refused when it is not this environment's, is someone's kept plan,
    or is protected from --recreate), whether --recreate will replace it, and every value the
    change set will carry checked."""
    cfn = target.client("cloudformation")
    stack = identified_stack(cfn, target.stack_name, options.environment)
    status = StackStatus(stack["StackStatus"]) if stack else None
    if stack is not None and status is not None and status.awaiting_review:
        changeset.refuse_pending_plan(cfn, stack, options.reattach(target.region))
    recreating = stack is not None and status == "ROLLBACK_COMPLETE" and options.recreate
    if stack is not None and recreating and is_protected(options.environment):
        raise UsageError(f"{target.stack_name} is a {options.environment} stack in "
                         f"{stack['StackStatus']}; --recreate never deletes it: review and "
                         "delete it by hand")
    validate_parameters(options, stack)
    return stack, recreating


def _preflight(options: Options, target: Target, stack: dict[str, Any] | None,
               emit: Emit) -> list[str]:
    """The account can take this deploy (AMI, AZs, engine version, DB class, stack state).

    Each check that fails or is skipped is a line of its own; those that pass are one
    verdict, returned for the packaged line to carry (a line per check with --verbose)."""
    def stack_state() -> str | None:
        return None if stack is None else changeset.blocking_state(
            stack["StackStatus"], options.environment, target.stack_name, target.region,
            options.reattach(target.region), profile=target.profile,
            endpoint_url=target.endpoint_url)

    kept = {p["ParameterKey"]: p.get("ParameterValue") for p in (stack or {}).get(
        "Parameters", [])}
    certificate = options.overrides.get("CertificateArn", kept.get("CertificateArn"))
    checks = preflight.run_preflight(target, strict=options.strict_preflight,
                                     stack_state=stack_state, emit=emit,
                                     certificate_arn=certificate or None,
                                     quiet_ok=not options.verbose)
    blocked = stack_state()
    if blocked is not None:  # a refused action (exit 2), as change_set_type would raise it
        raise changeset.StackStateError(blocked)
    preflight.raise_on_failure(checks, options.strict_preflight)
    return [] if options.verbose else [preflight.verdict(checks)]


def _make_change_set(options: Options, prepared: Prepared, packaged: package.Packaged,
                     waiter: Waiter) -> None:
    """Create the change set with the deployed date; if something real changes and the date
    moved, make it again with today's (tags follow). No changes leaves no change set."""
    target, stack = prepared.target, prepared.stack
    cfn = target.client("cloudformation")
    root_dict = yamlio.load(packaged.root_body) if packaged.root_body is not None else \
        yamlio.load((paths.BUILD_DIR / "root.yaml").read_text(encoding="utf-8"))
    triggers = rollback_triggers(target, stack) if options.rollback_triggers else []
    kept_date = deployed_date(stack) or options.today
    for date_value in dict.fromkeys([kept_date, options.today]):
        if prepared.change_set_id is not None:  # the first pass found changes: redo it dated
            changeset.delete_quietly(cfn, prepared.change_set_id)
            prepared.change_set_id = None
        name = changeset.new_name()  # a lost answer's retry finds this name ours to adopt
        try:
            with aws_errors(f"create change set in {target.region}"):
                prepared.change_set_id = changeset.create(
                    cfn, stack_name=target.stack_name, change_set_name=name,
                    change_set_type=prepared.change_set_type,
                    parameters=parameters_for(options, root_dict, stack, date_value),
                    tags=_tags(options, stack, date_value), template_body=packaged.root_body,
                    template_url=packaged.root_url, rollback_triggers=triggers,
                    # Only 'plan --plan-file' gets here with a plan file (deploy reads it instead).
                    description=changeset.KEPT_DESCRIPTION if options.plan_file
                    else changeset.PASSING_DESCRIPTION,
                    reattach=options.reattach(target.region),
                )
        except BaseException:
            # Failed after CloudFormation made it (every answer lost): found by its name,
            # prepare()'s discard deletes it and a CREATE's REVIEW_IN_PROGRESS stack.
            prepared.change_set_id = changeset.made(cfn, target.stack_name, name)
            raise
        if prepared.change_set_id is None:
            break
        result = changeset.wait_until_ready(cfn, prepared.change_set_id,
                                            stack_name=target.stack_name,
                                            timeout=options.timeout, waiter=waiter)
        if result.no_changes:
            prepared.change_set_id = None  # wait_until_ready deleted it
            break
    if prepared.change_set_id is None:
        prepared.emit(f"no changes: {target.stack_name} is up to date")
        prepared.no_changes = True


def _review(options: Options, prepared: Prepared) -> None:
    """Read every change, print the plan, and refuse what would lose data."""
    assert prepared.change_set_id is not None
    cfn = prepared.target.client("cloudformation")
    with aws_errors(f"describe change set in {prepared.target.region}"):
        prepared.changes = changeset.describe_all(cfn, prepared.change_set_id)
    width = shutil.get_terminal_size().columns if options.terminal else plan.PLAN_WIDTH
    for line in plan.render(prepared.changes, color=options.color, width=width,
                            allow_replacement=options.allow_replacement):
        prepared.emit(line)
    violations = guard.stateful_violations(prepared.changes)
    if violations and not options.allow_replacement:
        raise guard.StatefulChangeRefused(violations)
    if violations:
        guard.refuse_fixed_name_replacements(violations, _built_template)


def _built_template(path: tuple[str, ...]) -> dict[str, Any] | None:
    """The template in build/ of the stack at ``path`` (the root, or one of its children)."""
    root = yamlio.load((paths.BUILD_DIR / "root.yaml").read_text(encoding="utf-8"))
    if not path:
        return dict(root)
    with suppress(KeyError, TypeError, OSError):
        url = str(root["Resources"][path[0]]["Properties"]["TemplateURL"])
        return dict(yamlio.load((paths.BUILD_DIR / url).read_text(encoding="utf-8")))
    return None


def _tags(options: Options, existing: dict[str, Any] | None, date_value: str) -> dict[str, str]:
    previous = {t["Key"]: t["Value"] for t in (existing or {}).get("Tags", [])}
    params = {p["ParameterKey"]: p.get("ParameterValue", "")
              for p in (existing or {}).get("Parameters", [])}
    cost_center = options.overrides.get("CostCenter") or params.get("CostCenter") or \
        previous.get("CostCenter", "")
    return {"Environment": options.environment, "CostCenter": cost_center,
            "DeploymentDate": date_value}


def recreate(target: Target, options: Options, stack: dict[str, Any], emit: Emit,
              waiter: Waiter) -> None:
    from scripts.deploy import progress

    emit(f"--recreate: deleting {target.stack_name} ({stack['StackStatus']}) before creating it")
    left = leftovers.still_there(target, stack["StackId"])
    cfn = target.client("cloudformation")
    try:
        with aws_errors("delete stack"):
            cfn.delete_stack(StackName=stack["StackId"])
        result = progress.watch(cfn, stack["StackId"], emit=emit, stack_name=target.stack_name,
                                region=target.region, verbose=options.verbose,
                                live_stream=options.live_stream(), color=options.color,
                                waiter=waiter, timeout=options.timeout, deleting=True)
    except (Cancelled, KeyboardInterrupt):  # the delete was asked for: it is not "nothing"
        raise WebstackError(
            f"interrupted while --recreate deletes {target.stack_name} ({stack['StackStatus']}):"
            " the delete goes on in CloudFormation and nothing new was created; wait for it "
            f"with '{options.reattach(target.region)}', then deploy again", Exit.INTERRUPTED
        ) from None
    if not result.succeeded:
        raise WebstackError(f"could not delete {target.stack_name}: {result.final_status}",
                            Exit.FINDINGS)
    if left:
        emit(f"--recreate: the failed create kept {len(left)} resource(s) outside the stack; "
             "the empty ones go:")
        leftovers.clear(target, left, emit,
                        adopted=log_groups.adopted(options, target.stack_name))


def parameters_for(options: Options, root: dict[str, Any], stack: dict[str, Any] | None,
                   date_value: str) -> list[dict[str, Any]]:
    """The change set's Parameters for the root template ``root``."""
    declared = root.get("Parameters", {})
    overrides = {"Environment": options.environment, "DeploymentDate": date_value,
                 **options.overrides}
    if stack is None and "CostCenter" not in overrides:
        raise UsageError("a new stack needs a cost center: pass --param CostCenter=CC-1234")
    existing = None if stack is None else {
        p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])
    }
    return changeset.build_parameters(declared, overrides, existing)


def validate_parameters(options: Options, stack: dict[str, Any] | None) -> None:
    """Every value the change set will carry, checked against build/root.yaml's constraints
    and Rules before anything is created: the overrides, what an update keeps with
    UsePreviousValue, and the defaults a create uses."""
    root = yamlio.load((paths.BUILD_DIR / "root.yaml").read_text(encoding="utf-8"))
    status = StackStatus(stack["StackStatus"]) if stack is not None else None
    # An update keeps the deployed values; a stack that will be created anew keeps none. A
    # stack in a blocking state keeps them too, so its own refusal is what the user reads.
    kept = status is not None and not status.awaiting_review and not (
        status == "ROLLBACK_COMPLETE" and options.recreate
        and not is_protected(options.environment))
    if not kept and "CostCenter" not in options.overrides:
        raise UsageError("a new stack needs a cost center: pass --param CostCenter=CC-1234")
    previous = {p["ParameterKey"]: str(p.get("ParameterValue", ""))
                for p in (stack or {}).get("Parameters", [])} if kept else {}
    declared = root.get("Parameters") or {}
    values = {key: value for key, value in previous.items() if key in declared}
    values.update({"DeploymentDate": deployed_date(stack) or options.today,
                   **options.overrides})
    validate.check_parameters(root, values, environment=options.environment)


def deployed_date(stack: dict[str, Any] | None) -> str | None:
    for parameter in (stack or {}).get("Parameters", []):
        if parameter["ParameterKey"] == "DeploymentDate":
            return str(parameter.get("ParameterValue") or "") or None
    return None


def _unchanged(options: Options, target: Target, stack: dict[str, Any]) -> bool:
    """The deployed stack already runs exactly this set with these parameters: nothing would
    be created, so neither preflight, uploads nor a change set are needed."""
    if not StackStatus(stack["StackStatus"]).reusable:
        return False
    with aws_errors(f"compare with the deployed stack in {target.region}"):
        preview = package.package(target, paths.BUILD_DIR, dry_run=True,
                                  account=_account_of(stack["StackId"]))
    if preview.root_body is None:
        return False
    root = yamlio.load(preview.root_body)
    parameters = parameters_for(options, root, stack, deployed_date(stack) or options.today)
    deployed = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
    if any(not p.get("UsePreviousValue") and p["ParameterKey"] not in MANAGED_PARAMETERS
           and deployed.get(p["ParameterKey"]) != p.get("ParameterValue") for p in parameters):
        return False
    cfn = target.client("cloudformation")
    with aws_errors("read the deployed template"):
        deployed_body = cfn.get_template(StackName=stack["StackId"],
                                         TemplateStage="Original")["TemplateBody"]
    if not isinstance(deployed_body, str):
        deployed_body = json.dumps(deployed_body)
    return bool(deployed_body == preview.root_body)


def _account_of(stack_id: str) -> str | None:
    """The account in a stack's ARN (``arn:aws:cloudformation:REGION:ACCOUNT:stack/...``)."""
    parts = stack_id.split(":")
    return parts[4] if len(parts) > 5 and parts[4].isdigit() else None


def rollback_triggers(target: Target, stack: dict[str, Any] | None) -> list[str]:
    """The stack's own CloudWatch alarms (nested stacks too), so a bad update rolls back on
    them; CloudFormation accepts at most five."""
    if stack is None:
        return []
    cfn = target.client("cloudformation")
    alarms: list[str] = []
    stacks = [stack["StackId"]]
    with aws_errors("list the stack's alarms"):
        while stacks:
            paginator = cfn.get_paginator("list_stack_resources")
            for page in paginator.paginate(StackName=stacks.pop()):
                for resource in page["StackResourceSummaries"]:
                    physical = resource.get("PhysicalResourceId")
                    if resource["ResourceType"] == STACK_TYPE and physical:
                        stacks.append(physical)
                    elif resource["ResourceType"] == "AWS::CloudWatch::Alarm":
                        alarms.append(physical)
        if not alarms:
            return []
        found = target.client("cloudwatch").describe_alarms(AlarmNames=alarms[:100])
    return [alarm["AlarmArn"] for alarm in found.get("MetricAlarms", [])][:5]


def prepare_from_plan(options: Options, emit: Emit) -> Prepared:
    """The reviewed change set, refused if the templates or the stack moved since."""
    assert options.plan_file is not None
    reviewed = plan.read_plan(options.plan_file)
    region = options.regions[0]
    target = options.target(region)
    cfn = target.client("cloudformation")
    stack = identified_stack(cfn, target.stack_name, options.environment)
    fingerprint = plan.stack_fingerprint(cfn, stack) if reviewed.stack.status else None
    plan.verify_plan(reviewed, plan.hash_templates(paths.BUILD_DIR),
                     plan.stack_state(stack, fingerprint),
                     environment=options.environment, region=region,
                     stack_name=options.stack_name)
    with aws_errors(f"package build/ to compare with the planned change set in {region}"):
        packaged = package.package(target, paths.BUILD_DIR, dry_run=True,
                                   account=_account_of(str((stack or {}).get("StackId", ""))))
    changes = plan.verify_change_set(cfn, reviewed, stack, template=packaged.text,
                                     allow_replacement=options.allow_replacement)
    emit(f"executing the reviewed change set from {options.plan_file} "
         f"({len(changes)} change(s), as reviewed)")
    values = {str(p["ParameterKey"]): str(p.get("ParameterValue", ""))
              for p in reviewed.parameters if "ParameterValue" in p}
    return Prepared(target, emit, change_set_id=reviewed.change_set_id,
                    change_set_type=reviewed.change_set_type, changes=changes, stack=stack,
                    reviewed=True,
                    totals=totals.expected(changes, totals.built_children(
                        options.environment, region, values)))
