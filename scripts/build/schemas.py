"""What CloudFormation does when a property changes, from the resource schemas cfn-lint bundles.

A property in a type's ``createOnlyProperties`` cannot be updated: changing it replaces the
resource. A few documented cases replace only sometimes (``CONDITIONAL``). Everything else is
updated in place and keeps the physical id. The schemas are read straight from cfn-lint's data
folder (no cfn-lint import, which alone costs about a second), so the pinned cfn-lint keeps this
as current as the gate. The local endpoint's shim and ``webstack diff`` both ask here.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any, Final

from scripts.errors import Exit, WebstackError

DEFAULT_REGION: Final = "us-east-1"
# Documented "Update requires: Replacement" only in some cases (the CloudFormation resource
# reference of each type); a change to one of these may replace the resource.
CONDITIONAL: Final[dict[str, frozenset[str]]] = {
    # Replaced when the change moves the instance to another zone, not when MultiAZ moves it.
    "AWS::RDS::DBInstance": frozenset({"AvailabilityZone", "DBSnapshotIdentifier",
                                       "Engine", "SourceDBInstanceIdentifier"}),
}


class SchemaError(WebstackError):
    exit_code = Exit.SOURCE


def _data_dir() -> Path:
    spec = importlib.util.find_spec("cfnlint")
    if spec is None or not spec.submodule_search_locations:
        raise SchemaError("cfn-lint is not installed; run pip install -e .")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "schemas"


@cache
def _provider(region: str) -> dict[str, str]:
    path = _data_dir() / "providers" / f"{region}.json"
    try:
        found: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise SchemaError(f"cfn-lint has no resource schemas for region {region}") from err
    return found


@cache
def schema(resource_type: str, region: str = DEFAULT_REGION) -> dict[str, Any]:
    """The provider schema of ``resource_type`` as cfn-lint bundles it ({} if unknown)."""
    digest = _provider(region).get(resource_type)
    if digest is None:
        return {}
    found: dict[str, Any] = json.loads(
        (_data_dir() / "resources" / f"{digest}.json").read_text(encoding="utf-8"))
    return found


def create_only(resource_type: str, region: str = DEFAULT_REGION) -> frozenset[str]:
    """Top-level properties whose change replaces the resource."""
    paths = schema(resource_type, region).get("createOnlyProperties") or []
    names = {p.removeprefix("/properties/").split("/", 1)[0] for p in paths
             if p.startswith("/properties/")}
    return frozenset(names)


def replacement(resource_type: str, changed: set[str] | frozenset[str],
                region: str = DEFAULT_REGION) -> str:
    """CloudFormation's Replacement for a change of ``changed`` top-level properties:
    ``"True"``, ``"Conditional"`` or ``"False"``."""
    if changed & (create_only(resource_type, region) - CONDITIONAL.get(resource_type, frozenset())):
        return "True"
    if changed & CONDITIONAL.get(resource_type, frozenset()):
        return "Conditional"
    return "False"
