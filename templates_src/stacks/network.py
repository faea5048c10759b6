"""Network: VPC, a subnet per tier and AZ routed by the tier's egress, IGW, NAT, flow logs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from troposphere import GetAtt, If, Join, Ref, Template, ec2, iam

from templates_src.common import Stack, az
from templates_src.policies import (
    FLOW_LOGS_OF_THIS_ACCOUNT,
    assume_role,
    flow_log_delivery_policy,
)
from templates_src.topology import AZ_COUNT, TIERS, Egress, Tier

# The NAT in AZ 0 always exists; the others only where NatPerAz holds.
NAT_PER_AZ = "NatPerAz"
ANYWHERE = "0.0.0.0/0"


@dataclass(frozen=True)
class _Routing:
    """What a tier's route tables can point at; the tier's egress picks which."""

    stack: Stack
    vpc: ec2.VPC
    gateway: ec2.InternetGateway
    attachment: ec2.VPCGatewayAttachment
    nats: list[ec2.NatGateway]

    def tables(self, tier: Tier) -> list[ec2.RouteTable]:
        """The route table of each AZ's subnet; AZs share one where their routes agree."""
        match tier.egress:
            case Egress.INTERNET:
                return [self.to_internet(tier)] * AZ_COUNT
            case Egress.NAT:
                return [self.to_nat(tier, index) for index in range(AZ_COUNT)]
            case Egress.NONE:
                # No route at all: nothing in the tier reaches outside the VPC.
                return [self.shared_table(tier)] * AZ_COUNT
            case _:
                assert_never(tier.egress)

    def table(self, title: str, role: str) -> ec2.RouteTable:
        return self.stack.template.add_resource(ec2.RouteTable(
            title, VpcId=Ref(self.vpc), Tags=self.stack.tags(role),
        ))

    def shared_table(self, tier: Tier) -> ec2.RouteTable:
        """One table for all the tier's AZs, so its logical id carries no AZ index."""
        return self.table(f"{tier.name}RouteTable", f"{tier.name.lower()}-routes")

    def to_internet(self, tier: Tier) -> ec2.RouteTable:
        table = self.shared_table(tier)
        self.stack.template.add_resource(ec2.Route(
            f"{tier.name}DefaultRoute",
            DependsOn=self.attachment.title,
            RouteTableId=Ref(table),
            DestinationCidrBlock=ANYWHERE,
            GatewayId=Ref(self.gateway),
        ))
        return table

    def to_nat(self, tier: Tier, index: int) -> ec2.RouteTable:
        """Each AZ's own NAT where NatPerAz holds, else the one in AZ 0."""
        table = self.table(f"{tier.name}RouteTable{index}", f"{tier.name.lower()}-routes-{index}")
        first = Ref(self.nats[0])
        self.stack.template.add_resource(ec2.Route(
            f"{tier.name}DefaultRoute{index}",
            RouteTableId=Ref(table),
            DestinationCidrBlock=ANYWHERE,
            NatGatewayId=first if index == 0 else If(NAT_PER_AZ, Ref(self.nats[index]), first),
        ))
        return table


def build() -> Template:
    s = Stack("network", "VPC, subnets in two AZs by tier, NAT, routing and flow logs")
    t = s.template
    t.add_condition(NAT_PER_AZ, {"Fn::Equals": [s.env("NatPerAz"), "true"]})
    data_key = s.input("DataKeyArn", "Customer-managed key that encrypts the flow logs")

    vpc = t.add_resource(ec2.VPC(
        "Vpc",
        CidrBlock=s.env("VpcCidr"),
        EnableDnsHostnames=True,
        EnableDnsSupport=True,
        Tags=s.tags("vpc"),
    ))
    igw = t.add_resource(ec2.InternetGateway("InternetGateway", Tags=s.tags("igw")))
    attachment = t.add_resource(ec2.VPCGatewayAttachment(
        "InternetGatewayAttachment", VpcId=Ref(vpc), InternetGatewayId=Ref(igw),
    ))
    subnets = {tier: _subnets_of(s, vpc, tier) for tier in TIERS}
    routing = _Routing(s, vpc, igw, attachment, _nat_gateways(s, subnets, attachment))
    for tier in TIERS:
        for index, table in enumerate(routing.tables(tier)):
            t.add_resource(ec2.SubnetRouteTableAssociation(
                f"{tier.subnet_logical_id(index)}RouteTableAssociation",
                SubnetId=Ref(subnets[tier][index]),
                RouteTableId=Ref(table),
            ))
    _flow_log(s, vpc, data_key)

    s.output("VpcId", Ref(vpc), "The VPC")
    for tier in TIERS:
        s.output(
            f"{tier.name}SubnetIds",
            Join(",", [Ref(subnet) for subnet in subnets[tier]]),
            f"{tier.name} subnets, comma-joined, one per AZ",
        )
    return s.build()


def _subnets_of(s: Stack, vpc: ec2.VPC, tier: Tier) -> list[ec2.Subnet]:
    """One subnet per AZ. The CIDRs are table data (validated to fit the VPC), so review
    shows them."""
    return [s.template.add_resource(ec2.Subnet(
        tier.subnet_logical_id(index),
        VpcId=Ref(vpc),
        AvailabilityZone=az(index),
        CidrBlock=s.env(f"{tier.subnet_logical_id(index)}Cidr"),
        MapPublicIpOnLaunch=False,
        Tags=s.tags(f"{tier.name.lower()}-{index}", Tier=tier.name),
    )) for index in range(AZ_COUNT)]


def _nat_gateways(
    s: Stack, subnets: dict[Tier, list[ec2.Subnet]], attachment: ec2.VPCGatewayAttachment,
) -> list[ec2.NatGateway]:
    """A NAT per AZ in the first internet tier, when any tier egresses through one."""
    if not any(tier.egress is Egress.NAT for tier in subnets):
        return []
    public = next(tier for tier in subnets if tier.egress is Egress.INTERNET)
    nats: list[ec2.NatGateway] = []
    for index in range(AZ_COUNT):
        eip = s.template.add_resource(ec2.EIP(
            f"NatEip{index}", Domain="vpc", DependsOn=attachment.title, Tags=s.tags(f"nat-{index}"),
        ))
        nat = s.template.add_resource(ec2.NatGateway(
            f"NatGateway{index}",
            AllocationId=GetAtt(eip, "AllocationId"),
            SubnetId=Ref(subnets[public][index]),
            Tags=s.tags(f"nat-{index}"),
        ))
        if index > 0:
            eip.Condition = NAT_PER_AZ
            nat.Condition = NAT_PER_AZ
        nats.append(nat)
    return nats


def _flow_log(s: Stack, vpc: ec2.VPC, data_key: Ref) -> None:
    """Every flow of the VPC, delivered to an encrypted log group kept after the stack."""
    t = s.template
    flow_log_group = s.log_group("FlowLogGroup", "flow-logs", data_key)
    flow_log_role = t.add_resource(iam.Role(
        "FlowLogRole",
        AssumeRolePolicyDocument=assume_role(
            "vpc-flow-logs.amazonaws.com", FLOW_LOGS_OF_THIS_ACCOUNT),
        Policies=[iam.Policy(
            PolicyName="deliver-flow-logs",
            PolicyDocument=flow_log_delivery_policy(GetAtt(flow_log_group, "Arn")),
        )],
        Tags=s.tags("flow-log-role"),
    ))
    t.add_resource(ec2.FlowLog(
        "VpcFlowLog",
        ResourceId=Ref(vpc),
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="cloud-watch-logs",
        LogGroupName=Ref(flow_log_group),
        DeliverLogsPermissionArn=GetAtt(flow_log_role, "Arn"),
        Tags=s.tags("flow-log"),
    ))
