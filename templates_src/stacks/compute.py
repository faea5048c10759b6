"""Compute: launch template, internet-facing ALB, the app Auto Scaling group and its log group.

Port 80's listener only ever redirects to HTTPS. Without a certificate (the local endpoint,
a throwaway stack) there is no HTTPS to redirect to, so a listener rule that exists only
then forwards plain HTTP: SECURITY.md records it as the ELB.1 exception.
"""

from __future__ import annotations

from troposphere import (
    Base64,
    Condition,
    Equals,
    GetAtt,
    If,
    Not,
    Ref,
    Sub,
    Template,
    autoscaling,
    ec2,
    iam,
)
from troposphere import elasticloadbalancingv2 as elb
from troposphere.policies import AutoScalingRollingUpdate, UpdatePolicy

from templates_src.common import APP_PORT, HEALTH_PATH, TAG_KEYS, Stack
from templates_src.policies import ALB_LOG_PREFIX, log_group_delivery_policy

SERVE_HTTPS = "ServeHttps"
SERVE_PLAIN_HTTP = "ServePlainHttp"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
ROOT_VOLUME_GIB = 16
HEALTH_CHECK_GRACE_SECONDS = 300

# Serves HEALTH_PATH (and nothing clever) on APP_PORT; the real app replaces this unit.
USER_DATA = f"""#!/bin/bash
set -euo pipefail
install -d -m 0755 /opt/webstack
echo ok > /opt/webstack{HEALTH_PATH}
cat > /etc/systemd/system/webstack.service <<'UNIT'
[Unit]
Description=webstack placeholder app
After=network-online.target
[Service]
ExecStart=/usr/bin/python3 -m http.server {APP_PORT} --directory /opt/webstack
Restart=always
DynamicUser=yes
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now webstack.service
"""


def build() -> Template:
    s = Stack("compute", "launch template, load balancer and Auto Scaling group")
    t = s.template
    vpc_id = s.input("VpcId", "VPC of the target group", "AWS::EC2::VPC::Id")
    public_subnets = s.input(
        "PublicSubnetIds", "Subnets for the load balancer", "List<AWS::EC2::Subnet::Id>"
    )
    private_subnets = s.input(
        "PrivateSubnetIds", "Subnets for the app instances", "List<AWS::EC2::Subnet::Id>"
    )
    alb_group = s.input(
        "LoadBalancerSecurityGroupId", "Load balancer group", "AWS::EC2::SecurityGroup::Id"
    )
    app_group = s.input("AppSecurityGroupId", "App instance group", "AWS::EC2::SecurityGroup::Id")
    profile_arn = s.input("InstanceProfileArn", "Instance profile for app instances")
    role_name = s.input("InstanceRoleName", "Role of the app instances, granted its log group")
    log_bucket = s.input("LogBucketName", "Bucket receiving the load balancer's access logs")
    data_key = s.input("DataKeyArn", "Customer-managed key that encrypts the app log group")
    certificate = s.root_parameter("CertificateArn")
    t.add_condition(SERVE_HTTPS, Not(Equals(certificate, "")))
    t.add_condition(SERVE_PLAIN_HTTP, Not(Condition(SERVE_HTTPS)))

    # No DeploymentDate in here: a new date would mean a new version and a fleet roll.
    launch_template = t.add_resource(ec2.LaunchTemplate(
        "LaunchTemplate",
        LaunchTemplateData=ec2.LaunchTemplateData(
            ImageId=s.ami(),
            InstanceType=s.env("InstanceType"),
            IamInstanceProfile=ec2.IamInstanceProfile(Arn=profile_arn),
            MetadataOptions=ec2.MetadataOptions(
                HttpEndpoint="enabled", HttpTokens="required", HttpPutResponseHopLimit=1,
            ),
            BlockDeviceMappings=[ec2.LaunchTemplateBlockDeviceMapping(
                DeviceName="/dev/xvda",
                Ebs=ec2.EBSBlockDevice(
                    VolumeType="gp3", VolumeSize=ROOT_VOLUME_GIB, Encrypted=True,
                    DeleteOnTermination=True,
                ),
            )],
            NetworkInterfaces=[ec2.NetworkInterfaces(
                DeviceIndex=0, AssociatePublicIpAddress=False, Groups=[app_group],
            )],
            Monitoring=ec2.Monitoring(Enabled=True),
            UserData=Base64(USER_DATA),
        ),
    ))

    load_balancer = t.add_resource(elb.LoadBalancer(
        "LoadBalancer",
        Scheme="internet-facing",
        Type="application",
        Subnets=public_subnets,
        SecurityGroups=[alb_group],
        LoadBalancerAttributes=[
            elb.LoadBalancerAttributes(Key=key, Value=value) for key, value in (
                ("routing.http.drop_invalid_header_fields.enabled", "true"),
                ("routing.http.desync_mitigation_mode", "defensive"),
                ("deletion_protection.enabled", s.env("DeletionProtection")),
                ("access_logs.s3.enabled", "true"),
                ("access_logs.s3.bucket", log_bucket),
                ("access_logs.s3.prefix", ALB_LOG_PREFIX),
            )
        ],
        Tags=s.tags("alb"),
    ))
    target_group = t.add_resource(elb.TargetGroup(
        "TargetGroup",
        VpcId=vpc_id,
        Port=APP_PORT,
        Protocol="HTTP",
        TargetType="instance",
        HealthCheckEnabled=True,
        HealthCheckPath=HEALTH_PATH,
        HealthCheckProtocol="HTTP",
        HealthCheckIntervalSeconds=15,
        HealthCheckTimeoutSeconds=5,
        HealthyThresholdCount=2,
        UnhealthyThresholdCount=3,
        Matcher=elb.Matcher(HttpCode="200"),
        TargetGroupAttributes=[
            elb.TargetGroupAttribute(Key="deregistration_delay.timeout_seconds", Value="30"),
        ],
        Tags=s.tags("app-targets"),
    ))
    forward = elb.Action(Type="forward", TargetGroupArn=Ref(target_group))
    redirect = elb.Action(Type="redirect", RedirectConfig=elb.RedirectConfig(
        Protocol="HTTPS", Port="443", Host="#{host}", Path="/#{path}", Query="#{query}",
        StatusCode="HTTP_301",
    ))
    http_listener = t.add_resource(elb.Listener(
        "HttpListener",
        LoadBalancerArn=Ref(load_balancer),
        Port=80,
        Protocol="HTTP",
        DefaultActions=[redirect],
        Tags=s.tags("http-listener"),
    ))
    t.add_resource(elb.ListenerRule(
        "HttpForwardRule",
        Condition=SERVE_PLAIN_HTTP,
        ListenerArn=Ref(http_listener),
        Priority=1,
        Conditions=[elb.Condition(
            Field="path-pattern", PathPatternConfig=elb.PathPatternConfig(Values=["/*"]),
        )],
        Actions=[elb.ListenerRuleAction(Type="forward", TargetGroupArn=Ref(target_group))],
        Tags=s.tags("http-forward-rule"),
    ))
    t.add_resource(elb.Listener(
        "HttpsListener",
        Condition=SERVE_HTTPS,
        LoadBalancerArn=Ref(load_balancer),
        Port=443,
        Protocol="HTTPS",
        SslPolicy=TLS_POLICY,
        Certificates=[elb.Certificate(CertificateArn=certificate)],
        DefaultActions=[forward],
        Tags=s.tags("https-listener"),
    ))

    # The CloudWatch agent's group for the app's logs (its name is an output).
    app_logs = s.log_group("AppLogGroup", "app-logs", data_key)
    # Granted here, where the group is: the instances write to it and to no other log group.
    t.add_resource(iam.PolicyType(
        "AppLogGroupWrite",
        PolicyName="app-log-group-write",
        PolicyDocument=log_group_delivery_policy(GetAtt(app_logs, "Arn")),
        Roles=[role_name],
    ))

    group = t.add_resource(autoscaling.AutoScalingGroup(
        "AutoScalingGroup",
        VPCZoneIdentifier=private_subnets,
        LaunchTemplate=autoscaling.LaunchTemplateSpecification(
            LaunchTemplateId=Ref(launch_template),
            Version=GetAtt(launch_template, "LatestVersionNumber"),
        ),
        MinSize=s.env("AsgMin"),
        MaxSize=s.env("AsgMax"),
        # No DesiredCapacity: it starts at MinSize and target tracking owns it; a deploy that
        # set it would scale a group at its peak back down (every deploy retags the group).
        HealthCheckType="ELB",
        HealthCheckGracePeriod=HEALTH_CHECK_GRACE_SECONDS,
        TargetGroupARNs=[Ref(target_group)],
        MetricsCollection=[autoscaling.MetricsCollection(Granularity="1Minute")],
        Tags=autoscaling.Tags(
            Name=(Sub("webstack-${Environment}-app"), True),
            **{key: (Ref(key), True) for key in TAG_KEYS},
        ),
        UpdatePolicy=UpdatePolicy(AutoScalingRollingUpdate=AutoScalingRollingUpdate(
            MinInstancesInService=s.env("AsgMin"),
            MaxBatchSize=1,
            PauseTime="PT5M",
            WaitOnResourceSignals=False,
        )),
    ))
    t.add_resource(autoscaling.ScalingPolicy(
        "CpuTargetTracking",
        AutoScalingGroupName=Ref(group),
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration=autoscaling.TargetTrackingConfiguration(
            PredefinedMetricSpecification=autoscaling.PredefinedMetricSpecification(
                PredefinedMetricType="ASGAverageCPUUtilization",
            ),
            TargetValue=s.env("CpuTargetPercent"),
        ),
    ))

    dns = GetAtt(load_balancer, "DNSName")
    s.output("LoadBalancerDNS", dns, "Load balancer DNS name")
    s.output("AppUrl", If(SERVE_HTTPS, Sub("https://${LoadBalancer.DNSName}"),
                          Sub("http://${LoadBalancer.DNSName}")), "App URL")
    s.output("AutoScalingGroupName", Ref(group), "App Auto Scaling group")
    s.output("AppLogGroupName", Ref(app_logs), "Log group the app's CloudWatch agent writes to")
    s.output("LoadBalancerFullName", GetAtt(load_balancer, "LoadBalancerFullName"),
             "Load balancer name as CloudWatch dimensions use it")
    s.output("TargetGroupFullName", GetAtt(target_group, "TargetGroupFullName"),
             "Target group name as CloudWatch dimensions use it")
    return s.build()
