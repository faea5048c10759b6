"""Storage: the data key, the app bucket and the log bucket; first, because it needs nothing.

The app bucket is versioned, private, TLS-only, encrypted under the data key and logs its
access to the log bucket. The log bucket takes the load balancer's access logs too, so it
stays on SSE-S3, which is all ALB log delivery accepts. All three are retained on delete.
"""

from __future__ import annotations

from troposphere import GetAtt, Ref, Template, kms, s3

from templates_src.common import Stack, removal_policy, scanner_exception
from templates_src.policies import (
    S3_ACCESS_LOG_PREFIX,
    data_key_policy,
    deny_insecure_transport,
    log_bucket_policy,
)

# KMS waits this long before deleting a key scheduled for deletion (the maximum).
KEY_DELETION_WINDOW_DAYS = 30
NONCURRENT_LOG_EXPIRY_DAYS = 7


def _private() -> dict[str, object]:
    """Properties every bucket here shares: no public access, no ACLs, versioned."""
    return {
        "VersioningConfiguration": s3.VersioningConfiguration(Status="Enabled"),
        "PublicAccessBlockConfiguration": s3.PublicAccessBlockConfiguration(
            BlockPublicAcls=True,
            BlockPublicPolicy=True,
            IgnorePublicAcls=True,
            RestrictPublicBuckets=True,
        ),
        "OwnershipControls": s3.OwnershipControls(
            Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")],
        ),
    }


def build() -> Template:
    s = Stack("storage", "data key, application bucket and log bucket")
    t = s.template
    key = t.add_resource(kms.Key(
        "DataKey",
        **removal_policy("Retain"),
        Description="webstack data key: app bucket, database, log groups and alarm topic",
        EnableKeyRotation=True,
        PendingWindowInDays=KEY_DELETION_WINDOW_DAYS,
        KeyPolicy=data_key_policy(),
        Tags=s.tags("data-key"),
    ))
    log_bucket = t.add_resource(s3.Bucket(
        "LogBucket",
        **removal_policy("Retain"),
        Metadata=scanner_exception(
            "CKV_AWS_18", "the log bucket is the access-log destination; it cannot log to itself"
        ),
        BucketEncryption=s3.BucketEncryption(
            ServerSideEncryptionConfiguration=[s3.ServerSideEncryptionRule(
                ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(
                    SSEAlgorithm="AES256",
                ),
            )],
        ),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[
            s3.LifecycleRule(
                Id="expire-logs",
                Status="Enabled",
                ExpirationInDays=s.env("LogRetentionDays"),
                NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(
                    NoncurrentDays=NONCURRENT_LOG_EXPIRY_DAYS,
                ),
                AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(
                    DaysAfterInitiation=1,
                ),
            ),
        ]),
        Tags=s.tags("log-bucket"),
        **_private(),
    ))
    bucket = t.add_resource(s3.Bucket(
        "AppBucket",
        **removal_policy("Retain"),
        BucketEncryption=s3.BucketEncryption(
            ServerSideEncryptionConfiguration=[s3.ServerSideEncryptionRule(
                ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(
                    SSEAlgorithm="aws:kms",
                    KMSMasterKeyID=GetAtt(key, "Arn"),
                ),
                # One data key per bucket, not per object: far fewer KMS calls.
                BucketKeyEnabled=True,
            )],
        ),
        LoggingConfiguration=s3.LoggingConfiguration(
            DestinationBucketName=Ref(log_bucket),
            LogFilePrefix=f"{S3_ACCESS_LOG_PREFIX}/app-bucket/",
        ),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[
            s3.LifecycleRule(
                Id="tier-and-expire-old-versions",
                Status="Enabled",
                Transitions=[s3.LifecycleRuleTransition(
                    StorageClass="STANDARD_IA",
                    TransitionInDays=s.env("BucketTransitionDays"),
                )],
                NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(
                    NoncurrentDays=s.env("BucketNoncurrentExpiryDays"),
                ),
                AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(
                    DaysAfterInitiation=7,
                ),
            ),
        ]),
        Tags=s.tags("app-bucket"),
        **_private(),
    ))
    t.add_resource(s3.BucketPolicy(
        "LogBucketPolicy",
        Bucket=Ref(log_bucket),
        PolicyDocument=log_bucket_policy(
            GetAtt(log_bucket, "Arn"), s.region_value("ElbLogDeliveryAccount"),
            GetAtt(bucket, "Arn"),
        ),
    ))
    t.add_resource(s3.BucketPolicy(
        "AppBucketPolicy",
        Bucket=Ref(bucket),
        PolicyDocument=deny_insecure_transport(GetAtt(bucket, "Arn")),
    ))
    s.output("BucketName", Ref(bucket), "Application bucket name")
    s.output("BucketArn", GetAtt(bucket, "Arn"), "Application bucket ARN")
    s.output("LogBucketName", Ref(log_bucket), "Bucket receiving load balancer and S3 access logs")
    s.output("DataKeyArn", GetAtt(key, "Arn"), "Customer-managed key encrypting the stack's data")
    return s.build()
