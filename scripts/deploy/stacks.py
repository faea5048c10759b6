"""What a CloudFormation stack is, in one place.

Its status reduced to the questions webstack asks (is it busy, did it succeed, can it take an
update), the one "describe it, or None when it does not exist", its default name, and the one
command that reattaches to it. Everything else asks here instead of matching status strings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Final

from scripts.deploy.aws import aws_errors, error_code, error_message, is_local
from scripts.errors import UsageError

STACK_TYPE: Final = "AWS::CloudFormation::Stack"
REVIEW_IN_PROGRESS: Final = "REVIEW_IN_PROGRESS"
SUCCEEDED: Final = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE",
                              "IMPORT_COMPLETE"})
# A stack in one of these runs a known template and can take an update change set.
REUSABLE: Final = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE",
                             "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"})
# A root stack event with one of these starts an operation.
OPERATION_STARTS: Final = frozenset({"CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS",
                                     "DELETE_IN_PROGRESS", "IMPORT_IN_PROGRESS"})
ROLLBACK_STARTS: Final = frozenset({"ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS",
                                    "IMPORT_ROLLBACK_IN_PROGRESS"})


class StackStatus(str):
    """A CloudFormation stack status, with the questions webstack asks of it."""

    __slots__ = ()

    @property
    def in_progress(self) -> bool:
        """CloudFormation is working on it and it will settle by itself.

        REVIEW_IN_PROGRESS is not: a stack waiting for a change set to be executed never
        moves until someone executes or deletes it.
        """
        return self.endswith("_IN_PROGRESS") and self != REVIEW_IN_PROGRESS

    @property
    def awaiting_review(self) -> bool:
        return self == REVIEW_IN_PROGRESS

    @property
    def settled(self) -> bool:
        """A final status (UPDATE_COMPLETE_CLEANUP_IN_PROGRESS contains COMPLETE, but runs)."""
        return self.endswith(("_COMPLETE", "_FAILED"))

    @property
    def succeeded(self) -> bool:
        return self in SUCCEEDED

    @property
    def reusable(self) -> bool:
        """It runs a known template and can take an update change set."""
        return self in REUSABLE

    @property
    def failed(self) -> bool:
        return self.endswith("_FAILED")


def default_stack_name(environment: str) -> str:
    """The root stack's name when --stack-name is not given."""
    return f"webstack-{environment}"


def describe_stack(cfn: Any, stack: str, *, where: str | None = None) -> dict[str, Any] | None:
    """The stack, or None when it does not exist; a deleted stack (by id) counts as gone."""
    region = cfn.meta.region_name
    try:
        with aws_errors(where or f"describe stack {stack} in {region}"):
            stacks = cfn.describe_stacks(StackName=stack)["Stacks"]
    except Exception as err:  # the stack not existing is an answer, not an error
        if error_code(err) == "ValidationError" and "does not exist" in error_message(err):
            return None
        raise
    if not stacks or stacks[0]["StackStatus"] == "DELETE_COMPLETE":
        return None
    found: dict[str, Any] = stacks[0]
    return found


def reattach_command(environment: str, region: str, stack_name: str, *,
                     profile: str | None = None, endpoint_url: str | None = None) -> str:
    """The ``webstack watch`` command that finds this very stack again.

    It names the stack when it is not the default, the profile and a non-local endpoint when
    they were given and differ from what the environment already says, and ``--local`` for the
    local endpoint 'webstack local up' runs.
    """
    command = f"webstack watch --env {environment} --region {region}"
    if stack_name != default_stack_name(environment):
        command += f" --stack-name {stack_name}"
    if profile and profile != os.environ.get("AWS_PROFILE"):
        command += f" --profile {profile}"
    if is_local(endpoint_url) and _is_webstack_local(endpoint_url):
        return command + " --local"
    if endpoint_url and endpoint_url != os.environ.get("AWS_ENDPOINT_URL"):
        command += f" --endpoint-url {endpoint_url}"
    return command


def _is_webstack_local(endpoint_url: str | None) -> bool:
    """The endpoint is the one ``--local`` reaches: the one 'webstack local up' recorded
    (another local server on another port is named by its URL, or ``--local`` would send the
    next command to a different endpoint)."""
    from urllib.parse import urlparse

    from scripts.local.endpoint import read_state

    try:
        server = read_state()
    except Exception:  # an unreadable state file: the URL says it plainly
        return False
    return server is not None and urlparse(server.url).port == urlparse(endpoint_url).port


def as_verb(reattach: str, verb: str, *flags: str) -> str:
    """The same stack reached by another command: ``reattach`` (reattach_command's watch)
    with ``webstack VERB`` in place of ``webstack watch``, then ``flags``."""
    return " ".join([reattach.replace("webstack watch", f"webstack {verb}", 1), *flags])


# -- what a stack says it is -------------------------------------------------------------------


def stated_environment(stack: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The environment a stack says it is: its Environment tag and its Environment parameter
    (webstack sets both; either may be missing on a stack webstack did not make)."""
    tag = next((str(t.get("Value", "")) for t in stack.get("Tags") or []
                if t.get("Key") == "Environment"), None)
    parameter = next((str(p.get("ParameterValue", "")) for p in stack.get("Parameters") or []
                      if p.get("ParameterKey") == "Environment"), None)
    return tag or None, parameter or None


def check_identity(stack: Mapping[str, Any], environment: str, region: str, *,
                   pending: Sequence[Mapping[str, Any]] = ()) -> None:
    """Refuse (exit 2) a stack that is not the ``environment`` stack the command was told it
    is: the stack's own Environment tag and parameter decide, never ``--env``.

    webstack sets both, so a stack that lacks either was made or changed by someone else. A
    REVIEW_IN_PROGRESS stack holds no parameters yet: what its change sets (``pending``,
    DescribeChangeSet answers) say stands in for them, and one nothing names is not webstack's.
    """
    name = stack.get("StackName", "the stack")
    tag, parameter = stated_environment(stack)
    where = f"stack {name} in {region}"
    if StackStatus(str(stack.get("StackStatus", ""))).awaiting_review:
        said = {value for change_set in pending
                for value in stated_environment(change_set) if value} | ({tag} if tag else set())
        if not said:
            raise UsageError(f"{where} is REVIEW_IN_PROGRESS and neither it nor its change sets "
                             "name an Environment: webstack did not make it and will not act "
                             "on it; name another --stack-name")
        if len(said) > 1:
            raise UsageError(f"{where} is REVIEW_IN_PROGRESS with change sets for "
                             f"{' and '.join(sorted(said))}: webstack acts on neither; inspect "
                             "it in the CloudFormation console")
        tag = parameter = next(iter(said))  # it holds nothing yet: what it waits for is it
    if tag and parameter and tag != parameter:
        raise UsageError(f"{where} says it is {tag} (its Environment tag) and {parameter} (its "
                         "Environment parameter); webstack acts on neither: inspect it in the "
                         "CloudFormation console")
    if tag is None and parameter is None:
        raise UsageError(f"{where} has no Environment tag or parameter: webstack did not make "
                         "it and will not act on it; name another --stack-name")
    from templates_src.environments import ENVIRONMENTS

    stated = tag or parameter
    if stated not in ENVIRONMENTS:  # "Prod", "dev ": no --env would match it
        raise UsageError(f"{where} says its Environment is {stated!r}, which is none of "
                         f"webstack's ({', '.join(ENVIRONMENTS)}): it was made or retagged by "
                         "hand, and webstack will not act on it; inspect it in the "
                         "CloudFormation console")
    if tag is None or parameter is None:
        has, lacks = ("tag", "parameter") if parameter is None else ("parameter", "tag")
        raise UsageError(f"{where} names its Environment only in its {has} (no Environment "
                         f"{lacks}); webstack sets both, so it did not make this stack, or "
                         "someone changed it by hand: webstack will not act on it; inspect it "
                         "in the CloudFormation console, or name another --stack-name")
    if stated != environment:
        raise UsageError(f"{where} is a {stated} stack, not {environment} (its Environment tag "
                         f"and parameter say {stated}); webstack acts on a stack as what it is: "
                         f"rerun with --env {stated} if this is the stack you mean")


def identified_stack(cfn: Any, stack_name: str, environment: str) -> dict[str, Any] | None:
    """``describe_stack``, refused when the stack is not the ``environment`` stack."""
    stack = describe_stack(cfn, stack_name)
    if stack is not None:
        pending: list[Mapping[str, Any]] = []
        if StackStatus(str(stack.get("StackStatus", ""))).awaiting_review:
            pending = _pending_change_sets(cfn, str(stack.get("StackId") or stack_name))
        check_identity(stack, environment, str(cfn.meta.region_name), pending=pending)
    return stack


def _pending_change_sets(cfn: Any, stack_id: str) -> list[Mapping[str, Any]]:
    """The change sets of a REVIEW_IN_PROGRESS stack, as DescribeChangeSet answers them."""
    region = cfn.meta.region_name
    with aws_errors(f"list the change sets of {stack_id} in {region}"):
        summaries = cfn.list_change_sets(StackName=stack_id).get("Summaries", [])
        return [cfn.describe_change_set(ChangeSetName=summary["ChangeSetId"])
                for summary in summaries[:10] if summary.get("ChangeSetId")]


def check_readable(stack: Mapping[str, Any], region: str, what: str, *,
                   settled: bool = False, reattach: str | None = None) -> None:
    """Refuse (exit 2), plainly, a read of a stack that cannot answer it: one whose create
    failed or was never executed holds nothing to report, and a read that starts an
    operation (drift detection) needs a settled stack (``settled``). Reads never repair.
    ``reattach`` (reattach_command) makes the suggested commands reach this very stack."""
    name = stack.get("StackName", "the stack")
    status = StackStatus(str(stack.get("StackStatus", "")))
    where = f"stack {name} in {region} is {status}"
    watch = reattach or "webstack watch"

    def command(verb: str, *flags: str) -> str:
        return f"'{as_verb(watch, verb, *flags)}'"

    tag, parameter = stated_environment(stack)
    from templates_src.environments import is_protected

    protected = is_protected(tag or parameter or "")
    if status.startswith("ROLLBACK_"):
        again = "" if protected else f"{command('deploy', '--recreate')} creates it again, "
        raise UsageError(f"{where}: the create failed; no {what} to report; {again}"
                         f"{command('destroy', *(['--force'] if protected else []))} "
                         "removes it")
    if status.awaiting_review:
        raise UsageError(f"{where}: it was never created (a change set waits for review); no "
                         f"{what} to report; {command('deploy', '--plan-file', 'FILE')} runs a "
                         f"kept plan; without one, {command('deploy')} creates it; "
                         f"{command('destroy')} discards it")
    if status.in_progress and status.startswith(("CREATE_", "DELETE_")):
        doing = "created" if status.startswith("CREATE_") else "deleted"
        raise UsageError(f"{where}: it is being {doing}; no {what} yet; wait for it with "
                         f"{command('watch')}, then ask again")
    if settled and status.in_progress:
        raise UsageError(f"{where}: no {what} while CloudFormation works on it; wait for it "
                         f"with {command('watch')}, then ask again")
