"""What the project's cfn-lint rules share: finding resources, reading values through Fn::If.

cfn-lint loads only the files of ``append_rules`` that match ``[A-Za-z1-9]*.py``, so this module
is never taken for a rule. The rules are loaded by file path, not as members of this package, so
they import it absolutely: ``from scripts.rules._helpers import ...``.

Where a value sits is tracked by a cfn-lint ``Validator``: its context carries the path into the
template and the conditions held so far, which is what ``get_value_from_path`` needs to drop the
branches of an ``Fn::If`` that cannot apply.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

from cfnlint.helpers import is_function
from cfnlint.jsonschema import CfnTemplateValidator, Validator
from cfnlint.rules.helpers import get_resource_by_name, get_value_from_path
from cfnlint.template import Template

NodePath = list[str | int]


def is_intrinsic(value: Any) -> bool:
    """True for a CloudFormation function (``Ref``, ``Fn::...``), whose value cannot be read."""
    name, _ = is_function(value)
    return name is not None


def resources(
    cfn: Template, types: list[str] | None = None
) -> Iterator[tuple[str, dict[str, Any], Validator]]:
    """Each resource (of ``types``, or all) with where it sits, its own ``Condition`` held true.

    A resource whose ``Condition`` can never hold never exists, so it is left out; a branch that
    contradicts the resource's condition is dropped by ``outcomes``.
    """
    template = CfnTemplateValidator({}).evolve(cfn=cfn, context=cfn.context)
    for name in cfn.get_resources(types or []):
        resource, where = get_resource_by_name(template, name)
        if isinstance(resource, dict):
            yield str(name), resource, where


def descend(where: Validator, *keys: str | int) -> Validator:
    """``where``, moved down ``keys`` into the template."""
    path = where.context.path
    for key in keys:
        path = path.descend(path=key)
    return where.evolve(context=where.context.evolve(path=path))


def path_of(where: Validator) -> NodePath:
    """The template path of ``where``, for a ``RuleMatch``."""
    return list(where.context.path.path)


def outcomes(value: Any, where: Validator) -> Iterator[tuple[Any, Validator]]:
    """Each value ``value`` can take, following ``Fn::If`` into the branches that can apply.

    cfn-lint's ``get_value_from_path`` does the walk: a branch that contradicts a condition
    already held (an enclosing ``Fn::If``, the resource's ``Condition``) is dropped, and a
    malformed ``Fn::If`` yields nothing (E1028 reports it). ``AWS::NoValue`` comes out as None,
    unset, at the path of the ``{Ref: AWS::NoValue}`` node (cfn-lint's goes on into its ``Ref``).
    """
    for found, found_where in get_value_from_path(where, value, deque()):
        yield found, _off_no_value_ref(found, found_where)


def _off_no_value_ref(found: Any, where: Validator) -> Validator:
    """cfn-lint places an ``AWS::NoValue`` at its ``Ref`` key; a finding points at the node."""
    steps = list(where.context.path.path)
    if found is not None or steps[-1:] != ["Ref"]:
        return where
    path = where.context.path.evolve(path=deque(steps[:-1]))
    return where.evolve(context=where.context.evolve(path=path))


def literal_entries(value: Any, where: Validator) -> Iterator[tuple[dict[str, Any], Validator]]:
    """Each literal object in a list value, following ``Fn::If`` on the list and on each entry.

    Entries that are ``AWS::NoValue``, intrinsics that cannot be read or not objects are skipped.
    """
    for items, items_where in outcomes(value, where):
        if not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            for entry, entry_where in outcomes(item, descend(items_where, index)):
                if isinstance(entry, dict) and not is_intrinsic(entry):
                    yield entry, entry_where


def branch_note(path: NodePath, fn_if: str = "an Fn::If") -> str:
    """Tells a reader that the finding holds in one branch only."""
    return f" in one branch of {fn_if}" if "Fn::If" in path else ""
