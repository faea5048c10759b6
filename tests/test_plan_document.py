"""The plan as a document a CI job posts: markdown and json, on stdout or in --plan-output."""

from __future__ import annotations

import json

import pytest

from scripts.cli import main
from scripts.deploy.changeset import Change
from scripts.deploy.plan import RegionPlan, document

CHANGES = [
    Change("Modify", ("DatabaseStack",), "Database", "AWS::RDS::DBInstance", "True",
           scope=("Properties",), changed_properties=("StorageEncrypted",)),
    Change("Modify", (), "DatabaseStack", "AWS::CloudFormation::Stack", "Conditional"),
    Change("Add", ("IamStack",), "AppRole", "AWS::IAM::Role"),
    Change("Modify", ("ComputeStack",), "AutoScalingGroup",
           "AWS::AutoScaling::AutoScalingGroup", "False", scope=("Tags",)),
]
PLANS = [RegionPlan("webstack-prod", "prod", "eu-west-1", CHANGES),
         RegionPlan("webstack-prod", "prod", "us-east-1", None)]


def test_markdown_is_a_table_with_warnings_and_refusals():
    lines = document(PLANS, "markdown").splitlines()
    assert lines[0] == "### webstack plan: `webstack-prod` (prod, eu-west-1)"
    assert "1 to add, 3 to modify, 0 to remove." in lines
    assert ("| **modify** | `DatabaseStack/Database` | `AWS::RDS::DBInstance` | True | "
            "`StorageEncrypted` |") in lines
    assert ("| **modify** | `ComputeStack/AutoScalingGroup` | "
            "`AWS::AutoScaling::AutoScalingGroup` | False | (tags only) |") in lines
    assert "- ⚠️ `IamStack/AppRole` (AWS::IAM::Role): changes IAM permissions; review what it " \
           "grants" in lines
    assert "- 🛑 `DatabaseStack/Database` (AWS::RDS::DBInstance) replaced: refused" in lines
    assert "No changes: the stack already runs this template set." in lines


def test_json_is_one_object_per_region_with_a_row_per_change():
    regions = json.loads(document(PLANS, "json", allow_replacement=True))
    assert [(r["region"], r["no_changes"], len(r["changes"])) for r in regions] == [
        ("eu-west-1", False, 4), ("us-east-1", True, 0)]
    database = next(c for c in regions[0]["changes"] if c["logical_id"] == "Database")
    assert database == {
        "address": "DatabaseStack/Database", "path": ["DatabaseStack"],
        "logical_id": "Database", "type": "AWS::RDS::DBInstance", "action": "Modify",
        "replacement": "True", "changed_properties": ["StorageEncrypted"], "tags_only": False,
        "security_concern": None, "data_loss": True}


def test_deploy_writes_a_plan_document_only_to_a_file(capsys: pytest.CaptureFixture[str]):
    code = main(["deploy", "--env", "dev", "--region", "us-east-1", "--format", "markdown",
                 "--endpoint-url", "http://localhost:9"])
    assert code == 2
    assert "add --plan-output FILE" in capsys.readouterr().err
