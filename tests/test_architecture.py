"""The shape of the code: subsystems as folders, no import cycles, no reaching into privates.

Imports are read with ``ast`` wherever they sit, inside functions included: an import hidden in
a function is still a dependency, and a cycle that only works because of where imports sit is
still a knot.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("scripts", "templates_src")
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p
           for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))}
TEST_FILES = sorted((REPO / "tests").glob("*.py"))


def _imports(path: Path) -> Iterator[tuple[str, str | None, int]]:
    """(module, imported name or None, line) for every import in the file, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                yield node.module, alias.name, node.lineno


def _dependencies(path: Path) -> set[str]:
    """The project modules a file imports (``from pkg import mod`` counts as ``pkg.mod``)."""
    found = set()
    for module, name, _ in _imports(path):
        if name is not None and f"{module}.{name}" in MODULES:
            found.add(f"{module}.{name}")
        elif module in MODULES:
            found.add(module)
    return found


def _cycles() -> list[list[str]]:  # noqa: C901 - Tarjan's algorithm reads best in one piece
    graph = {name: _dependencies(path) - {name} for name, path in MODULES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for name in graph:
        if name not in index:
            visit(name)
    return components


def test_no_import_cycle_among_the_projects_modules_counting_imports_inside_functions():
    assert _cycles() == []


def test_nothing_below_the_cli_imports_the_cli():
    importers = [name for name, path in MODULES.items()
                 if name not in {"scripts.cli", "scripts.__main__"}
                 and "scripts.cli" in _dependencies(path)]
    assert importers == []


def _bound_modules(path: Path) -> dict[str, str]:
    """Local name -> project module, for every project module the file imports by name."""
    bound: dict[str, str] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            pairs = [(alias.name, alias.asname) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            pairs = [(f"{node.module}.{alias.name}", alias.asname) for alias in node.names]
        else:
            continue
        for target, alias in pairs:
            if target in MODULES:
                bound[alias or target.rsplit(".", 1)[-1]] = target
    return bound


def _private_uses(path: Path) -> Iterator[str]:
    """``from m import _x`` and ``m._x`` where m is a project module imported by this file."""
    where = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    for module, name, line in _imports(path):
        if module.startswith(PACKAGES) and name and name.startswith("_") and \
                not name.startswith("__"):
            yield f"{where}:{line}: from {module} import {name}"
    bound = _bound_modules(path)
    own = _module_name(path) if where.parts and where.parts[0] in PACKAGES else None
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and bound.get(node.value.id, own) != own
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            yield f"{where}:{node.lineno}: {node.value.id}.{node.attr}"


@pytest.mark.parametrize("path", [*MODULES.values(), *TEST_FILES],
                         ids=lambda p: str(p.relative_to(REPO)))
def test_no_module_or_test_uses_another_modules_private_names(path: Path):
    assert list(_private_uses(path)) == []


def test_no_module_is_over_600_lines():
    long = {name: n for name, path in MODULES.items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_scripts_shows_its_four_subsystems_and_the_rules_as_folders():
    folders = {p.name for p in (REPO / "scripts").iterdir()
               if p.is_dir() and (p / "__init__.py").is_file()}
    assert folders == {"build", "deploy", "local", "tools", "rules"}
    loose = sorted(p.name for p in (REPO / "scripts").glob("*.py"))
    assert loose == ["__init__.py", "__main__.py", "cli.py", "cli_args.py", "errors.py",
                     "inputs.py", "paths.py"]


def test_a_cycle_would_be_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The cycle check itself works: two modules importing each other inside functions."""
    first, second = tmp_path / "first.py", tmp_path / "second.py"
    first.write_text("def f():\n    from scripts.second import g\n", encoding="utf-8")
    second.write_text("def g():\n    from scripts.first import f\n", encoding="utf-8")
    monkeypatch.setitem(MODULES, "scripts.first", first)
    monkeypatch.setitem(MODULES, "scripts.second", second)
    assert ["scripts.first", "scripts.second"] in _cycles()


def test_a_private_use_would_be_found(tmp_path: Path):
    """The private-name check itself works, for both spellings."""
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("from scripts.build.gate import _deliver\nfrom scripts.build import gate\n"
                      "gate._worker_signals()\n", encoding="utf-8")
    found = [line.split(": ", 1)[1] for line in _private_uses(sneaky)]
    assert found == ["from scripts.build.gate import _deliver", "gate._worker_signals"]
