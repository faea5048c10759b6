"""Compute: hardened launch template, ALB in public subnets, ASG in private ones."""

from __future__ import annotations

import json

import pytest

from scripts.build.resolve import resolve
from templates_src.environments import ENVIRONMENTS
from templates_src.policies import ALB_LOG_PREFIX
from templates_src.regions import AMIS
from templates_src.stacks.compute import TLS_POLICY

CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"


def test_alb_is_in_public_subnets_and_asg_in_private_ones(rendered, prod):
    wiring = rendered["root"]["Resources"]["ComputeStack"]["Properties"]["Parameters"]
    assert wiring["PublicSubnetIds"] == {"Fn::GetAtt": ["NetworkStack", "Outputs.PublicSubnetIds"]}
    assert wiring["PrivateSubnetIds"] == {
        "Fn::GetAtt": ["NetworkStack", "Outputs.PrivateSubnetIds"]
    }
    assert prod.props("compute", "LoadBalancer")["Subnets"] == {"Ref": "PublicSubnetIds"}
    assert prod.props("compute", "AutoScalingGroup")["VPCZoneIdentifier"] == {
        "Ref": "PrivateSubnetIds"
    }
    assert prod.props("compute", "LoadBalancer")["Scheme"] == "internet-facing"


@pytest.mark.parametrize("region", sorted(AMIS))
def test_launch_template_takes_the_region_ami_and_env_instance_type(resolved_for, region):
    for environment, env in ENVIRONMENTS.items():
        data = resolved_for(environment, region).props("compute", "LaunchTemplate")[
            "LaunchTemplateData"]
        assert data["ImageId"] == AMIS[region]
        assert data["InstanceType"] == env.instance_type


def test_launch_template_is_hardened(each_env):
    data = each_env.props("compute", "LaunchTemplate")["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    (volume,) = data["BlockDeviceMappings"]
    assert volume["Ebs"]["Encrypted"] is True
    assert volume["Ebs"]["VolumeType"] == "gp3"
    (interface,) = data["NetworkInterfaces"]
    assert interface["AssociatePublicIpAddress"] is False
    assert data["IamInstanceProfile"] == {"Arn": {"Ref": "InstanceProfileArn"}}
    assert "/health" in data["UserData"]["Fn::Base64"]


def test_deployment_date_never_enters_launch_template_data_but_reaches_instances(each_env):
    data = each_env.props("compute", "LaunchTemplate")["LaunchTemplateData"]
    assert "DeploymentDate" not in json.dumps(data)
    tags = {t["Key"]: t for t in each_env.props("compute", "AutoScalingGroup")["Tags"]}
    for key in ("Environment", "CostCenter", "DeploymentDate"):
        assert tags[key]["PropagateAtLaunch"] is True


def test_asg_sizes_health_checks_and_rolling_updates(each_env):
    env = ENVIRONMENTS[each_env.environment]
    group = each_env.resource("compute", "AutoScalingGroup")
    props = group["Properties"]
    assert (props["MinSize"], props["MaxSize"]) == (str(env.asg.min), str(env.asg.max))
    # A deploy never resets the running capacity: target tracking owns it.
    assert "DesiredCapacity" not in props
    assert props["HealthCheckType"] == "ELB"
    assert props["HealthCheckGracePeriod"] > 0
    assert props["TargetGroupARNs"] == [{"Ref": "TargetGroup"}]
    rolling = group["UpdatePolicy"]["AutoScalingRollingUpdate"]
    assert int(rolling["MinInstancesInService"]) < int(props["MaxSize"])
    scaling = each_env.props("compute", "CpuTargetTracking")
    assert scaling["TargetTrackingConfiguration"]["TargetValue"] == str(env.cpu_target_percent)


def test_target_group_health_check(dev):
    props = dev.props("compute", "TargetGroup")
    assert props["HealthCheckPath"] == "/health"
    assert props["HealthCheckIntervalSeconds"] and props["HealthyThresholdCount"]
    assert props["UnhealthyThresholdCount"]


def test_alb_drops_invalid_headers(dev):
    attributes = {a["Key"]: a["Value"] for a in dev.props("compute", "LoadBalancer")[
        "LoadBalancerAttributes"]}
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"


def test_port_80_listener_only_ever_redirects_to_https(rendered, each_env):
    for compute in (rendered["compute"], each_env.template("compute")):
        listener = compute["Resources"]["HttpListener"]["Properties"]
        (action,) = listener["DefaultActions"]
        assert action["Type"] == "redirect"
        assert action["RedirectConfig"]["Protocol"] == "HTTPS"


def test_without_a_certificate_a_rule_forwards_plain_http_and_there_is_no_https(dev):
    """The ELB.1 exception in SECURITY.md: a stack with no certificate serves HTTP."""
    rule = dev.resource("compute", "HttpForwardRule")
    assert "Condition" not in rule  # resolved: the condition held, so it was dropped
    props = rule["Properties"]
    assert props["ListenerArn"] == {"Ref": "HttpListener"}
    assert props["Conditions"] == [{"Field": "path-pattern",
                                    "PathPatternConfig": {"Values": ["/*"]}}]
    assert props["Actions"] == [{"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroup"}}]
    assert "HttpsListener" not in dev.resources("compute")
    assert dev.template("compute")["Outputs"]["AppUrl"]["Value"] == {
        "Fn::Sub": "http://${LoadBalancer.DNSName}"}


def test_with_a_certificate_https_is_served_and_port_80_redirects_301(rendered):
    compute = resolve(rendered["compute"], "prod", "eu-west-1", {"CertificateArn": CERTIFICATE})
    (action,) = compute["Resources"]["HttpListener"]["Properties"]["DefaultActions"]
    assert action["Type"] == "redirect"
    assert action["RedirectConfig"]["StatusCode"] == "HTTP_301"
    assert action["RedirectConfig"]["Protocol"] == "HTTPS"
    https = compute["Resources"]["HttpsListener"]["Properties"]
    assert https["SslPolicy"] == TLS_POLICY
    assert https["Certificates"] == [{"CertificateArn": CERTIFICATE}]
    assert compute["Outputs"]["AppUrl"]["Value"] == {"Fn::Sub": "https://${LoadBalancer.DNSName}"}
    assert "HttpForwardRule" not in compute["Resources"]


def _attributes(env) -> dict[str, object]:
    return {a["Key"]: a["Value"] for a in env.props("compute", "LoadBalancer")[
        "LoadBalancerAttributes"]}


def test_alb_writes_access_logs_to_the_log_bucket(each_env, rendered):
    attributes = _attributes(each_env)
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.bucket"] == {"Ref": "LogBucketName"}
    assert attributes["access_logs.s3.prefix"] == ALB_LOG_PREFIX
    wiring = rendered["root"]["Resources"]["ComputeStack"]["Properties"]["Parameters"]
    assert wiring["LogBucketName"] == {"Fn::GetAtt": ["StorageStack", "Outputs.LogBucketName"]}


def test_alb_mitigates_desync_defensively_and_deletion_protection_follows_the_table(each_env):
    attributes = _attributes(each_env)
    assert attributes["routing.http.desync_mitigation_mode"] == "defensive"
    protected = ENVIRONMENTS[each_env.environment].deletion_protection
    assert attributes["deletion_protection.enabled"] == str(protected).lower()


def test_app_log_group_is_encrypted_kept_and_expires_by_the_table(each_env):
    group = each_env.resource("compute", "AppLogGroup")
    assert (group["DeletionPolicy"], group["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert group["Properties"]["KmsKeyId"] == {"Ref": "DataKeyArn"}
    assert group["Properties"]["RetentionInDays"] == str(
        ENVIRONMENTS[each_env.environment].log_retention_days)
    outputs = each_env.template("compute")["Outputs"]
    assert outputs["AppLogGroupName"]["Value"] == {"Ref": "AppLogGroup"}
