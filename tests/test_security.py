"""Security groups: world -> ALB (80/443), ALB -> app port, app -> 5432, nothing else in."""

from __future__ import annotations

from typing import NamedTuple

from templates_src.common import APP_PORT, DATABASE_PORT


class Rule(NamedTuple):
    protocol: str
    port: int
    source: str  # a CIDR or the logical id of a source group


def _source(props: dict) -> str:
    group = props.get("SourceSecurityGroupId") or props.get("DestinationSecurityGroupId")
    if group is not None:
        return group["Fn::GetAtt"][0]
    return props.get("CidrIp") or props["CidrIpv6"]


def _ingress(env, group: str) -> list[Rule]:
    resources = env.resources("security")
    rules = [dict(r) for r in resources[group]["Properties"].get("SecurityGroupIngress", [])]
    rules += [r["Properties"] for r in resources.values()
              if r["Type"] == "AWS::EC2::SecurityGroupIngress"
              and r["Properties"]["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}]
    return sorted(Rule(r["IpProtocol"], r["FromPort"], _source(r)) for r in rules
                  if r["FromPort"] == r["ToPort"])


def test_database_accepts_postgres_only_from_app_tier(prod):
    assert _ingress(prod, "DatabaseSecurityGroup") == [
        Rule("tcp", DATABASE_PORT, "AppSecurityGroup")
    ]


def test_app_accepts_its_port_only_from_the_load_balancer(prod):
    assert _ingress(prod, "AppSecurityGroup") == [
        Rule("tcp", APP_PORT, "LoadBalancerSecurityGroup")
    ]


def test_only_the_load_balancer_is_open_to_the_world_on_80_and_443(prod):
    assert _ingress(prod, "LoadBalancerSecurityGroup") == [
        Rule("tcp", 80, "0.0.0.0/0"), Rule("tcp", 443, "0.0.0.0/0"),
    ]


def test_database_has_no_open_egress(prod):
    egress = prod.props("security", "DatabaseSecurityGroup")["SecurityGroupEgress"]
    assert [rule["CidrIp"] for rule in egress] == ["127.0.0.1/32"]
    standalone = [r for r in prod.resources("security", "AWS::EC2::SecurityGroupEgress").values()
                  if r["Properties"]["GroupId"] == {"Fn::GetAtt": ["DatabaseSecurityGroup",
                                                                    "GroupId"]}]
    assert standalone == []


def test_every_rule_has_a_description(each_env):
    for logical_id, resource in each_env.resources("security").items():
        props = resource["Properties"]
        inline = props.get("SecurityGroupIngress", []) + props.get("SecurityGroupEgress", [])
        rules = inline if resource["Type"] == "AWS::EC2::SecurityGroup" else [props]
        for rule in rules:
            assert rule.get("Description"), f"{logical_id} has a rule without a description"


def test_nothing_is_placed_in_the_default_security_group(each_env, rendered):
    """EC2.2's exception (SECURITY.md): the default group stays open, so nothing may use it."""
    attached = {
        ("compute", "LoadBalancer"):
            each_env.props("compute", "LoadBalancer")["SecurityGroups"],
        ("compute", "LaunchTemplate"): each_env.props("compute", "LaunchTemplate")[
            "LaunchTemplateData"]["NetworkInterfaces"][0]["Groups"],
        ("database", "Database"): each_env.props("database", "Database")["VPCSecurityGroups"],
    }
    wanted = {"LoadBalancer": "LoadBalancerSecurityGroupId",
              "LaunchTemplate": "AppSecurityGroupId", "Database": "DatabaseSecurityGroupId"}
    for (stack, logical_id), groups in attached.items():
        assert groups == [{"Ref": wanted[logical_id]}], logical_id
        wired = rendered["root"]["Resources"][f"{stack.capitalize()}Stack"]["Properties"][
            "Parameters"][wanted[logical_id]]
        assert wired == {"Fn::GetAtt": ["SecurityStack", f"Outputs.{wanted[logical_id]}"]}
    # Nothing else in the set can hold a network interface.
    kinds = {r["Type"] for stack in rendered for r in each_env.resources(stack).values()}
    assert not kinds & {"AWS::EC2::Instance", "AWS::Lambda::Function", "AWS::EC2::VPCEndpoint",
                        "AWS::EC2::NetworkInterface", "AWS::ECS::Service"}
