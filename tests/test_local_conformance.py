"""The local endpoint does what CloudFormation does where webstack relies on it (CONFORMANCE.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from scripts.local import moto_shim
from scripts.local.moto_shim import names, parameters
from templates_src.versions import POSTGRES_VERSION

pytest_plugins = ["local_endpoint"]

REGION = "us-east-1"
CONFORMANCE = Path(moto_shim.__file__).parent / "CONFORMANCE.md"
TOPIC = {"Parameters": {"Name": {"Type": "String", "AllowedPattern": "^[a-z]+$",
                                 "MaxLength": 8}},
         "Resources": {"Topic": {"Type": "AWS::SNS::Topic",
                                 "Properties": {"DisplayName": {"Ref": "Name"}}}}}


def client(endpoint: str, service: str = "cloudformation") -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def create(cfn: Any, stack: str, value: str = "one", body: dict[str, Any] = TOPIC) -> None:
    cfn.create_change_set(StackName=stack, ChangeSetName="create", ChangeSetType="CREATE",
                          TemplateBody=json.dumps(body),
                          Parameters=[{"ParameterKey": "Name", "ParameterValue": value}])
    cfn.execute_change_set(StackName=stack, ChangeSetName="create")


def update_change_set(cfn: Any, stack: str, name: str, value: str, **extra: Any) -> None:
    cfn.create_change_set(StackName=stack, ChangeSetName=name, ChangeSetType="UPDATE",
                          TemplateBody=json.dumps(TOPIC), **extra,
                          Parameters=[{"ParameterKey": "Name", "ParameterValue": value}])


def refusal(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


# Change-set lifecycle -----------------------------------------------------------------------

def test_executing_a_change_set_deletes_the_others_and_sets_last_updated_time_and_tags(
        local_endpoint: str) -> None:
    cfn = client(local_endpoint)
    create(cfn, "life-siblings")
    assert "LastUpdatedTime" not in cfn.describe_stacks(StackName="life-siblings")["Stacks"][0]
    update_change_set(cfn, "life-siblings", "first", "two")
    update_change_set(cfn, "life-siblings", "second", "three",
                      Tags=[{"Key": "Owner", "Value": "team-a"}])
    cfn.execute_change_set(StackName="life-siblings", ChangeSetName="second")

    left = cfn.list_change_sets(StackName="life-siblings")["Summaries"]
    assert [(s["ChangeSetName"], s["ExecutionStatus"]) for s in left] == [
        ("second", "EXECUTE_COMPLETE")]
    code, _ = refusal(cfn.execute_change_set, StackName="life-siblings", ChangeSetName="first")
    assert code == "ValidationError"
    stack = cfn.describe_stacks(StackName="life-siblings")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert stack["LastUpdatedTime"] >= stack["CreationTime"]
    assert {t["Key"]: t["Value"] for t in stack["Tags"]} == {"Owner": "team-a"}


def test_a_create_change_set_for_a_live_stack_is_refused_as_cloudformation_refuses_it(
        local_endpoint: str) -> None:
    cfn = client(local_endpoint)
    create(cfn, "life-twice")
    code, message = refusal(cfn.create_change_set, StackName="life-twice",
                            ChangeSetName="again", ChangeSetType="CREATE",
                            TemplateBody=json.dumps(TOPIC),
                            Parameters=[{"ParameterKey": "Name", "ParameterValue": "one"}])
    assert code == "ValidationError"
    assert message == ("Stack [life-twice] already exists and cannot be created again with "
                       "the changeSet [again].")
    assert [s["StackName"] for s in cfn.describe_stacks()["Stacks"]].count("life-twice") == 1


def test_a_second_create_change_set_while_in_review_joins_the_same_stack(
        local_endpoint: str) -> None:
    cfn = client(local_endpoint)
    for name in ("one", "two"):
        cfn.create_change_set(StackName="life-review", ChangeSetName=name,
                              ChangeSetType="CREATE", TemplateBody=json.dumps(TOPIC),
                              Parameters=[{"ParameterKey": "Name", "ParameterValue": name}])
    stacks = [s for s in cfn.describe_stacks()["Stacks"] if s["StackName"] == "life-review"]
    assert [s["StackStatus"] for s in stacks] == ["REVIEW_IN_PROGRESS"]
    summaries = cfn.list_change_sets(StackName="life-review")["Summaries"]
    assert {s["StackId"] for s in summaries} == {stacks[0]["StackId"]}


@pytest.mark.parametrize("kind", ["CREATE", "UPDATE"])
def test_a_change_set_name_the_stack_already_has_is_refused_as_already_exists(
        local_endpoint: str, kind: str) -> None:
    """A CreateChangeSet sent again (its first answer lost) meets AlreadyExistsException; the
    stack keeps the one change set and, for CREATE, stays the one REVIEW_IN_PROGRESS stack."""
    cfn = client(local_endpoint)
    stack = f"life-dup-{kind.lower()}"
    if kind == "UPDATE":
        create(cfn, stack)
    request = {"StackName": stack, "ChangeSetName": "once", "ChangeSetType": kind,
               "TemplateBody": json.dumps(TOPIC),
               "Parameters": [{"ParameterKey": "Name", "ParameterValue": "two"}]}
    first = cfn.create_change_set(**request)

    with pytest.raises(ClientError) as caught:
        cfn.create_change_set(**request)
    answer = caught.value.response
    assert answer["Error"]["Code"] == "AlreadyExistsException"
    assert answer["Error"]["Message"] == ("ChangeSet [once] already exists and cannot be "
                                          "created again")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert [s["ChangeSetId"] for s in cfn.list_change_sets(StackName=stack)["Summaries"]
            if s["ChangeSetName"] == "once"] == [first["Id"]]
    assert [s["StackStatus"] for s in cfn.describe_stacks()["Stacks"]
            if s["StackName"] == stack] == ["REVIEW_IN_PROGRESS" if kind == "CREATE"
                                            else "CREATE_COMPLETE"]
    other = cfn.create_change_set(**{**request, "StackName": f"{stack}-other",
                                     "ChangeSetType": "CREATE"})
    assert other["Id"] != first["Id"]  # the name is one stack's, not the region's


# Parameter constraints ----------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "value", "message"), [
    ({"AllowedPattern": "^CC-[0-9]{4}$"}, "CC-12",
     "Parameter 'P' must match pattern ^CC-[0-9]{4}$"),
    ({"AllowedValues": ["a", "b"]}, "c", "Parameter 'P' must be one of AllowedValues"),
    ({"MaxLength": 3}, "abcd", "Parameter 'P' must contain at most 3 characters"),
    ({"MinLength": 2}, "a", "Parameter 'P' must contain at least 2 characters"),
    ({"Type": "Number", "MaxValue": 5}, "6", "Parameter 'P' must be a number not greater than 5"),
    ({"Type": "Number", "MinValue": 5}, "4", "Parameter 'P' must be a number not less than 5"),
    ({"Type": "Number"}, "x", "Parameter 'P' must be a number"),
    ({"AllowedPattern": "^[a-z]+$", "ConstraintDescription": "lowercase letters only"}, "A1",
     "Parameter 'P' failed to satisfy constraint: lowercase letters only"),
])
def test_each_constraint_has_cloudformations_message(spec: dict[str, Any], value: str,
                                                     message: str) -> None:
    assert parameters.violation("P", {"Type": "String", **spec}, value) == message


@pytest.mark.parametrize("value", ["UPPER", "waytoolongforit"])
def test_a_value_breaking_a_constraint_is_refused_at_create_change_set_and_nothing_is_made(
        local_endpoint: str, value: str) -> None:
    cfn = client(local_endpoint)
    code, message = refusal(
        cfn.create_change_set, StackName="params-refused", ChangeSetName="c",
        ChangeSetType="CREATE", TemplateBody=json.dumps(TOPIC),
        Parameters=[{"ParameterKey": "Name", "ParameterValue": value}])
    assert code == "ValidationError"
    assert message.startswith("Parameter 'Name' must ")
    assert "params-refused" not in {s["StackName"] for s in cfn.describe_stacks()["Stacks"]}


def test_constraints_hold_on_update_and_create_stack_too(local_endpoint: str) -> None:
    cfn = client(local_endpoint)
    create(cfn, "params-update")
    code, _ = refusal(update_change_set, cfn=cfn, stack="params-update", name="u", value="BAD")
    assert code == "ValidationError"
    code, _ = refusal(cfn.create_stack, StackName="params-stack", TemplateBody=json.dumps(TOPIC),
                      Parameters=[{"ParameterKey": "Name", "ParameterValue": "BAD"}])
    assert code == "ValidationError"
    code, _ = refusal(cfn.update_stack, StackName="params-update",
                      TemplateBody=json.dumps(TOPIC),
                      Parameters=[{"ParameterKey": "Name", "ParameterValue": "BAD"}])
    assert code == "ValidationError"


# Generated names ----------------------------------------------------------------------------

@pytest.mark.parametrize("resource_type", sorted(names.LIMITS))
def test_generated_names_fit_the_service_limit_for_long_stack_names(resource_type: str) -> None:
    limit, lower = names.LIMITS[resource_type]
    stack = "webstack-a-very-long-but-valid-stack-name-DatabaseStack-ABCDEFGHIJKLM"
    name = names.fit(stack, "ApplicationLoadBalancerLogs", "ABCDEF123456", limit, lower=lower)
    assert len(name) <= limit
    assert name.endswith(("ABCDEF123456", "abcdef123456"))
    assert "--" not in name and not name.startswith("-")
    assert name == name.lower() or not lower


def test_a_short_stack_name_is_kept_whole() -> None:
    assert names.fit("app", "Database", "X" * 12, 63, lower=True) == "app-database-xxxxxxxxxxxx"


# Failure -------------------------------------------------------------------------------------

def test_a_failed_create_rolls_back_and_the_endpoint_keeps_answering(local_endpoint: str) -> None:
    cfn = client(local_endpoint)
    body = {**TOPIC, "Resources": {
        **TOPIC["Resources"],
        "Subnet": {"Type": "AWS::EC2::Subnet", "DependsOn": "Topic",
                   "Properties": {"VpcId": "vpc-00000000", "CidrBlock": "10.0.0.0/24"}}}}
    create(cfn, "fails-once", body=body)
    stack = cfn.describe_stacks(StackName="fails-once")["Stacks"][0]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    statuses = [e["ResourceStatus"] for e in
                cfn.describe_stack_events(StackName="fails-once")["StackEvents"]]
    assert {"CREATE_FAILED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"} <= set(statuses)
    assert cfn.describe_stacks()["Stacks"]  # every caller still gets an answer
    topics = client(local_endpoint, "sns").list_topics()["Topics"]
    assert not any("fails-once" in t["TopicArn"] for t in topics)
    code, message = refusal(update_change_set, cfn=cfn, stack="fails-once", name="u",
                            value="two")
    assert code == "ValidationError"
    assert message == f"Stack:{stack['StackId']} is in ROLLBACK_COMPLETE state and can not be " \
        "updated."


# The conformance table ----------------------------------------------------------------------

def _table_rows() -> list[list[str]]:
    rows = [line.strip().strip("|").split("|") for line in
            CONFORMANCE.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row] for row in rows[2:]]


def test_the_conformance_table_names_every_patched_gap_and_nothing_else() -> None:
    rows = _table_rows()
    assert rows, "CONFORMANCE.md has no table"
    assert all(row[1] in {"same", "patched", "not simulated"} for row in rows), \
        [row for row in rows if row[1] not in {"same", "patched", "not simulated"}]
    named = [gap for row in rows if row[1] == "patched"
             for gap in re.findall(r"`([a-z_]+)`", row[2])]
    assert sorted(named) == sorted(moto_shim.NEEDED)
    assert not [row for row in rows if row[1] != "patched" and re.findall(r"`([a-z_]+)`",
                                                                          row[2])]


# Updates: in place unless CloudFormation replaces -------------------------------------------

DATABASE = {
    "Parameters": {"Class": {"Type": "String"}, "User": {"Type": "String"}},
    "Resources": {"Db": {"Type": "AWS::RDS::DBInstance", "Properties": {
        "Engine": "postgres", "EngineVersion": POSTGRES_VERSION, "AllocatedStorage": 20,
        "DBInstanceClass": {"Ref": "Class"}, "MasterUsername": {"Ref": "User"},
        "MasterUserPassword": "not-a-real-password"}}},
    "Outputs": {"Port": {"Value": {"Fn::GetAtt": ["Db", "Endpoint.Port"]}}},
}


def _deploy_database(cfn: Any, stack: str, change_set: str, kind: str, **values: str) -> None:
    cfn.create_change_set(StackName=stack, ChangeSetName=change_set, ChangeSetType=kind,
                          TemplateBody=json.dumps(DATABASE),
                          Parameters=[{"ParameterKey": k, "ParameterValue": v}
                                      for k, v in values.items()])
    cfn.execute_change_set(StackName=stack, ChangeSetName=change_set)


def _db_ids(endpoint: str, stack: str) -> set[str]:
    return {d["DBInstanceIdentifier"] for d in client(endpoint, "rds").describe_db_instances()[
        "DBInstances"] if d["DBInstanceIdentifier"].startswith(stack)}


def test_an_updatable_property_is_changed_in_place_and_a_create_only_one_replaces(
        local_endpoint: str) -> None:
    cfn = client(local_endpoint)
    _deploy_database(cfn, "upd-db", "create", "CREATE", Class="db.t3.micro", User="app")
    original = _db_ids(local_endpoint, "upd-db")
    assert len(original) == 1

    _deploy_database(cfn, "upd-db", "grow", "UPDATE", Class="db.t3.small", User="app")
    databases = client(local_endpoint, "rds").describe_db_instances()["DBInstances"]
    assert _db_ids(local_endpoint, "upd-db") == original
    assert {d["DBInstanceClass"] for d in databases
            if d["DBInstanceIdentifier"] in original} == {"db.t3.small"}

    _deploy_database(cfn, "upd-db", "rename", "UPDATE", Class="db.t3.small", User="owner")
    replaced = _db_ids(local_endpoint, "upd-db")
    assert len(replaced) == 1 and replaced != original
    assert cfn.describe_stacks(StackName="upd-db")["Stacks"][0]["StackStatus"] == \
        "UPDATE_COMPLETE"


def test_storage_from_a_mapping_grown_in_place_keeps_describe_db_instances_answering(
        local_endpoint: str) -> None:
    """Mapping values are text ("20"); growing the storage in place once left moto holding an
    int beside a str, and DescribeDBInstances answered HTTP 500 for the whole region."""
    cfn = client(local_endpoint)
    sized = {**DATABASE, "Parameters": {**DATABASE["Parameters"], "Size": {"Type": "String"}}}
    sized["Resources"] = {"Db": {**DATABASE["Resources"]["Db"], "Properties": {
        **DATABASE["Resources"]["Db"]["Properties"], "AllocatedStorage": {"Ref": "Size"},
        "MaxAllocatedStorage": {"Ref": "Size"}}}}
    for name, kind, size in (("create", "CREATE", "20"), ("grow", "UPDATE", "30")):
        cfn.create_change_set(StackName="grow-db", ChangeSetName=name, ChangeSetType=kind,
                              TemplateBody=json.dumps(sized), Parameters=[
                                  {"ParameterKey": "Class", "ParameterValue": "db.t3.micro"},
                                  {"ParameterKey": "User", "ParameterValue": "app"},
                                  {"ParameterKey": "Size", "ParameterValue": size}])
        cfn.execute_change_set(StackName="grow-db", ChangeSetName=name)
    grown = [d for d in client(local_endpoint, "rds").describe_db_instances()["DBInstances"]
             if d["DBInstanceIdentifier"].startswith("grow-db")]
    assert [d["AllocatedStorage"] for d in grown] == [30]


def test_deleting_a_change_set_that_is_gone_is_change_set_not_found(local_endpoint: str) -> None:
    with pytest.raises(ClientError) as gone:
        client(local_endpoint).delete_change_set(ChangeSetName="no-such", StackName="nothing")
    assert gone.value.response["Error"]["Code"] == "ChangeSetNotFound"
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_a_key_made_from_a_template_can_be_described(local_endpoint: str) -> None:
    cfn = client(local_endpoint)
    cfn.create_stack(StackName="key-stack", TemplateBody=json.dumps({"Resources": {"Key": {
        "Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {
            "Version": "2012-10-17", "Statement": []}}}}}))
    key = cfn.describe_stack_resource(StackName="key-stack", LogicalResourceId="Key")[
        "StackResourceDetail"]["PhysicalResourceId"]
    assert client(local_endpoint, "kms").describe_key(KeyId=key)["KeyMetadata"]["Enabled"]


def test_a_change_set_says_replace_for_a_create_only_property_and_modify_for_the_rest(
        local_endpoint: str) -> None:
    cfn = client(local_endpoint)
    _deploy_database(cfn, "cs-db", "create", "CREATE", Class="db.t3.micro", User="app")
    for name, values, replacement, recreation in (
            ("grow", {"Class": "db.t3.small", "User": "app"}, "False", "Never"),
            ("rename", {"Class": "db.t3.micro", "User": "owner"}, "True", "Always")):
        cfn.create_change_set(StackName="cs-db", ChangeSetName=name, ChangeSetType="UPDATE",
                              TemplateBody=json.dumps(DATABASE),
                              Parameters=[{"ParameterKey": k, "ParameterValue": v}
                                          for k, v in values.items()])
        [change] = [c["ResourceChange"] for c in
                    cfn.describe_change_set(StackName="cs-db", ChangeSetName=name)["Changes"]]
        assert (change["Action"], change["Replacement"], change["Scope"]) == (
            "Modify", replacement, ["Properties"])
        assert change["PhysicalResourceId"].startswith("cs-db-db-")
        assert [(d["Target"]["Name"], d["Target"]["RequiresRecreation"])
                for d in change["Details"]] == [
            ("DBInstanceClass" if name == "grow" else "MasterUsername", recreation)]


# RDS ----------------------------------------------------------------------------------------

def test_preflight_runs_on_the_endpoint_and_refuses_a_withdrawn_postgres_version(
        local_endpoint: str) -> None:
    from scripts.deploy.aws import Target
    from scripts.deploy.preflight import check_engine_version, check_instance_class
    from templates_src.environments import ENVIRONMENTS
    from templates_src.versions import POSTGRES_VERSION

    target = Target("dev", REGION, "pre", endpoint_url=local_endpoint)
    pinned = check_engine_version(target, strict=True)
    assert pinned.ok is True, pinned.message
    withdrawn = check_engine_version(target, strict=True, version="13.7")
    assert withdrawn.ok is False
    assert "PostgreSQL 13.7 is not offered" in withdrawn.message
    assert POSTGRES_VERSION in withdrawn.message  # the offered 13.x are listed
    dev_class = ENVIRONMENTS["dev"].db_instance_class
    assert check_instance_class(target, dev_class, "dev", strict=True).ok is True
    refused = check_instance_class(target, "db.nothing.huge", "dev", strict=True)
    assert refused.ok is False and "not orderable" in refused.message


def test_a_postgres_instance_listens_on_5432_and_delete_with_snapshot_keeps_one(
        local_endpoint: str) -> None:
    from scripts.local.moto_shim.rds import offered_versions

    cfn = client(local_endpoint)
    body = {"Resources": {"Db": {"Type": "AWS::RDS::DBInstance", "DeletionPolicy": "Snapshot",
                                 "Properties": {
        "Engine": "postgres", "EngineVersion": offered_versions()[-1], "AllocatedStorage": 20,
        "DBInstanceClass": "db.t3.micro", "MasterUsername": "app",
        "MasterUserPassword": "not-a-real-password"}}},
        "Outputs": {"Port": {"Value": {"Fn::GetAtt": ["Db", "Endpoint.Port"]}}}}
    cfn.create_stack(StackName="snap-db", TemplateBody=json.dumps(body))
    stack = cfn.describe_stacks(StackName="snap-db")["Stacks"][0]
    assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]} == {"Port": "5432"}
    rds = client(local_endpoint, "rds")
    [db] = [d for d in rds.describe_db_instances()["DBInstances"]
            if d["DBInstanceIdentifier"].startswith("snap-db-")]

    cfn.delete_stack(StackName="snap-db")
    snapshots = rds.describe_db_snapshots(DBInstanceIdentifier=db["DBInstanceIdentifier"])[
        "DBSnapshots"]
    assert [s["DBSnapshotIdentifier"].startswith("snap-db-snapshot-db-") for s in snapshots] == [
        True]


def test_a_stack_with_an_unoffered_engine_version_fails_and_rolls_back(
        local_endpoint: str) -> None:
    cfn = client(local_endpoint)
    body = {"Resources": {"Db": {"Type": "AWS::RDS::DBInstance", "Properties": {
        "Engine": "postgres", "EngineVersion": "13.7", "AllocatedStorage": 20,
        "DBInstanceClass": "db.t3.micro", "MasterUsername": "app",
        "MasterUserPassword": "not-a-real-password"}}}}
    cfn.create_change_set(StackName="old-pg", ChangeSetName="c", ChangeSetType="CREATE",
                          TemplateBody=json.dumps(body))
    cfn.execute_change_set(StackName="old-pg", ChangeSetName="c")
    stack = cfn.describe_stacks(StackName="old-pg")["Stacks"][0]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    reasons = [e.get("ResourceStatusReason", "") for e in
               cfn.describe_stack_events(StackName="old-pg")["StackEvents"]]
    assert any("Cannot find version 13.7 for postgres" in r for r in reasons)


def test_a_rollback_trigger_in_alarm_rolls_the_update_back(local_endpoint: str) -> None:
    cfn, cloudwatch = client(local_endpoint), client(local_endpoint, "cloudwatch")
    create(cfn, "triggered")
    cloudwatch.put_metric_alarm(AlarmName="triggered-errors", Namespace="App",
                                MetricName="Errors", Statistic="Sum", Period=60,
                                EvaluationPeriods=1, Threshold=1.0,
                                ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName="triggered-errors", StateValue="ALARM",
                               StateReason="errors")
    arn = cloudwatch.describe_alarms(AlarmNames=["triggered-errors"])["MetricAlarms"][0][
        "AlarmArn"]
    update_change_set(cfn, "triggered", "u", "two", RollbackConfiguration={
        "RollbackTriggers": [{"Arn": arn, "Type": "AWS::CloudWatch::Alarm"}]})
    cfn.execute_change_set(StackName="triggered", ChangeSetName="u")

    stack = cfn.describe_stacks(StackName="triggered")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]} == {
        "Name": "one"}
    reasons = [e.get("ResourceStatusReason", "") for e in
               cfn.describe_stack_events(StackName="triggered")["StackEvents"]]
    assert f"Rollback trigger {arn} is in ALARM state" in reasons
