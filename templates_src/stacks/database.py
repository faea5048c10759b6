"""Database: PostgreSQL on RDS in the database subnets, snapshotted on delete or replace.

Storage and Performance Insights are encrypted under the data key; connections must use TLS
(``rds.force_ssl``); IAM authentication is on; enhanced monitoring reports through its own role.
"""

from __future__ import annotations

from troposphere import GetAtt, Ref, Sub, Template, iam, rds

from templates_src.common import Stack, removal_policy, scanner_exception
from templates_src.policies import assume_role
from templates_src.versions import (
    POSTGRES_FAMILY,
    POSTGRES_LIFECYCLE_SUPPORT,
    POSTGRES_VERSION,
)

# Seconds between enhanced-monitoring samples. The same everywhere: the cost is a few log
# events a minute, and a literal lets every scanner see that monitoring is on.
MONITORING_INTERVAL_SECONDS = 60
MONITORING_POLICY = "service-role/AmazonRDSEnhancedMonitoringRole"
# Every connection must use TLS; PostgreSQL refuses plain-text sessions.
PARAMETERS = {"rds.force_ssl": "1"}


def build() -> Template:
    s = Stack("database", "PostgreSQL instance, its parameter group, subnet group and monitoring")
    t = s.template
    subnet_ids = s.input(
        "DatabaseSubnetIds", "Database-tier subnets, one per AZ", "List<AWS::EC2::Subnet::Id>"
    )
    security_group = s.input(
        "DatabaseSecurityGroupId", "Group admitting PostgreSQL from the app tier",
        "AWS::EC2::SecurityGroup::Id",
    )
    data_key = s.input("DataKeyArn", "Customer-managed key for storage and Performance Insights")
    username = s.root_parameter("DatabaseUsername")

    subnet_group = t.add_resource(rds.DBSubnetGroup(
        "DatabaseSubnetGroup",
        DBSubnetGroupDescription="Database-tier subnets, no route to the internet",
        SubnetIds=subnet_ids,
        Tags=s.tags("db-subnets"),
    ))
    parameter_group = t.add_resource(rds.DBParameterGroup(
        "DatabaseParameterGroup",
        Description="webstack PostgreSQL: TLS required",
        Family=POSTGRES_FAMILY,
        Parameters=PARAMETERS,
        Tags=s.tags("db-parameters"),
    ))
    monitoring_role = t.add_resource(iam.Role(
        "DatabaseMonitoringRole",
        AssumeRolePolicyDocument=assume_role("monitoring.rds.amazonaws.com"),
        ManagedPolicyArns=[Sub(f"arn:${{AWS::Partition}}:iam::aws:policy/{MONITORING_POLICY}")],
        Tags=s.tags("db-monitoring-role"),
    ))
    database = t.add_resource(rds.DBInstance(
        "Database",
        **removal_policy("Snapshot"),
        Metadata=scanner_exception(
            "CKV_AWS_157", "Multi-AZ comes from the environment table: on in prod "
            "(tests/test_reliability.py), off in dev and staging to halve their cost",
        ),
        Engine="postgres",
        EngineVersion=POSTGRES_VERSION,
        EngineLifecycleSupport=POSTGRES_LIFECYCLE_SUPPORT,
        AutoMinorVersionUpgrade=True,
        DBInstanceClass=s.env("DbInstanceClass"),
        DBParameterGroupName=Ref(parameter_group),
        AllocatedStorage=s.env("DbAllocatedStorageGib"),
        MaxAllocatedStorage=s.env("DbMaxAllocatedStorageGib"),
        StorageType="gp3",
        StorageEncrypted=True,
        KmsKeyId=data_key,
        MultiAZ=s.env("MultiAzDatabase"),
        DeletionProtection=s.env("DeletionProtection"),
        BackupRetentionPeriod=s.env("DbBackupRetentionDays"),
        MasterUsername=username,
        ManageMasterUserPassword=True,
        EnableIAMDatabaseAuthentication=True,
        PubliclyAccessible=False,
        CopyTagsToSnapshot=True,
        EnableCloudwatchLogsExports=["postgresql", "upgrade"],
        EnablePerformanceInsights=True,
        PerformanceInsightsKMSKeyId=data_key,
        PerformanceInsightsRetentionPeriod=s.env("DbPerformanceInsightsRetentionDays"),
        MonitoringInterval=MONITORING_INTERVAL_SECONDS,
        MonitoringRoleArn=GetAtt(monitoring_role, "Arn"),
        DBSubnetGroupName=Ref(subnet_group),
        VPCSecurityGroups=[security_group],
        Tags=s.tags("db"),
    ))
    s.output("DatabaseEndpointAddress", GetAtt(database, "Endpoint.Address"), "Database host")
    s.output("DatabasePort", GetAtt(database, "Endpoint.Port"), "Database port")
    s.output("DatabaseInstanceId", Ref(database), "Database instance identifier")
    return s.build()
