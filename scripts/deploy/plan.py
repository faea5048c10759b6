"""The plan a reviewer reads, and the plan file that makes ``deploy --plan-file`` run exactly it.

The plan file records what the change set was made from (template hashes, the stack's state,
the parameters); ``verify_plan`` refuses to execute it once any of that has moved.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scripts.build import yamlio
from scripts.deploy.changeset import Change
from scripts.deploy.guard import outcome, stateful_violations
from scripts.errors import UsageError

PLAN_FORMAT = 2  # 2: the stack's id and the data guard's verdict are bound in
# A plan file is a few kilobytes per hundred changes; anything far larger is not one.
PLAN_FILE_LIMIT = 4 * 1024 * 1024
REPLAN = "run 'webstack plan' again"

_RESET = "\033[0m"
_COLORS = {"Add": "\033[32m", "Import": "\033[32m", "Modify": "\033[33m",
           "Dynamic": "\033[33m", "SyncWithActual": "\033[33m", "Remove": "\033[31m"}
_WARN = "\033[33m"
_REFUSE = "\033[31m"


# -- the plan on screen ----------------------------------------------------------------------


def _paint(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{_RESET}" if color and code else text


def _security_concern(change: Change) -> str | None:
    """Why a security reviewer should look at this change, or None.

    A tags-only Modify is skipped: every resource is retagged when DeploymentDate moves.
    """
    if change.tags_only:
        return None
    kind = change.resource_type
    if kind.startswith("AWS::IAM::"):
        return "changes IAM permissions; review what it grants"
    if kind.startswith("AWS::EC2::SecurityGroup"):
        return "changes network access; review the rules"
    if kind == "AWS::S3::BucketPolicy":
        return "changes who can reach the bucket; review the policy"
    if kind == "AWS::KMS::Key" and (
        change.action != "Modify" or not change.changed_properties
        or "KeyPolicy" in change.changed_properties
    ):
        return "changes a KMS key policy (who can decrypt); review it"
    return None


def _order(change: Change) -> tuple[str, ...]:
    """Tree order: a nested stack's line comes just before its own resources."""
    return (*change.path, change.logical_id)


# A plan line fits a CI log's 100 columns: the type gives way first, cut in its middle
# (AWS::ElasticLoadBa…::LoadBalancer), never the action, the address or the verdict.
PLAN_WIDTH = 100
_TYPE_MIN = 20


def _cut_type(resource_type: str, width: int) -> str:
    """``resource_type`` within ``width``: the service part is shortened, the kind kept."""
    if len(resource_type) <= width:
        return resource_type
    head, _, kind = resource_type.rpartition("::")
    room = width - len(kind) - 3  # the "…::" between what is kept of the head and the kind
    if not head or room < 1:
        return resource_type[: width - 1] + "…"
    return f"{head[:room]}…::{kind}"


def render(changes: Sequence[Change], *, color: bool, allow_replacement: bool = False,
           width: int = PLAN_WIDTH) -> list[str]:
    """One aligned line per change (action, address, type, replacement), the counts, then
    warnings and refusals; each change within ``width`` (a terminal's, at most
    ``PLAN_WIDTH``) for the addresses webstack makes.

    Colour codes only with ``color`` (a terminal), so logs and CI output stay plain text.
    """
    ordered = sorted(changes, key=_order)
    rows = [(c.action.lower(), c.address, c.resource_type, c.replacement or "-",
             "(tags only)" if c.tags_only else "") for c in ordered]
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(5)]
    fixed = widths[0] + widths[1] + widths[3] + 6 + (widths[4] + 2 if widths[4] else 0)
    widths[2] = min(widths[2], max(min(width, PLAN_WIDTH) - fixed, _TYPE_MIN))
    lines = []
    for change, row in zip(ordered, rows, strict=True):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]),
                 _cut_type(row[2], widths[2]).ljust(widths[2]), row[3].ljust(widths[3]), row[4]]
        cells[0] = _paint(cells[0], _COLORS.get(change.action, ""), color)
        lines.append("  ".join(cells).rstrip())

    counts = Counter(c.action for c in changes)
    summary = (f"plan: {counts['Add']} to add, {counts['Modify']} to modify, "
               f"{counts['Remove']} to remove")
    extras = [f"{counts['Import']} to import" if counts["Import"] else "",
              f"{counts['Dynamic']} dynamic" if counts["Dynamic"] else ""]
    lines.append(", ".join([summary, *filter(None, extras)]))

    # The type is on the change's own line above: these name the address.
    for change in ordered:
        concern = _security_concern(change)
        if concern:
            lines.append(f"{_paint('warning:', _WARN, color)} {change.address} "
                         f"{change.action.lower()}: {concern}")
    for change in stateful_violations(ordered):
        if allow_replacement:
            lines.append(f"{_paint('allowed:', _REFUSE, color)} {change.address} "
                         f"{outcome(change)} (--allow-replacement)")
        else:
            lines.append(f"{_paint('refused:', _REFUSE, color)} {change.address} "
                         f"{outcome(change)}; rerun with --allow-replacement after taking a "
                         "backup")
    return lines


# -- the plan as a document a pull request shows ---------------------------------------------

PLAN_FORMATS = ("text", "markdown", "json")


@dataclass(frozen=True)
class RegionPlan:
    """One region's plan: its changes, or None when the stack is already up to date."""

    stack_name: str
    environment: str
    region: str
    changes: Sequence[Change] | None


def _row(change: Change) -> dict[str, Any]:
    return {"address": change.address, "path": list(change.path),
            "logical_id": change.logical_id, "type": change.resource_type,
            "action": change.action, "replacement": change.replacement or None,
            "changed_properties": list(change.changed_properties),
            "tags_only": change.tags_only, "security_concern": _security_concern(change),
            "data_loss": bool(stateful_violations([change]))}


def document(plans: Sequence[RegionPlan], fmt: str, *, allow_replacement: bool = False) -> str:
    """Every region's plan as ``text`` (what the terminal shows), ``markdown`` or ``json``.

    JSON: a list, one object per region (stack_name, environment, region, no_changes, and
    ``changes``: address, path, logical_id, type, action, replacement, changed_properties,
    tags_only, security_concern, data_loss).
    """
    if fmt == "json":
        return json.dumps([
            {"stack_name": p.stack_name, "environment": p.environment, "region": p.region,
             "no_changes": p.changes is None,
             "changes": [_row(c) for c in sorted(p.changes or (), key=_order)]}
            for p in plans], indent=2, sort_keys=True) + "\n"
    lines: list[str] = []
    for p in plans:
        if fmt == "markdown":
            lines += _markdown(p, allow_replacement)
        else:
            lines += [f"[{p.region}] {p.stack_name} ({p.environment})"]
            lines += render(p.changes, color=False, allow_replacement=allow_replacement) \
                if p.changes is not None else ["no changes"]
    return "\n".join(lines) + "\n"


def _markdown(p: RegionPlan, allow_replacement: bool) -> list[str]:
    lines = [f"### webstack plan: `{p.stack_name}` ({p.environment}, {p.region})", ""]
    if p.changes is None:
        return [*lines, "No changes: the stack already runs this template set.", ""]
    ordered = sorted(p.changes, key=_order)
    counts = Counter(c.action for c in ordered)
    lines += [f"{counts['Add']} to add, {counts['Modify']} to modify, "
              f"{counts['Remove']} to remove.", "",
              "| action | resource | type | replacement | properties |", "|---|---|---|---|---|"]
    for c in ordered:
        props = "(tags only)" if c.tags_only else ", ".join(f"`{n}`" for n in c.changed_properties)
        lines.append(f"| **{c.action.lower()}** | `{c.address}` | `{c.resource_type}` | "
                     f"{c.replacement or '—'} | {props or '—'} |")
    notes = [f"- ⚠️ `{c.address}` ({c.resource_type}): {_security_concern(c)}"
             for c in ordered if _security_concern(c)]
    verdict = "allowed (--allow-replacement)" if allow_replacement else "refused"
    notes += [f"- 🛑 `{c.address}` ({c.resource_type}) {outcome(c)}: {verdict}"
              for c in stateful_violations(ordered)]
    return [*lines, *(["", *notes] if notes else []), ""]


# -- the plan file ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StackState:
    """The stack as the plan saw it; status None means it did not exist yet."""

    status: str | None = None
    last_updated: str | None = None
    # sha256 of the deployed parameters and the id of the stack's latest event: an update
    # within the same second as the plan, or one that LastUpdatedTime misses, still moves it.
    fingerprint: str | None = None


def stack_fingerprint(cfn: Any, stack: Mapping[str, Any] | None) -> str | None:
    """What the stack runs with and the last thing that happened to it, as one hash."""
    if stack is None:
        return None
    from scripts.deploy.aws import aws_errors

    with aws_errors(f"read the events of {stack.get('StackName', 'the stack')}"):
        events = cfn.describe_stack_events(StackName=stack["StackId"]).get("StackEvents", [])
    parameters = sorted((str(p.get("ParameterKey")), str(p.get("ParameterValue", "")))
                        for p in stack.get("Parameters", []))
    latest = events[0].get("EventId") if events else None
    document = json.dumps({"parameters": parameters, "last_event": latest}, sort_keys=True)
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def stack_state(stack: Mapping[str, Any] | None, fingerprint: str | None = None) -> StackState:
    """From a describe_stacks entry (None: no stack); any update moves LastUpdatedTime.

    Creating a change set does not touch an existing stack, so this may be taken before or
    after it; a new stack's plan records None, and its own REVIEW_IN_PROGRESS stack matches.
    """
    if stack is None:
        return StackState()
    when = stack.get("LastUpdatedTime") or stack.get("CreationTime")
    stamp = when.isoformat() if isinstance(when, datetime) else (str(when) if when else None)
    return StackState(str(stack["StackStatus"]), stamp, fingerprint)


def hash_templates(build_dir: Path) -> dict[str, str]:
    """sha256 of each rendered template, keyed ``build/<name>.yaml`` as a reader names it."""
    return {
        f"{build_dir.name}/{path.name}": hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(build_dir.glob("*.yaml"))
    }


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Plan:
    """A reviewed change set and everything it was made from."""

    stack_name: str
    region: str
    environment: str
    change_set_id: str
    change_set_type: str
    template_hashes: Mapping[str, str]
    stack: StackState
    changes: Sequence[Change]
    parameters: Sequence[Mapping[str, Any]] = ()
    created: str = field(default_factory=_now)
    stack_id: str | None = None  # the stack the change set belongs to (a new one's too)
    allow_replacement: bool = False  # the plan was made with --allow-replacement


def to_json(plan: Plan) -> str:
    """Stable text (sorted keys), so two plans of the same thing diff cleanly."""
    document = {
        "format": PLAN_FORMAT,
        "stack_name": plan.stack_name,
        "region": plan.region,
        "environment": plan.environment,
        "change_set_id": plan.change_set_id,
        "change_set_type": plan.change_set_type,
        "template_hashes": dict(plan.template_hashes),
        "stack": {"status": plan.stack.status, "last_updated": plan.stack.last_updated,
                  "fingerprint": plan.stack.fingerprint},
        "parameters": [dict(p) for p in plan.parameters],
        "stack_id": plan.stack_id,
        "allow_replacement": plan.allow_replacement,
        "changes": [
            {"action": c.action, "path": list(c.path), "logical_id": c.logical_id,
             "resource_type": c.resource_type, "replacement": c.replacement,
             "physical_id": c.physical_id, "scope": list(c.scope),
             "nested_change_set_id": c.nested_change_set_id,
             "changed_properties": list(c.changed_properties)}
            for c in plan.changes
        ],
        "created": plan.created,
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def from_json(text: str, source: str = "the plan file") -> Plan:
    """Read a plan; anything else (wrong format, hand edits gone wrong) is one UsageError."""
    try:
        data = json.loads(text)
        if data.get("format") != PLAN_FORMAT:
            raise UsageError(f"{source} has plan format {data.get('format')!r}, this webstack "
                             f"reads {PLAN_FORMAT}; {REPLAN}")
        return Plan(
            stack_name=str(data["stack_name"]),
            region=str(data["region"]),
            environment=str(data["environment"]),
            change_set_id=str(data["change_set_id"]),
            change_set_type=str(data["change_set_type"]),
            template_hashes={str(k): str(v) for k, v in data["template_hashes"].items()},
            stack=StackState(data["stack"]["status"], data["stack"]["last_updated"],
                             data["stack"].get("fingerprint")),
            changes=[
                Change(
                    action=c["action"], path=tuple(c["path"]), logical_id=c["logical_id"],
                    resource_type=c["resource_type"], replacement=c["replacement"],
                    physical_id=c["physical_id"], scope=tuple(c["scope"]),
                    nested_change_set_id=c["nested_change_set_id"],
                    changed_properties=tuple(c.get("changed_properties", ())),
                )
                for c in data["changes"]
            ],
            parameters=[dict(p) for p in data["parameters"]],
            created=str(data["created"]),
            stack_id=_optional_text(data["stack_id"]),
            allow_replacement=data["allow_replacement"] is True,
        )
    except UsageError:
        raise
    except RecursionError as err:
        raise UsageError(f"{source} is not a webstack plan (nested too deeply to read); "
                         f"{REPLAN}") from err
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise UsageError(f"{source} is not a webstack plan ({type(err).__name__}: {err}); "
                         f"{REPLAN}") from err


def _optional_text(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"expected text, found {type(value).__name__}")
    return value


def write_plan(path: str | Path, plan: Plan) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_json(plan), encoding="utf-8")
    return out


def read_plan(path: str | Path) -> Plan:
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(PLAN_FILE_LIMIT + 1)
        if len(raw) > PLAN_FILE_LIMIT:
            raise UsageError(f"plan file {path} is over {PLAN_FILE_LIMIT // (1024 * 1024)} MiB: "
                             f"not a webstack plan; {REPLAN}")
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(f"plan file {path} is not text (byte {err.start} is not UTF-8): not "
                         f"a webstack plan; {REPLAN}") from err
    except OSError as err:
        raise UsageError(f"cannot read the plan file {path}: {err.strerror}; {REPLAN}") from err
    return from_json(text, source=f"plan file {path}")


def _template_drift(planned: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    drift = []
    for name in sorted(set(planned) | set(current)):
        if name not in current:
            drift.append(f"{name} is gone")
        elif name not in planned:
            drift.append(f"{name} is new")
        elif planned[name] != current[name]:
            drift.append(f"{name} changed")
    return drift


def _describe(state: StackState) -> str:
    if state.status is None:
        return "absent"
    return f"{state.status} at {state.last_updated or 'an unknown time'}"


def verify_plan(
    plan: Plan,
    current_hashes: Mapping[str, str],
    current_stack_state: StackState,
    *,
    environment: str | None = None,
    region: str | None = None,
    stack_name: str | None = None,
) -> None:
    """Refuse a plan whose inputs moved: its change set would no longer be what was reviewed."""
    wanted = (environment, region, stack_name)
    planned = (plan.environment, plan.region, plan.stack_name)
    differ = [f"{flag} {p}" for flag, w, p in zip(("--env", "--region", "--stack-name"),
                                                 wanted, planned, strict=True)
              if w is not None and w != p]
    if differ:
        raise UsageError(
            f"the plan is for {plan.stack_name} ({plan.environment}, {plan.region}), not "
            f"{stack_name or plan.stack_name} ({environment or plan.environment}, "
            f"{region or plan.region}); run it with {' '.join(differ)}, or {REPLAN}"
        )
    drift = _template_drift(plan.template_hashes, current_hashes)
    if drift:
        more = f" (and {len(drift) - 1} more)" if len(drift) > 1 else ""
        raise UsageError(f"{drift[0]} since the plan was made{more}; {REPLAN}")
    # A CREATE plan's own change set is what put the new stack in REVIEW_IN_PROGRESS.
    created_by_plan = plan.stack.status is None and current_stack_state.status == (
        "REVIEW_IN_PROGRESS")
    if current_stack_state != plan.stack and not created_by_plan:
        was, now = _describe(plan.stack), _describe(current_stack_state)
        moved = f"{was}, now {now}" if was != now else \
            f"{now}, but its parameters or events moved: another deploy ran"
        raise UsageError(f"stack {plan.stack_name} in {plan.region} changed since the plan was "
                         f"made ({moved}); {REPLAN}")


def verify_change_set(cfn: Any, plan: Plan, stack: Mapping[str, Any] | None, *,
                      template: str, allow_replacement: bool = False) -> list[Change]:
    """The change set about to run is the one reviewed, read afresh from CloudFormation: it
    belongs to this very stack (StackId), it can run, it was made from ``template`` (the root
    build/ packages to now, whose TemplateURLs name each child by its content hash), it
    carries the planned parameters, its changes (nested change sets included) are exactly the
    plan's, and the data guard still passes them. Its changes, as CloudFormation describes
    them now, are returned."""
    from scripts.deploy.aws import aws_errors, error_code
    from scripts.deploy.changeset import describe_all

    where = f"the planned change set for {plan.stack_name} in {plan.region}"
    try:
        with aws_errors(f"describe the planned change set in {plan.region}"):
            described = cfn.describe_change_set(ChangeSetName=plan.change_set_id,
                                                StackName=plan.stack_name)
    except Exception as err:
        if error_code(err) in {"ChangeSetNotFound", "ChangeSetNotFoundException",
                               "ValidationError"}:
            raise UsageError(f"{where} no longer exists; {REPLAN}") from err
        raise
    owner = str(described.get("StackId", ""))
    current = str((stack or {}).get("StackId", ""))
    if owner != plan.stack_id or owner != current:
        raise UsageError(f"{where} belongs to {owner or 'no stack'}, but the plan was made for "
                         f"{plan.stack_id} and {plan.stack_name} is {current or 'absent'} now; "
                         f"refusing to execute it: {REPLAN}")
    status = described.get("Status", "")
    execution = described.get("ExecutionStatus", "")
    if status != "CREATE_COMPLETE" or execution != "AVAILABLE":
        raise UsageError(f"{where} is {status}/{execution}, not executable; {REPLAN}")
    with aws_errors(f"read the planned change set's template in {plan.region}"):
        body = cfn.get_template(StackName=owner, ChangeSetName=plan.change_set_id,
                                TemplateStage="Original").get("TemplateBody")
    if not _same_template(body, template):
        raise UsageError(f"{where} was not made from build/ as it stands (its template differs "
                         f"from the packaged root.yaml); refusing to execute it: {REPLAN}")
    if _parameters(described.get("Parameters") or []) != _parameters(plan.parameters):
        raise UsageError(f"{where} carries other parameters than the plan recorded; refusing "
                         f"to execute it: {REPLAN}")
    with aws_errors(f"describe the planned change set in {plan.region}"):
        changes = describe_all(cfn, plan.change_set_id)
    unreviewed = sorted(set(changes) ^ set(plan.changes), key=lambda c: c.address)
    if unreviewed or len(changes) != len(plan.changes):
        first = unreviewed[0].address if unreviewed else "a duplicated change"
        raise UsageError(f"{where} does not make the reviewed changes ({len(unreviewed)} "
                         f"differ, e.g. {first}); refusing to execute it: {REPLAN}")
    violations = stateful_violations(changes)
    if violations and not allow_replacement:
        listed = ", ".join(f"{c.address} ({outcome(c)})" for c in violations)
        raise UsageError(f"{where} would lose data: {listed}; rerun with --allow-replacement "
                         "after taking a backup")
    return changes


def _same_template(body: Any, template: str) -> bool:
    """The same document: botocore hands a JSON body back parsed, a YAML one as text."""
    if isinstance(body, str) and body == template:
        return True
    try:
        return bool(yamlio.load(body if isinstance(body, str) else json.dumps(body))
                    == yamlio.load(template))
    except (ValueError, TypeError):
        return False


def _parameters(parameters: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, bool]]:
    """Parameters as comparable rows: a NoEcho value reads back masked, as in the plan."""
    return sorted((str(p.get("ParameterKey", "")), str(p.get("ParameterValue", "")),
                   bool(p.get("UsePreviousValue"))) for p in parameters)
