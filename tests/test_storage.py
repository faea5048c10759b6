"""Storage: the data key, the app bucket and the log bucket: private, encrypted, retained."""

from __future__ import annotations

import json

import pytest

from templates_src.environments import ENVIRONMENTS
from templates_src.log_delivery import ELB_LOG_DELIVERY_ACCOUNTS
from templates_src.policies import ALB_LOG_PREFIX, S3_ACCESS_LOG_PREFIX


def test_bucket_is_retained_on_delete_and_replace(each_env):
    bucket = each_env.resource("storage", "AppBucket")
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["UpdateReplacePolicy"] == "Retain"


def test_bucket_blocks_public_access_and_enforces_owner(each_env):
    props = each_env.props("storage", "AppBucket")
    assert props["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"], True
    )
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"]


def test_lifecycle_days_come_from_the_table(each_env):
    env = ENVIRONMENTS[each_env.environment]
    (rule,) = each_env.props("storage", "AppBucket")["LifecycleConfiguration"]["Rules"]
    assert rule["Transitions"][0]["TransitionInDays"] == str(env.bucket_transition_days)
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == str(
        env.bucket_noncurrent_expiry_days
    )


def test_bucket_denies_non_tls_access_to_bucket_and_objects(each_env):
    policy = each_env.props("storage", "AppBucketPolicy")
    assert policy["Bucket"] == {"Ref": "AppBucket"}
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    bucket_arn = {"Fn::GetAtt": ["AppBucket", "Arn"]}
    assert statement["Resource"] == [
        bucket_arn, {"Fn::Sub": ["${BucketArn}/*", {"BucketArn": bucket_arn}]}
    ]


# -- the data key --------------------------------------------------------------------------

ACCOUNT_ROOT = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}


def _key_statements(env) -> dict[str, dict]:
    policy = env.props("storage", "DataKey")["KeyPolicy"]
    return {statement["Sid"]: statement for statement in policy["Statement"]}


def test_data_key_rotates_and_is_retained(each_env):
    key = each_env.resource("storage", "DataKey")
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert key["Properties"]["EnableKeyRotation"] is True
    outputs = each_env.template("storage")["Outputs"]
    assert outputs["DataKeyArn"]["Value"] == {"Fn::GetAtt": ["DataKey", "Arn"]}


def test_data_key_policy_names_no_wildcard_principal(each_env):
    for statement in _key_statements(each_env).values():
        assert statement["Resource"] == ["*"]  # a key policy's Resource is the key itself
        if statement["Effect"] == "Deny":
            continue  # a Deny for everyone narrows; only an Allow could widen
        principal = statement["Principal"]
        assert principal != "*" and "*" not in json.dumps(principal), statement["Sid"]
        assert statement["Resource"] == ["*"]  # a key policy's Resource is the key itself


def test_the_account_manages_and_uses_the_key_but_grants_only_for_aws_resources(each_env):
    statements = _key_statements(each_env)
    for sid in ("AccountAdministersTheKey", "AccountUsesTheKeyThroughIam",
                "GrantsOnlyForAwsResources"):
        assert statements[sid]["Principal"] == {"AWS": [ACCOUNT_ROOT]}
    granting = [sid for sid, s in statements.items()
                if "kms:CreateGrant" in s["Action"] and s["Effect"] == "Allow"]
    assert granting == ["GrantsOnlyForAwsResources"]
    assert statements["GrantsOnlyForAwsResources"]["Condition"] == {
        "Bool": {"kms:GrantIsForAWSResource": "true"}}
    every_action = [a for s in statements.values() for a in s["Action"]]
    assert "kms:*" not in every_action


def test_no_statement_can_ever_allow_a_grant_not_for_an_aws_resource(each_env):
    statements = _key_statements(each_env)
    deny = statements["DenyGrantsNotForAwsResources"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == (
        "Deny", {"AWS": "*"}, ["kms:CreateGrant"])
    assert deny["Condition"] == {"BoolIfExists": {"kms:GrantIsForAWSResource": "false",
                                                  "aws:PrincipalIsAWSService": "false"}}


def test_logs_may_use_the_key_only_for_this_accounts_log_groups(each_env):
    statement = _key_statements(each_env)["LogsEncryptsThisAccountsLogGroups"]
    assert statement["Principal"] == {"Service": [f"logs.{each_env.region}.amazonaws.com"]}
    assert statement["Condition"] == {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": {
        "Fn::Sub": f"arn:${{AWS::Partition}}:logs:{each_env.region}:${{AWS::AccountId}}"
                   ":log-group:*"}}}


def test_cloudwatch_may_publish_alarms_through_the_key_for_this_account_only(each_env):
    statement = _key_statements(each_env)["CloudWatchPublishesAlarmsToTheEncryptedTopic"]
    assert statement["Principal"] == {"Service": ["cloudwatch.amazonaws.com"]}
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert statement["Condition"]["StringEquals"] == {
        "aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert "alarm:*" in json.dumps(statement["Condition"]["ArnLike"]["aws:SourceArn"])


def test_app_bucket_encrypts_under_the_data_key_with_a_bucket_key(each_env):
    (rule,) = each_env.props("storage", "AppBucket")["BucketEncryption"][
        "ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": ["DataKey", "Arn"]}}
    assert rule["BucketKeyEnabled"] is True


# -- the log bucket ------------------------------------------------------------------------


def test_app_bucket_logs_its_access_to_the_log_bucket(each_env):
    logging = each_env.props("storage", "AppBucket")["LoggingConfiguration"]
    assert logging["DestinationBucketName"] == {"Ref": "LogBucket"}
    assert logging["LogFilePrefix"].startswith(f"{S3_ACCESS_LOG_PREFIX}/")
    # The log bucket's policy names the app bucket, so it comes after it, never before.
    assert "DependsOn" not in each_env.resource("storage", "AppBucket")


def test_log_bucket_is_private_sse_s3_retained_and_expires_by_the_table(each_env):
    bucket = each_env.resource("storage", "LogBucket")
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")
    props = bucket["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}  # ALB needs it
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    (lifecycle,) = props["LifecycleConfiguration"]["Rules"]
    assert lifecycle["ExpirationInDays"] == str(
        ENVIRONMENTS[each_env.environment].log_retention_days)
    assert lifecycle["Status"] == "Enabled"


def _log_statements(env) -> dict[str, dict]:
    policy = env.props("storage", "LogBucketPolicy")
    assert policy["Bucket"] == {"Ref": "LogBucket"}
    return {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}


def test_log_bucket_refuses_anything_but_tls(each_env):
    deny = _log_statements(each_env)["DenyInsecureTransport"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize(("region", "account"), [
    ("us-east-1", "127311923021"), ("us-west-2", "797873946194"), ("eu-west-1", "156460612806"),
])
def test_the_regions_elb_account_delivers_alb_logs_under_their_prefix(resolved_for, region,
                                                                       account):
    assert ELB_LOG_DELIVERY_ACCOUNTS[region] == account
    statement = _log_statements(resolved_for("prod", region))["LoadBalancerDeliversAccessLogs"]
    assert statement["Principal"] == {"AWS": [f"arn:aws:iam::{account}:root"]}
    assert statement["Action"] == ["s3:PutObject"]
    (resource,) = statement["Resource"]
    expected = f"${{BucketArn}}/{ALB_LOG_PREFIX}/AWSLogs/${{AWS::AccountId}}/*"
    assert resource["Fn::Sub"][0] == expected


def test_the_elb_account_comes_from_the_region_map_not_a_literal(rendered):
    text = json.dumps(rendered["storage"]["Resources"])
    assert not any(account in text for account in ELB_LOG_DELIVERY_ACCOUNTS.values())
    assert rendered["storage"]["Mappings"]["RegionMap"] == {
        region: {"ElbLogDeliveryAccount": account}
        for region, account in ELB_LOG_DELIVERY_ACCOUNTS.items()}


def test_s3_delivers_access_logs_only_from_the_app_bucket(each_env):
    statement = _log_statements(each_env)["S3DeliversServerAccessLogs"]
    assert statement["Principal"] == {"Service": ["logging.s3.amazonaws.com"]}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {"aws:SourceArn": {"Fn::GetAtt": ["AppBucket", "Arn"]}},
    }


def test_a_region_without_its_log_account_fails_naming_it():
    from templates_src.errors import TemplateSourceError
    from templates_src.log_delivery import check_accounts

    with pytest.raises(TemplateSourceError, match="no ELB log delivery account for eu-west-1"):
        check_accounts({k: v for k, v in ELB_LOG_DELIVERY_ACCOUNTS.items() if k != "eu-west-1"})
    with pytest.raises(TemplateSourceError, match="us-east-1: an account id is 12 digits"):
        check_accounts({**ELB_LOG_DELIVERY_ACCOUNTS, "us-east-1": "1273"})
