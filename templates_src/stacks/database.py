"""Database: PostgreSQL on RDS in the database subnets, snapshotted on delete or replace."""

from __future__ import annotations

from troposphere import GetAtt, Ref, Template, rds

from templates_src.common import Stack
from templates_src.versions import POSTGRES_LIFECYCLE_SUPPORT, POSTGRES_VERSION

SNAPSHOT = "Snapshot"


def build() -> Template:
    s = Stack("database", "PostgreSQL instance and its subnet group")
    t = s.template
    subnet_ids = s.input(
        "DatabaseSubnetIds", "Database-tier subnets, one per AZ", "List<AWS::EC2::Subnet::Id>"
    )
    security_group = s.input(
        "DatabaseSecurityGroupId", "Group admitting PostgreSQL from the app tier",
        "AWS::EC2::SecurityGroup::Id",
    )
    username = s.root_parameter("DatabaseUsername")

    subnet_group = t.add_resource(rds.DBSubnetGroup(
        "DatabaseSubnetGroup",
        DBSubnetGroupDescription="Database-tier subnets, no route to the internet",
        SubnetIds=subnet_ids,
        Tags=s.tags("db-subnets"),
    ))
    database = t.add_resource(rds.DBInstance(
        "Database",
        DeletionPolicy=SNAPSHOT,
        UpdateReplacePolicy=SNAPSHOT,
        Engine="postgres",
        EngineVersion=POSTGRES_VERSION,
        EngineLifecycleSupport=POSTGRES_LIFECYCLE_SUPPORT,
        DBInstanceClass=s.env("DbInstanceClass"),
        AllocatedStorage=s.env("DbAllocatedStorageGib"),
        MaxAllocatedStorage=s.env("DbMaxAllocatedStorageGib"),
        StorageType="gp3",
        StorageEncrypted=True,
        MultiAZ=s.env("MultiAzDatabase"),
        DeletionProtection=s.env("DeletionProtection"),
        BackupRetentionPeriod=s.env("DbBackupRetentionDays"),
        MasterUsername=username,
        ManageMasterUserPassword=True,
        PubliclyAccessible=False,
        CopyTagsToSnapshot=True,
        EnableCloudwatchLogsExports=["postgresql", "upgrade"],
        DBSubnetGroupName=Ref(subnet_group),
        VPCSecurityGroups=[security_group],
        Tags=s.tags("db"),
    ))
    s.output("DatabaseEndpointAddress", GetAtt(database, "Endpoint.Address"), "Database host")
    s.output("DatabasePort", GetAtt(database, "Endpoint.Port"), "Database port")
    s.output("DatabaseInstanceId", Ref(database), "Database instance identifier")
    return s.build()
