"""IAM: the app instances' role and instance profile, scoped to the app bucket and its key.

No AWS managed policy: Session Manager's own actions, this environment's SSM parameters and
the app bucket are granted inline; the compute stack grants writing to its app log group
(``AppLogGroupWrite``), the one log group the instances may write to.
"""

from __future__ import annotations

from troposphere import GetAtt, Ref, Template, iam

from templates_src.common import Stack
from templates_src.policies import (
    app_bucket_access,
    app_parameter_access,
    assume_role,
    session_manager_policy,
)


def build() -> Template:
    s = Stack("iam", "instance role and profile for the app tier")
    t = s.template
    bucket_arn = s.input("BucketArn", "ARN of the application bucket")
    data_key = s.input("DataKeyArn", "Key the application bucket encrypts under")
    role = t.add_resource(iam.Role(
        "InstanceRole",
        AssumeRolePolicyDocument=assume_role("ec2.amazonaws.com", on_behalf_of_this_account=False),
        Policies=[
            iam.Policy(PolicyName="app-bucket-access",
                       PolicyDocument=app_bucket_access(bucket_arn, data_key)),
            iam.Policy(PolicyName="session-manager", PolicyDocument=session_manager_policy()),
            iam.Policy(PolicyName="app-parameters", PolicyDocument=app_parameter_access()),
        ],
        Tags=s.tags("instance-role"),
    ))
    profile = t.add_resource(iam.InstanceProfile("InstanceProfile", Roles=[Ref(role)]))
    s.output("InstanceProfileArn", GetAtt(profile, "Arn"), "Instance profile for app instances")
    s.output("InstanceRoleArn", GetAtt(role, "Arn"), "Role the app instances run as")
    s.output("InstanceRoleName", Ref(role), "Role the app instances run as, by name")
    return s.build()
