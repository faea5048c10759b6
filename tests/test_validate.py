"""scripts/deploy/validate.py: what CloudFormation would refuse, refused before anything exists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scripts.build import yamlio
from scripts.deploy.options import Options
from scripts.deploy.prepare import validate_parameters
from scripts.deploy.validate import (
    STACK_NAME_BUDGET,
    check_parameters,
    check_stack_name,
    check_writable_file,
)
from scripts.errors import UsageError
from scripts.paths import BUILD_DIR

ROOT = yamlio.load((BUILD_DIR / "root.yaml").read_text(encoding="utf-8"))
GOOD = {"CostCenter": "CC-1234", "DeploymentDate": "2026-11-30"}

# The rules the root template grows (issue 11), in CloudFormation's own shape.
RULES: dict[str, Any] = {
    "CertificateForPublicEnvironments": {
        "RuleCondition": {"Fn::Or": [{"Fn::Equals": [{"Ref": "Environment"}, "staging"]},
                                     {"Fn::Equals": [{"Ref": "Environment"}, "prod"]}]},
        "Assertions": [{"Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"},
                                                               ""]}]},
                        "AssertDescription": "CertificateArn is required for staging and prod"}],
    },
    "AlarmEmailInProd": {
        "RuleCondition": {"Fn::Equals": [{"Ref": "Environment"}, "prod"]},
        "Assertions": [{"Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]},
                        "AssertDescription": "AlarmEmail is required in prod"}],
    },
}
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/abc"


def with_rules(rules: dict[str, Any]) -> dict[str, Any]:
    return {**ROOT, "Rules": {**ROOT.get("Rules", {}), **rules}}


@pytest.mark.parametrize(("environment", "values", "refused"), [
    ("dev", {}, None),
    ("staging", {}, "CertificateArn is required for staging and prod"),
    ("staging", {"CertificateArn": CERT}, None),
    ("prod", {"CertificateArn": CERT}, "AlarmEmail is required in prod"),
    ("prod", {"CertificateArn": CERT, "AlarmEmail": "ops@example.com"}, None),
])
def test_rules_are_evaluated_with_their_condition_and_description(
        environment: str, values: dict[str, str], refused: str | None) -> None:
    template = with_rules(RULES)
    if refused is None:
        check_parameters(template, {**GOOD, **values}, environment=environment)
        return
    with pytest.raises(UsageError, match=f"refuses these parameters: {refused}$"):
        check_parameters(template, {**GOOD, **values}, environment=environment)


@pytest.mark.parametrize(("assertion", "holds"), [
    ({"Fn::Contains": [["a", "b"], "b"]}, True),
    ({"Fn::Contains": [["a", "b"], "c"]}, False),
    ({"Fn::EachMemberEquals": [{"Ref": "Zones"}, "x"]}, False),
    ({"Fn::EachMemberIn": [{"Ref": "Zones"}, ["x", "y", "z"]]}, True),
    ({"Fn::EachMemberIn": [{"Ref": "Zones"}, ["x"]]}, False),
    ({"Fn::And": [{"Fn::Equals": ["1", "1"]}, {"Fn::Not": [{"Fn::Equals": ["1", "2"]}]}]},
     True),
    ({"Fn::Contains": [{"Fn::RefAll": "CommaDelimitedList"}, ["x", "y"]]}, True),
    ({"Fn::ValueOf": ["Zones", "Tags"]}, True),  # needs the account: left to CloudFormation
])
def test_each_rule_function(assertion: dict[str, Any], holds: bool) -> None:
    template = {"Parameters": {"Zones": {"Type": "CommaDelimitedList"}},
                "Rules": {"R": {"Assertions": [{"Assert": assertion,
                                                "AssertDescription": "no"}]}}}
    if holds:
        check_parameters(template, {"Zones": "x, y"}, environment="dev")
    else:
        with pytest.raises(UsageError, match="rule R refuses"):
            check_parameters(template, {"Zones": "x, y"}, environment="dev")


@pytest.mark.parametrize(("declared", "value", "problem"), [
    ({"Type": "Number"}, "12a", "is not a number"),
    ({"Type": "Number"}, "", "is not a number"),
    ({"Type": "Number", "MinValue": 1, "MaxValue": 35}, "36", "above the maximum 35"),
    ({"Type": "Number", "MinValue": 1}, "0.5", "below the minimum 1"),
    ({"Type": "List<Number>"}, "1,x", "not a comma-separated list of numbers"),
    ({"Type": "String", "AllowedValues": ["a", "b"]}, "c", "is not one of a, b"),
    ({"Type": "CommaDelimitedList", "AllowedValues": ["a", "b"]}, "a,c", "is not one of"),
    ({"Type": "String", "MinLength": 2}, "x", "shorter than 2"),
    # CloudFormation matches the whole value: a pattern without anchors still binds all of it.
    ({"Type": "String", "AllowedPattern": "[0-9]+"}, "12ab", "does not match"),
])
def test_declared_constraints(declared: dict[str, Any], value: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        check_parameters({"Parameters": {"P": declared}}, {"P": value}, environment="dev")


def test_a_noecho_value_is_never_echoed() -> None:
    template = {"Parameters": {"Secret": {"Type": "String", "NoEcho": True,
                                          "AllowedPattern": "[a-z]+"}}}
    with pytest.raises(UsageError) as refused:
        check_parameters(template, {"Secret": "Hunter2-Secret"}, environment="dev")
    assert "Hunter2" not in str(refused.value)
    assert "Secret (NoEcho, value not shown) does not match" in str(refused.value)


def test_a_value_kept_with_use_previous_value_is_checked_too() -> None:
    """An update sends UsePreviousValue; the value CloudFormation keeps must pass as well."""
    stack = {"StackStatus": "UPDATE_COMPLETE", "Parameters": [
        {"ParameterKey": "CostCenter", "ParameterValue": "CC 1"},
        {"ParameterKey": "DeploymentDate", "ParameterValue": "2026-11-01"}]}
    options = Options(environment="dev", regions=["us-east-1"], stack_name="hx")
    with pytest.raises(UsageError, match="CostCenter='CC 1' does not match"):
        validate_parameters(options, stack)
    fixed = Options(environment="dev", regions=["us-east-1"], stack_name="hx",
                    overrides={"CostCenter": "CC-1234"})
    validate_parameters(fixed, stack)


def test_a_default_used_on_create_is_checked_too() -> None:
    template = {"Parameters": {"P": {"Type": "Number", "Default": "x"}}}
    with pytest.raises(UsageError, match="P='x' is not a number"):
        check_parameters(template, {}, environment="dev")


@pytest.mark.parametrize("name", ["ab", "webstack-staging", "a1-b2", "s" * STACK_NAME_BUDGET])
def test_good_stack_names(name: str) -> None:
    check_stack_name(name)


@pytest.mark.parametrize("name", ["", "-a", "a_b", "a.b", "é", "a--b", "a-", "s" * 61,
                                  "s" * 129, "a\nb", "a", "Shop-Dev"])
def test_bad_stack_names(name: str) -> None:
    with pytest.raises(UsageError, match="--stack-name"):
        check_stack_name(name)


def test_writable_file_paths(tmp_path: Path) -> None:
    check_writable_file(str(tmp_path / "new" / "deeper" / "o.json"), "--outputs-file")
    with pytest.raises(UsageError, match="is a directory"):
        check_writable_file(str(tmp_path), "--outputs-file")
