"""How many resources each stack of an operation touches, so progress can say done/total.

A change set lists what an update touches in the root and in every nested stack it descends
into (their own change sets). A nested stack the operation creates is one change of its
parent; what it will hold is its child template in build/: its Resources, less those whose
Condition is false for this environment, region and parameters (``resolve`` decides, as for
``webstack show``). A stack neither source describes has no total.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from scripts.deploy.changeset import Change
from scripts.deploy.stacks import STACK_TYPE

StackPath = tuple[str, ...]
ChildTemplate = Callable[[StackPath], Mapping[str, Any] | None]
"""A created nested stack's template as it will be deployed, or None when unknown."""


def expected(changes: Sequence[Change], child_template: ChildTemplate) -> dict[StackPath, int]:
    """Resources each stack will have done when the operation completes, by stack path."""
    listed = Counter(change.path for change in changes)
    totals: dict[StackPath, int] = dict(listed)
    for change in changes:
        child = (*change.path, change.logical_id)
        if change.resource_type != STACK_TYPE or change.action != "Add" or child in listed:
            continue
        template = child_template(child)
        if template is not None:
            totals[child] = len(template.get("Resources") or {})
    return totals


def built_children(environment: str, region: str, parameters: Mapping[str, str]
                   ) -> ChildTemplate:
    """The root's children in build/, resolved for one target; read only when asked for."""
    root: list[Mapping[str, Any]] = []

    def child(path: StackPath) -> Mapping[str, Any] | None:
        import yaml

        from scripts.build import yamlio
        from scripts.build.resolve import ResolveError, resolve
        from scripts.paths import BUILD_DIR

        if len(path) != 1:  # build/'s children nest nothing further
            return None
        try:
            if not root:
                root.append(yamlio.load((BUILD_DIR / "root.yaml").read_text(encoding="utf-8")))
            url = str(root[0]["Resources"][path[0]]["Properties"]["TemplateURL"])
            template = yamlio.load((BUILD_DIR / url).read_text(encoding="utf-8"))
            resolved: Mapping[str, Any] = resolve(template, environment, region,
                                                  dict(parameters), source=url)
        except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError, ResolveError):
            return None  # no total rather than a wrong one
        return resolved

    return child
