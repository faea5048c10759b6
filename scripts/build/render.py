"""Render the nested template set: file name -> YAML text, in memory."""

from __future__ import annotations

from typing import Any

from scripts.build import yamlio


def render_dicts() -> dict[str, dict[str, Any]]:
    """Every template as a plain dict, root first, children in wiring order."""
    from templates_src.stacks import CHILDREN, ROOT, root

    children = {name: build() for name, build in CHILDREN.items()}
    out: dict[str, dict[str, Any]] = {ROOT: root.build(children).to_dict()}
    out.update({name: template.to_dict() for name, template in children.items()})
    return out


def render() -> dict[str, str]:
    """``{"root.yaml": text, "network.yaml": text, ...}``: exactly what build/ holds."""
    return {f"{name}.yaml": yamlio.dump(body) for name, body in render_dicts().items()}
