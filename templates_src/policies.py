"""IAM and resource policies as awacs objects: typed actions, never hand-written JSON."""

from __future__ import annotations

from awacs import logs as logs_actions
from awacs import s3 as s3_actions
from awacs import sts
from awacs.aws import Allow, Bool, Condition, Deny, Policy, Principal, Statement
from troposphere import Sub

POLICY_VERSION = "2012-10-17"


def assume_role(service: str) -> Policy:
    """Trust policy letting one AWS service assume the role."""
    return Policy(
        Version=POLICY_VERSION,
        Statement=[Statement(
            Effect=Allow,
            Principal=Principal("Service", [service]),
            Action=[sts.AssumeRole],
        )],
    )


def flow_log_delivery_policy(log_group_arn: object) -> Policy:
    """VPC flow logs may write streams into their own log group, nowhere else."""
    return Policy(
        Version=POLICY_VERSION,
        Statement=[Statement(
            Effect=Allow,
            Action=[logs_actions.CreateLogStream, logs_actions.PutLogEvents,
                    logs_actions.DescribeLogStreams],
            Resource=[log_group_arn],
        )],
    )


def objects_of(bucket_arn: object) -> Sub | str:
    """``<bucket-arn>/*``: every object in the bucket (a literal ARN stays a string)."""
    if isinstance(bucket_arn, str):
        return f"{bucket_arn}/*"
    return Sub("${BucketArn}/*", BucketArn=bucket_arn)


def app_bucket_access(bucket_arn: object) -> Policy:
    """The app may list its bucket and read, write and delete its objects: nothing else."""
    return Policy(
        Version=POLICY_VERSION,
        Statement=[
            Statement(
                Sid="ListAppBucket",
                Effect=Allow,
                Action=[s3_actions.ListBucket, s3_actions.GetBucketLocation],
                Resource=[bucket_arn],
            ),
            Statement(
                Sid="ReadWriteAppObjects",
                Effect=Allow,
                Action=[s3_actions.GetObject, s3_actions.PutObject, s3_actions.DeleteObject],
                Resource=[objects_of(bucket_arn)],
            ),
        ],
    )


def deny_insecure_transport(bucket_arn: object) -> Policy:
    """Bucket policy refusing any request not made over TLS, on the bucket and its objects."""
    return Policy(
        Version=POLICY_VERSION,
        Statement=[Statement(
            Sid="DenyInsecureTransport",
            Effect=Deny,
            Principal=Principal("*"),
            Action=[s3_actions.Action("*")],
            Resource=[bucket_arn, objects_of(bucket_arn)],
            Condition=Condition(Bool("aws:SecureTransport", "false")),
        )],
    )
