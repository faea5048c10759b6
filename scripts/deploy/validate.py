"""Everything a deploy is given, checked before anything touches an account.

``webstack deploy`` and ``plan`` call these before the first call that creates or uploads (no
artifact bucket, no upload, no change set): a value the root template refuses, or a stack name
that CloudFormation or a service would refuse further down, is one line and exit 2 here instead
of a half-created stack set later.

The root template (build/root.yaml) stays the single source of the parameter constraints: this
module reads its ``Parameters`` and ``Rules`` and evaluates them as CloudFormation does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

from scripts.errors import UsageError, shown
from scripts.paths import STATE_DIR_ENV
from templates_src.validators import ROOT_STACK_NAME_PATTERN

# -- stack names -----------------------------------------------------------------------------

# CloudFormation's rule for a stack name.
STACK_NAME_PATTERN: Final = re.compile(r"[a-zA-Z][-a-zA-Z0-9]*")
STACK_NAME_LIMIT: Final = 128
# The names derived from the root stack's name, and the room each leaves for it:
#   the database identifier "<root>-db" (RDS: 1-63 letters, digits, hyphens; starts with a
#   letter; no "--", no trailing "-")                                  63 - len("-db") = 60
#   a nested stack "<root>-<ChildLogicalId>-<13 random>" (CloudFormation, <= 128 chars);
#   the longest child id is "MonitoringStack" (15)                  128 - 1 - 15 - 1 - 13 = 98
# Buckets, load balancers and target groups get names CloudFormation generates and truncates
# itself, so they set no limit. The tightest budget wins.
DATABASE_SUFFIX: Final = "-db"
RDS_IDENTIFIER_LIMIT: Final = 63
NESTED_SUFFIX_LENGTH: Final = 1 + len("MonitoringStack") + 1 + 13
STACK_NAME_BUDGET: Final = min(RDS_IDENTIFIER_LIMIT - len(DATABASE_SUFFIX),
                               STACK_NAME_LIMIT - NESTED_SUFFIX_LENGTH)


def check_stack_name(name: str) -> None:
    """Refuse a root stack name CloudFormation, or a name derived from it, would refuse."""
    shown = name if len(name) <= 40 else f"{name[:37]}..."
    if not name:
        raise UsageError("--stack-name is empty; give a name such as webstack-dev, or leave "
                         "the option out for the default")
    if not STACK_NAME_PATTERN.fullmatch(name):
        raise UsageError(f"--stack-name {shown!r} is not a stack name: a letter, then letters, "
                         "digits and hyphens only")
    if len(name) > STACK_NAME_BUDGET:
        raise UsageError(f"--stack-name {shown!r} has {len(name)} characters; webstack allows "
                         f"{STACK_NAME_BUDGET} so the database identifier '<name>"
                         f"{DATABASE_SUFFIX}' stays within RDS's {RDS_IDENTIFIER_LIMIT}")
    if "--" in name or name.endswith("-"):
        raise UsageError(f"--stack-name {shown!r} has a double or trailing hyphen, which the "
                         f"database identifier '<name>{DATABASE_SUFFIX}' cannot have; "
                         "remove it")
    if name != name.lower():
        raise UsageError(f"--stack-name {shown!r} has capitals; RDS lowercases the database "
                         f"identifier '<name>{DATABASE_SUFFIX}', which the template names its "
                         f"log groups after: use {name.lower()!r}")
    if not re.match(ROOT_STACK_NAME_PATTERN, name):  # the database stack's own pattern
        raise UsageError(f"--stack-name {shown!r} cannot name the database '<name>"
                         f"{DATABASE_SUFFIX}': use 2 to {STACK_NAME_BUDGET} lowercase letters, "
                         "digits and single hyphens, starting with a letter")


# -- parameter constraints -------------------------------------------------------------------


def _show(name: str, value: str, declared: Mapping[str, Any]) -> str:
    """How a value appears in a message: never a NoEcho one, never a page of it."""
    if str(declared.get("NoEcho", "")).lower() == "true":
        return f"{name} (NoEcho, value not shown)"
    text = value if len(value) <= 40 else f"{value[:37]}... ({len(value)} characters)"
    return f"{name}={text!r}"


def _number(text: str) -> Decimal | None:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() and text.strip() == text and text else None


def _items(kind: str, value: str) -> list[str]:
    if kind == "CommaDelimitedList" or kind.startswith("List<"):
        return [item.strip() for item in value.split(",")]
    return [value]


def _type_problem(kind: str, value: str) -> str | None:
    if kind == "Number" and _number(value) is None:
        return "is not a number"
    if kind == "List<Number>" and any(_number(item) is None for item in _items(kind, value)):
        return "is not a comma-separated list of numbers"
    return None


def _length_problem(declared: Mapping[str, Any], value: str) -> str | None:
    length = len(value)
    if "MinLength" in declared and length < int(declared["MinLength"]):
        return f"is {length} characters, shorter than {declared['MinLength']}"
    if "MaxLength" in declared and length > int(declared["MaxLength"]):
        return f"is {length} characters, longer than {declared['MaxLength']}"
    return None


def _item_problem(declared: Mapping[str, Any], kind: str, item: str) -> str | None:
    number = _number(item) if "Number" in kind else None
    problem = None
    if number is not None and "MinValue" in declared and number < Decimal(
            str(declared["MinValue"])):
        problem = f"is below the minimum {declared['MinValue']}"
    elif number is not None and "MaxValue" in declared and number > Decimal(
            str(declared["MaxValue"])):
        problem = f"is above the maximum {declared['MaxValue']}"
    elif declared.get("AllowedValues") is not None and item not in [
            str(a) for a in declared["AllowedValues"]]:
        problem = f"is not one of {', '.join(str(a) for a in declared['AllowedValues'])}"
    # CloudFormation matches the whole value against AllowedPattern (anchored).
    elif declared.get("AllowedPattern") is not None and not re.fullmatch(
            str(declared["AllowedPattern"]), item):
        problem = "does not match the allowed pattern"
    return problem


def _constraint_problem(declared: Mapping[str, Any], value: str) -> str | None:
    """Why CloudFormation would refuse ``value`` for this declaration, or None."""
    kind = str(declared.get("Type", "String"))
    problem = _type_problem(kind, value) or _length_problem(declared, value)
    for item in _items(kind, value):
        problem = problem or _item_problem(declared, kind, item)
    return problem


# CloudFormation's limit on one parameter value, whatever the template allows.
PARAMETER_VALUE_BYTES = 4096


def check_parameters(root_template: Mapping[str, Any], values: Mapping[str, str], *,
                     environment: str) -> None:
    """Every value the change set will carry, against the root template's constraints and Rules.

    ``values`` holds every parameter with the value CloudFormation will use: the overrides,
    the values an update keeps with UsePreviousValue, and the defaults a create falls back to.
    A parameter missing from it and without a Default is refused too.
    """
    declared: Mapping[str, Mapping[str, Any]] = root_template.get("Parameters") or {}
    effective = {"Environment": environment, **values}
    for name in sorted(declared):
        spec = declared[name]
        if name not in effective:
            if "Default" not in spec:
                raise UsageError(f"parameter {name} has no value and no default; pass "
                                 f"--param {name}=VALUE")
            effective[name] = str(spec["Default"])
        size = len(effective[name].encode("utf-8"))
        problem = (f"is {size} bytes; CloudFormation takes at most {PARAMETER_VALUE_BYTES}"
                   if size > PARAMETER_VALUE_BYTES else _constraint_problem(spec, effective[name]))
        if problem:
            hint = spec.get("ConstraintDescription") or spec.get("Description") or ""
            raise UsageError(f"{_show(name, effective[name], spec)} {problem}"
                             f"{f'; expected {hint}' if hint else ''}; fix --param {name}")
    _check_rules(root_template.get("Rules") or {}, effective, declared)


# -- Rules -----------------------------------------------------------------------------------


class _Unsupported(Exception):
    """A rule function webstack cannot evaluate offline; CloudFormation will."""


def _check_rules(rules: Mapping[str, Any], values: Mapping[str, str],
                 declared: Mapping[str, Mapping[str, Any]]) -> None:
    evaluate = _Evaluator(values, declared)
    for name in sorted(rules):
        rule = rules[name] or {}
        try:
            if "RuleCondition" in rule and not evaluate.boolean(rule["RuleCondition"]):
                continue
            for assertion in rule.get("Assertions", []):
                if not evaluate.boolean(assertion.get("Assert")):
                    description = assertion.get("AssertDescription") or f"rule {name} failed"
                    raise UsageError(f"the root template's rule {name} refuses these "
                                     f"parameters: {description}")
        except _Unsupported:
            continue  # CloudFormation still checks it when the change set is created


class _Evaluator:
    """The rule functions of a template's Rules section over known parameter values."""

    def __init__(self, values: Mapping[str, str], declared: Mapping[str, Mapping[str, Any]]
                 ) -> None:
        self.values = values
        self.declared = declared

    def boolean(self, node: Any) -> bool:
        value = self.value(node)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        raise _Unsupported(node)

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.value(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            raise _Unsupported(node)
        ((function, argument),) = node.items()
        if function == "Ref":
            return self._ref(str(argument))
        if function == "Fn::RefAll":
            return [self._ref(name) for name, spec in sorted(self.declared.items())
                    if spec.get("Type") == argument]
        if function not in _FUNCTIONS:  # Fn::ValueOf needs the AWS resource behind a value
            raise _Unsupported(node)
        return _FUNCTIONS[function](self, argument)

    def _ref(self, name: str) -> Any:
        if name not in self.values:
            raise _Unsupported(name)  # a pseudo parameter: known only to CloudFormation
        value = self.values[name]
        kind = str(self.declared.get(name, {}).get("Type", "String"))
        return _items(kind, value) if kind.startswith("List<") or kind == (
            "CommaDelimitedList") else value


def _equals(evaluate: _Evaluator, argument: Any) -> bool:
    left, right = evaluate.value(argument)
    return _text(left) == _text(right)


def _not(evaluate: _Evaluator, argument: Any) -> bool:
    (inner,) = argument
    return not evaluate.boolean(inner)


def _contains(evaluate: _Evaluator, argument: Any) -> bool:
    members, wanted = evaluate.value(argument)
    return _text(wanted) in [_text(m) for m in _listed(members)]


def _each_member_equals(evaluate: _Evaluator, argument: Any) -> bool:
    members, wanted = evaluate.value(argument)
    return all(_text(m) == _text(wanted) for m in _listed(members))


def _each_member_in(evaluate: _Evaluator, argument: Any) -> bool:
    members, allowed = evaluate.value(argument)
    pool = [_text(a) for a in _listed(allowed)]
    return all(_text(m) in pool for m in _listed(members))


_FUNCTIONS: Final[dict[str, Callable[[_Evaluator, Any], bool]]] = {
    "Fn::Equals": _equals,
    "Fn::Not": _not,
    "Fn::And": lambda evaluate, argument: all(evaluate.boolean(a) for a in argument),
    "Fn::Or": lambda evaluate, argument: any(evaluate.boolean(a) for a in argument),
    "Fn::Contains": _contains,
    "Fn::EachMemberEquals": _each_member_equals,
    "Fn::EachMemberIn": _each_member_in,
}


def _listed(value: Any) -> Iterable[Any]:
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- files -----------------------------------------------------------------------------------


def check_writable_file(path: str, option: str) -> None:
    """A file webstack will write at the end (outputs, a plan): refuse now what would fail then,
    so a deploy never changes a stack and then cannot write what it promised."""
    try:
        _check_writable_file(path, option)
    except OSError as err:  # a name too long, a loop of links: the path itself is unusable
        raise UsageError(f"{option} {path!r} cannot be used: {err.strerror or err}; choose "
                         "another path") from None


def _check_writable_file(path: str, option: str) -> None:
    target = Path(path)
    if not path or target.is_dir():
        raise UsageError(f"{option} {path!r} is {'empty' if not path else 'a directory'}; give "
                         "a file path such as outputs/dev.json")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        if folder.is_symlink():  # exists() follows links: this one points nowhere
            raise UsageError(f"{option} {path!r}: {shown(folder)} is a broken symlink; give a "
                             "file path in a folder you can write")
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"{option} {path!r}: {shown(folder)} is not a folder; give a file "
                         "path in a folder you can write")
    if not os.access(folder, os.W_OK | os.X_OK) or (target.exists()
                                                     and not os.access(target, os.W_OK)):
        raise UsageError(f"{option} {path!r} cannot be written (permission denied on "
                         f"{shown(target if target.exists() else folder)}); choose another path")


def check_default_outputs(path: Path) -> None:
    """The outputs file a deploy writes without ``--outputs-file``, in the state folder:
    refused now, as that option is, with what to change."""
    try:
        check_writable_file(str(path), "outputs file")
    except UsageError as err:
        raise UsageError(f"{err} (the default, under {STATE_DIR_ENV} or .webstack/; or pass "
                         "--outputs-file)") from None
