"""The project's cfn-lint rules (scripts/rules): each fails what it promises and nothing else.

The rules are loaded once, the way the cfn-lint CLI assembles them (cfn-lint's own rules plus
the appended folder), and every template is linted with the repo's .cfnlintrc.yaml settings.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cfnlint.rules
import pytest
import yaml
from cfnlint.config import ConfigMixIn
from cfnlint.decode.decode import decode_str
from cfnlint.match import Match
from cfnlint.rules import Rules
from cfnlint.runner import run_template_by_data

REPO = Path(__file__).resolve().parent.parent
LINT_CONFIG = REPO / ".cfnlintrc.yaml"
RULES_DIR = REPO / "scripts" / "rules"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rules"
BUILD_TEMPLATES = sorted((REPO / "build").glob("*.yaml"))

# Each fail fixture's findings, one entry per finding: the resource it names.
EXPECTED_FAILURES: dict[str, list[str]] = {
    "E9101": [
        "TopicWithoutDate",
        "SettingWithoutCostCenter",
        "TeamTopic",
        "TopicWithConditionalTag",
        "TopicWithConditionalTags",
        "FleetNotPropagating",
        "FleetNotPropagatingInOneBranch",
    ],
    "E9102": [
        "DatabaseDeleted",
        "DatabaseWithoutPolicies",
        "DatabaseWithoutPolicies",
        "ClusterReplacedAway",
        "ClusterKeptInProdOnly",
        "BucketSnapshotted",
        "BucketDeleted",
        "BucketDeleted",
        "KeyDeleted",
    ],
    "E9103": [
        "LoadBalancerSecurityGroup",
        "LoadBalancerSecurityGroup",
        "LoadBalancerAllTrafficIpv6",
        "LoadBalancerPortRange",
        "AppSecurityGroup",
        "AdminSecurityGroup",
        "AppSshFromWorld",
        "ExistingGroupHttps",
    ],
    "E9104": [
        "TokensOptional",
        "HopLimitTwo",
        "HopLimitUnset",
        "NoMetadataOptions",
        "TokensRequiredOnlyIfStrict",
        "UnencryptedVolume",
        "VolumeEncryptionUnset",
    ],
}
RULE_IDS = sorted(EXPECTED_FAILURES)
# Findings of cfn-lint's own mandatory rules that a fail fixture cannot avoid or silence.
OVERLAPS: dict[str, list[tuple[str, str]]] = {"E9102": [("I3011", "DatabaseWithoutPolicies")] * 2}

# Two groups admitting HTTPS from the world: which one is "the load balancer's" is configuration.
TWO_PUBLIC_GROUPS = """
AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  VpcId:
    Type: AWS::EC2::VPC::Id
Resources:
  PublicAlbSecurityGroup:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: A load balancer group under another name
      VpcId: !Ref VpcId
      SecurityGroupIngress:
        - {CidrIp: 0.0.0.0/0, IpProtocol: tcp, FromPort: 443, ToPort: 443}
  LoadBalancerSecurityGroup:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: The default name
      VpcId: !Ref VpcId
      SecurityGroupIngress:
        - {CidrIp: 0.0.0.0/0, IpProtocol: tcp, FromPort: 443, ToPort: 443}
"""
WIDENS_ITS_OWN_ALLOW_LIST = """
Metadata:
  cfn-lint:
    config:
      configure_rules:
        E9103:
          load_balancer_security_groups: [PublicAlbSecurityGroup]
"""
ALLOW_PUBLIC_ALB = {"E9103": {"load_balancer_security_groups": ["PublicAlbSecurityGroup"]}}


@pytest.fixture(scope="session")
def rules() -> Rules:
    """cfn-lint's rules plus ours, built once: loading them is most of cfn-lint's cost."""
    collection = Rules.create_from_directory(str(Path(cfnlint.rules.__file__).parent))
    collection.update(Rules.create_from_directory(str(RULES_DIR)))
    return collection


def lint(rules: Rules, text: str, config_file: Path = LINT_CONFIG, **overrides: Any) -> list[Match]:
    template, errors = decode_str(text)
    assert not errors, errors
    config = ConfigMixIn(["--config-file", str(config_file)], **overrides)
    return list(run_template_by_data(template, config, rules))


def fixture(rule_id: str, name: str) -> str:
    return (FIXTURES / rule_id / f"{name}.yaml").read_text(encoding="utf-8")


def resource_of(match: Match) -> str:
    path = getattr(match, "path", [])
    return str(path[1]) if len(path) > 1 and path[0] == "Resources" else "(template)"


def findings(matches: Iterable[Match], rule_id: str = "") -> list[tuple[str, str]]:
    """(rule id, resource) per finding, sorted; only ``rule_id``'s when one is given."""
    return sorted(
        (match.rule.id, resource_of(match))
        for match in matches
        if match.rule.id.startswith(rule_id)
    )


def test_every_rule_is_loaded_from_the_rules_folder(rules):
    assert {rule_id for rule_id in rules if rule_id.startswith("E91")} == set(RULE_IDS)


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_pass_fixture_has_no_findings_at_all(rules, rule_id):
    assert [repr(match) for match in lint(rules, fixture(rule_id, "pass"))] == []


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_fail_fixture_fails_its_rule_on_each_bad_resource(rules, rule_id):
    expected = sorted((rule_id, resource) for resource in EXPECTED_FAILURES[rule_id])
    matches = lint(rules, fixture(rule_id, "fail"))
    assert findings(matches, rule_id) == expected
    others = [found for found in findings(matches) if found[0] != rule_id]
    assert others == sorted(OVERLAPS.get(rule_id, []))


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_failure_messages_name_the_resource(rules, rule_id):
    for match in lint(rules, fixture(rule_id, "fail")):
        if match.rule.id == rule_id:
            assert resource_of(match) in match.message, match.message


@pytest.mark.parametrize("template", BUILD_TEMPLATES, ids=lambda path: path.name)
def test_shipped_templates_pass_the_project_rules(rules, template):
    matches = lint(rules, template.read_text(encoding="utf-8"))
    assert [repr(match) for match in matches if match.rule.id.startswith("E91")] == []


def test_world_ingress_is_allowed_only_on_the_configured_load_balancer_group(rules):
    default = lint(rules, TWO_PUBLIC_GROUPS)
    assert findings(default, "E9103") == [("E9103", "PublicAlbSecurityGroup")]
    configured = lint(rules, TWO_PUBLIC_GROUPS, configure_rules=ALLOW_PUBLIC_ALB)
    assert findings(configured, "E9103") == [("E9103", "LoadBalancerSecurityGroup")]


def test_the_allow_list_is_read_from_configure_rules_in_the_lint_config(rules, tmp_path):
    settings = yaml.safe_load(LINT_CONFIG.read_text(encoding="utf-8"))
    config_file = tmp_path / ".cfnlintrc.yaml"
    config_file.write_text(yaml.safe_dump({**settings, "configure_rules": ALLOW_PUBLIC_ALB}))
    matches = lint(rules, TWO_PUBLIC_GROUPS, config_file=config_file)
    assert findings(matches, "E9103") == [("E9103", "LoadBalancerSecurityGroup")]


def test_a_template_cannot_widen_its_own_allow_list(rules):
    """cfn-lint lets template Metadata override configure_rules; E9103 refuses that."""
    matches = lint(rules, WIDENS_ITS_OWN_ALLOW_LIST + TWO_PUBLIC_GROUPS)
    assert findings(matches, "E9103") == [
        ("E9103", "(template)"),
        ("E9103", "LoadBalancerSecurityGroup"),
    ]
