"""Storage: the app bucket, versioned, private, encrypted, TLS-only and retained."""

from __future__ import annotations

from troposphere import GetAtt, Ref, Template, s3

from templates_src.common import Stack
from templates_src.policies import deny_insecure_transport

RETAIN = "Retain"


def build() -> Template:
    s = Stack("storage", "application bucket")
    t = s.template
    bucket = t.add_resource(s3.Bucket(
        "AppBucket",
        DeletionPolicy=RETAIN,
        UpdateReplacePolicy=RETAIN,
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
            BlockPublicAcls=True,
            BlockPublicPolicy=True,
            IgnorePublicAcls=True,
            RestrictPublicBuckets=True,
        ),
        OwnershipControls=s3.OwnershipControls(
            Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")],
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
    ))
    t.add_resource(s3.BucketPolicy(
        "AppBucketPolicy",
        Bucket=Ref(bucket),
        PolicyDocument=deny_insecure_transport(GetAtt(bucket, "Arn")),
    ))
    s.output("BucketName", Ref(bucket), "Application bucket name")
    s.output("BucketArn", GetAtt(bucket, "Arn"), "Application bucket ARN")
    return s.build()
