"""E9103: only the load balancer's security group takes traffic from the whole internet.

cfn-lint loads this file by path (``append_rules``); what the rules share comes from
``_helpers.py`` beside it, loaded by path as cfn-lint loads the rule.
"""

# cfnlint ships no type information: to mypy its CloudFormationLintRule is Any.
# mypy: allow-subclassing-any

from __future__ import annotations

import ipaddress
import os
from operator import attrgetter
from typing import TYPE_CHECKING, Any, ClassVar

from cfnlint.helpers import import_filename
from cfnlint.rules import CloudFormationLintRule, RuleMatch
from cfnlint.template import Template

if TYPE_CHECKING:  # mypy reads the helpers as the package's module
    from scripts.rules._helpers import (
        NodePath,
        descend,
        is_intrinsic,
        literal_entries,
        path_of,
        resources,
    )
else:  # cfn-lint loads a rule from its file (append_rules), in any environment: the helpers
    # come from beside it, never through the project's package (a plain cfn-lint has none)
    _helpers = import_filename("_helpers", os.path.dirname(os.path.abspath(__file__)))
    descend, is_intrinsic, literal_entries, path_of, resources = attrgetter(
        "descend", "is_intrinsic", "literal_entries", "path_of", "resources")(_helpers)

WEB_PORTS = frozenset({80, 443})
CIDR_KEYS = ("CidrIp", "CidrIpv6")
CONFIG_KEY = "load_balancer_security_groups"


def _world_source(rule: dict[str, Any]) -> tuple[str, str] | None:
    """``(key, cidr)`` when the rule's source is the whole internet (any /0), else None."""
    for key in CIDR_KEYS:
        cidr = rule.get(key)
        if not isinstance(cidr, str):
            continue  # absent, or an intrinsic that cannot be read
        try:
            if ipaddress.ip_network(cidr.strip(), strict=False).prefixlen == 0:
                return key, cidr
        except ValueError:
            continue  # malformed: the schema rules report it
    return None


def _port(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _describe(protocol: Any, from_port: Any, to_port: Any) -> str:
    if str(protocol) == "-1":
        return "all protocols"
    if from_port == to_port:
        return f"{protocol} port {from_port}"
    return f"{protocol} ports {from_port}-{to_port}"


def _group_logical_id(ingress: dict[str, Any]) -> str | None:
    """The logical id a standalone ingress attaches to: ``Ref X`` or ``GetAtt X.GroupId``."""
    for key in ("GroupId", "GroupName"):
        target = ingress.get(key)
        if not isinstance(target, dict) or len(target) != 1:
            continue
        if isinstance(target.get("Ref"), str):
            return str(target["Ref"])
        getatt = target.get("Fn::GetAtt")
        if isinstance(getatt, str):
            getatt = getatt.split(".", 1)
        if isinstance(getatt, list) and len(getatt) == 2 and getatt[1] == "GroupId":
            return str(getatt[0])
    return None


class WorldIngressOnlyOnLoadBalancer(CloudFormationLintRule):
    """Everything but the load balancer sits behind it; the load balancer speaks only HTTP(S)."""

    id = "E9103"
    shortdesc = "World ingress only on the load balancer"
    description = (
        "Ingress from 0.0.0.0/0 or ::/0, inline in an AWS::EC2::SecurityGroup or as an "
        "AWS::EC2::SecurityGroupIngress, is allowed only on the load balancer's security "
        "group (by logical id; configure load_balancer_security_groups) and only for tcp "
        "with FromPort == ToPort in 80 or 443. IpProtocol -1 from the world is never allowed."
    )
    source_url = "https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html"
    tags: ClassVar[list[str]] = ["resources", "ec2", "securitygroup", "webstack"]

    def __init__(self) -> None:
        super().__init__()
        self.config_definition = {
            CONFIG_KEY: {
                "default": ["LoadBalancerSecurityGroup"],
                "type": "list",
                "itemtype": "string",
            },
        }
        self.configure()

    def match(self, cfn: Template) -> list[RuleMatch]:
        matches = self._metadata_override(cfn)
        for name, resource, where in resources(cfn, ["AWS::EC2::SecurityGroup"]):
            ingress = resource.get("Properties", {}).get("SecurityGroupIngress")
            ingress_where = descend(where, "Properties", "SecurityGroupIngress")
            for rule, rule_where in literal_entries(ingress, ingress_where):
                matches.extend(self._check(name, name, rule, path_of(rule_where)))
        for name, resource, _ in resources(cfn, ["AWS::EC2::SecurityGroupIngress"]):
            properties = resource.get("Properties")
            if isinstance(properties, dict):
                group = _group_logical_id(properties)
                path: NodePath = ["Resources", name, "Properties"]
                matches.extend(self._check(name, group, properties, path))
        return matches

    def _metadata_override(self, cfn: Template) -> list[RuleMatch]:
        """A template may not widen its own allow-list: E91 is mandatory, so is its config.

        cfn-lint lets a template's ``Metadata: cfn-lint: config: configure_rules`` override
        the configuration file, which would let a template wave its own world ingress through.
        """
        path: NodePath = ["Metadata", "cfn-lint", "config", "configure_rules", self.id]
        node: Any = cfn.template
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return []
            node = node[key]
        return [
            RuleMatch(
                path,
                f"The template's Metadata configures {self.id}; remove it and name the load "
                f"balancer's group in {CONFIG_KEY} under configure_rules in .cfnlintrc.yaml",
            )
        ]

    def _check(
        self, resource: str, group: str | None, rule: dict[str, Any], path: NodePath
    ) -> list[RuleMatch]:
        source = _world_source(rule)
        if source is None:
            return []
        key, cidr = source
        path = [*path, key]
        allowed: list[str] = list(self.config.get(CONFIG_KEY, []))
        protocol = rule.get("IpProtocol")
        from_port, to_port = rule.get("FromPort"), rule.get("ToPort")
        admits = f"{resource} admits {cidr} ({_describe(protocol, from_port, to_port)})"
        if group not in allowed:
            into = "" if group == resource else f" into group {group or '(outside this template)'}"
            return [
                RuleMatch(
                    path,
                    f"{admits}{into}, but only the load balancer's group "
                    f"({', '.join(allowed) or 'none configured'}) may take world ingress; admit a "
                    "security group or a narrower CIDR instead",
                )
            ]
        if str(protocol) != "-1" and self._web_only(protocol, from_port, to_port):
            return []
        into = "" if group == resource else f" into load balancer group {group}"
        return [
            RuleMatch(
                path,
                f"{admits}{into}; narrow it to tcp with FromPort and ToPort "
                "both 80 or both 443, or admit a narrower source",
            )
        ]

    @staticmethod
    def _web_only(protocol: Any, from_port: Any, to_port: Any) -> bool:
        """tcp 80 or tcp 443 exactly; an intrinsic protocol or port cannot be read: accepted."""
        if not is_intrinsic(protocol) and str(protocol).strip().lower() not in {"tcp", "6"}:
            return False
        if is_intrinsic(from_port) or is_intrinsic(to_port):
            return True
        return _port(from_port) == _port(to_port) and _port(from_port) in WEB_PORTS
