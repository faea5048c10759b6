"""IAM: the instance role reaches the app bucket and its objects, and no wider."""

from __future__ import annotations

import json

import pytest

# Actions with no resource type (IAM service authorization reference): "*" is all they take.
RESOURCELESS = {"OpenSessionManagerChannels"}


def _statements(env) -> dict[str, dict]:
    return {s["Sid"]: s for policy in env.props("iam", "InstanceRole")["Policies"]
            for s in policy["PolicyDocument"]["Statement"]}


def test_the_instance_role_carries_no_aws_managed_policy(each_env):
    assert "ManagedPolicyArns" not in each_env.props("iam", "InstanceRole")


def test_session_manager_gets_its_own_actions_and_nothing_else(dev):
    statements = _statements(dev)
    assert statements["RegisterThisInstanceWithSsm"]["Action"] == ["ssm:UpdateInstanceInformation"]
    assert ":instance/*" in json.dumps(statements["RegisterThisInstanceWithSsm"]["Resource"])
    channels = statements["OpenSessionManagerChannels"]
    assert all(action.startswith("ssmmessages:") for action in channels["Action"])
    every = [a for s in statements.values() for a in s["Action"]]
    assert not [a for a in every if a.startswith(("ec2messages:", "ssm:Send", "ssm:Put"))
                or a.endswith("*")]


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_parameters_are_readable_only_under_this_environments_path(resolved_for, environment):
    statement = _statements(resolved_for(environment))["ReadThisEnvironmentsParameters"]
    assert sorted(statement["Action"]) == ["ssm:GetParameter", "ssm:GetParameters",
                                           "ssm:GetParametersByPath"]
    resources = [r["Fn::Sub"] for r in statement["Resource"]]
    assert resources == [
        f"arn:${{AWS::Partition}}:ssm:us-east-1:${{AWS::AccountId}}:parameter/webstack/{environment}",
        f"arn:${{AWS::Partition}}:ssm:us-east-1:${{AWS::AccountId}}:parameter/webstack/{environment}/*",
    ]
    ssm_anywhere = [s for s in _statements(resolved_for(environment)).values()
                    if any(a.startswith("ssm:Get") for a in s["Action"])]
    assert ssm_anywhere == [statement]


def test_logs_are_written_only_to_the_app_log_group(each_env, rendered):
    assert not [a for s in _statements(each_env).values() for a in s["Action"]
                if a.startswith("logs:")]
    policy = each_env.props("compute", "AppLogGroupWrite")
    assert policy["Roles"] == [{"Ref": "InstanceRoleName"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Resource"] == [{"Fn::GetAtt": ["AppLogGroup", "Arn"]}]
    assert sorted(statement["Action"]) == ["logs:CreateLogStream", "logs:DescribeLogStreams",
                                           "logs:PutLogEvents"]
    wiring = rendered["root"]["Resources"]["ComputeStack"]["Properties"]["Parameters"]
    assert wiring["InstanceRoleName"] == {"Fn::GetAtt": ["IamStack", "Outputs.InstanceRoleName"]}


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


def _inline_statements(rendered):
    for stack, template in rendered.items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] == "AWS::IAM::Role":
                documents = [p["PolicyDocument"]
                             for p in resource["Properties"].get("Policies", [])]
            elif resource["Type"] == "AWS::IAM::Policy":
                documents = [resource["Properties"]["PolicyDocument"]]
            else:
                continue
            for document in documents:
                for statement in document["Statement"]:
                    yield stack, logical_id, statement


def test_no_wildcard_resource_in_any_iam_policy(rendered):
    found = list(_inline_statements(rendered))
    assert len(found) >= 8
    for stack, logical_id, statement in found:
        if statement.get("Sid") in RESOURCELESS:
            assert statement["Resource"] == ["*"]
            assert all(a.startswith("ssmmessages:") for a in statement["Action"])
            continue
        text = json.dumps(statement)
        assert '"Resource": "*"' not in text and '"*"' not in text, (stack, logical_id)


def _managed_policy(name: str) -> dict:
    """An AWS managed policy's document, from the copy moto keeps of AWS's own."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    policies = json.loads(aws_managed_policies_data)
    return policies[name]["Document"] if "Document" in policies[name] else policies[name]


def test_no_aws_managed_policy_grants_on_wildcard_resources(rendered):
    attached = []
    for stack, template in rendered.items():
        for logical_id, resource in template["Resources"].items():
            for arn in resource.get("Properties", {}).get("ManagedPolicyArns", []):
                text = arn["Fn::Sub"] if isinstance(arn, dict) else arn
                attached.append((stack, logical_id, text.rsplit("/", 1)[-1]))
    assert attached == [("database", "DatabaseMonitoringRole", "AmazonRDSEnhancedMonitoringRole")]
    for stack, logical_id, name in attached:
        document = _managed_policy(name)
        for statement in document["Statement"]:
            resources = statement["Resource"]
            resources = [resources] if isinstance(resources, str) else resources
            assert statement["Effect"] == "Allow"
            assert "*" not in resources and all(":log-group:RDS*" in r for r in resources), (
                stack, logical_id, name)


def test_the_instance_role_is_assumed_by_ec2_only(dev):
    (trust,) = dev.props("iam", "InstanceRole")["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": ["ec2.amazonaws.com"]}
    assert trust["Action"] == ["sts:AssumeRole"]


def test_instance_profile_wraps_the_role(dev):
    assert dev.props("iam", "InstanceProfile")["Roles"] == [{"Ref": "InstanceRole"}]
