"""Checks for rows of a data table, in troposphere's style: one small closure per check.

A check takes one field's value and the whole row (for limits another field sets) and
returns the problem in words, or None when the value is fine. Types are checked first,
from the dataclass annotations, so a check never sees a string where it expects a number.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import is_dataclass
from typing import Any, Final, get_type_hints

# The root stack's name (its AllowedPattern; the deployer checks it before any call, without
# importing troposphere). RDS lowercases instance identifiers (and so the names of their log
# groups); <name>-db fits the 63 characters of an identifier.
ROOT_STACK_NAME_PATTERN: Final = r"^[a-z](?!.*--)[a-z0-9-]{0,58}[a-z0-9]$"

Check = Callable[[Any, Any], str | None]


def between(low: int, high: int, problem: str) -> Check:
    """``problem`` may name the value as ``{value}``."""
    def check(value: int, _row: object) -> str | None:
        return None if low <= value <= high else problem.format(value=value)
    return check


def at_least(low: int, problem: str) -> Check:
    def check(value: int, _row: object) -> str | None:
        return None if value >= low else problem.format(value=value)
    return check


def one_of(allowed: Collection[object], problem: str) -> Check:
    def check(value: object, _row: object) -> str | None:
        return None if value in allowed else problem.format(value=value)
    return check


def type_problems(row: object, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Each field whose value is not of its annotated type, nested rows included.

    A bool is not an int here: ``True`` for a day count is a typo, not a 1.
    """
    for name, expected in get_type_hints(type(row)).items():
        value = getattr(row, name)
        stray_bool = isinstance(value, bool) and expected is not bool
        if stray_bool or not isinstance(value, expected):
            yield prefix + name, (
                f"must be {getattr(expected, '__name__', expected)}, "
                f"not {type(value).__name__} ({value!r})"
            )
        elif is_dataclass(expected):
            yield from type_problems(value, f"{prefix}{name}.")


def value_at(row: object, path: str) -> Any:
    """The value at a dotted field path, e.g. ``alarms.cpu_high_percent``."""
    for name in path.split("."):
        row = getattr(row, name)
    return row


def problems(row: object, checks: Sequence[tuple[str, Check]]) -> Iterator[tuple[str, str]]:
    """``(field, problem)`` for the types, then for each check in order. Lazy: a caller that
    stops at the first problem lets each check rely on the fields checked before it."""
    yield from type_problems(row)
    for field, check in checks:
        problem = check(value_at(row, field), row)
        if problem is not None:
            yield field, problem
