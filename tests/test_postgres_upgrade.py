"""A way out of PostgreSQL 13: the major is one choice in versions.py, and moving it to a
supported major modifies the database in place (a new parameter group, never a new instance)."""

from __future__ import annotations

from typing import Any

import pytest

from scripts.build import engine_versions, schemas
from scripts.build.resolve import resolve
from scripts.deploy.changeset import Change
from scripts.deploy.guard import stateful_violations
from templates_src.stacks import database
from templates_src.versions import POSTGRES, POSTGRES_MAJORS, PostgresMajor

UPGRADES = [major for major in POSTGRES_MAJORS if major != POSTGRES.major]


def _database(postgres: PostgresMajor) -> dict[str, Any]:
    return resolve(database.build(postgres).to_dict(), "prod", "eu-west-1")


def _changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """What CloudFormation plans for ``old`` -> ``new``: per resource, its changed top-level
    properties and the Replacement the type's createOnlyProperties give them. A property
    that references a replaced resource changes with it (DBParameterGroupName)."""
    changes: list[Change] = []
    replaced: set[str] = set()
    for logical_id, resource in new["Resources"].items():
        before = old["Resources"][logical_id].get("Properties", {})
        after = resource.get("Properties", {})
        changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
        changed |= {key for key, value in after.items()
                    if isinstance(value, dict) and value.get("Ref") in replaced}
        if not changed:
            continue
        verdict = schemas.replacement(resource["Type"], changed)
        if verdict == "True":
            replaced.add(logical_id)
        changes.append(Change("Modify", ("DatabaseStack",), logical_id, resource["Type"],
                              verdict, changed_properties=tuple(sorted(changed))))
    return changes


def test_the_shipped_major_is_13_the_fleets_and_one_line_chooses_it():
    assert POSTGRES is POSTGRES_MAJORS["13"]
    assert (POSTGRES.version, POSTGRES.family) == ("13.23", "postgres13")


@pytest.mark.parametrize("major", sorted(POSTGRES_MAJORS))
def test_every_major_offered_is_one_rds_can_create(major):
    assert POSTGRES_MAJORS[major].version in engine_versions.creatable(major)
    assert POSTGRES_MAJORS[major].family == f"postgres{major}"


def test_a_way_out_to_a_supported_major_is_offered():
    assert {"16", "17"} & set(UPGRADES)


@pytest.mark.parametrize("major", UPGRADES)
def test_the_upgrade_modifies_the_database_in_place_with_a_new_parameter_group(major):
    old, new = _database(POSTGRES), _database(POSTGRES_MAJORS[major])
    assert new["Resources"]["Database"]["Properties"]["AllowMajorVersionUpgrade"] is True
    assert old["Resources"]["Database"]["Properties"]["AllowMajorVersionUpgrade"] is True
    changes = {c.logical_id: c for c in _changes(old, new)}
    assert set(changes) == {"Database", "DatabaseParameterGroup"}
    group = changes["DatabaseParameterGroup"]
    assert (group.changed_properties, group.replacement) == (("Family",), "True")
    instance = changes["Database"]
    assert instance.changed_properties == ("DBParameterGroupName", "EngineVersion")
    assert instance.replacement == "False"
    assert new["Resources"]["DatabaseParameterGroup"]["Properties"]["Family"] == f"postgres{major}"


@pytest.mark.parametrize("major", UPGRADES)
def test_the_stateful_guard_accepts_the_upgrade(major):
    changes = _changes(_database(POSTGRES), _database(POSTGRES_MAJORS[major]))
    assert changes and stateful_violations(changes) == []


def test_the_guard_would_refuse_an_upgrade_that_replaced_the_instance():
    """The check above is not vacuous: the same plan with the instance replaced is refused."""
    changes = _changes(_database(POSTGRES), _database(POSTGRES_MAJORS[UPGRADES[-1]]))
    replaced = [Change(c.action, c.path, c.logical_id, c.resource_type, "True")
                for c in changes]
    assert [c.logical_id for c in stateful_violations(replaced)] == ["Database"]


# -- against a deployed 13 stack on the local endpoint ------------------------------------


def test_planning_the_upgrade_on_a_deployed_13_stack_modifies_the_database_in_place(
        local_endpoint, tmp_path, monkeypatch, capsys):
    import json
    import shutil

    from scripts import cli, paths
    from scripts.build.render import render

    def webstack(*argv: str) -> tuple[int, str]:
        code = cli.main([*argv, "--endpoint-url", local_endpoint])
        out, err = capsys.readouterr()
        return code, out + err

    target = ("--env", "dev", "--region", "us-west-2", "--stack-name", "it-pg-upgrade")
    code, out = webstack("deploy", *target, "--yes", "--param", "CostCenter=CC-1234")
    assert code == 0, out
    upgraded = tmp_path / "build"
    shutil.copytree(paths.BUILD_DIR, upgraded)
    monkeypatch.setattr(database, "POSTGRES", POSTGRES_MAJORS[UPGRADES[-1]])
    for name, text in render().items():
        (upgraded / name).write_text(text, encoding="utf-8")
    monkeypatch.setattr(paths, "BUILD_DIR", upgraded)
    plan_file = tmp_path / "plan.json"
    code, out = webstack("plan", *target, "--plan-file", str(plan_file))
    assert code == 0, out  # the data guard accepts it
    changes = {c["logical_id"]: c for c in json.loads(plan_file.read_text())["changes"]
               if c["path"] == ["DatabaseStack"]}
    assert (changes["Database"]["action"], changes["Database"]["replacement"]) == (
        "Modify", "False")
    assert changes["DatabaseParameterGroup"]["replacement"] == "True"


def test_postgresql_18_is_offered_beside_16_and_17_as_cfn_lints_data_allows():
    assert {"16", "17", "18"} <= set(POSTGRES_MAJORS)
    assert POSTGRES_MAJORS["18"].version == engine_versions.creatable("18")[-1]


def test_engine_versions_shows_the_extended_support_builds_and_says_what_they_are(capsys):
    assert engine_versions.report("13") == 0
    out = capsys.readouterr().out
    builds = engine_versions.extended_support_builds("13")
    assert builds and all(b.startswith("13.") and "-rds." in b for b in builds)
    (line,) = [line for line in out.splitlines() if "Extended Support builds of 13" in line]
    assert all(b in line for b in builds)
    assert engine_versions.extended_support_builds("18") == []  # 18 is in standard support


def test_engine_versions_compares_a_version_only_with_its_own_major(capsys, monkeypatch):
    """--major 18 said 'pinned: 13.23; newest is 18.6', as if 13.23 were behind 18.6; it is
    another line. The pin is judged within 13, the offer for 18 within 18."""
    assert engine_versions.report("18") == 0
    pinned = capsys.readouterr().out.splitlines()[-1]
    assert pinned == (f"pinned: {POSTGRES.version} (PostgreSQL 13, not 18); versions.py offers "
                      f"18 as {POSTGRES_MAJORS['18'].version}")
    assert "newest is" not in pinned  # 18.6 is the newest 18: nothing to say

    monkeypatch.setitem(POSTGRES_MAJORS, "18", PostgresMajor("18.1"))
    assert engine_versions.pinned_line("18", engine_versions.creatable("18")).endswith(
        "versions.py offers 18 as 18.1; newest is 18.6")
    assert engine_versions.pinned_line("19", []).endswith("versions.py does not offer 19")
    assert engine_versions.pinned_line("13", ["13.9", "13.23"]) == f"pinned: {POSTGRES.version}"
