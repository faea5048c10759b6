"""A picture of the stack set, from the templates themselves: the root, its children, and which
child's output feeds which child's parameter (``Fn::GetAtt Child.Outputs.Name``).

Nesting edges are dashed; a wiring edge carries the names it passes (``Output`` when the
parameter has the same name, ``Output→Parameter`` when not), one edge per pair of stacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

STACK_TYPE: Final = "AWS::CloudFormation::Stack"
FORMATS: Final = ("mermaid", "dot")


@dataclass(frozen=True)
class Graph:
    nodes: tuple[tuple[str, str], ...]  # (logical id, template file), the root first
    nesting: tuple[str, ...]  # children of the root, in template order
    wiring: tuple[tuple[str, str, str], ...]  # (from, to, label)


def _source(value: Any) -> tuple[str, str] | None:
    """(child, output) for ``Fn::GetAtt [Child, Outputs.Name]``."""
    if isinstance(value, dict) and list(value) == ["Fn::GetAtt"]:
        target = value["Fn::GetAtt"]
        if isinstance(target, str):
            target = target.split(".", 1)
        if (isinstance(target, list) and len(target) == 2
                and str(target[1]).startswith("Outputs.")):
            return str(target[0]), str(target[1]).removeprefix("Outputs.")
    return None


def build_graph(root: Mapping[str, Any]) -> Graph:
    children = {name: body for name, body in (root.get("Resources") or {}).items()
                if isinstance(body, dict) and body.get("Type") == STACK_TYPE}
    nodes = [("root", "root.yaml")] + [
        (name, str((body.get("Properties") or {}).get("TemplateURL", "?")))
        for name, body in children.items()]
    edges: dict[tuple[str, str], list[str]] = {}
    for name, body in children.items():
        for parameter, value in ((body.get("Properties") or {}).get("Parameters") or {}).items():
            found = _source(value)
            if found is None:
                continue
            child, output = found
            label = output if output == parameter else f"{output}→{parameter}"
            edges.setdefault((child, name), []).append(label)
    wiring = tuple((a, b, ", ".join(sorted(labels))) for (a, b), labels in sorted(edges.items()))
    return Graph(tuple(nodes), tuple(children), wiring)


def mermaid(graph: Graph) -> str:
    lines = ["flowchart LR"]
    lines += [f'  {name}["{name}<br>{file}"]' for name, file in graph.nodes]
    lines += [f"  root -.-> {child}" for child in graph.nesting]
    lines += [f'  {a} -- "{label}" --> {b}' for a, b, label in graph.wiring]
    return "\n".join(lines) + "\n"


def dot(graph: Graph) -> str:
    lines = ["digraph webstack {", "  rankdir=LR;", "  node [shape=box];"]
    lines += [f'  "{name}" [label="{name}\\n{file}"];' for name, file in graph.nodes]
    lines += [f'  "root" -> "{child}" [style=dashed];' for child in graph.nesting]
    lines += [f'  "{a}" -> "{b}" [label="{label}"];' for a, b, label in graph.wiring]
    return "\n".join([*lines, "}"]) + "\n"


def render(root: Mapping[str, Any], fmt: str = "mermaid") -> str:
    graph = build_graph(root)
    return dot(graph) if fmt == "dot" else mermaid(graph)
