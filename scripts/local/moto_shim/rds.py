"""RDS as CloudFormation and webstack's preflight meet it: versions, classes, port, snapshots.

rds_engine_versions
    moto has no DescribeDBEngineVersions, so webstack's preflight cannot check locally that
    the pinned PostgreSQL version is still offered (the seed's incident: 13.7 withdrawn). The
    patch serves the versions cfn-lint's bundled RDS data says can still be created
    (scripts/build/engine_versions.py reads the same data), PostgreSQL only, with Marker paging.
rds_orderable_options
    moto's DescribeOrderableDBInstanceOptions answers nothing for PostgreSQL and ignores
    DBInstanceClass. The patch serves (version, class) pairs from cfn-lint's
    ``db_instance_class.json`` for every offered version, filtered as RDS filters them.
rds_unoffered_version_created
    moto creates a DB instance of any engine version. RDS refuses one it does not offer with
    InvalidParameterCombination "Cannot find version X for postgres"; the patch does the same,
    so such a stack fails and rolls back locally as on AWS.
rds_default_port
    moto gives a CloudFormation-created instance port 3306 whatever its engine; RDS uses the
    engine's default (PostgreSQL: 5432). The patch fills the engine's default port.
rds_snapshot_policy
    moto deletes a DB instance whose DeletionPolicy (or, on replacement, UpdateReplacePolicy)
    is Snapshot without a snapshot. The patch takes a manual snapshot first, named
    ``<stack>-snapshot-<logical id>-<random>`` as CloudFormation names it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any, Final

from scripts.build.engine_versions import ENGINE, known_and_deprecated, rds_data, version_key
from scripts.local.moto_shim.support import Patch, Probe, backend, cloudformation, require

DB_TYPE: Final = "AWS::RDS::DBInstance"
PAGE: Final = 100


@cache
def offered_versions() -> tuple[str, ...]:
    """PostgreSQL versions RDS can still create, oldest first (cfn-lint's data)."""
    known, deprecated = known_and_deprecated()
    return tuple(sorted((v for v in known if v not in deprecated and
                         re.fullmatch(r"[0-9]+(\.[0-9]+)*", v)), key=version_key))


@cache
def _class_branches() -> tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]:
    document = rds_data("db_instance_class.json")
    found = []
    for branch in document.get("allOf", []):
        condition = branch.get("if", {}).get("properties", {})
        if condition.get("Engine", {}).get("const") != ENGINE:
            continue
        pattern = condition.get("EngineVersion", {}).get("pattern")
        classes = branch.get("then", {}).get("properties", {}).get("DBInstanceClass", {}).get(
            "enum", [])
        if pattern:
            found.append((re.compile(pattern), tuple(classes)))
    return tuple(found)


def instance_classes(version: str) -> tuple[str, ...]:
    """The classes cfn-lint's data lists as orderable for PostgreSQL ``version``."""
    return next((classes for pattern, classes in _class_branches() if pattern.match(version)),
                ())


def orderable(version: str | None, instance_class: str | None) -> Iterator[dict[str, Any]]:
    for offered in offered_versions():
        if version and offered != version:
            continue
        for name in instance_classes(offered):
            if instance_class and name != instance_class:
                continue
            yield {"Engine": ENGINE, "EngineVersion": offered, "DBInstanceClass": name,
                   "LicenseModel": "postgresql-license", "MultiAZCapable": True,
                   "StorageType": "gp3", "SupportsStorageEncryption": True}


def _page(items: list[dict[str, Any]], marker: str | None, size: str | None
          ) -> tuple[list[dict[str, Any]], str | None]:
    start = int(marker) if marker and marker.isdigit() else 0
    count = max(20, min(int(size), 100)) if size and str(size).isdigit() else PAGE
    end = start + count
    return items[start:end], (str(end) if end < len(items) else None)


def patches() -> list[Patch]:
    from moto.cloudformation import parsing
    from moto.core.responses import ActionResult
    from moto.rds import models, responses
    from moto.rds.exceptions import InvalidParameterCombination

    require(responses, "RDSResponse")
    require(models.DBInstance, "create_from_cloudformation_json", "default_port")
    require(models.RDSBackend, "create_db_snapshot")
    require(parsing.ResourceMap, "_delete_resource")
    stock_db: Callable[..., Any] = models.DBInstance.__dict__[
        "create_from_cloudformation_json"].__func__
    stock_delete: Callable[..., None] = parsing.ResourceMap._delete_resource

    def describe_db_engine_versions(self: Any) -> Any:
        engine = self._get_param("Engine")
        version = self._get_param("EngineVersion")
        versions = [] if engine not in (None, ENGINE) else [
            {"Engine": ENGINE, "EngineVersion": v, "DBEngineDescription": "PostgreSQL",
             "DBEngineVersionDescription": f"PostgreSQL {v}", "Status": "available",
             "DBParameterGroupFamily": f"postgres{v.split('.')[0]}"}
            for v in offered_versions() if version in (None, v)
            or (version and v.startswith(f"{version}."))]
        page, marker = _page(versions, self._get_param("Marker"), self._get_param("MaxRecords"))
        return ActionResult({"DBEngineVersions": page, "Marker": marker})

    stock_orderable: Callable[..., Any] = (
        responses.RDSResponse.describe_orderable_db_instance_options)

    def describe_orderable_db_instance_options(self: Any) -> Any:
        if self._get_param("Engine") != ENGINE:
            return stock_orderable(self)
        options = list(orderable(self._get_param("EngineVersion"),
                                 self._get_param("DBInstanceClass")))
        page, marker = _page(options, self._get_param("Marker"), self._get_param("MaxRecords"))
        return ActionResult({"OrderableDBInstanceOptions": page, "Marker": marker})

    def create_db_instance(cls: Any, /, resource_name: str, cloudformation_json: Any,
                           account_id: str, region_name: str, **kwargs: Any) -> Any:
        properties = dict(cloudformation_json.get("Properties") or {})
        engine = properties.get("Engine")
        version = properties.get("EngineVersion")
        if engine == ENGINE and version and str(version) not in offered_versions() and not any(
                v.startswith(f"{version}.") for v in offered_versions()):
            raise InvalidParameterCombination(f"Cannot find version {version} for {engine}")
        if engine and "Port" not in properties:
            properties["Port"] = cls.default_port(engine)
        return stock_db(cls, resource_name, {**cloudformation_json, "Properties": properties},
                        account_id, region_name, **kwargs)

    def delete_resource(self: Any, parsed_resource: Any, resource_json: dict[str, Any]) -> None:
        if resource_json.get("Type") == DB_TYPE and resource_json.get("DeletionPolicy") == \
                "Snapshot":
            from moto.cloudformation.utils import random_suffix

            identifier = parsed_resource.db_instance_identifier
            stack = str(self["AWS::StackName"])
            name = f"{stack}-snapshot-{parsed_resource.logical_resource_id}-{random_suffix()}"
            models.rds_backends[self._account_id][self._region_name].create_db_snapshot(
                identifier, re.sub(r"-{2,}", "-", name.lower())[:255])
        stock_delete(self, parsed_resource, resource_json)

    return [
        (responses.RDSResponse, "describe_db_engine_versions", describe_db_engine_versions),
        (responses.RDSResponse, "describe_orderable_db_instance_options",
         describe_orderable_db_instance_options),
        (models.DBInstance, "create_from_cloudformation_json", classmethod(create_db_instance)),
        (parsing.ResourceMap, "_delete_resource", delete_resource),
    ]


# Probes -------------------------------------------------------------------------------------

def _database(version: str, policy: str = "Delete") -> str:
    return json.dumps({"Resources": {"Db": {
        "Type": DB_TYPE, "DeletionPolicy": policy, "Properties": {
            "Engine": ENGINE, "EngineVersion": version, "DBInstanceClass": "db.t3.micro",
            "AllocatedStorage": 20, "MasterUsername": "probe",
            "MasterUserPassword": "probe-password"}}}})


def _probe_rds_engine_versions() -> bool:
    from moto.rds.responses import RDSResponse

    return not hasattr(RDSResponse, "describe_db_engine_versions")


def _probe_rds_orderable_options() -> bool:
    from moto import mock_aws

    with mock_aws():
        from moto.rds.responses import RDSResponse

        response = RDSResponse()
        params = {"Engine": ENGINE, "EngineVersion": offered_versions()[-1]}
        response._get_param = lambda key, default=None: params.get(key, default)  # type: ignore[method-assign,assignment]
        response.params = params
        response.current_account = "123456789012"
        response.region = "us-east-1"
        result = response.describe_orderable_db_instance_options()
        return not getattr(result, "result", {}).get("OrderableDBInstanceOptions")


def _probe_rds_unoffered_version_created() -> bool:
    from moto import mock_aws

    with mock_aws():
        try:
            cloudformation().create_stack("probe", _database("13.7"), parameters={})
        except Exception:
            return False
        return bool(backend("rds").databases)


def _probe_rds_default_port() -> bool:
    from moto import mock_aws

    with mock_aws():
        cloudformation().create_stack("probe", _database(offered_versions()[-1]), parameters={})
        return {db.port for db in backend("rds").databases.values()} != {5432}


def _probe_rds_snapshot_policy() -> bool:
    from moto import mock_aws

    with mock_aws():
        cfn = cloudformation()
        cfn.create_stack("probe", _database(offered_versions()[-1], "Snapshot"), parameters={})
        cfn.delete_stack("probe")
        return not backend("rds").database_snapshots


PROBES: dict[str, Probe] = {
    "rds_engine_versions": _probe_rds_engine_versions,
    "rds_orderable_options": _probe_rds_orderable_options,
    "rds_unoffered_version_created": _probe_rds_unoffered_version_created,
    "rds_default_port": _probe_rds_default_port,
    "rds_snapshot_policy": _probe_rds_snapshot_policy,
}
