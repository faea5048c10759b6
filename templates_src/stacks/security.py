"""Security groups: the world reaches the ALB, the ALB reaches the app, the app reaches the DB."""

from __future__ import annotations

from troposphere import GetAtt, Template, ec2

from templates_src.common import APP_PORT, DATABASE_PORT, Stack, scanner_exception

# Only the load balancer's group admits the internet, and only on these ports.
WORLD_PORTS = (80, 443)
# An egress rule nothing can use: a group with no rules would allow all egress.
NO_EGRESS = ec2.SecurityGroupRule(
    IpProtocol="icmp", FromPort=252, ToPort=86, CidrIp="127.0.0.1/32",
    Description="Placeholder that disables the default allow-all egress",
)

# The only flows between tiers: (from, to, port, egress description, ingress description).
FLOWS = (
    ("LoadBalancer", "App", APP_PORT, "Load balancer forwards to the app port",
     "App port from the load balancer"),
    ("App", "Database", DATABASE_PORT, "App connects to PostgreSQL",
     "PostgreSQL from the app tier"),
)
PORT_PURPOSE = {80: "HTTP, redirected to HTTPS when a certificate is set", 443: "HTTPS"}


def world_rule(port: int) -> ec2.SecurityGroupRule:
    """One internet-facing ingress rule on the load balancer (the VPC is IPv4-only)."""
    return ec2.SecurityGroupRule(
        IpProtocol="tcp", FromPort=port, ToPort=port, CidrIp="0.0.0.0/0",
        Description=f"{PORT_PURPOSE[port]} from the internet",
    )


def build() -> Template:
    s = Stack("security", "security groups for the load balancer, app and database tiers")
    t = s.template
    vpc_id = s.input("VpcId", "VPC the groups belong to", "AWS::EC2::VPC::Id")

    alb = t.add_resource(ec2.SecurityGroup(
        "LoadBalancerSecurityGroup",
        Metadata=scanner_exception(
            "CKV_AWS_260", "port 80 is open only for its listener's redirect to HTTPS "
            "(SECURITY.md, ELB.1)",
        ),
        GroupDescription="Load balancer: HTTP and HTTPS from the internet",
        VpcId=vpc_id,
        SecurityGroupIngress=[world_rule(port) for port in WORLD_PORTS],
        SecurityGroupEgress=[NO_EGRESS],
        Tags=s.tags("alb-sg"),
    ))
    app = t.add_resource(ec2.SecurityGroup(
        "AppSecurityGroup",
        GroupDescription="App instances: the app port from the load balancer only",
        VpcId=vpc_id,
        SecurityGroupEgress=[ec2.SecurityGroupRule(
            IpProtocol="tcp", FromPort=443, ToPort=443, CidrIp="0.0.0.0/0",
            Description="HTTPS out through NAT for SSM, CloudWatch and package updates",
        )],
        Tags=s.tags("app-sg"),
    ))
    database = t.add_resource(ec2.SecurityGroup(
        "DatabaseSecurityGroup",
        GroupDescription="Database: PostgreSQL from the app tier only",
        VpcId=vpc_id,
        SecurityGroupEgress=[NO_EGRESS],
        Tags=s.tags("db-sg"),
    ))

    # Cross-references between groups are separate resources, so no group waits on itself.
    groups = {"LoadBalancer": alb, "App": app, "Database": database}
    for source, destination, port, egress_text, ingress_text in FLOWS:
        t.add_resource(ec2.SecurityGroupEgress(
            f"{source}To{destination}Egress",
            GroupId=GetAtt(groups[source], "GroupId"), IpProtocol="tcp",
            FromPort=port, ToPort=port,
            DestinationSecurityGroupId=GetAtt(groups[destination], "GroupId"),
            Description=egress_text,
        ))
        t.add_resource(ec2.SecurityGroupIngress(
            f"{destination}From{source}Ingress",
            GroupId=GetAtt(groups[destination], "GroupId"), IpProtocol="tcp",
            FromPort=port, ToPort=port,
            SourceSecurityGroupId=GetAtt(groups[source], "GroupId"),
            Description=ingress_text,
        ))

    s.output("LoadBalancerSecurityGroupId", GetAtt(alb, "GroupId"), "Load balancer group")
    s.output("AppSecurityGroupId", GetAtt(app, "GroupId"), "App instance group")
    s.output("DatabaseSecurityGroupId", GetAtt(database, "GroupId"), "Database group")
    return s.build()
