"""Issue 20: what you review is what you get.

A change to the environment table reaches the resources only through ``Fn::FindInMap``: the
offline ``diff``, the local plan (the change set, nested change sets included) and what the
endpoint applies must all see it, property by property. One dev stack is deployed for the
module; each case renders build/ with the table edited, plans it, deploys the plan and reads
the endpoint back.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from test_hostile import NotATerminal, client

from scripts import cli, paths
from scripts.build import diff, yamlio
from scripts.build.render import render
from templates_src import environments

pytestmark = [pytest.mark.usefixtures("local_endpoint"), pytest.mark.xdist_group("fidelity")]

STACK, REGION = "rf-dev", "us-west-2"
TARGET = ("--env", "dev", "--region", REGION, "--stack-name", STACK)


def webstack(url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
             *argv: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", NotATerminal(""))
    code = cli.main([*argv, "--endpoint-url", url])
    out, err = capsys.readouterr()
    return code, out + err


@pytest.fixture(scope="module")
def deployed(local_endpoint: str) -> str:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stdin", NotATerminal(""))
        code = cli.main(["deploy", *TARGET, "--yes", "--param", "CostCenter=CC-1234",
                         "--endpoint-url", local_endpoint])
    assert code == 0
    return local_endpoint


def _rendered_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **dev: Any) -> Path:
    """build/ as 'webstack build' writes it with dev's row of the table changed."""
    monkeypatch.setitem(environments.ENVIRONMENTS, "dev", dataclasses.replace(
        environments.ENVIRONMENTS["dev"], **dev))
    folder = tmp_path / "build"
    shutil.copytree(paths.BUILD_DIR, folder)
    for name, text in render().items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _offline(head: Path) -> set[tuple[str, str, tuple[str, ...]]]:
    """(stack, resource, properties) the release diff reports for dev in the region."""
    sides = [{p.stem: yamlio.load(p.read_text(encoding="utf-8")) for p in d.glob("*.yaml")}
             for d in (paths.BUILD_DIR, head)]
    rows = diff.diff_sets(sides[0], sides[1], ["dev"], [REGION])
    return {(row.stack, row.logical_id, tuple(sorted(p.path.split(".")[0]
                                                     for p in row.properties)))
            for row in rows if row.type != "AWS::CloudFormation::Stack"}


def _planned(plan_file: Path) -> set[tuple[str, str, tuple[str, ...]]]:
    changes = json.loads(plan_file.read_text(encoding="utf-8"))["changes"]
    return {("/".join(c["path"]), c["logical_id"], tuple(sorted(c["changed_properties"])))
            for c in changes if c["resource_type"] != "AWS::CloudFormation::Stack"}


def test_an_environment_table_change_is_planned_and_applied_as_the_diff_says(
        deployed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The plan showed only 'modify DatabaseStack'; the database kept its old retention."""
    head = _rendered_with(tmp_path, monkeypatch, db_backup_retention_days=3,
                          db_allocated_storage_gib=30)
    offline = _offline(head)
    assert ("DatabaseStack", "Database", ("AllocatedStorage", "BackupRetentionPeriod")) in \
        offline, offline
    monkeypatch.setattr(paths, "BUILD_DIR", head)
    plan_file = tmp_path / "plan.json"
    code, out = webstack(deployed, capsys, monkeypatch, "plan", *TARGET, "--plan-file",
                         str(plan_file))
    assert code == 0, out
    assert _planned(plan_file) == offline
    code, out = webstack(deployed, capsys, monkeypatch, "deploy", *TARGET, "--yes",
                         "--plan-file", str(plan_file))
    assert code == 0, out
    (database,) = client(deployed, "rds", REGION).describe_db_instances(
        DBInstanceIdentifier=f"{STACK}-db")["DBInstances"]
    assert (database["BackupRetentionPeriod"], database["AllocatedStorage"]) == (3, 30)
