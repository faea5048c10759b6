"""IAM: the instance role reaches the app bucket and its objects, and no wider."""

from __future__ import annotations

import json

from templates_src.stacks.iam import MANAGED_POLICIES


def test_role_has_the_agent_and_ssm_managed_policies(dev):
    arns = dev.props("iam", "InstanceRole")["ManagedPolicyArns"]
    assert arns == [f"arn:aws:iam::aws:policy/{name}" for name in MANAGED_POLICIES]
    assert MANAGED_POLICIES == ("CloudWatchAgentServerPolicy", "AmazonSSMManagedInstanceCore")


def test_s3_access_is_scoped_to_the_bucket_and_its_objects(dev):
    (policy,) = dev.props("iam", "InstanceRole")["Policies"]
    statements = policy["PolicyDocument"]["Statement"]
    resources = [r for s in statements for r in s["Resource"]]
    assert resources == [{"Ref": "BucketArn"},
                         {"Fn::Sub": ["${BucketArn}/*", {"BucketArn": {"Ref": "BucketArn"}}]}]
    actions = {a for s in statements for a in s["Action"]}
    assert actions <= {"s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:PutObject",
                       "s3:DeleteObject"}


def test_no_wildcard_resource_in_any_iam_policy(rendered):
    for stack, template in rendered.items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            for policy in resource["Properties"].get("Policies", []):
                text = json.dumps(policy["PolicyDocument"]["Statement"])
                assert '"Resource": "*"' not in text and '"*"' not in text, (stack, logical_id)


def test_instance_profile_wraps_the_role(dev):
    assert dev.props("iam", "InstanceProfile")["Roles"] == [{"Ref": "InstanceRole"}]
