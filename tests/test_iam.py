"""IAM: the instance role reaches the app bucket and its objects, and no wider."""

from __future__ import annotations

import json

from templates_src.stacks.iam import MANAGED_POLICIES


def test_role_has_the_agent_and_ssm_managed_policies(dev):
    arns = dev.props("iam", "InstanceRole")["ManagedPolicyArns"]
    assert arns == [f"arn:aws:iam::aws:policy/{name}" for name in MANAGED_POLICIES]
    assert MANAGED_POLICIES == ("CloudWatchAgentServerPolicy", "AmazonSSMManagedInstanceCore")


def _statements(env) -> dict[str, dict]:
    (policy,) = env.props("iam", "InstanceRole")["Policies"]
    return {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}


def test_s3_access_is_scoped_to_the_bucket_and_its_objects(dev):
    statements = _statements(dev)
    s3 = [statements["ListAppBucket"], statements["ReadWriteAppObjects"]]
    resources = [r for s in s3 for r in s["Resource"]]
    assert resources == [{"Ref": "BucketArn"},
                         {"Fn::Sub": ["${BucketArn}/*", {"BucketArn": {"Ref": "BucketArn"}}]}]
    actions = {a for s in s3 for a in s["Action"]}
    assert actions <= {"s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:PutObject",
                       "s3:DeleteObject"}


def test_the_data_key_is_usable_only_through_s3_and_only_that_key(each_env, rendered):
    statement = _statements(each_env)["UseDataKeyThroughS3"]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == [{"Ref": "DataKeyArn"}]
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Condition"] == {
        "StringEquals": {"kms:ViaService": f"s3.{each_env.region}.amazonaws.com"}}
    wiring = rendered["root"]["Resources"]["IamStack"]["Properties"]["Parameters"]
    assert wiring["DataKeyArn"] == {"Fn::GetAtt": ["StorageStack", "Outputs.DataKeyArn"]}


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
