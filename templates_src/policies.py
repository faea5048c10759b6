"""IAM and resource policies as awacs objects: typed actions, never hand-written JSON."""

from __future__ import annotations

from awacs import kms, ssm, ssmmessages, sts
from awacs import logs as logs_actions
from awacs import s3 as s3_actions
from awacs import sns as sns_actions
from awacs.aws import (
    Allow,
    ArnLike,
    Bool,
    BoolIfExists,
    Condition,
    ConditionElement,
    Deny,
    Policy,
    Principal,
    Statement,
    StringEquals,
)
from troposphere import AccountId, Sub

POLICY_VERSION = "2012-10-17"
# Key policies apply to the key they are attached to; "*" is the only Resource they take.
THIS_KEY = "*"
# The account's own principals, through their IAM policies: never everyone.
ACCOUNT_ROOT = Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")
# Managing the key, without kms:CreateGrant: grants are only for AWS services (below).
KEY_ADMINISTRATION = (
    kms.DescribeKey, kms.GetKeyPolicy, kms.PutKeyPolicy, kms.GetKeyRotationStatus,
    kms.EnableKeyRotation, kms.DisableKeyRotation, kms.RotateKeyOnDemand, kms.ListKeyRotations,
    kms.EnableKey, kms.DisableKey, kms.UpdateKeyDescription, kms.ListKeyPolicies,
    kms.ListResourceTags, kms.TagResource, kms.UntagResource, kms.CreateAlias,
    kms.UpdateAlias, kms.DeleteAlias, kms.ListAliases, kms.ListGrants, kms.RevokeGrant,
    kms.ScheduleKeyDeletion, kms.CancelKeyDeletion,
)
KEY_USE = (kms.Encrypt, kms.Decrypt, kms.Action("ReEncrypt*"), kms.Action("GenerateDataKey*"),
           kms.DescribeKey)
ALARMS_OF_THIS_ACCOUNT = Sub(
    "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"
)
# Flow logs sign their AssumeRole with the flow log's ARN; any flow log of this account.
FLOW_LOGS_OF_THIS_ACCOUNT = Sub(
    "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc-flow-log/*"
)
ALB_LOG_PREFIX = "alb"
S3_ACCESS_LOG_PREFIX = "s3-access"


def assume_role(service: str, source_arn: object | None = None, *,
                on_behalf_of_this_account: bool = True) -> Policy:
    """Trust policy letting one AWS service assume the role.

    A service acting for a resource carries ``aws:SourceAccount`` (and, where it sets it,
    ``aws:SourceArn``) so that it cannot be made to assume the role for someone else's
    resource (the confused deputy). EC2 assumes an instance profile's role without either
    key: ``on_behalf_of_this_account=False`` says so.
    """
    conditions: list[ConditionElement] = []
    if on_behalf_of_this_account:
        conditions.append(StringEquals("aws:SourceAccount", AccountId))
    if source_arn is not None:
        conditions.append(ArnLike("aws:SourceArn", source_arn))
    statement = Statement(
        Effect=Allow,
        Principal=Principal("Service", [service]),
        Action=[sts.AssumeRole],
    )
    if conditions:
        statement.Condition = Condition(conditions)
    return Policy(Version=POLICY_VERSION, Statement=[statement])


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


def app_bucket_access(bucket_arn: object, key_arn: object) -> Policy:
    """The app may list its bucket and read, write and delete its objects: nothing else.

    The bucket encrypts under the data key, so the app may use that key, through S3 only.
    """
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
            data_key_use_through_s3(key_arn),
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


def _same_account_source(source_arn: object) -> list[ConditionElement]:
    """Conditions that let a service act only for this account's own resources."""
    return [
        StringEquals("aws:SourceAccount", AccountId),
        ArnLike("aws:SourceArn", source_arn),
    ]


def data_key_policy() -> Policy:
    """The data key: the account manages and uses it; services only where the data is ours.

    No statement names ``*`` as principal. kms:CreateGrant is allowed only for grants an AWS
    service (RDS, Performance Insights) creates on the caller's behalf.
    """
    return Policy(
        Version=POLICY_VERSION,
        Statement=[
            Statement(
                Sid="AccountAdministersTheKey",
                Effect=Allow,
                Principal=Principal("AWS", [ACCOUNT_ROOT]),
                Action=list(KEY_ADMINISTRATION),
                Resource=[THIS_KEY],
            ),
            Statement(
                Sid="AccountUsesTheKeyThroughIam",
                Effect=Allow,
                Principal=Principal("AWS", [ACCOUNT_ROOT]),
                Action=list(KEY_USE),
                Resource=[THIS_KEY],
            ),
            Statement(
                Sid="GrantsOnlyForAwsResources",
                Effect=Allow,
                Principal=Principal("AWS", [ACCOUNT_ROOT]),
                Action=[kms.CreateGrant],
                Resource=[THIS_KEY],
                Condition=Condition(Bool("kms:GrantIsForAWSResource", "true")),
            ),
            Statement(
                # The Control Tower pattern: whatever is added above later, no grant is ever
                # created for anything but an AWS resource, nor by anyone but an AWS service.
                Sid="DenyGrantsNotForAwsResources",
                Effect=Deny,
                Principal=Principal("AWS", "*"),
                Action=[kms.CreateGrant],
                Resource=[THIS_KEY],
                Condition=Condition(BoolIfExists({
                    "kms:GrantIsForAWSResource": "false",
                    "aws:PrincipalIsAWSService": "false",
                })),
            ),
            Statement(
                Sid="LogsEncryptsThisAccountsLogGroups",
                Effect=Allow,
                Principal=Principal("Service", [Sub("logs.${AWS::Region}.amazonaws.com")]),
                Action=[kms.Action("Encrypt*"), kms.Action("Decrypt*"),
                        kms.Action("ReEncrypt*"), kms.Action("GenerateDataKey*"),
                        kms.Action("Describe*")],
                Resource=[THIS_KEY],
                Condition=Condition(ArnLike(
                    "kms:EncryptionContext:aws:logs:arn",
                    Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"),
                )),
            ),
            Statement(
                Sid="CloudWatchPublishesAlarmsToTheEncryptedTopic",
                Effect=Allow,
                Principal=Principal("Service", ["cloudwatch.amazonaws.com"]),
                Action=[kms.Decrypt, kms.Action("GenerateDataKey*")],
                Resource=[THIS_KEY],
                Condition=Condition(_same_account_source(ALARMS_OF_THIS_ACCOUNT)),
            ),
        ],
    )


def alarm_topic_policy(topic_arn: object) -> Policy:
    """Only this account's CloudWatch alarms publish to the alarm topic, and only over TLS."""
    return Policy(
        Version=POLICY_VERSION,
        Statement=[
            Statement(
                Sid="CloudWatchAlarmsPublish",
                Effect=Allow,
                Principal=Principal("Service", ["cloudwatch.amazonaws.com"]),
                Action=[sns_actions.Publish],
                Resource=[topic_arn],
                Condition=Condition(_same_account_source(ALARMS_OF_THIS_ACCOUNT)),
            ),
            Statement(
                Sid="DenyInsecureTransport",
                Effect=Deny,
                Principal=Principal("*"),
                Action=[sns_actions.Publish],
                Resource=[topic_arn],
                Condition=Condition(Bool("aws:SecureTransport", "false")),
            ),
        ],
    )


def data_key_use_through_s3(key_arn: object) -> Statement:
    """What S3 needs from the caller to read and write objects under the bucket's key."""
    return Statement(
        Sid="UseDataKeyThroughS3",
        Effect=Allow,
        Action=[kms.Decrypt, kms.GenerateDataKey],
        Resource=[key_arn],
        Condition=Condition(StringEquals("kms:ViaService", Sub("s3.${AWS::Region}.amazonaws.com"))),
    )


def log_bucket_policy(bucket_arn: object, elb_account: object,
                      logged_bucket_arn: object) -> Policy:
    """The log bucket: TLS only; the region's ELB account and S3 logging write under a prefix.

    S3 server access logs come only from ``logged_bucket_arn`` (the app bucket) of this
    account. Naming it makes the policy wait for that bucket, as CDK's ``serverAccessLogsBucket``
    does: S3 delivers access logs hours late and in batches, so nothing is lost in the seconds
    between the bucket and this policy.
    """
    return Policy(
        Version=POLICY_VERSION,
        Statement=[
            *deny_insecure_transport(bucket_arn).Statement,
            Statement(
                Sid="LoadBalancerDeliversAccessLogs",
                Effect=Allow,
                Principal=Principal("AWS", [Sub("arn:${AWS::Partition}:iam::${Account}:root",
                                                Account=elb_account)]),
                Action=[s3_actions.PutObject],
                Resource=[Sub(f"${{BucketArn}}/{ALB_LOG_PREFIX}/AWSLogs/${{AWS::AccountId}}/*",
                              BucketArn=bucket_arn)],
            ),
            Statement(
                Sid="S3DeliversServerAccessLogs",
                Effect=Allow,
                Principal=Principal("Service", ["logging.s3.amazonaws.com"]),
                Action=[s3_actions.PutObject],
                Resource=[Sub(f"${{BucketArn}}/{S3_ACCESS_LOG_PREFIX}/*", BucketArn=bucket_arn)],
                Condition=Condition(_same_account_source(logged_bucket_arn)),
            ),
        ],
    )


# Session Manager's channel actions have no resource type (IAM service authorization
# reference): "*" is the only Resource they take. The agent calls them only to carry the
# sessions Session Manager opens to its own instance.
SESSION_CHANNELS = "*"


def session_manager_policy() -> Policy:
    """What the SSM agent needs for Session Manager and nothing else (no Run Command, no
    parameters, no S3 or KMS of session logging, which this stack does not configure)."""
    return Policy(
        Version=POLICY_VERSION,
        Statement=[
            Statement(
                Sid="RegisterThisInstanceWithSsm",
                Effect=Allow,
                Action=[ssm.UpdateInstanceInformation],
                Resource=[Sub(
                    "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*")],
            ),
            Statement(
                Sid="OpenSessionManagerChannels",
                Effect=Allow,
                Action=[ssmmessages.CreateControlChannel, ssmmessages.CreateDataChannel,
                        ssmmessages.OpenControlChannel, ssmmessages.OpenDataChannel],
                Resource=[SESSION_CHANNELS],
            ),
        ],
    )


PARAMETER_ROOT = "/webstack"


def app_parameter_access() -> Policy:
    """The app reads its own environment's SSM parameters, under ``/webstack/<Environment>``
    (SecureStrings under the default key included), and no other parameter of the account."""
    under = ("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
             f"{PARAMETER_ROOT}/${{Environment}}")
    return Policy(
        Version=POLICY_VERSION,
        Statement=[Statement(
            Sid="ReadThisEnvironmentsParameters",
            Effect=Allow,
            Action=[ssm.GetParameter, ssm.GetParameters, ssm.GetParametersByPath],
            Resource=[Sub(under), Sub(f"{under}/*")],
        )],
    )


def log_group_delivery_policy(log_group_arn: object) -> Policy:
    """Write log streams into one log group (its ARN ends in ``:*``, covering its streams):
    no CreateLogGroup, so nothing makes an unencrypted group that never expires."""
    return Policy(
        Version=POLICY_VERSION,
        Statement=[Statement(
            Sid="WriteTheAppLogGroup",
            Effect=Allow,
            Action=[logs_actions.CreateLogStream, logs_actions.PutLogEvents,
                    logs_actions.DescribeLogStreams],
            Resource=[log_group_arn],
        )],
    )
