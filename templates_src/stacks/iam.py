"""IAM: the app instances' role and instance profile, scoped to the app bucket and its key."""

from __future__ import annotations

from troposphere import GetAtt, Ref, Sub, Template, iam

from templates_src.common import Stack
from templates_src.policies import app_bucket_access, assume_role

MANAGED_POLICIES = ("CloudWatchAgentServerPolicy", "AmazonSSMManagedInstanceCore")


def build() -> Template:
    s = Stack("iam", "instance role and profile for the app tier")
    t = s.template
    bucket_arn = s.input("BucketArn", "ARN of the application bucket")
    data_key = s.input("DataKeyArn", "Key the application bucket encrypts under")
    role = t.add_resource(iam.Role(
        "InstanceRole",
        AssumeRolePolicyDocument=assume_role("ec2.amazonaws.com"),
        ManagedPolicyArns=[
            Sub(f"arn:${{AWS::Partition}}:iam::aws:policy/{name}") for name in MANAGED_POLICIES
        ],
        Policies=[iam.Policy(
            PolicyName="app-bucket-access",
            PolicyDocument=app_bucket_access(bucket_arn, data_key),
        )],
        Tags=s.tags("instance-role"),
    ))
    profile = t.add_resource(iam.InstanceProfile("InstanceProfile", Roles=[Ref(role)]))
    s.output("InstanceProfileArn", GetAtt(profile, "Arn"), "Instance profile for app instances")
    s.output("InstanceRoleArn", GetAtt(role, "Arn"), "Role the app instances run as")
    return s.build()
