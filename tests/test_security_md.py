"""SECURITY.md matches the tests and the templates; the lint gate keeps the rules it relies on."""

from __future__ import annotations

import ast
import re

import yaml

from scripts.build import yamlio
from scripts.paths import BUILD_DIR, LINT_CONFIG, REPO_ROOT

DOC = (REPO_ROOT / "SECURITY.md").read_text(encoding="utf-8")
RELIED_ON = ("I3011", "I3013", "I3042", "I3510", "I3100")


def _rows() -> list[list[str]]:
    """Every four-column table row (header and separator rows excluded)."""
    rows = []
    for line in DOC.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 4 and cells[0] not in ("Control", "---"):
            rows.append(cells)
    return rows


def _test_names(path: str) -> set[str]:
    tree = ast.parse((REPO_ROOT / path).read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_every_control_row_has_four_filled_columns():
    rows = _rows()
    assert len(rows) >= 30
    for control, how, proof, exception in rows:
        assert control and how and proof and exception, control
        assert proof == "—" or "test" in proof or re.search(r"E91\d\d|I3\d{3}|CKV", proof), control


def test_every_test_named_in_security_md_exists():
    named = re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", DOC)
    assert len(named) >= 30
    missing = [f"{path}::{name}" for path, name in named if name not in _test_names(path)]
    assert missing == []


def test_security_hub_controls_the_issue_names_are_documented():
    controls = {part.strip() for row in _rows() for part in row[0].split(",")}
    assert {"S3.5", "RDS.3", "EC2.8", "ELB.4", "EC2.2", "KMS.4", "ELB.1"} <= controls


def test_every_checkov_skip_in_the_templates_is_an_exception_in_security_md():
    skips = []
    for path in sorted(BUILD_DIR.glob("*.yaml")):
        for logical_id, resource in yamlio.load(path.read_text(encoding="utf-8"))[
                "Resources"].items():
            for skip in (resource.get("Metadata") or {}).get("checkov", {}).get("skip", []):
                skips.append((skip["id"], f"{path.stem}/{logical_id}"))
    assert skips
    table = DOC.split("## checkov skips", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| (CKV\w+) \| `([\w/]+)` \|", table, flags=re.M)
    assert sorted(documented) == sorted(skips)
    exceptions = " ".join(row[3] for row in _rows())
    for check_id, _ in skips:
        assert check_id in exceptions, f"{check_id} is skipped but no row accepts it"


def test_the_gate_includes_and_never_ignores_the_informational_rules_relied_on():
    config = yaml.safe_load(LINT_CONFIG.read_text(encoding="utf-8"))
    assert "I" in config["include_checks"]
    assert set(RELIED_ON) <= set(config["mandatory_checks"])
    ignored = config.get("ignore_checks") or []
    assert not [rule for rule in ignored if any(rule_id.startswith(rule) for rule_id in RELIED_ON)]


def test_a_template_cannot_silence_a_relied_on_rule(gate):
    from scripts.build.gate import LintTarget

    text = """
AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Metadata:
      cfn-lint:
        config:
          ignore_checks: [I3042]
    Properties:
      KmsMasterKeyId: !Sub arn:aws:kms:${AWS::Region}:${AWS::AccountId}:key/x
"""
    findings = gate.lint(LintTarget("t.yaml", text, ("us-east-1",)))
    assert "I3042" in {finding.rule for finding in findings}


def test_every_aws_managed_policy_attached_is_accounted_for():
    """A managed policy is a grant this repository does not write: each one attached in
    build/ is named in SECURITY.md's managed-policy row, which says what it allows."""
    attached = set()
    for path in sorted(BUILD_DIR.glob("*.yaml")):
        for resource in yamlio.load(path.read_text(encoding="utf-8"))["Resources"].values():
            for arn in (resource.get("Properties") or {}).get("ManagedPolicyArns", []):
                text = arn["Fn::Sub"] if isinstance(arn, dict) else str(arn)
                attached.add(text.rsplit("/", 1)[-1])
    row = next(r for r in _rows() if "AWS managed policies" in r[0])
    assert attached and all(f"`{name}`" in row[1] for name in attached)
    for name in ("CloudWatchAgentServerPolicy", "AmazonSSMManagedInstanceCore"):
        assert name not in attached
