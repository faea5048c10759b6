"""Network: tiers x AZs, one NAT or one per AZ, and a database tier with no way out."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from templates_src import environments
from templates_src.environments import ENVIRONMENTS
from templates_src.stacks import network
from templates_src.topology import AZ_COUNT, TIERS, Egress, Tier, TopologyError, validate_tiers


def _routes(env, table: str) -> list[dict]:
    return [r["Properties"] for r in env.resources("network", "AWS::EC2::Route").values()
            if r["Properties"]["RouteTableId"] == {"Ref": table}]


def test_prod_has_a_nat_per_az_and_each_private_route_uses_its_own(prod):
    nats = prod.resources("network", "AWS::EC2::NatGateway")
    assert sorted(nats) == ["NatGateway0", "NatGateway1"]
    for index in range(AZ_COUNT):
        (route,) = _routes(prod, f"PrivateRouteTable{index}")
        assert route["NatGatewayId"] == {"Ref": f"NatGateway{index}"}
        nat = nats[f"NatGateway{index}"]["Properties"]
        assert nat["SubnetId"] == {"Ref": f"PublicSubnet{index}"}


def test_dev_and_staging_share_one_nat(dev, staging):
    for env in (dev, staging):
        assert list(env.resources("network", "AWS::EC2::NatGateway")) == ["NatGateway0"]
        assert list(env.resources("network", "AWS::EC2::EIP")) == ["NatEip0"]
        for index in range(AZ_COUNT):
            (route,) = _routes(env, f"PrivateRouteTable{index}")
            assert route["NatGatewayId"] == {"Ref": "NatGateway0"}


def test_subnets_are_tiers_by_azs_and_never_name_an_az(each_env):
    subnets = each_env.resources("network", "AWS::EC2::Subnet")
    assert sorted(subnets) == sorted(
        tier.subnet_logical_id(i) for tier in TIERS for i in range(AZ_COUNT))
    for logical_id, subnet in subnets.items():
        index = int(logical_id[-1])
        props = subnet["Properties"]
        assert props["AvailabilityZone"] == {"Fn::Select": [index, {"Fn::GetAZs": ""}]}
        assert props["MapPublicIpOnLaunch"] is False


def test_vpc_cidr_comes_from_the_table(each_env):
    vpc = each_env.props("network", "Vpc")
    assert vpc["CidrBlock"] == ENVIRONMENTS[each_env.environment].vpc_cidr


def test_public_routes_to_the_internet_gateway_and_database_has_no_route(each_env):
    (public,) = _routes(each_env, "PublicRouteTable")
    assert public == {**public, "DestinationCidrBlock": "0.0.0.0/0",
                      "GatewayId": {"Ref": "InternetGateway"}}
    assert _routes(each_env, "DatabaseRouteTable") == []
    associations = each_env.resources("network", "AWS::EC2::SubnetRouteTableAssociation")
    for index in range(AZ_COUNT):
        props = associations[f"DatabaseSubnet{index}RouteTableAssociation"]["Properties"]
        assert props["RouteTableId"] == {"Ref": "DatabaseRouteTable"}


def test_flow_logs_go_to_a_log_group_with_the_environment_retention(each_env):
    flow_log = each_env.props("network", "VpcFlowLog")
    assert flow_log["LogGroupName"] == {"Ref": "FlowLogGroup"}
    assert flow_log["ResourceId"] == {"Ref": "Vpc"}
    group = each_env.props("network", "FlowLogGroup")
    assert group["RetentionInDays"] == str(ENVIRONMENTS[each_env.environment].log_retention_days)


def test_flow_logs_are_encrypted_under_the_data_key_and_kept(each_env, rendered):
    group = each_env.resource("network", "FlowLogGroup")
    assert group["Properties"]["KmsKeyId"] == {"Ref": "DataKeyArn"}
    assert (group["DeletionPolicy"], group["UpdateReplacePolicy"]) == ("Retain", "Retain")
    wiring = rendered["root"]["Resources"]["NetworkStack"]["Properties"]["Parameters"]
    assert wiring["DataKeyArn"] == {"Fn::GetAtt": ["StorageStack", "Outputs.DataKeyArn"]}


def test_outputs_vpc_and_comma_joined_subnet_lists(dev):
    outputs = dev.template("network")["Outputs"]
    assert outputs["VpcId"]["Value"] == {"Ref": "Vpc"}
    for tier in TIERS:
        assert outputs[f"{tier.name}SubnetIds"]["Value"] == {
            "Fn::Join": [",", [{"Ref": tier.subnet_logical_id(i)} for i in range(AZ_COUNT)]]
        }


def test_subnet_cidrs_are_carved_from_the_vpc_without_overlap(each_env):
    import ipaddress

    env = ENVIRONMENTS[each_env.environment]
    vpc = ipaddress.ip_network(env.vpc_cidr)
    subnets = each_env.resources("network", "AWS::EC2::Subnet")
    blocks = {name: ipaddress.ip_network(s["Properties"]["CidrBlock"])
              for name, s in subnets.items()}
    assert blocks == {name: ipaddress.ip_network(c) for name, c in env.subnet_cidrs().items()}
    assert all(block.subnet_of(vpc) for block in blocks.values())
    ordered = sorted(blocks.values())
    assert all(not a.overlaps(b) for a, b in itertools.pairwise(ordered))


def _refs(value: Any) -> list[str]:
    """Every Ref a value can take, through both branches of an Fn::If."""
    if isinstance(value, dict) and "Ref" in value:
        return [value["Ref"]]
    if isinstance(value, dict) and "Fn::If" in value:
        return [ref for branch in value["Fn::If"][1:] for ref in _refs(branch)]
    return []


def _exits(template: dict[str, Any], subnet: str) -> list[Egress | dict[str, Any]]:
    """Where the route table of one subnet sends traffic bound outside the VPC."""
    resources = template["Resources"]
    table = resources[f"{subnet}RouteTableAssociation"]["Properties"]["RouteTableId"]
    exits: list[Egress | dict[str, Any]] = []
    for resource in resources.values():
        route = resource["Properties"]
        if resource["Type"] != "AWS::EC2::Route" or route["RouteTableId"] != table:
            continue
        targets = {key: _refs(route[key]) for key in ("GatewayId", "NatGatewayId") if key in route}
        if route["DestinationCidrBlock"] != "0.0.0.0/0":
            exits.append(route)  # an unexpected route fails the comparison, shown whole
        elif targets == {"GatewayId": ["InternetGateway"]}:
            exits.append(Egress.INTERNET)
        elif set(targets) == {"NatGatewayId"} and all(
                ref.startswith("NatGateway") for ref in targets["NatGatewayId"]):
            exits.append(Egress.NAT)
        else:
            exits.append(route)
    return exits


EXITS = {Egress.INTERNET: [Egress.INTERNET], Egress.NAT: [Egress.NAT], Egress.NONE: []}


def test_each_tier_routes_out_by_its_egress_kind(each_env):
    template = each_env.template("network")
    for tier in TIERS:
        for index in range(AZ_COUNT):
            assert _exits(template, tier.subnet_logical_id(index)) == EXITS[tier.egress], (
                tier, index)


MORE_TIERS = (Tier("Edge", Egress.INTERNET), Tier("Worker", Egress.NAT), Tier("Cache", Egress.NONE))


def test_a_new_tier_is_routed_by_its_kind_not_its_name(monkeypatch):
    tiers = TIERS + MORE_TIERS
    monkeypatch.setattr(network, "TIERS", tiers)
    monkeypatch.setattr(environments, "TIERS", tiers)  # the table carves their CIDRs
    template = network.build().to_dict()
    for tier in tiers:
        for index in range(AZ_COUNT):
            assert _exits(template, tier.subnet_logical_id(index)) == EXITS[tier.egress], (
                tier, index)
    worker_routes = [_routes_of(template, f"WorkerRouteTable{i}") for i in range(AZ_COUNT)]
    private_routes = [_routes_of(template, f"PrivateRouteTable{i}") for i in range(AZ_COUNT)]
    assert [[r["NatGatewayId"] for r in routes] for routes in worker_routes] == [
        [r["NatGatewayId"] for r in routes] for routes in private_routes]


def _routes_of(template: dict[str, Any], table: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in template["Resources"].values()
            if r["Type"] == "AWS::EC2::Route" and r["Properties"]["RouteTableId"] == {"Ref": table}]


def test_nat_gateways_sit_in_the_internet_tier(prod):
    (public,) = (tier for tier in TIERS if tier.egress is Egress.INTERNET)
    nats = prod.resources("network", "AWS::EC2::NatGateway")
    assert sorted(nat["Properties"]["SubnetId"]["Ref"] for nat in nats.values()) == [
        public.subnet_logical_id(i) for i in range(AZ_COUNT)]


@pytest.mark.parametrize(("tiers", "message"), [
    ((Tier("Private", Egress.NAT), Tier("Database", Egress.NONE)), "needs an internet tier"),
    ((Tier("Public", Egress.INTERNET), Tier("Public", Egress.NONE)), "Public appears more"),
])
def test_a_topology_the_network_cannot_build_fails_on_load(tiers, message):
    with pytest.raises(TopologyError, match=message):
        validate_tiers(tiers)


def test_a_tier_name_that_cannot_be_a_logical_id_fails():
    with pytest.raises(TopologyError, match="'app-tier'"):
        Tier("app-tier", Egress.NAT)


def test_only_this_accounts_flow_logs_may_assume_the_flow_log_role(each_env):
    role = each_env.props("network", "FlowLogRole")
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": ["vpc-flow-logs.amazonaws.com"]}
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {"aws:SourceArn": {"Fn::Sub": (
            f"arn:${{AWS::Partition}}:ec2:{each_env.region}:${{AWS::AccountId}}:vpc-flow-log/*")}},
    }
