"""What a release does to each environment, offline: two template sets compared as resolved.

A reviewer of a release reads raw YAML of a *parameterized* set, where an environment-table edit
is a Mapping edit. ``webstack diff`` resolves both sides for every environment and region the way
``webstack show`` does (``resolve``) and compares them resource by resource: added, modified,
replaced or removed, with the property paths that changed. Replacement is predicted from the
resource schemas cfn-lint bundles (``scripts.build.schemas``); data-bearing resources are the
deploy guard's (``scripts.deploy.guard.STATEFUL_TYPES``), judged by its own rule.

Nested stacks are followed: a child is resolved with the values its parent passes as literals
(an environment value, a parameter default), so a root change to what a child receives shows
in the child's resources too. A value passed from another child's output (``Fn::GetAtt
X.Outputs.Y``) is unknown offline: the child keeps ``Ref`` to it, and a change of that wiring
shows on the nested-stack resource's ``Parameters`` in the parent. A nested stack's
``TemplateURL`` is compared as the child it names (its content is compared in the child), so a
packaged, deployed root compares with build/.

A row (``Row.to_json``), one per environment x region x changed resource::

    {"env": "prod", "region": "us-east-1", "stack": "DatabaseStack",
     "logical_id": "Database", "type": "AWS::RDS::DBInstance",
     "action": "add" | "modify" | "replace" | "remove",
     "replacement": "True" | "Conditional" | "False" | null (add, remove),
     "properties": [{"path": "MultiAZ", "old": false, "new": true}],   # absent side: null
     "data_bearing": true}

``stack`` is ``root`` or the path of nested-stack logical ids from the root, as the deploy plan
names it. Property paths are relative to ``Properties``; resource attributes keep their name
(``DeletionPolicy``); tag lists are keyed by tag (``Tags[CostCenter].Value``).
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from scripts.build import yamlio
from scripts.build.resolve import ResolveError, resolve
from scripts.build.schemas import replacement
from scripts.errors import UsageError

ROOT: Final = "root"
STACK_TYPE: Final = "AWS::CloudFormation::Stack"
ATTRIBUTES: Final = ("Condition", "CreationPolicy", "DeletionPolicy", "DependsOn", "Metadata",
                     "UpdatePolicy", "UpdateReplacePolicy")
ACTIONS: Final = ("add", "modify", "replace", "remove")

Templates = dict[str, dict[str, Any]]  # template file stem -> parsed template
Tree = dict[str, dict[str, Any]]  # stack address ("root", "DatabaseStack") -> resolved template
ChildOf = Callable[[str, str, Mapping[str, Any]], "dict[str, Any] | None"]


@dataclass(frozen=True)
class PropertyChange:
    path: str
    old: Any  # None: absent on the old side
    new: Any  # None: absent on the new side
    attribute: bool = False  # a resource attribute (DeletionPolicy...), not a property

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class Row:
    """One changed resource in one environment and region."""

    env: str
    region: str
    stack: str
    logical_id: str
    type: str
    action: str
    replacement: str | None
    properties: tuple[PropertyChange, ...]
    data_bearing: bool

    @property
    def address(self) -> str:
        return self.logical_id if self.stack == ROOT else f"{self.stack}/{self.logical_id}"

    def to_json(self) -> dict[str, Any]:
        return {"env": self.env, "region": self.region, "stack": self.stack,
                "logical_id": self.logical_id, "type": self.type, "action": self.action,
                "replacement": self.replacement,
                "properties": [p.to_json() for p in self.properties],
                "data_bearing": self.data_bearing}


# -- the two sides ---------------------------------------------------------------------------


def repository(fallback: Path) -> Path:
    """The git repository holding the current directory (where revisions are looked up and
    whose build/ is the working tree's), else ``fallback``."""
    found = _git(Path.cwd(), "rev-parse", "--show-toplevel")
    return Path(found.stdout.decode().strip()) if found.returncode == 0 else fallback


def load_side(spec: str | None, repo: Path, *, role: str) -> tuple[str, Templates]:
    """A side's templates: ``None`` is the working tree's build/, a folder holding ``build/``
    (or the templates themselves), or a git revision of ``repo``."""
    if spec is None:
        return "working tree", _load_folder(repo / "build", role)
    folder = Path(spec)
    if folder.is_dir():
        inner = folder / "build"
        return spec, _load_folder(inner if inner.is_dir() else folder, role)
    return spec, _load_revision(spec, repo, role)


def _load_folder(folder: Path, role: str) -> Templates:
    texts = {path.stem: path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.yaml"))}
    return _parse(texts, f"{role} {folder}")


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    except OSError as err:
        raise UsageError(f"cannot run git ({err.strerror}); give folders instead of "
                         "revisions") from err


def _load_revision(revision: str, repo: Path, role: str) -> Templates:
    found = _git(repo, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    if found.returncode != 0:
        shallow = _git(repo, "rev-parse", "--is-shallow-repository").stdout.strip() == b"true"
        if shallow:
            raise UsageError(f"{role} {revision!r} is not in this clone's history: {repo} is a "
                             "shallow clone; fetch the history it needs (git fetch --deepen=N, "
                             "or a checkout with fetch-depth: 0), or give a folder holding "
                             "build/")
        raise UsageError(f"{role} {revision!r} is neither a folder nor a git revision of "
                         f"{repo}; give e.g. HEAD~1, origin/main or a folder holding build/")
    commit = found.stdout.decode().strip()
    archive = _git(repo, "archive", "--format=tar", commit, "build")
    if archive.returncode != 0:
        raise UsageError(f"{role} {revision} has no build/ folder; give a later revision")
    texts: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        for member in tar.getmembers():
            name = Path(member.name)
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None and name.parent == Path("build") and name.suffix == ".yaml":
                texts[name.stem] = handle.read().decode("utf-8")
    return _parse(texts, f"{role} {revision}")


def _parse(texts: Mapping[str, str], where: str) -> Templates:
    if ROOT not in texts:
        raise UsageError(f"{where}: no build/root.yaml; give a revision or folder with a "
                         "rendered build/")
    out: Templates = {}
    for name, text in texts.items():
        try:
            out[name] = yamlio.load(text)
        except (ValueError, yaml.YAMLError) as err:
            raise UsageError(f"{where}: build/{name}.yaml is not a template: "
                             f"{' '.join(str(err).split())}") from err
    return out


# -- resolving a nested set as a tree ---------------------------------------------------------


def file_children(templates: Templates) -> ChildOf:
    """Children found by TemplateURL file name, as build/ and ``resolve_set`` find them."""
    def child_of(_address: str, _logical_id: str, props: Mapping[str, Any]
                 ) -> dict[str, Any] | None:
        url = props.get("TemplateURL")
        if not isinstance(url, str):
            return None
        return templates.get(url.rsplit("/", 1)[-1].removesuffix(".yaml"))

    return child_of


Memo = dict[tuple[int, str, str, str, str], dict[str, Any]]


def resolve_tree(root: Mapping[str, Any], child_of: ChildOf, environment: str, region: str, *,
                 parameters: Mapping[str, str] | None = None, where: str = "",
                 memo: Memo | None = None) -> Tree:
    """Every stack of the set resolved, keyed by its address; each child with the literal
    values its parent passes (so a root default or an environment value reaches it).

    ``memo`` shares resolutions between calls: the same template object, at the same address,
    with the same inputs resolves once (both sides of a diff hold most templates unchanged).
    """
    tree: Tree = {}
    memo = {} if memo is None else memo
    todo: list[tuple[str, Mapping[str, Any], dict[str, str]]] = [
        (ROOT, root, dict(parameters or {}))]
    while todo:
        address, template, given = todo.pop(0)
        key = (id(template), address, environment, region, json.dumps(given, sort_keys=True))
        if key not in memo:
            try:
                memo[key] = resolve(template, environment, region, given, source=address)
            except ResolveError as err:
                raise UsageError(f"{where}: {err}") from err
        body = memo[key]  # shared: never mutated; a changed nested stack is copied first
        resources = dict(body.get("Resources") or {})
        for logical_id, resource in resources.items():
            if not isinstance(resource, dict) or resource.get("Type") != STACK_TYPE:
                continue
            props = resource.get("Properties") or {}
            child_address = logical_id if address == ROOT else f"{address}/{logical_id}"
            child = child_of(address, logical_id, props)
            if child is not None:
                todo.append((child_address, child, _literal_parameters(props, environment)))
                # Compared as the child it names: its content is compared in the child.
                resources[logical_id] = {**resource,
                                         "Properties": {**props, "TemplateURL": child_address}}
        tree[address] = {**body, "Resources": resources} if "Resources" in body else body
    return tree


def _literal_parameters(props: Mapping[str, Any], environment: str) -> dict[str, str]:
    passed = props.get("Parameters")
    out = {"Environment": environment}
    if isinstance(passed, dict):
        for key, value in passed.items():
            if isinstance(value, bool):
                out[key] = "true" if value else "false"
            elif isinstance(value, str | int | float):
                out[key] = str(value)
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                out[key] = ",".join(value)
    return out


# -- comparing -------------------------------------------------------------------------------


def _is_intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and (
        next(iter(value)) == "Ref" or next(iter(value)).startswith("Fn::"))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _keyed(items: list[Any]) -> dict[str, Any] | None:
    """A tag-like list (every item a mapping with a unique ``Key``) keyed by it."""
    if not all(isinstance(i, dict) and isinstance(i.get("Key"), str) for i in items):
        return None
    keyed = {i["Key"]: i for i in items}
    return keyed if len(keyed) == len(items) else None


def value_changes(old: Any, new: Any, path: str = "") -> list[PropertyChange]:
    """The paths where ``old`` and ``new`` differ, each with its two values (None: absent)."""
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict) and not (
            _is_intrinsic(old) or _is_intrinsic(new)):
        return [change for key in sorted(set(old) | set(new))
                for change in value_changes(old.get(key), new.get(key), _join(path, str(key)))]
    if isinstance(old, list) and isinstance(new, list):
        old_keyed, new_keyed = _keyed(old), _keyed(new)
        if old_keyed is not None and new_keyed is not None and (old or new):
            return [change for key in sorted(set(old_keyed) | set(new_keyed))
                    for change in value_changes(old_keyed.get(key), new_keyed.get(key),
                                                f"{path}[{key}]")]
        if len(old) == len(new):
            return [change for index, (a, b) in enumerate(zip(old, new, strict=True))
                    for change in value_changes(a, b, f"{path}[{index}]")]
    return [PropertyChange(path, old, new)]


def resource_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[PropertyChange]:
    """Property changes (paths relative to Properties), then attribute changes."""
    changes = value_changes(old.get("Properties") or {}, new.get("Properties") or {})
    for attribute in ATTRIBUTES:
        changes += [PropertyChange(c.path, c.old, c.new, attribute=True)
                    for c in value_changes(old.get(attribute), new.get(attribute), attribute)]
    return changes


def _top_level(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def compare_trees(base: Tree, head: Tree, environment: str, region: str,
                  data_types: frozenset[str]) -> list[Row]:
    """Rows for every resource that differs between the two resolved sets."""
    rows = []
    stacks = [ROOT, *sorted((set(base) | set(head)) - {ROOT})]
    for stack in stacks:
        old = (base.get(stack) or {}).get("Resources") or {}
        new = (head.get(stack) or {}).get("Resources") or {}
        for logical_id in sorted(set(old) | set(new)):
            row = _compare_resource(old.get(logical_id), new.get(logical_id))
            if row is None:
                continue
            kind, action, replaced, props = row
            rows.append(Row(environment, region, stack, logical_id, kind, action,
                            replaced if action in ("modify", "replace") else None,
                            tuple(props), kind in data_types))
    return rows


def _compare_resource(old: Any, new: Any
                      ) -> tuple[str, str, str, list[PropertyChange]] | None:
    if old is None or new is None:
        body = new if old is None else old
        props = resource_changes({} if old is None else old, {} if new is None else new)
        return str(body.get("Type")), "add" if old is None else "remove", "", props
    kind = str(new.get("Type"))
    if old.get("Type") != new.get("Type"):
        return kind, "replace", "True", [PropertyChange("Type", old.get("Type"), kind, True),
                                         *resource_changes(old, new)]
    changes = resource_changes(old, new)
    if not changes:
        return None
    changed = {_top_level(c.path) for c in changes if not c.attribute}
    replaced = replacement(kind, changed) if changed else "False"
    return kind, "replace" if replaced == "True" else "modify", replaced, changes


def kept_defaults(base: Templates, head: Templates) -> dict[str, str]:
    """The root parameters whose Default HEAD changes, with BASE's: a deploy of a stack made
    from BASE keeps each of them (UsePreviousValue), so the new default reaches only a new
    stack."""
    declared = [((side.get(ROOT) or {}).get("Parameters") or {}) for side in (base, head)]
    return {name: str(spec["Default"]) for name, spec in declared[0].items()
            if isinstance(spec, dict) and "Default" in spec and name in declared[1]
            and (declared[1][name] or {}).get("Default") != spec["Default"]}


def as_deployed(base: Templates, head: Templates, environments: Sequence[str],  # noqa: PLR0917 - diff_sets' inputs and its answer
                regions: Sequence[str], parameters: Mapping[str, str], rows: list[Row]
                ) -> list[Row]:
    """The rows a deploy of a stack made from BASE would see: a root default HEAD changes
    keeps BASE's value there (``kept_defaults``); ``rows`` when none changes."""
    kept = kept_defaults(base, head)
    if not kept:
        return rows
    return diff_sets(base, head, environments, regions, parameters={**kept, **parameters})


def refusals(rows: Iterable[Row]) -> list[Row]:
    """Rows the deploy guard would refuse: a data-bearing resource removed or (maybe)
    replaced, judged by ``guard.stateful_violations`` itself."""
    from scripts.deploy.changeset import Change
    from scripts.deploy.guard import stateful_violations

    actions = {"add": "Add", "modify": "Modify", "replace": "Modify", "remove": "Remove"}
    by_change: dict[Change, list[Row]] = {}
    for row in rows:
        change = Change(actions[row.action], tuple(row.stack.split("/")) if row.stack != ROOT
                        else (), row.logical_id, row.type, row.replacement or "")
        by_change.setdefault(change, []).append(row)
    return [row for change in stateful_violations(by_change) for row in by_change[change]]


def diff_sets(base: Templates, head: Templates, environments: Sequence[str],
              regions: Sequence[str], *, parameters: Mapping[str, str] | None = None,
              labels: tuple[str, str] = ("base", "head")) -> list[Row]:
    """Every environment x region pair of two template sets, compared as resolved."""
    from scripts.deploy.guard import STATEFUL_TYPES

    # An unchanged template is the same object on both sides, so it resolves once per pair.
    head = {name: base[name] if base.get(name) == body else body for name, body in head.items()}
    memo: Memo = {}
    rows: list[Row] = []
    for environment in environments:
        for region in regions:
            trees = [resolve_tree(side[ROOT], file_children(side), environment, region,
                                  parameters=parameters, memo=memo,
                                  where=f"{label} ({environment}, {region})")
                     for side, label in ((base, labels[0]), (head, labels[1]))]
            rows += compare_trees(trees[0], trees[1], environment, region, STATEFUL_TYPES)
    return rows


# -- reports ---------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return "(absent)"
    if value == "":
        return '""'
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return " ".join(text.split())


def _shown_pair(old: Any, new: Any, limit: int = 60) -> tuple[str, str]:
    """Both sides of a change within ``limit`` characters, each cut around where they differ
    (the same window), so a long value never prints the same text on both sides."""
    a, b = _text(old), _text(new)
    if len(a) <= limit and len(b) <= limit:
        return a, b
    start = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                 min(len(a), len(b)))
    begin = max(0, start - limit // 3)

    def window(text: str) -> str:
        part = text[begin:begin + limit - 2]
        return ("…" if begin else "") + part + ("…" if begin + limit - 2 < len(text) else "")

    return window(a), window(b)


def _grouped(rows: Sequence[Row]) -> list[tuple[Row, list[str]]]:
    """Rows that differ only by region, once with their regions (a table a person reads)."""
    groups: dict[tuple[Any, ...], tuple[Row, list[str]]] = {}
    for row in rows:
        key = (row.env, row.stack, row.logical_id, row.type, row.action, row.replacement,
               repr([p.to_json() for p in row.properties]))
        groups.setdefault(key, (row, []))[1].append(row.region)
    return list(groups.values())


def _summary(rows: Sequence[Row], pairs: int) -> str:
    touched = len({(r.env, r.region) for r in rows})
    counts = ", ".join(f"{sum(r.action == a for r in rows)} {a}" for a in ACTIONS)
    return (f"{len(rows)} resource change(s) in {touched} of {pairs} environment x region "
            f"pair(s): {counts}")


def identical_line(pairs: int, labels: tuple[str, str]) -> str:
    return (f"identical: {labels[0]} and {labels[1]} resolve to the same resources in all "
            f"{pairs} environment x region pair(s)")


def _outcome(row: Row) -> str:
    if row.action == "remove":
        return "removed"
    return "replaced" if row.replacement == "True" else "may be replaced"


def text_report(rows: Sequence[Row], refused: Sequence[Row], pairs: int,
                labels: tuple[str, str]) -> list[str]:
    if not rows:
        return [identical_line(pairs, labels)]
    lines = [f"diff {labels[0]} -> {labels[1]}"]
    for row, regions in _grouped(rows):
        flags = "  [data-bearing]" if row.data_bearing else ""
        replaced = f" (replacement: {row.replacement})" if row.replacement else ""
        lines.append(f"{row.env:<8} {','.join(regions):<30} {row.action:<8} {row.address}  "
                     f"{row.type}{replaced}{flags}")
        lines += [f"    {p.path}: {' -> '.join(_shown_pair(p.old, p.new))}"
                  for p in row.properties]
    lines.append(_summary(rows, pairs))
    lines += [f"data: {r.address} ({r.type}) {_outcome(r)} in {r.env}/{r.region}"
              for r in refused]
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_report(rows: Sequence[Row], refused: Sequence[Row], pairs: int,
                    labels: tuple[str, str]) -> list[str]:
    """A table a pull request shows (GitHub-flavoured markdown)."""
    title = f"### webstack diff: `{labels[0]}` → `{labels[1]}`"
    if not rows:
        return [title, "", identical_line(pairs, labels) + "."]
    lines = [title, "", _summary(rows, pairs) + ".", "",
             "| env | regions | resource | type | action | replacement | changes |",
             "|---|---|---|---|---|---|---|"]
    for row, regions in _grouped(rows):
        changes = "<br>".join(
            "`{}`: `{}` → `{}`".format(_cell(p.path), *map(_cell, _shown_pair(p.old, p.new)))
            for p in row.properties) or "—"
        marker = " 🛢️" if row.data_bearing else ""
        lines.append(f"| {row.env} | {', '.join(regions)} | `{row.address}`{marker} | "
                     f"`{row.type}` | **{row.action}** | {row.replacement or '—'} | {changes} |")
    if refused:
        lines += ["", "**Data at risk** (the deploy refuses these without "
                  "`--allow-replacement`):", ""]
        lines += [f"- `{r.address}` ({r.type}) {_outcome(r)} in {r.env}/{r.region}"
                  for r in refused]
    lines += ["", "🛢️ data-bearing (the deploy guard's list)."]
    return lines


def json_report(rows: Sequence[Row]) -> str:
    return json.dumps([row.to_json() for row in rows], indent=2, sort_keys=True, default=str)


def report(rows: Sequence[Row], fmt: str, pairs: int, labels: tuple[str, str]) -> str:
    """The diff as ``text``, ``markdown`` or ``json`` (the documented rows; [] if identical)."""
    if fmt == "json":
        return json_report(rows) + "\n"
    render = markdown_report if fmt == "markdown" else text_report
    return "\n".join(render(rows, refusals(rows), pairs, labels)) + "\n"
