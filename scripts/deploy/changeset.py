"""Change sets: create, wait, read every nested change, and refuse what would lose data.

Every function takes a boto3 CloudFormation client (``cfn``) so tests can hand in a
Stubber-wrapped one, and polling goes through a ``Waiter`` (scripts/deploy/waiting.py), so
Ctrl-C wakes it and tests never really wait.
CloudFormation's own waiters poll every 30 s; a change set is usually ready in a few seconds,
so we poll every 1-2 s, always against a deadline.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from scripts.deploy.aws import aws_errors, cli_command, error_code, error_message
from scripts.deploy.stacks import (
    STACK_TYPE,
    StackStatus,
    as_verb,
    describe_stack,
    reattach_command,
    stated_environment,
)
from scripts.deploy.waiting import Waiter
from scripts.errors import Exit, UsageError, WebstackError, did_you_mean, one_line

CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND")
NO_CHANGE_REASONS = ("didn't contain changes", "no updates are to be performed")
_NESTED_ARN = re.compile(r"arn:aws[\w-]*:cloudformation:[\w-]+:\d+:changeSet/[\w/-]+")
# The names ``new_name`` makes: no other request sends the same one.
_OWN_NAME: Final = re.compile(r"webstack-\d{14}-[0-9a-f]{8}")
# CloudFormation's refusal of a ChangeSetName the stack already has (AlreadyExistsException).
_NAME_TAKEN: Final = re.compile(r"ChangeSet \[(?P<name>[^\]]+)\] already exists\b")


class StackStateError(WebstackError):
    """The stack is in a state no change set can start from."""

    exit_code = Exit.USAGE


class ChangeSetFailed(WebstackError):
    """CloudFormation refused or failed the change set for a reason other than 'no changes'."""

    exit_code = Exit.FINDINGS


class ChangeSetTimeout(WebstackError):
    """A change set or a stack delete did not settle before the deadline."""

    exit_code = Exit.AWS


@dataclass(frozen=True)
class Change:
    """One resource change, wherever it sits in the nested-stack tree."""

    action: str  # Add | Modify | Remove | Dynamic | Import
    path: tuple[str, ...]  # nested-stack logical ids from the root; () at the root
    logical_id: str
    resource_type: str
    replacement: str = ""  # True | Conditional | False; "" when not applicable (Add, Remove)
    physical_id: str | None = None
    scope: tuple[str, ...] = ()
    nested_change_set_id: str | None = None
    changed_properties: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        """``DatabaseStack/Database``: where a reader finds the resource."""
        return "/".join((*self.path, self.logical_id))

    @property
    def tags_only(self) -> bool:
        """A Modify that only retags (every resource does when DeploymentDate moves)."""
        return self.action == "Modify" and self.scope == ("Tags",)


@dataclass(frozen=True)
class ChangeSetResult:
    """How a change set settled. ``no_changes`` means it was deleted and nothing is to do."""

    change_set_id: str
    status: str
    reason: str = ""
    no_changes: bool = False


# -- stack state -----------------------------------------------------------------------------


def _recreate_refused(environment: str) -> bool:
    """Environments with deletion protection never delete a stack for --recreate."""
    from templates_src.environments import is_protected

    return is_protected(environment)


# A change set's Description says whether a webstack run deletes it when it ends (every one
# but a kept plan's) or keeps it for ``deploy --plan-file``; it outlives an interrupted run.
PASSING_DESCRIPTION: Final = "webstack deploy"
KEPT_DESCRIPTION: Final = "webstack plan, kept for deploy --plan-file"


def blocking_state(status: str, environment: str, stack_name: str, region: str,
                   reattach: str | None = None, *, profile: str | None = None,
                   endpoint_url: str | None = None) -> str | None:
    """The one-line reason a stack in ``status`` cannot take a change set, or None.

    Pure, so the preflight can show the same message before anything is packaged.
    REVIEW_IN_PROGRESS is not blocking: ``change_set_type`` clears such an orphan.
    ``reattach`` is the watch command for this stack (stacks.reattach_command); every command
    suggested reaches the stack the same way (profile, endpoint).
    """
    where = f"stack {stack_name} in {region}"
    watch_command = reattach or reattach_command(environment, region, stack_name,
                                                 profile=profile, endpoint_url=endpoint_url)
    watch = f"'{watch_command}'"
    if StackStatus(status).in_progress:
        return f"{where} is {status}; wait, or attach with {watch}"
    # destroy reads the stack's own protection and removes what a failed create left.
    forced = ["--force"] if _recreate_refused(environment) else []
    destroy = f"'{as_verb(watch_command, 'destroy', *forced)}'"

    def aws(*words: str) -> str:
        return cli_command("cloudformation", *words, "--stack-name", stack_name, region=region,
                           profile=profile, endpoint_url=endpoint_url)

    # A settled stack's watch shows nothing: its events are read with the aws cli.
    events = f"'{aws('describe-stack-events')}'"
    if _recreate_refused(environment):
        never_created = (
            f"{where} is ROLLBACK_COMPLETE: it was never created successfully, and --recreate "
            f"is refused for {environment}; review its events ({events}), then delete "
            f"it with {destroy} and deploy again"
        )
    else:
        never_created = (
            f"{where} is ROLLBACK_COMPLETE: it was never created successfully; rerun with "
            f"--recreate to delete and create it again "
            f"('{as_verb(watch_command, 'deploy', '--recreate')}')"
        )
    messages = {
        "ROLLBACK_COMPLETE": never_created,
        "ROLLBACK_FAILED": (
            f"{where} is ROLLBACK_FAILED: its creation and the rollback both failed; review "
            f"its events ('{aws('describe-stack-events')}'), then delete it with {destroy}"
        ),
        "UPDATE_ROLLBACK_FAILED": (
            f"{where} is UPDATE_ROLLBACK_FAILED; fix what blocked the rollback ({events}), "
            f"then run: {aws('continue-update-rollback')} [--resources-to-skip LogicalId ...]"
        ),
        "DELETE_FAILED": (
            f"{where} is DELETE_FAILED; fix what blocked the delete ({events}), then "
            f"finish it: {aws('delete-stack')} [--retain-resources LogicalId ...]"
        ),
        "IMPORT_ROLLBACK_FAILED": (
            f"{where} is IMPORT_ROLLBACK_FAILED; review its events ({events}) and repair "
            "it in the CloudFormation console before deploying"
        ),
    }
    return messages.get(status)


def _stack_environment(stack: Mapping[str, Any]) -> str:
    tag, parameter = stated_environment(stack)
    return tag or parameter or "ENV"


def change_set_type(
    cfn: Any, stack_name: str, *, environment: str | None = None,
    delete_timeout: float = 300.0, waiter: Waiter | None = None, reattach: str | None = None,
    profile: str | None = None, endpoint_url: str | None = None,
) -> tuple[str, dict[str, Any] | None]:
    """("CREATE", None) for a missing stack, ("UPDATE", stack) for one that can be updated.

    An orphaned REVIEW_IN_PROGRESS stack (left by a CREATE change set that failed or was never
    executed) holds no resources; it is deleted so the new CREATE starts clean. Not for
    ``deploy --plan-file`` of a new stack: that orphan is the reviewed plan. Blocking states
    raise StackStateError. ``environment`` defaults to the stack's Environment tag.
    """
    region = str(cfn.meta.region_name)
    stack = describe_stack(cfn, stack_name)
    if stack is None:
        return "CREATE", None
    status = StackStatus(stack["StackStatus"])
    if status.awaiting_review:
        _delete_orphan(cfn, stack, region=region, timeout=delete_timeout,
                       waiter=waiter or Waiter())
        return "CREATE", None
    message = blocking_state(status, environment or _stack_environment(stack), stack_name,
                             region, reattach, profile=profile, endpoint_url=endpoint_url)
    if message:
        raise StackStateError(message)
    return "UPDATE", stack


def refuse_pending_plan(cfn: Any, stack: Mapping[str, Any], reattach: str) -> None:
    """A REVIEW_IN_PROGRESS stack with a change set still AVAILABLE is someone's kept plan
    (``plan --plan-file``, or a change set webstack did not make), not an orphan: refused,
    never deleted under them. One a webstack run would have deleted, had it not been killed,
    is no one's plan: the stack's lock, held by the caller, says that run is over."""
    region, name = cfn.meta.region_name, stack["StackName"]
    with aws_errors(f"list the change sets of {name} in {region}"):
        summaries = cfn.list_change_sets(StackName=stack["StackId"]).get("Summaries", [])
    kept = [s for s in summaries if s.get("ExecutionStatus") == "AVAILABLE"
            and s.get("Description") != PASSING_DESCRIPTION]
    if kept:
        where = as_verb(reattach, "destroy")
        whose = "a kept plan" if kept[0].get("Description") == KEPT_DESCRIPTION else \
            "a change set webstack did not make"
        raise StackStateError(
            f"stack {name} in {region} is REVIEW_IN_PROGRESS with the change set "
            f"{kept[0].get('ChangeSetName')} waiting to be executed ({whose}); run it with "
            f"'webstack deploy --plan-file FILE', or discard it with '{where}'")


def _delete_orphan(cfn: Any, stack: Mapping[str, Any], *, region: str, timeout: float,
                   waiter: Waiter) -> None:
    stack_id, name = stack["StackId"], stack["StackName"]
    with aws_errors(f"delete the orphaned stack {name} in {region}"):
        held = cfn.list_stack_resources(StackName=stack_id).get("StackResourceSummaries", [])
        if held:
            raise StackStateError(
                f"stack {name} in {region} is REVIEW_IN_PROGRESS but holds {len(held)} "
                "resource(s); review it in the CloudFormation console before deploying"
            )
        cfn.delete_stack(StackName=stack_id)

        def gone() -> tuple[bool, str]:
            current = describe_stack(cfn, stack_id)
            if current is None:
                return True, "DELETE_COMPLETE"
            if current["StackStatus"] == "DELETE_FAILED":
                raise StackStateError(
                    f"could not delete the orphaned stack {name} in {region}: "
                    f"{one_line(current.get('StackStatusReason', 'DELETE_FAILED'))}",
                    Exit.FINDINGS,
                )
            return False, str(current["StackStatus"])

        done, last = waiter.poll(gone, timeout=timeout)
    if not done:
        raise ChangeSetTimeout(
            f"the orphaned stack {name} in {region} is still {last} after {timeout:.0f} s; "
            "retry in a minute"
        )


# -- parameters ------------------------------------------------------------------------------


def check_parameter_names(given: Collection[str], declared: Collection[str]) -> None:
    """Every ``--param`` names a parameter the root template declares."""
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise UsageError(f"--param {unknown[0]} is not a parameter of the root template; "
                         f"{did_you_mean(unknown[0], sorted(declared))}"
                         f"valid: {', '.join(sorted(declared))}")


def build_parameters(
    template_params: Mapping[str, Mapping[str, Any]],
    overrides: Mapping[str, str],
    existing: Mapping[str, str] | None,
) -> list[dict[str, Any]]:
    """The Parameters of a change set, like ``aws cloudformation deploy`` sends them.

    UPDATE (``existing`` given): an override is sent as its value; every other parameter the
    stack already has is sent as UsePreviousValue; a new one falls back to its Default.
    CREATE: the overrides only; a parameter with no Default must be among them.

    DeploymentDate must not move, and retag every resource, when nothing else changes: the
    deployer first sends the deployed date as an override, and only when that change set has
    changes makes it again with today's (scripts/deploy/prepare.py).
    """
    check_parameter_names(overrides, template_params)
    parameters: list[dict[str, Any]] = []
    missing: list[str] = []
    for key in sorted(template_params):
        previous = existing is not None and key in existing
        if key in overrides:
            parameters.append({"ParameterKey": key, "ParameterValue": overrides[key]})
        elif previous:
            parameters.append({"ParameterKey": key, "UsePreviousValue": True})
        elif "Default" not in template_params[key]:
            missing.append(key)
    if missing:
        raise UsageError(f"parameter {missing[0]} has no value and no default; pass "
                         f"--param {missing[0]}=VALUE")
    return parameters


# -- create and wait -------------------------------------------------------------------------


def _is_no_changes(reason: str) -> bool:
    lowered = reason.lower()
    return any(marker in lowered for marker in NO_CHANGE_REASONS)


def new_name() -> str:
    """A change set name for one CreateChangeSet request: ``webstack-<UTC time>-<8 hex>``.

    Never sent twice by webstack (two runs in the same second, or the same run's second,
    dated pass, differ in the random part), so when CloudFormation says a change set of this
    name already exists, it is this request's own, made by an attempt whose answer was lost.
    """
    return f"webstack-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(4)}"


def create(
    cfn: Any,
    *,
    stack_name: str,
    change_set_name: str,
    change_set_type: str,
    parameters: Sequence[Mapping[str, Any]],
    tags: Mapping[str, str],
    template_body: str | None = None,
    template_url: str | None = None,
    rollback_triggers: Sequence[str] = (),
    monitoring_minutes: int = 5,
    description: str = PASSING_DESCRIPTION,
    reattach: str | None = None,
) -> str | None:
    """Start a change set; its Id, or None when CloudFormation says there is nothing to do.

    The URL wins when both template forms are given: it has no 51,200-byte limit. Rollback
    triggers (CloudWatch alarm ARNs) also watch ``monitoring_minutes`` after the update, so
    a release that starts failing health checks rolls back on its own.

    When the first answer is lost (HTTP 500 after CloudFormation made the change set, or a
    read timeout), botocore sends the request again and CloudFormation answers
    AlreadyExistsException for the name. For a name from ``new_name`` that change set is this
    request's own: it is adopted (its Id read by name and stack), so the caller deletes it,
    and a CREATE's REVIEW_IN_PROGRESS stack, as it would the one it was answered. Any other
    "already exists" (another name, or the stack itself for a CREATE) is a StackStateError.
    """
    if template_url is None and template_body is None:
        raise ValueError("create() needs template_body or template_url")
    request: dict[str, Any] = {
        "StackName": stack_name,
        "ChangeSetName": change_set_name,
        "ChangeSetType": change_set_type,
        "Parameters": [dict(p) for p in parameters],
        "Capabilities": list(CAPABILITIES),
        "IncludeNestedStacks": True,
        "Description": description,
        # CloudFormation rejects an empty tag value; an unknown one is left out.
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items()) if v],
    }
    if template_url is not None:
        request["TemplateURL"] = template_url
    else:
        request["TemplateBody"] = template_body
    if rollback_triggers:
        request["RollbackConfiguration"] = {
            "RollbackTriggers": [{"Arn": arn, "Type": "AWS::CloudWatch::Alarm"}
                                 for arn in rollback_triggers],
            "MonitoringTimeInMinutes": monitoring_minutes,
        }
    region = cfn.meta.region_name
    try:
        with aws_errors(f"create change set for {stack_name} in {region}"):
            response = cfn.create_change_set(**request)
    except WebstackError:
        raise
    except Exception as err:
        if not error_code(err) or _server_failed(err):
            raise  # a 5xx after botocore's retries: the service broke (scripts/errors.py)
        if _is_no_changes(error_message(err)):
            return None
        if _lost_answer(err, change_set_name):
            return _adopt(cfn, stack_name=stack_name, change_set_name=change_set_name)
        raise _refused(err, stack_name, region, _tag(tags, "Environment"),
                       reattach=reattach) from err
    return str(response["Id"])


def _refused(err: Exception, stack_name: str, region: str, environment: str, *,
             reattach: str | None = None) -> WebstackError:
    """CloudFormation's refusal of a change set, as one line saying what to do; ``reattach``
    (the stack's watch command, with its profile and endpoint) when the caller knows it."""
    message = error_message(err)
    watch = reattach or reattach_command(environment, region, stack_name)
    if error_code(err) == "AlreadyExistsException" or "already exists" in message.lower():
        return StackStateError(
            f"stack {stack_name} in {region} was created by another deploy meanwhile "
            f"({one_line(message)}); wait for it with '{watch}', then deploy again")
    if "_IN_PROGRESS state" in message:
        return StackStateError(
            f"stack {stack_name} in {region} is busy with another operation "
            f"({one_line(message)}); wait for it with '{watch}', then deploy again")
    return ChangeSetFailed(f"cannot create a change set for {stack_name} in {region}: {message}")


def _server_failed(err: Exception) -> bool:
    status = (getattr(err, "response", None) or {}).get("ResponseMetadata", {}).get(
        "HTTPStatusCode")
    return isinstance(status, int) and status >= 500


def _lost_answer(err: Exception, change_set_name: str) -> bool:
    """CloudFormation refused a name of ours because the stack has it: a retry of this very
    request (``new_name`` never sends a name twice)."""
    taken = _NAME_TAKEN.match(error_message(err))
    return (error_code(err) == "AlreadyExistsException" and taken is not None
            and taken["name"] == change_set_name
            and _OWN_NAME.fullmatch(change_set_name) is not None)


def _adopt(cfn: Any, *, stack_name: str, change_set_name: str) -> str:
    """The Id of the change set this request made before its answer was lost."""
    described = _describe_change_set(cfn, ChangeSetName=change_set_name, StackName=stack_name)
    return str(described["ChangeSetId"])


def made(cfn: Any, stack_name: str, change_set_name: str) -> str | None:
    """The Id of the stack's change set of this name, None when there is none or it cannot be
    read: what a CreateChangeSet that failed (every answer lost) may have made all the same."""
    with contextlib.suppress(Exception):
        return str(cfn.describe_change_set(ChangeSetName=change_set_name,
                                           StackName=stack_name)["ChangeSetId"])
    return None


def _tag(tags: Mapping[str, str], key: str) -> str:
    return tags.get(key) or "ENV"


def delete_quietly(cfn: Any, change_set_id: str) -> str | None:
    """Best effort: used on no-changes, refusal and interrupt, where an error would hide the
    real outcome. None once deleted (or already gone); else what the endpoint said, for the
    caller that must not claim it left nothing behind."""
    try:
        cfn.delete_change_set(ChangeSetName=change_set_id)
    except Exception as err:
        if error_code(err) == "ChangeSetNotFound":
            return None
        return one_line(error_message(err) if error_code(err) else err)[:160] or \
            type(err).__name__
    return None


def _describe_change_set(cfn: Any, **request: Any) -> dict[str, Any]:
    """One describe_change_set call; a vanished change set is one line, not a traceback."""
    name = request["ChangeSetName"]
    try:
        with aws_errors(f"describe change set {name}"):
            described: dict[str, Any] = cfn.describe_change_set(**request)
    except WebstackError:
        raise
    except Exception as err:
        if not error_code(err):
            raise
        raise ChangeSetFailed(f"cannot read change set {name}: {error_message(err)}; "
                              "it may have been deleted or executed by someone else") from err
    return described


def _failure_reason(cfn: Any, reason: str) -> str:
    """A nested change set's failure surfaces at the root only as its ARN; fetch its reason."""
    match = _NESTED_ARN.search(reason)
    if not match:
        return reason
    try:
        nested = cfn.describe_change_set(ChangeSetName=match.group(0))
    except Exception:
        return reason
    inner = one_line(str(nested.get("StatusReason", "")))
    if not inner:
        return reason
    stack = nested.get("StackName", "a nested stack")
    return f"{stack}: {_failure_reason(cfn, inner)}"


def wait_until_ready(
    cfn: Any,
    change_set_id: str,
    *,
    stack_name: str,
    timeout: float = 600.0,
    waiter: Waiter | None = None,
) -> ChangeSetResult:
    """Poll until the change set is CREATE_COMPLETE or FAILED, against a deadline.

    All three ways CloudFormation says "nothing to do" (FAILED with "didn't contain changes",
    FAILED with "No updates are to be performed.", or COMPLETE with no changes) give
    ``no_changes=True``, and the change set is deleted. Any other failure deletes it and
    raises ChangeSetFailed with the reason.
    """
    region = cfn.meta.region_name

    def probe() -> tuple[bool, dict[str, Any]]:
        described = _describe_change_set(cfn, ChangeSetName=change_set_id,
                                         StackName=stack_name)
        return described.get("Status") in {"CREATE_COMPLETE", "FAILED"}, described

    done, described = (waiter or Waiter()).poll(probe, timeout=timeout)
    status = str(described.get("Status", ""))
    if not done:
        delete_quietly(cfn, change_set_id)
        raise ChangeSetTimeout(
            f"change set {change_set_id} still {status} after {timeout:.0f} s; "
            "CloudFormation is slow or stuck: retry in a few minutes"
        )
    reason = one_line(str(described.get("StatusReason", "")))
    empty = status == "CREATE_COMPLETE" and not described.get("Changes") and not described.get(
        "NextToken")
    if empty or (status == "FAILED" and _is_no_changes(reason)):
        delete_quietly(cfn, change_set_id)
        return ChangeSetResult(change_set_id, status, reason, no_changes=True)
    if status == "FAILED":
        detail = _failure_reason(cfn, reason) or "no reason given"
        delete_quietly(cfn, change_set_id)
        raise ChangeSetFailed(f"change set for {stack_name} in {region} failed: {detail}")
    return ChangeSetResult(change_set_id, status, reason)


# -- reading the changes ---------------------------------------------------------------------


def _change(resource: Mapping[str, Any], path: tuple[str, ...]) -> Change:
    properties = {
        str(target["Name"])
        for detail in resource.get("Details", [])
        if (target := detail.get("Target", {})).get("Attribute") == "Properties"
        and target.get("Name")
    }
    return Change(
        action=str(resource.get("Action", "")),
        path=path,
        logical_id=str(resource.get("LogicalResourceId", "")),
        resource_type=str(resource.get("ResourceType", "")),
        replacement=str(resource.get("Replacement", "")),
        physical_id=resource.get("PhysicalResourceId") or None,
        scope=tuple(resource.get("Scope", [])),
        nested_change_set_id=resource.get("ChangeSetId") or None,
        changed_properties=tuple(sorted(properties)),
    )


def _pages(cfn: Any, change_set_id: str, stack_name: str | None) -> Iterable[dict[str, Any]]:
    request: dict[str, Any] = {"ChangeSetName": change_set_id}
    if stack_name:
        request["StackName"] = stack_name
    seen: set[str] = set()
    while True:
        page = _describe_change_set(cfn, **request)
        yield page
        token = page.get("NextToken")
        if not token or token in seen:  # a repeated token would loop forever
            return
        seen.add(token)
        request["NextToken"] = token


def describe_all(
    cfn: Any, change_set_id: str, path: tuple[str, ...] = (), *, stack_name: str | None = None,
) -> list[Change]:
    """Every change on every page, descending into each nested stack's own change set.

    The root change set lists a nested stack only as one AWS::CloudFormation::Stack change;
    the database replacement that matters is inside the nested change set it points to.
    """
    changes: list[Change] = []
    for page in _pages(cfn, change_set_id, stack_name):
        for entry in page.get("Changes", []):
            resource = entry.get("ResourceChange")
            if entry.get("Type", "Resource") != "Resource" or not resource:
                continue
            change = _change(resource, path)
            changes.append(change)
            if change.resource_type == STACK_TYPE and change.nested_change_set_id:
                changes += describe_all(cfn, change.nested_change_set_id,
                                        (*path, change.logical_id))
    return changes


