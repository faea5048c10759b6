"""HTTPS outside dev and an alarm subscriber in prod: refused by the template's Rules, whoever
deploys the released YAML, and by ``webstack deploy`` before anything is created."""

from __future__ import annotations

import re
from typing import Any

import boto3
import pytest

from scripts import cli
from templates_src.common import ROOT_PARAMETERS
from templates_src.environments import ENVIRONMENTS

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"


def _evaluate(node: Any, values: dict[str, str]) -> Any:
    """The few Rules functions the root uses, evaluated as CloudFormation would."""
    if isinstance(node, dict) and len(node) == 1:
        (name, args), = node.items()
        if name == "Ref":
            return values[args]
        if name == "Fn::Not":
            return not _evaluate(args[0], values)
        if name == "Fn::Equals":
            return _evaluate(args[0], values) == _evaluate(args[1], values)
        if name == "Fn::Contains":
            return _evaluate(args[1], values) in _evaluate(args[0], values)
    if isinstance(node, list):
        return [_evaluate(item, values) for item in node]
    return node


def refusals(root: dict[str, Any], **given: str) -> list[str]:
    """The AssertDescriptions of every Rule the given parameter values break."""
    values = {name: spec.get("Default", "") for name, spec in root["Parameters"].items()}
    values.update(given)
    broken = []
    for rule in root["Rules"].values():
        if "RuleCondition" in rule and not _evaluate(rule["RuleCondition"], values):
            continue
        broken += [a["AssertDescription"] for a in rule["Assertions"]
                   if not _evaluate(a["Assert"], values)]
    return broken


def test_the_rules_switch_on_the_tables_capabilities(rendered):
    rules = rendered["root"]["Rules"]
    assert rules["HttpsRequired"]["RuleCondition"] == {
        "Fn::Contains": [["staging", "prod"], {"Ref": "Environment"}]}
    assert rules["HttpsRequired"]["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}]}
    assert rules["AlarmSubscriberRequired"]["RuleCondition"] == {
        "Fn::Contains": [["prod"], {"Ref": "Environment"}]}
    assert rules["AlarmSubscriberRequired"]["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert [n for n, e in ENVIRONMENTS.items() if e.requires_https] == ["staging", "prod"]
    assert [n for n, e in ENVIRONMENTS.items() if e.requires_alarm_subscriber] == ["prod"]


@pytest.mark.parametrize(("environment", "given", "refused"), [
    ("dev", {}, []),
    ("staging", {}, ["CertificateArn"]),
    ("staging", {"CertificateArn": CERTIFICATE}, []),
    ("prod", {}, ["CertificateArn", "AlarmEmail"]),
    ("prod", {"CertificateArn": CERTIFICATE}, ["AlarmEmail"]),
    ("prod", {"AlarmEmail": "oncall@example.com"}, ["CertificateArn"]),
    ("prod", {"CertificateArn": CERTIFICATE, "AlarmEmail": "oncall@example.com"}, []),
])
def test_the_template_refuses_plain_http_outside_dev_and_silent_alarms_in_prod(
        rendered, environment, given, refused):
    broken = refusals(rendered["root"], Environment=environment, CostCenter="CC-1234",
                      DeploymentDate="2026-11-30", **given)
    assert [next(p for p in ("CertificateArn", "AlarmEmail") if p in text)
            for text in broken] == refused


def test_the_rules_lint_clean(gate):
    """cfn-lint accepts the Rules as written (the gate lints build/root.yaml too)."""
    from scripts.build.gate import LintTarget
    from scripts.paths import BUILD_DIR

    text = (BUILD_DIR / "root.yaml").read_text(encoding="utf-8")
    findings = gate.lint(LintTarget("root.yaml", text, ("us-east-1",)))
    assert findings == []


# -- webstack deploy ---------------------------------------------------------------------

def _stacks(endpoint: str, region: str) -> list[str]:
    cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name=region,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    return [s["StackName"] for s in cfn.list_stacks()["StackSummaries"]]


@pytest.mark.parametrize(("environment", "extra", "missing"), [
    ("staging", [], "CertificateArn"),
    ("prod", ["--param", "AlarmEmail=oncall@example.com"], "CertificateArn"),
    ("prod", ["--param", f"CertificateArn={CERTIFICATE}"], "AlarmEmail"),
])
def test_deploy_refuses_before_creating_anything(local_endpoint, capsys, environment, extra,
                                                 missing):
    name = f"refused-{environment}-{missing.lower()}"
    code = cli.main(["deploy", "--env", environment, "--region", "us-east-1", "--stack-name",
                     name, "--yes", "--param", "CostCenter=CC-1234", *extra,
                     "--endpoint-url", local_endpoint])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and missing in err
    assert name not in _stacks(local_endpoint, "us-east-1")


def test_a_local_certificate_is_one_command(local_endpoint, capsys):
    code = cli.main(["local", "certificate", "--region", "eu-west-1",
                     "--endpoint-url", local_endpoint])
    arn = capsys.readouterr().out.strip()
    assert code == 0
    assert arn.startswith("arn:aws:acm:eu-west-1:") and ":certificate/" in arn
    pattern = ROOT_PARAMETERS["CertificateArn"].pattern
    assert pattern is not None and re.match(pattern, arn)


def test_local_certificate_refuses_a_real_endpoint(capsys):
    code = cli.main(["local", "certificate", "--endpoint-url",
                     "https://acm.us-east-1.amazonaws.com"])
    assert code == 2
    assert "not a local endpoint" in capsys.readouterr().err
