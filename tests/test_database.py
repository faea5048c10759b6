"""Database: pinned PostgreSQL, managed password, private, encrypted, snapshotted."""

from __future__ import annotations

import json

import pytest

from scripts.build.resolve import resolve
from templates_src.common import ROOT_PARAMETERS
from templates_src.environments import ENVIRONMENTS
from templates_src.stacks.database import MONITORING_INTERVAL_SECONDS
from templates_src.versions import POSTGRES_FAMILY, POSTGRES_VERSION


def test_prod_is_multi_az_with_deletion_protection_and_dev_is_neither(prod, dev):
    assert prod.props("database", "Database")["MultiAZ"] == "true"
    assert prod.props("database", "Database")["DeletionProtection"] == "true"
    assert dev.props("database", "Database")["MultiAZ"] == "false"
    assert dev.props("database", "Database")["DeletionProtection"] == "false"


def test_engine_version_is_the_one_pinned_line(each_env):
    props = each_env.props("database", "Database")
    assert (props["Engine"], props["EngineVersion"]) == ("postgres", POSTGRES_VERSION)
    assert props["EngineLifecycleSupport"]


def test_sizes_and_backups_come_from_the_table(each_env):
    env = ENVIRONMENTS[each_env.environment]
    props = each_env.props("database", "Database")
    assert props["DBInstanceClass"] == env.db_instance_class
    assert props["AllocatedStorage"] == str(env.db_allocated_storage_gib)
    assert props["BackupRetentionPeriod"] == str(env.db_backup_retention_days)


def test_hardening_properties(each_env):
    props = each_env.props("database", "Database")
    assert props["StorageEncrypted"] is True
    assert props["PubliclyAccessible"] is False
    assert props["CopyTagsToSnapshot"] is True
    assert props["ManageMasterUserPassword"] is True
    assert set(props["EnableCloudwatchLogsExports"]) >= {"postgresql"}
    assert props["DBSubnetGroupName"] == {"Ref": "DatabaseSubnetGroup"}
    assert props["VPCSecurityGroups"] == [{"Ref": "DatabaseSecurityGroupId"}]


def test_no_password_anywhere_in_the_set(rendered):
    text = json.dumps(rendered)
    assert '"MasterUserPassword"' not in text
    assert "resolve:secretsmanager" not in text and "resolve:ssm-secure" not in text
    for template in rendered.values():
        assert not [p for p in template.get("Parameters", {}) if "password" in p.lower()]


def test_database_is_snapshotted_on_delete_and_replace(each_env):
    database = each_env.resource("database", "Database")
    assert (database["DeletionPolicy"], database["UpdateReplacePolicy"]) == ("Snapshot", "Snapshot")


def test_subnet_group_uses_the_database_tier(rendered):
    root = rendered["root"]["Resources"]
    assert root["DatabaseStack"]["Properties"]["Parameters"]["DatabaseSubnetIds"] == {
        "Fn::GetAtt": ["NetworkStack", "Outputs.DatabaseSubnetIds"]
    }
    group = rendered["database"]["Resources"]["DatabaseSubnetGroup"]["Properties"]
    assert group["SubnetIds"] == {"Ref": "DatabaseSubnetIds"}


def test_outputs_endpoint_and_port(dev):
    outputs = dev.template("database")["Outputs"]
    assert outputs["DatabaseEndpointAddress"]["Value"] == {
        "Fn::GetAtt": ["Database", "Endpoint.Address"]
    }
    assert outputs["DatabasePort"]["Value"] == {"Fn::GetAtt": ["Database", "Endpoint.Port"]}


def test_connections_must_use_tls(each_env):
    props = each_env.props("database", "Database")
    assert props["DBParameterGroupName"] == {"Ref": "DatabaseParameterGroup"}
    group = each_env.props("database", "DatabaseParameterGroup")
    assert group["Family"] == POSTGRES_FAMILY
    assert group["Parameters"] == {"rds.force_ssl": "1"}


def test_storage_and_performance_insights_are_encrypted_under_the_data_key(each_env, rendered):
    props = each_env.props("database", "Database")
    assert props["KmsKeyId"] == {"Ref": "DataKeyArn"}
    assert props["EnablePerformanceInsights"] is True
    assert props["PerformanceInsightsKMSKeyId"] == {"Ref": "DataKeyArn"}
    assert props["PerformanceInsightsRetentionPeriod"] == str(
        ENVIRONMENTS[each_env.environment].db_performance_insights_retention_days)
    wiring = rendered["root"]["Resources"]["DatabaseStack"]["Properties"]["Parameters"]
    assert wiring["DataKeyArn"] == {"Fn::GetAtt": ["StorageStack", "Outputs.DataKeyArn"]}


def test_iam_authentication_and_automatic_minor_upgrades(each_env):
    props = each_env.props("database", "Database")
    assert props["EnableIAMDatabaseAuthentication"] is True
    assert props["AutoMinorVersionUpgrade"] is True


def test_enhanced_monitoring_reports_through_its_own_role(each_env):
    props = each_env.props("database", "Database")
    assert props["MonitoringInterval"] == MONITORING_INTERVAL_SECONDS > 0
    assert props["MonitoringRoleArn"] == {"Fn::GetAtt": ["DatabaseMonitoringRole", "Arn"]}
    role = each_env.props("database", "DatabaseMonitoringRole")
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": ["monitoring.rds.amazonaws.com"]}
    # Only for this account's own instance: no confused deputy.
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {"aws:SourceArn": {"Fn::Sub": (
            f"arn:${{AWS::Partition}}:rds:{each_env.region}:${{AWS::AccountId}}"
            ":db:${RootStackName}-db")}},
    }
    assert role["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"]


@pytest.mark.parametrize("stack", ["root", "database"])
def test_the_master_username_is_not_postgres_and_a_rule_refuses_reserved_names(rendered, stack):
    spec = ROOT_PARAMETERS["DatabaseUsername"]
    assert spec.default not in spec.forbidden and "postgres" in spec.forbidden
    assertion = rendered[stack]["Rules"]["DatabaseUsernameAllowed"]["Assertions"][0]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Contains": [
        list(spec.forbidden), {"Ref": "DatabaseUsername"}]}]}
    assert "postgres" in assertion["AssertDescription"]
    resolved = resolve(rendered["database"], "prod", "eu-west-1")
    assert resolved["Resources"]["Database"]["Properties"]["MasterUsername"] == "webstack_admin"


def test_the_master_user_secret_is_encrypted_under_the_data_key(each_env):
    props = each_env.props("database", "Database")
    assert props["ManageMasterUserPassword"] is True
    assert props["MasterUserSecret"] == {"KmsKeyId": {"Ref": "DataKeyArn"}}


def test_the_instance_is_named_after_the_root_stack(each_env, rendered):
    props = each_env.props("database", "Database")
    assert props["DBInstanceIdentifier"] == {"Fn::Sub": "${RootStackName}-db"}
    wiring = rendered["root"]["Resources"]["DatabaseStack"]["Properties"]["Parameters"]
    assert wiring["RootStackName"] == {"Ref": "AWS::StackName"}


@pytest.mark.parametrize(("name", "allowed"), [
    ("webstack-prod", True), ("it-dev", True), ("a" * 60, True), ("a" * 61, False),
    ("Webstack-Prod", False), ("web--stack", False), ("webstack-", False), ("1stack", False),
])
def test_the_root_stack_name_must_make_a_valid_lowercase_identifier(rendered, name, allowed):
    import re

    pattern = rendered["database"]["Parameters"]["RootStackName"]["AllowedPattern"]
    assert bool(re.match(pattern, name)) is allowed
    if allowed:
        assert len(f"{name}-db") <= 63


@pytest.mark.parametrize("log", ["postgresql", "upgrade"])
def test_each_exported_log_has_an_owned_encrypted_group_created_first(each_env, log):
    props = each_env.props("database", "Database")
    assert log in props["EnableCloudwatchLogsExports"]
    title = f"Database{log.capitalize()}LogGroup"
    group = each_env.resource("database", title)
    assert group["Properties"]["LogGroupName"] == {
        "Fn::Sub": f"/aws/rds/instance/${{RootStackName}}-db/{log}"}
    assert group["Properties"]["KmsKeyId"] == {"Ref": "DataKeyArn"}
    assert group["Properties"]["RetentionInDays"] == str(
        ENVIRONMENTS[each_env.environment].log_retention_days)
    assert (group["DeletionPolicy"], group["UpdateReplacePolicy"]) == ("Retain", "Retain")
    # The instance waits for the groups it owns: it refers to them (a DependsOn could not
    # name them where DatabaseLogGroups=existing leaves them out).
    tags = each_env.props("database", "Database")["Tags"]
    waits_for = next(t["Value"] for t in tags if t["Key"] == "LogGroups")
    assert {"Ref": title} in waits_for["Fn::Join"][1]


def test_a_later_stack_of_the_same_name_adopts_the_kept_log_groups(resolved_for):
    from scripts.build.render import render_dicts

    database = render_dicts()["database"]
    adopted = resolve(database, "dev", "us-east-1", {"DatabaseLogGroups": "existing"})
    resources = adopted["Resources"]
    assert not [r for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"
                and "/aws/rds/instance/" in json.dumps(r["Properties"]["LogGroupName"])]
    tags = {t["Key"]: t["Value"] for t in resources["Database"]["Properties"]["Tags"]}
    assert tags["LogGroups"] == {"Fn::Sub": "/aws/rds/instance/${RootStackName}-db/postgresql "
                                            "/aws/rds/instance/${RootStackName}-db/upgrade"}
    assert ROOT_PARAMETERS["DatabaseLogGroups"].default == "create"


def test_every_exported_log_has_its_group(each_env):
    exported = each_env.props("database", "Database")["EnableCloudwatchLogsExports"]
    names = {json.dumps(r["Properties"]["LogGroupName"])
             for r in each_env.resources("database", "AWS::Logs::LogGroup").values()}
    for log in exported:
        assert json.dumps({"Fn::Sub": f"/aws/rds/instance/${{RootStackName}}-db/{log}"}) in names


def test_the_enhanced_monitoring_group_is_owned_unless_another_stack_owns_it(resolved_for):
    from scripts.build.render import render_dicts

    database = render_dicts()["database"]
    owned = resolve(database, "prod", "eu-west-1")["Resources"]["DatabaseMonitoringLogGroup"]
    assert owned["Properties"]["LogGroupName"] == "RDSOSMetrics"
    assert owned["Properties"]["KmsKeyId"] == {"Ref": "DataKeyArn"}
    assert owned["Properties"]["RetentionInDays"] == "365"
    assert owned["DeletionPolicy"] == "Retain"
    assert ROOT_PARAMETERS["RdsMonitoringLogGroup"].default == "create"
    # The role (and so the instance, which names it) waits for the group it owns.
    owned_set = resolve(database, "prod", "eu-west-1")
    role_tags = owned_set["Resources"]["DatabaseMonitoringRole"]["Properties"]["Tags"]
    wanted = {"Key": "MonitoringLogGroup", "Value": {"Ref": "DatabaseMonitoringLogGroup"}}
    assert wanted in role_tags
    shared = resolve(database, "prod", "eu-west-1", {"RdsMonitoringLogGroup": "existing"})
    assert "DatabaseMonitoringLogGroup" not in shared["Resources"]
    shared_tags = shared["Resources"]["DatabaseMonitoringRole"]["Properties"]["Tags"]
    assert {"Key": "MonitoringLogGroup", "Value": "RDSOSMetrics"} in shared_tags
