"""Network: VPC, public/private/database subnets in two AZs, IGW, NAT, routes, flow logs."""

from __future__ import annotations

from troposphere import GetAtt, If, Join, Ref, Template, ec2, iam

from templates_src.common import Stack, az
from templates_src.environments import AZ_COUNT, TIERS
from templates_src.policies import assume_role, flow_log_delivery_policy

# The NAT in AZ 0 always exists; the others only where NatPerAz holds.
NAT_PER_AZ = "NatPerAz"


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

    # Subnet CIDRs are table data (validated to fit the VPC), so review shows them.
    subnets: dict[str, list[ec2.Subnet]] = {tier: [] for tier in TIERS}
    for tier in TIERS:
        for index in range(AZ_COUNT):
            subnets[tier].append(t.add_resource(ec2.Subnet(
                f"{tier}Subnet{index}",
                VpcId=Ref(vpc),
                AvailabilityZone=az(index),
                CidrBlock=s.env(f"{tier}Subnet{index}Cidr"),
                MapPublicIpOnLaunch=False,
                Tags=s.tags(f"{tier.lower()}-{index}", Tier=tier),
            )))

    public_routes = t.add_resource(ec2.RouteTable(
        "PublicRouteTable", VpcId=Ref(vpc), Tags=s.tags("public-routes"),
    ))
    t.add_resource(ec2.Route(
        "PublicDefaultRoute",
        DependsOn=attachment.title,
        RouteTableId=Ref(public_routes),
        DestinationCidrBlock="0.0.0.0/0",
        GatewayId=Ref(igw),
    ))

    nats: list[ec2.NatGateway] = []
    for index in range(AZ_COUNT):
        condition = None if index == 0 else NAT_PER_AZ
        eip = t.add_resource(ec2.EIP(
            f"NatEip{index}", Domain="vpc", DependsOn=attachment.title, Tags=s.tags(f"nat-{index}"),
        ))
        nat = t.add_resource(ec2.NatGateway(
            f"NatGateway{index}",
            AllocationId=GetAtt(eip, "AllocationId"),
            SubnetId=Ref(subnets["Public"][index]),
            Tags=s.tags(f"nat-{index}"),
        ))
        if condition:
            eip.Condition = condition
            nat.Condition = condition
        nats.append(nat)

    database_routes = t.add_resource(ec2.RouteTable(
        "DatabaseRouteTable", VpcId=Ref(vpc), Tags=s.tags("database-routes"),
    ))
    for index in range(AZ_COUNT):
        private_routes = t.add_resource(ec2.RouteTable(
            f"PrivateRouteTable{index}", VpcId=Ref(vpc), Tags=s.tags(f"private-routes-{index}"),
        ))
        nat_id = Ref(nats[0]) if index == 0 else If(NAT_PER_AZ, Ref(nats[index]), Ref(nats[0]))
        t.add_resource(ec2.Route(
            f"PrivateDefaultRoute{index}",
            RouteTableId=Ref(private_routes),
            DestinationCidrBlock="0.0.0.0/0",
            NatGatewayId=nat_id,
        ))
        # The database tier shares one route table with no route out of the VPC.
        for tier, table in (("Public", public_routes), ("Private", private_routes),
                            ("Database", database_routes)):
            t.add_resource(ec2.SubnetRouteTableAssociation(
                f"{tier}Subnet{index}RouteTableAssociation",
                SubnetId=Ref(subnets[tier][index]),
                RouteTableId=Ref(table),
            ))

    flow_log_group = s.log_group("FlowLogGroup", "flow-logs", data_key)
    flow_log_role = t.add_resource(iam.Role(
        "FlowLogRole",
        AssumeRolePolicyDocument=assume_role("vpc-flow-logs.amazonaws.com"),
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

    s.output("VpcId", Ref(vpc), "The VPC")
    for tier in TIERS:
        s.output(
            f"{tier}SubnetIds",
            Join(",", [Ref(subnet) for subnet in subnets[tier]]),
            f"{tier} subnets, comma-joined, one per AZ",
        )
    return s.build()
