"""Storage: the app bucket is private, versioned, encrypted, TLS-only and retained."""

from __future__ import annotations

from templates_src.environments import ENVIRONMENTS


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
