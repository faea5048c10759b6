"""One text per template for the gate: the template as written, plus what each environment
changes in it.

cfn-lint cannot see values behind ``Fn::FindInMap`` and ``Condition``, so the gate also lints
every environment's resolved template. Linted whole, those are 27 texts that repeat the written
template almost entirely: most resolved resources differ from the written ones only by the
environment's name in tags and names, which cfn-lint already checks as written (the Environment
parameter's AllowedValues). Here such resources are recognised and dropped; the rest (a CIDR,
an instance type, a NAT gateway that exists only in prod) are appended to the written text under
new logical ids, their references rewritten to the same environment's versions, so a single
cfn-lint run checks the template and every environment's values in it. Identical versions from
several environments or regions are appended once.

Findings map back through ``Merged.place``: a line of the written part is the build/ file's own
line, and an appended resource is reported under the environments and regions it came from with
its original logical id. Pure: no cfn-lint import, no I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scripts.build import yamlio
from scripts.build.resolve import partition_of

ENVIRONMENT = "Environment"
_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)((?:\.[A-Za-z0-9.]+)?)\}")
_SUB_VARIABLE = re.compile(r"\$\{([A-Za-z0-9:]+)\}")



@dataclass(frozen=True)
class Variant:
    """One environment's resolved template and the regions it stands for."""

    environment: str
    regions: tuple[str, ...]
    body: Mapping[str, Any]


@dataclass(frozen=True)
class Merged:
    """The written text with the environments' own resources appended after its Resources.

    ``origins`` maps each appended logical id to (original id, label naming where it came
    from); ``start`` is the first appended line (1-based) and ``count`` how many there are.
    """

    text: str
    origins: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    start: int = 0
    count: int = 0
    # The resources of each template the merge stands for: as written, and each variant.
    worlds: tuple[frozenset[str], ...] = ()
    # A text of region-scoped resources only (see ``merge``): the regions it is linted for,
    # and the appended resources whose findings count; the rest of it is context.
    regions: tuple[str, ...] | None = None
    only: frozenset[str] | None = None

    def coexist(self, names: Iterable[str]) -> bool:
        """Whether these resources exist together in one of the templates merged here.

        Cross-resource rules (E3019: unique primary identifiers) see every variant's resources
        side by side; a conflict between resources that never share a template is the
        merge's own artifact, not a finding.
        """
        wanted = set(names)
        return not self.worlds or any(wanted <= world for world in self.worlds)

    def place(self, path: Sequence[object], line: int) -> tuple[str | None, str]:
        """(label of the environments, or None for the written template; location)."""
        if len(path) >= 2 and path[0] == "Resources" and path[1] in self.origins:
            original, label = self.origins[str(path[1])]
            return label, "/".join(str(part) for part in ("Resources", original, *path[2:]))
        if self.count and line >= self.start + self.count:
            line -= self.count
        return None, str(line)


def equivalent(written: Any, resolved: Any, known: Mapping[str, str]) -> bool:
    """``resolved`` is ``written`` with only ``known`` names filled in: the Environment
    parameter, and for a per-region variant its region and partition."""
    if written == resolved:
        return True
    if isinstance(written, dict) and set(written) in ({"Ref"}, {"Fn::Sub"}):
        return _filled_in(written, resolved, known)
    if isinstance(written, dict) and isinstance(resolved, dict):
        return written.keys() == resolved.keys() and all(
            equivalent(written[k], resolved[k], known) for k in written)
    if isinstance(written, list) and isinstance(resolved, list):
        return len(written) == len(resolved) and all(
            equivalent(w, r, known) for w, r in zip(written, resolved, strict=True))
    return False


def _filled_in(written: dict[str, Any], resolved: Any, known: Mapping[str, str]) -> bool:
    """A Ref or a Sub of ``written`` became ``resolved`` by filling in ``known`` names only."""
    if "Ref" in written:
        return written["Ref"] in known and resolved == known[written["Ref"]]
    text = written["Fn::Sub"]
    if not isinstance(text, str):
        return False
    filled = _fill(text, known)
    if isinstance(resolved, dict) and set(resolved) == {"Fn::Sub"}:
        return isinstance(resolved["Fn::Sub"], str) and filled == _fill(resolved["Fn::Sub"], known)
    return "${" not in filled.replace("${!", "") and filled == resolved


def _fill(text: str, known: Mapping[str, str]) -> str:
    return _SUB_VARIABLE.sub(lambda m: known.get(m.group(1), m.group(0)), text)


def _known(variant: Variant) -> dict[str, str]:
    """What resolving may have filled in: the environment; the region only where it was
    fixed; the partition wherever the variant's regions share one."""
    known = {ENVIRONMENT: variant.environment}
    partitions = {partition_of(region) for region in variant.regions}
    if len(partitions) == 1:
        ((partition, suffix),) = partitions
        known.update({"AWS::Partition": partition, "AWS::URLSuffix": suffix})
    if len(variant.regions) == 1:
        known["AWS::Region"] = variant.regions[0]
    return known


def _rename(node: Any, names: Mapping[str, str]) -> Any:
    """``node`` with Ref, GetAtt, Sub and DependsOn pointing at the renamed resources."""
    if isinstance(node, list):
        return [_rename(item, names) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((key, arg),) = node.items()
        if key == "Ref" and isinstance(arg, str):
            return {"Ref": names.get(arg, arg)}
        if key == "Fn::GetAtt" and isinstance(arg, list) and arg and isinstance(arg[0], str):
            return {"Fn::GetAtt": [names.get(arg[0], arg[0]), *_rename(arg[1:], names)]}
        if key == "Fn::Sub":
            return {"Fn::Sub": _rename_sub(arg, names)}
    out = {key: _rename(value, names) for key, value in node.items()}
    depends = node.get("DependsOn")
    if isinstance(depends, str):
        out["DependsOn"] = names.get(depends, depends)
    elif isinstance(depends, list):
        out["DependsOn"] = [names.get(d, d) if isinstance(d, str) else d for d in depends]
    return out


def _rename_sub(arg: Any, names: Mapping[str, str]) -> Any:
    def swap(match: re.Match[str]) -> str:
        return "${" + names.get(match.group(1), match.group(1)) + match.group(2) + "}"

    if isinstance(arg, str):
        return _SUB_NAME.sub(swap, arg)
    if isinstance(arg, list) and arg and isinstance(arg[0], str):
        return [_SUB_NAME.sub(swap, arg[0]), *_rename(arg[1:], names)]
    return _rename(arg, names)


def _references(node: Any) -> Iterable[str]:
    """Every logical name ``node`` refers to (resources and parameters alike)."""
    if isinstance(node, list):
        for item in node:
            yield from _references(item)
    elif isinstance(node, dict):
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref" and isinstance(arg, str):
                yield arg
            elif key == "Fn::GetAtt" and isinstance(arg, list) and arg:
                yield str(arg[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else (arg[0] if arg else "")
                yield from (m.group(1) for m in _SUB_NAME.finditer(str(text)))
        depends = node.get("DependsOn")
        yield from [depends] if isinstance(depends, str) else (depends or [])
        for value in node.values():
            yield from _references(value)


def _own_versions(written: Mapping[str, Any], variant: Variant) -> dict[str, Any]:
    """The variant's resources that differ from the written ones, renamed and rewired.

    A resource's new id hashes its own resolved content, before its references are rewired:
    versions that differ only in which version of another resource they point at (an
    AutoScalingGroup whose launch template differs by region in its AMI alone) share an id
    and are appended once, as a resource that refers to a replaced one but is otherwise as
    written is not appended at all. The rewiring needs the ids of what a resource refers
    to, so ids are settled depth first (CloudFormation references form no cycle).
    """
    resources: Mapping[str, Any] = variant.body.get("Resources") or {}
    known = _known(variant)
    own = {name for name, body in resources.items()
           if not equivalent(written.get(name), body, known)}
    names: dict[str, str] = {}
    out: dict[str, Any] = {}

    def settle(name: str, seen: tuple[str, ...] = ()) -> None:
        if name in names or name not in own or name in seen:
            return
        for ref in set(_references(resources[name])):
            settle(ref, (*seen, name))
        body = _rename(resources[name], names)
        digest = hashlib.sha256(json.dumps(resources[name], sort_keys=True).encode()
                                ).hexdigest()[:10]
        names[name] = f"{name}Variant{digest}"
        out[names[name]] = body

    for name in sorted(own):
        settle(name)
    return out


def merge(text: str, body: Mapping[str, Any], variants: Sequence[Variant], label: str
          ) -> list[Merged] | None:
    """The written ``text`` with every variant's own resources appended; None when the text
    is not in webstack's own layout (then each variant is linted as a text of its own).

    A resource that differs by region (it reads a region-keyed map) is linted for its own
    regions only, in a text of its own: the template without its Outputs, the resources it
    refers to (directly or not) reduced to their type and condition, and only its own findings
    kept. The merged text points at the written version instead, and is linted for every
    region.
    """
    if yamlio.dump(dict(body)) != text:
        return None
    written: Mapping[str, Any] = body.get("Resources") or {}
    appended: dict[str, Any] = {}
    sources: dict[str, list[Variant]] = {}
    worlds = [frozenset(written)]
    for variant in variants:
        own = _own_versions(written, variant)
        replaced = {name.rsplit("Variant", 1)[0] for name in own}
        present = set(variant.body.get("Resources") or {})
        worlds.append(frozenset((present - replaced) | set(own)))
        for name, resource in own.items():
            appended[name] = resource
            sources.setdefault(name, []).append(variant)
    everywhere = {region for variant in variants for region in variant.regions}
    where = {name: tuple(dict.fromkeys(r for v in sources[name] for r in v.regions))
             for name in appended}
    scoped = {name: where[name] for name in appended if set(where[name]) != everywhere}
    originals = {name: name.rsplit("Variant", 1)[0] for name in scoped}
    origins = {name: (name.rsplit("Variant", 1)[0], _label(label, sources[name]))
               for name in appended}
    main = _appended(text, {name: _rename(resource, originals)
                            for name, resource in appended.items() if name not in scoped},
                     origins, tuple(worlds))
    groups: dict[tuple[str, ...], set[str]] = {}
    for name, regions in scoped.items():
        groups.setdefault(regions, set()).add(name)
    pool = {**written, **appended}
    regional = []
    for regions, names in groups.items():
        needed = _closure(names, pool)
        context = {key: value for key, value in body.items() if key != "Outputs"}
        context["Resources"] = {n: r if n in names else _stub(r) for n, r in pool.items()
                                if n in needed}
        regional.append(Merged(yamlio.dump(context),
                               {n: origins[n] for n in needed if n in origins},
                               worlds=tuple(worlds), regions=regions, only=frozenset(names)))
    return [main, *regional]


def _appended(text: str, appended: Mapping[str, Any], origins: Mapping[str, tuple[str, str]],
              worlds: tuple[frozenset[str], ...]) -> Merged:
    """``text`` with ``appended`` after its Resources."""
    if not appended:
        return Merged(text)
    lines = text.splitlines(keepends=True)
    start = lines.index("Resources:\n") + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith((" ", "\n"))),
               len(lines))
    block = yamlio.dump({"Resources": dict(appended)}).splitlines(keepends=True)[1:]
    return Merged("".join([*lines[:end], *block, *lines[end:]]),
                  {name: origins[name] for name in appended}, end + 1, len(block), worlds)


def _stub(resource: Any) -> Any:
    """What a region-scoped resource needs of one it refers to: its type and its condition
    (its own properties are linted in the merged text)."""
    if not isinstance(resource, dict):
        return resource
    return {key: resource[key] for key in ("Type", "Condition") if key in resource}


def _closure(names: Iterable[str], pool: Mapping[str, Any]) -> set[str]:
    """``names`` and every resource of ``pool`` they refer to, directly or not."""
    needed: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in needed or name not in pool:
            continue
        needed.add(name)
        todo.extend(_references(pool[name]))
    return needed


def _label(label: str, variants: Sequence[Variant]) -> str:
    """``build/network.yaml [prod, resolved for us-east-1, ...]``, naming every source."""
    environments = ", ".join(dict.fromkeys(v.environment for v in variants))
    regions = ", ".join(dict.fromkeys(r for v in variants for r in v.regions))
    return f"{label} [{environments}, resolved for {regions}]"
