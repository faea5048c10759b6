"""Database: PostgreSQL on RDS in the database subnets, snapshotted on delete or replace.

Storage, Performance Insights and the master-user secret are encrypted under the data key;
connections must use TLS (``rds.force_ssl``); IAM authentication is on; enhanced monitoring
reports through its own role.

The instance is named ``<root stack name>-db`` so that the log groups RDS writes to
(``/aws/rds/instance/<id>/<log>``) can exist before it, encrypted under the data key with the
table's retention: left to RDS they would be unencrypted and never expire. Enhanced
monitoring writes to ``RDSOSMetrics``, one group per account and region whatever the
instance: the stack owns it unless the root parameter ``RdsMonitoringLogGroup`` says another
stack in the account already does. The instance's own groups are kept when the stack goes
(logs are evidence); a later stack of the same name adopts them (``DatabaseLogGroups``:
``existing``) instead of failing to create them again.
"""

from __future__ import annotations

from troposphere import Equals, GetAtt, If, Join, Ref, Sub, Template, iam, rds

from templates_src.common import Stack, removal_policy, scanner_exception
from templates_src.database_logs import EXPORTED_LOGS, MONITORING_LOG_GROUP, instance_log_group
from templates_src.policies import assume_role
from templates_src.versions import POSTGRES, POSTGRES_LIFECYCLE_SUPPORT, PostgresMajor

# Seconds between enhanced-monitoring samples. The same everywhere: the cost is a few log
# events a minute, and a literal lets every scanner see that monitoring is on.
MONITORING_INTERVAL_SECONDS = 60
MONITORING_POLICY = "service-role/AmazonRDSEnhancedMonitoringRole"
# Every connection must use TLS; PostgreSQL refuses plain-text sessions.
PARAMETERS = {"rds.force_ssl": "1"}
INSTANCE_ID = "${RootStackName}-db"  # RDS lowercases it: see ROOT_STACK_NAME_PATTERN
OWNS_MONITORING_LOG_GROUP = "OwnsRdsMonitoringLogGroup"
OWNS_LOG_GROUPS = "OwnsDatabaseLogGroups"


def build(postgres: PostgresMajor | None = None) -> Template:
    """The database stack, on ``postgres`` (default: the one choice in versions.py)."""
    postgres = postgres or POSTGRES
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
    s.root_stack_name()
    monitoring_group = s.root_parameter("RdsMonitoringLogGroup")
    t.add_condition(OWNS_MONITORING_LOG_GROUP, Equals(monitoring_group, "create"))
    t.add_condition(OWNS_LOG_GROUPS, Equals(s.root_parameter("DatabaseLogGroups"), "create"))

    subnet_group = t.add_resource(rds.DBSubnetGroup(
        "DatabaseSubnetGroup",
        DBSubnetGroupDescription="Database-tier subnets, no route to the internet",
        SubnetIds=subnet_ids,
        Tags=s.tags("db-subnets"),
    ))
    parameter_group = t.add_resource(rds.DBParameterGroup(
        "DatabaseParameterGroup",
        Description="webstack PostgreSQL: TLS required",
        Family=postgres.family,
        Parameters=PARAMETERS,
        Tags=s.tags("db-parameters"),
    ))
    monitoring_logs = s.log_group("DatabaseMonitoringLogGroup", "db-monitoring-logs", data_key,
                                  name=MONITORING_LOG_GROUP)
    monitoring_logs.Condition = OWNS_MONITORING_LOG_GROUP
    monitoring_role = t.add_resource(iam.Role(
        "DatabaseMonitoringRole",
        AssumeRolePolicyDocument=assume_role("monitoring.rds.amazonaws.com", Sub(
            f"arn:${{AWS::Partition}}:rds:${{AWS::Region}}:${{AWS::AccountId}}:db:{INSTANCE_ID}")),
        ManagedPolicyArns=[Sub(f"arn:${{AWS::Partition}}:iam::aws:policy/{MONITORING_POLICY}")],
        # A reference, not DependsOn (which cannot name a resource that may not exist): where
        # the stack owns RDSOSMetrics, it exists before the role, so before any monitoring.
        Tags=s.tags("db-monitoring-role", MonitoringLogGroup=If(
            OWNS_MONITORING_LOG_GROUP, Ref(monitoring_logs), MONITORING_LOG_GROUP)),
    ))
    log_groups = [s.log_group(f"Database{log.capitalize()}LogGroup", f"db-{log}-logs", data_key,
                              name=Sub(instance_log_group(log)))
                  for log in EXPORTED_LOGS]
    for group in log_groups:
        group.Condition = OWNS_LOG_GROUPS
    database = t.add_resource(rds.DBInstance(
        "Database",
        **removal_policy("Snapshot"),
        Metadata=scanner_exception(
            "CKV_AWS_157", "Multi-AZ comes from the environment table: on in prod "
            "(tests/test_reliability.py), off in dev and staging to halve their cost",
        ),
        DBInstanceIdentifier=Sub(INSTANCE_ID),
        Engine="postgres",
        EngineVersion=postgres.version,
        # Lets a change of POSTGRES in versions.py upgrade the instance in place.
        AllowMajorVersionUpgrade=True,
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
        MasterUserSecret=rds.MasterUserSecret(KmsKeyId=data_key),
        EnableIAMDatabaseAuthentication=True,
        PubliclyAccessible=False,
        CopyTagsToSnapshot=True,
        EnableCloudwatchLogsExports=list(EXPORTED_LOGS),
        EnablePerformanceInsights=True,
        PerformanceInsightsKMSKeyId=data_key,
        PerformanceInsightsRetentionPeriod=s.env("DbPerformanceInsightsRetentionDays"),
        MonitoringInterval=MONITORING_INTERVAL_SECONDS,
        MonitoringRoleArn=GetAtt(monitoring_role, "Arn"),
        DBSubnetGroupName=Ref(subnet_group),
        VPCSecurityGroups=[security_group],
        # RDS would create the groups itself, unencrypted and never expiring, were it first:
        # where the stack owns them, this reference (not DependsOn, which cannot name a
        # resource that may not exist) makes the instance wait for them. The same names
        # either way, so adopting kept groups changes nothing on the instance.
        Tags=s.tags("db", LogGroups=If(
            OWNS_LOG_GROUPS, Join(" ", [Ref(group) for group in log_groups]),
            Sub(" ".join(instance_log_group(log) for log in EXPORTED_LOGS)))),
    ))
    s.output("DatabaseEndpointAddress", GetAtt(database, "Endpoint.Address"), "Database host")
    s.output("DatabasePort", GetAtt(database, "Endpoint.Port"), "Database port")
    s.output("DatabaseInstanceId", Ref(database), "Database instance identifier")
    return s.build()
