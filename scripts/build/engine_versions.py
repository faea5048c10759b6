"""Which PostgreSQL versions cfn-lint's bundled RDS data says can still be created.

This is how the pin in templates_src/versions.py is re-checked offline; the live
preflight asks RDS itself (describe_db_engine_versions) before a deploy.
"""

from __future__ import annotations

import json
from importlib import util
from pathlib import Path
from typing import Any

from scripts.errors import Exit

ENGINE = "postgres"
RDS_DATA = ("data", "schemas", "extensions", "aws_rds_dbinstance")


def rds_data(name: str) -> Any:
    """One of cfn-lint's bundled RDS data files, parsed. Found through the package's spec, so
    a process that only reads the data (the local endpoint) does not import cfn-lint (1 s)."""
    spec = util.find_spec("cfnlint")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("No module named 'cfnlint'", name="cfnlint")
    folder = Path(next(iter(spec.submodule_search_locations))).joinpath(*RDS_DATA)
    return json.loads((folder / name).read_text(encoding="utf-8"))


def version_key(version: str) -> tuple[int, ...]:
    """``13.23`` -> ``(13, 23)``: versions sort as numbers, not text."""
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _enum(document: dict[str, Any], where: str) -> list[str]:
    for branch in document.get("allOf", []):
        condition = branch.get("if", {}).get("properties", {})
        if condition.get("Engine", {}).get("const") == ENGINE:
            holder = branch["then"] if where == "then" else branch["if"]
            return list(holder["properties"]["EngineVersion"]["enum"])
    return []


def known_and_deprecated() -> tuple[list[str], list[str]]:
    """(every version E3691 accepts, every version W3691 flags) for PostgreSQL."""
    return (_enum(rds_data("engine_version.json"), "then"),
            _enum(rds_data("engine_version_deprecated.json"), "if"))


def creatable(major: str) -> list[str]:
    """Plain x.y versions of one major that are known and not deprecated, oldest first."""
    known, deprecated = known_and_deprecated()
    return sorted(
        (v for v in known if v.startswith(f"{major}.") and v not in deprecated
         and all(part.isdigit() for part in v.split("."))),
        key=version_key,
    )


def extended_support_builds(major: str) -> list[str]:
    """``13.23-rds.20260224``: the builds through which RDS Extended Support delivers fixes
    to a major past community end of life, known and not deprecated, oldest first."""
    known, deprecated = known_and_deprecated()
    return sorted((v for v in known if v.startswith(f"{major}.") and "-rds." in v
                   and v not in deprecated), key=lambda v: (version_key(v.split("-")[0]), v))


def report(major: str) -> int:
    from cfnlint.version import __version__

    versions = creatable(major)
    print(f"cfn-lint {__version__}: PostgreSQL {major}.x that RDS can create: "
          f"{', '.join(versions) or 'none'}")
    builds = extended_support_builds(major)
    if builds:
        print(f"Extended Support builds of {major} (RDS's own security fixes on the last "
              f"community release; creating them needs Extended Support): {', '.join(builds)}")
    print(pinned_line(major, versions))
    return Exit.OK  # a listing; the gate (E3691, W3691) is what fails on a stale pin


def pinned_line(major: str, versions: list[str]) -> str:
    """What templates_src/versions.py holds for ``major``, beside the newest RDS creates.

    A version is compared only with versions of its own major: 13.23 is not behind 18.6, it
    is another line (upgrading to 18 is a choice, README "Upgrading PostgreSQL")."""
    from templates_src.versions import POSTGRES_MAJORS, POSTGRES_VERSION

    _, deprecated = known_and_deprecated()
    newest = versions[-1] if versions else None

    def judged(version: str) -> str:
        if version in deprecated:
            return f"{version} (deprecated!)"
        if newest and version_key(newest) > version_key(version):
            return f"{version}; newest is {newest}"
        return version

    pinned_major = POSTGRES_VERSION.split(".", 1)[0]
    if major == pinned_major:
        return f"pinned: {judged(POSTGRES_VERSION)}"
    offered = POSTGRES_MAJORS.get(major)
    line = f"pinned: {POSTGRES_VERSION} (PostgreSQL {pinned_major}, not {major})"
    if offered is None:
        return f"{line}; versions.py does not offer {major}"
    return f"{line}; versions.py offers {major} as {judged(offered.version)}"
