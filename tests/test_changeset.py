"""Change sets against a Stubber-wrapped client: every request and answer is checked against
botocore's CloudFormation model, and no test really sleeps."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from scripts.deploy import changeset
from scripts.deploy.changeset import (
    Change,
    ChangeSetFailed,
    ChangeSetTimeout,
    StackStateError,
    blocking_state,
    build_parameters,
    change_set_type,
    create,
    describe_all,
    wait_until_ready,
)
from scripts.deploy.guard import (
    STATEFUL_TYPES,
    StatefulChangeRefused,
    stack_policy,
    stateful_violations,
)
from scripts.deploy.waiting import Waiter
from scripts.errors import Exit, UsageError

ACCOUNT = "123456789012"
STACK = "webstack-dev"
STACK_ID = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/{STACK}/1111-2222"
ROOT_CS = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:changeSet/webstack-1/aaaa-0001"
DB_CS = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:changeSet/webstack-1-Database/bbbb-0002"
NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def time_() -> FakeTime:
    return FakeTime()


@pytest.fixture
def cfn() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("cloudformation", region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def resource_change(logical_id: str, resource_type: str, action: str = "Modify",
                    replacement: str | None = None, *, scope: tuple[str, ...] = ("Properties",),
                    nested: str | None = None, properties: tuple[str, ...] = ()
                    ) -> dict[str, Any]:
    change: dict[str, Any] = {"Action": action, "LogicalResourceId": logical_id,
                              "ResourceType": resource_type, "Scope": list(scope)}
    if action != "Add":
        change["PhysicalResourceId"] = f"{logical_id.lower()}-physical"
    if replacement is not None:
        change["Replacement"] = replacement
    if nested:
        change["ChangeSetId"] = nested
    if properties:
        change["Details"] = [{"Target": {"Attribute": "Properties", "Name": name,
                                         "RequiresRecreation": "Always"},
                              "Evaluation": "Static", "ChangeSource": "DirectModification"}
                             for name in properties]
    return {"Type": "Resource", "ResourceChange": change}


def described(change_set_id: str, status: str = "CREATE_COMPLETE", *,
              changes: list[Any] | None = None, reason: str | None = None,
              next_token: str | None = None, stack_name: str = STACK) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "ChangeSetId": change_set_id, "ChangeSetName": change_set_id.split("/")[1],
        "StackId": STACK_ID, "StackName": stack_name, "Status": status,
        "ExecutionStatus": "AVAILABLE" if status == "CREATE_COMPLETE" else "UNAVAILABLE",
        "CreationTime": NOW, "Changes": changes or [],
    }
    if reason:
        answer["StatusReason"] = reason
    if next_token:
        answer["NextToken"] = next_token
    return answer


def stack(status: str, *, environment: str = "dev", parameters: dict[str, str] | None = None
          ) -> dict[str, Any]:
    return {"Stacks": [{
        "StackId": STACK_ID, "StackName": STACK, "StackStatus": status, "CreationTime": NOW,
        "Tags": [{"Key": "Environment", "Value": environment}],
        "Parameters": [{"ParameterKey": k, "ParameterValue": v}
                       for k, v in (parameters or {}).items()],
    }]}


# -- reading every change, nested and paged ---------------------------------------------------


def test_replacing_the_database_inside_a_nested_stack_is_found_and_refused(cfn):
    client, stub = cfn
    stub.add_response("describe_change_set", described(ROOT_CS, changes=[
        resource_change("DatabaseStack", "AWS::CloudFormation::Stack", replacement="Conditional",
                        nested=DB_CS),
        resource_change("ComputeStack", "AWS::CloudFormation::Stack", replacement="False"),
    ]), {"ChangeSetName": ROOT_CS})
    stub.add_response("describe_change_set", described(DB_CS, changes=[
        resource_change("Database", "AWS::RDS::DBInstance", replacement="True",
                        properties=("DBInstanceIdentifier",)),
        resource_change("DatabaseSecurityGroup", "AWS::EC2::SecurityGroup", replacement="False"),
    ], stack_name="webstack-dev-DatabaseStack-XYZ"), {"ChangeSetName": DB_CS})

    changes = describe_all(client, ROOT_CS)

    database = next(c for c in changes if c.logical_id == "Database")
    assert database.path == ("DatabaseStack",)
    assert database.replacement == "True"
    assert database.changed_properties == ("DBInstanceIdentifier",)
    assert changes[0].nested_change_set_id == DB_CS
    assert stateful_violations(changes) == [database]
    refused = StatefulChangeRefused(stateful_violations(changes))
    assert refused.exit_code == Exit.USAGE
    assert "DatabaseStack/Database (AWS::RDS::DBInstance, replaced)" in str(refused)
    assert "rerun with --allow-replacement after taking a backup" in str(refused)
    assert "\n" not in str(refused)


def test_every_page_is_read(cfn):
    client, stub = cfn
    stub.add_response("describe_change_set", described(ROOT_CS, changes=[
        resource_change("AppRole", "AWS::IAM::Role", replacement="False"),
    ], next_token="page-2"), {"ChangeSetName": ROOT_CS, "StackName": STACK})
    stub.add_response("describe_change_set", described(ROOT_CS, changes=[
        resource_change("Bucket", "AWS::S3::Bucket", action="Remove"),
    ], next_token="page-3"), {"ChangeSetName": ROOT_CS, "StackName": STACK, "NextToken": "page-2"})
    stub.add_response("describe_change_set", described(ROOT_CS, changes=[
        resource_change("NewTopic", "AWS::SNS::Topic", action="Add"),
    ]), {"ChangeSetName": ROOT_CS, "StackName": STACK, "NextToken": "page-3"})

    changes = describe_all(client, ROOT_CS, stack_name=STACK)

    assert [c.logical_id for c in changes] == ["AppRole", "Bucket", "NewTopic"]
    assert changes[2].physical_id is None and changes[2].replacement == ""


def test_a_vanished_change_set_is_one_line(cfn):
    client, stub = cfn
    stub.add_client_error("describe_change_set", service_error_code="ChangeSetNotFound",
                          service_message=f"ChangeSet [{ROOT_CS}] does not exist")
    with pytest.raises(ChangeSetFailed, match=r"cannot read change set .* does not exist; it "
                                              "may have been deleted"):
        describe_all(client, ROOT_CS)


def data(action: str, resource_type: str, replacement: str = "") -> Change:
    return Change(action, ("StorageStack",), "Thing", resource_type, replacement)


def test_conditional_replacement_counts_as_replacement():
    change = data("Modify", "AWS::RDS::DBInstance", "Conditional")
    assert stateful_violations([change]) == [change]
    assert "may be replaced" in str(StatefulChangeRefused([change]))


def test_removing_the_bucket_is_refused():
    change = data("Remove", "AWS::S3::Bucket")
    assert stateful_violations([change]) == [change]
    assert "StorageStack/Thing (AWS::S3::Bucket, removed)" in str(StatefulChangeRefused([change]))


@pytest.mark.parametrize("change", [
    data("Modify", "AWS::RDS::DBInstance", "False"),
    data("Modify", "AWS::S3::Bucket", "False"),
    data("Add", "AWS::RDS::DBInstance"),
    data("Modify", "AWS::EC2::Instance", "True"),
    # A nested stack's Conditional sums up its children, which are judged on their own.
    data("Modify", "AWS::CloudFormation::Stack", "Conditional"),
])
def test_changes_that_keep_the_data_pass(change):
    assert stateful_violations([change]) == []


def test_removing_a_nested_stack_is_refused():
    change = data("Remove", "AWS::CloudFormation::Stack")
    assert stateful_violations([change]) == [change]


def test_data_bearing_types_come_from_cfn_lint_plus_kms_keys():
    for kind in ("AWS::RDS::DBInstance", "AWS::RDS::DBCluster", "AWS::S3::Bucket",
                 "AWS::DynamoDB::Table", "AWS::EFS::FileSystem",
                 "AWS::ElastiCache::ReplicationGroup", "AWS::KMS::Key", "AWS::Logs::LogGroup"):
        assert kind in STATEFUL_TYPES
    assert "AWS::EC2::SecurityGroup" not in STATEFUL_TYPES


def test_stack_policy_denies_replace_and_delete_of_data_types_only():
    policy = json.loads(stack_policy())
    deny, allow = policy["Statement"]
    assert deny["Effect"] == "Deny"
    assert sorted(deny["Action"]) == ["Update:Delete", "Update:Replace"]
    assert deny["Resource"] == ["*"]
    kinds = deny["Condition"]["StringEquals"]["ResourceType"]
    assert "AWS::RDS::DBInstance" in kinds and "AWS::S3::Bucket" in kinds
    assert "AWS::KMS::Key" in kinds
    assert allow == {"Effect": "Allow", "Principal": "*", "Action": ["Update:*"],
                     "Resource": ["*"]}
    assert stack_policy() == stack_policy()  # byte-stable


# -- create ------------------------------------------------------------------------------------


def test_create_sends_capabilities_nested_stacks_tags_and_rollback_triggers(cfn):
    client, stub = cfn
    alarm = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:webstack-dev-5xx"
    stub.add_response("create_change_set", {"Id": ROOT_CS, "StackId": STACK_ID}, {
        "StackName": STACK, "ChangeSetName": "webstack-1", "ChangeSetType": "UPDATE",
        "Parameters": [{"ParameterKey": "Environment", "UsePreviousValue": True}],
        "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        "IncludeNestedStacks": True, "Description": "webstack deploy",
        "Tags": [{"Key": "CostCenter", "Value": "CC-1234"},
                 {"Key": "DeploymentDate", "Value": "2026-11-29"},
                 {"Key": "Environment", "Value": "dev"}],
        "TemplateURL": "https://bucket.s3.amazonaws.com/root.yaml",
        "RollbackConfiguration": {
            "RollbackTriggers": [{"Arn": alarm, "Type": "AWS::CloudWatch::Alarm"}],
            "MonitoringTimeInMinutes": 5,
        },
    })
    found = create(
        client, stack_name=STACK, change_set_name="webstack-1", change_set_type="UPDATE",
        parameters=[{"ParameterKey": "Environment", "UsePreviousValue": True}],
        tags={"Environment": "dev", "CostCenter": "CC-1234", "DeploymentDate": "2026-11-29"},
        template_url="https://bucket.s3.amazonaws.com/root.yaml", rollback_triggers=[alarm],
    )
    assert found == ROOT_CS


def test_create_without_triggers_sends_no_rollback_configuration(cfn):
    client, stub = cfn
    stub.add_response("create_change_set", {"Id": ROOT_CS}, {
        "StackName": STACK, "ChangeSetName": "webstack-1", "ChangeSetType": "CREATE",
        "Parameters": [], "Capabilities": list(changeset.CAPABILITIES),
        "IncludeNestedStacks": True, "Description": "webstack deploy",
        "Tags": [{"Key": "Environment", "Value": "dev"}], "TemplateBody": "Resources: {}",
    })
    assert create(client, stack_name=STACK, change_set_name="webstack-1",
                  change_set_type="CREATE", parameters=[],
                  tags={"Environment": "dev", "CostCenter": ""},
                  template_body="Resources: {}") == ROOT_CS


def test_create_answering_no_updates_returns_none(cfn):
    client, stub = cfn
    stub.add_client_error("create_change_set", service_error_code="ValidationError",
                          service_message="No updates are to be performed.")
    assert create(client, stack_name=STACK, change_set_name="webstack-1",
                  change_set_type="UPDATE", parameters=[], tags={},
                  template_body="Resources: {}") is None


def test_create_refused_for_another_reason_is_one_line(cfn):
    client, stub = cfn
    stub.add_client_error("create_change_set", service_error_code="ValidationError",
                          service_message="Template format error:\n unresolved resource Foo")
    with pytest.raises(ChangeSetFailed) as refused:
        create(client, stack_name=STACK, change_set_name="webstack-1",
               change_set_type="UPDATE", parameters=[], tags={},
               template_body="Resources: {}")
    assert str(refused.value) == (f"cannot create a change set for {STACK} in us-east-1: "
                                  "Template format error: unresolved resource Foo")
    assert refused.value.exit_code == Exit.FINDINGS


OURS = "webstack-20261129030000-0a1b2c3d"  # as changeset.new_name() makes them
TAKEN = "ChangeSet [{}] already exists and cannot be created again"


def _create(client: Any, name: str = OURS, kind: str = "UPDATE") -> str | None:
    return create(client, stack_name=STACK, change_set_name=name, change_set_type=kind,
                  parameters=[], tags={"Environment": "dev"}, template_body="Resources: {}")


def test_new_names_are_never_the_same_twice_and_fit_what_cloudformation_takes():
    names = {changeset.new_name() for _ in range(50)}
    assert len(names) == 50
    assert all(re.fullmatch(r"webstack-\d{14}-[0-9a-f]{8}", n) and len(n) <= 128
               for n in names)


@pytest.mark.parametrize("kind", ["CREATE", "UPDATE"])
def test_a_retry_refused_for_our_own_name_adopts_the_change_set_the_lost_answer_made(
        cfn, kind):
    """botocore sent CreateChangeSet again after a 500 or a read timeout: the change set the
    first attempt made is this run's, read by name and stack, and its Id returned."""
    client, stub = cfn
    stub.add_client_error("create_change_set", service_error_code="AlreadyExistsException",
                          service_message=TAKEN.format(OURS), http_status_code=400)
    stub.add_response("describe_change_set", described(ROOT_CS, "CREATE_PENDING"),
                      {"ChangeSetName": OURS, "StackName": STACK})
    assert _create(client, kind=kind) == ROOT_CS


@pytest.mark.parametrize(("name", "message"), [
    # a name webstack did not make for this request: the change set may be anyone's
    ("webstack-20261129030000", TAKEN.format("webstack-20261129030000")),
    # another name than ours
    (OURS, TAKEN.format("webstack-20261129030000-ffffffff")),
    # the stack, not the change set: another deploy created it (CREATE change set)
    (OURS, f"Stack [{STACK}] already exists and cannot be created again with the changeSet "
           f"[{OURS}]."),
])
def test_an_already_exists_that_is_not_our_lost_attempt_is_refused_and_nothing_adopted(
        cfn, name, message):
    client, stub = cfn
    stub.add_client_error("create_change_set", service_error_code="AlreadyExistsException",
                          service_message=message, http_status_code=400)
    with pytest.raises(StackStateError) as refused:
        _create(client, name, "CREATE")
    assert str(refused.value).startswith(f"stack {STACK} in us-east-1 was created by another "
                                         "deploy meanwhile (")
    assert refused.value.exit_code == Exit.USAGE


def test_a_create_the_service_failed_is_the_services_error_not_a_refusal(cfn):
    """HTTP 500 after botocore's retries: scripts/errors.py says it (exit 4), not 'cannot
    create a change set' (exit 1), and the caller looks for what it made all the same."""
    client, stub = cfn
    stub.add_client_error("create_change_set", service_error_code="InternalFailure",
                          service_message="We encountered an internal error.",
                          http_status_code=500)
    stub.add_response("describe_change_set", described(ROOT_CS, "CREATE_COMPLETE"),
                      {"ChangeSetName": OURS, "StackName": STACK})
    with pytest.raises(ClientError) as failed:
        _create(client)
    assert failed.value.response["Error"]["Code"] == "InternalFailure"
    assert changeset.made(client, STACK, OURS) == ROOT_CS
    assert changeset.made(client, STACK, OURS) is None  # unanswerable: nothing found


def test_an_adopted_change_set_that_cannot_be_read_is_one_line(cfn):
    client, stub = cfn
    stub.add_client_error("create_change_set", service_error_code="AlreadyExistsException",
                          service_message=TAKEN.format(OURS), http_status_code=400)
    stub.add_client_error("describe_change_set", service_error_code="ChangeSetNotFound",
                          service_message=f"ChangeSet [{OURS}] does not exist",
                          http_status_code=404)
    with pytest.raises(ChangeSetFailed) as failed:
        _create(client)
    assert str(failed.value) == (f"cannot read change set {OURS}: ChangeSet [{OURS}] does not "
                                 "exist; it may have been deleted or executed by someone else")


# -- waiting and the three ways of saying "no changes" ----------------------------------------


def expect_delete(stub: Stubber, change_set_id: str = ROOT_CS) -> None:
    stub.add_response("delete_change_set", {}, {"ChangeSetName": change_set_id})


def expect_describe(stub: Stubber, answer: dict[str, Any]) -> None:
    stub.add_response("describe_change_set", answer,
                      {"ChangeSetName": ROOT_CS, "StackName": STACK})


@pytest.mark.parametrize("reason", [
    "The submitted information didn't contain changes. Submit different information to "
    "create a change set.",
    "No updates are to be performed.",
])
def test_failed_with_nothing_to_change_is_no_changes_and_deleted(cfn, time_, reason):
    client, stub = cfn
    expect_describe(stub, described(ROOT_CS, "FAILED", reason=reason))
    expect_delete(stub)
    result = wait_until_ready(client, ROOT_CS, stack_name=STACK, timeout=60,
                              waiter=Waiter(sleep=time_.sleep, clock=time_.clock))
    assert result.no_changes


def test_complete_with_an_empty_change_list_is_no_changes_and_deleted(cfn, time_):
    client, stub = cfn
    expect_describe(stub, described(ROOT_CS, "CREATE_COMPLETE", changes=[]))
    expect_delete(stub)
    result = wait_until_ready(client, ROOT_CS, stack_name=STACK, timeout=60,
                              waiter=Waiter(sleep=time_.sleep, clock=time_.clock))
    assert result.no_changes and result.status == "CREATE_COMPLETE"


def test_wait_polls_with_backoff_until_complete(cfn, time_):
    client, stub = cfn
    for status in ("CREATE_PENDING", "CREATE_IN_PROGRESS", "CREATE_IN_PROGRESS",
                   "CREATE_IN_PROGRESS"):
        expect_describe(stub, described(ROOT_CS, status))
    expect_describe(stub, described(ROOT_CS, "CREATE_COMPLETE", changes=[
        resource_change("AppRole", "AWS::IAM::Role", replacement="False")]))
    result = wait_until_ready(client, ROOT_CS, stack_name=STACK, timeout=60,
                              waiter=Waiter(sleep=time_.sleep, clock=time_.clock))
    assert not result.no_changes and result.status == "CREATE_COMPLETE"
    assert time_.sleeps == [1.0, 1.5, 2.0, 2.0]


def test_another_failure_is_one_line_and_the_change_set_is_deleted(cfn, time_):
    client, stub = cfn
    expect_describe(stub, described(
        ROOT_CS, "FAILED", reason="Parameters: [CostCenter] must have values"))
    expect_delete(stub)
    with pytest.raises(ChangeSetFailed) as failed:
        wait_until_ready(client, ROOT_CS, stack_name=STACK, timeout=60,
                         waiter=Waiter(sleep=time_.sleep, clock=time_.clock))
    assert str(failed.value) == (f"change set for {STACK} in us-east-1 failed: "
                                 "Parameters: [CostCenter] must have values")
    assert failed.value.exit_code == Exit.FINDINGS


def test_a_nested_failure_names_the_nested_reason(cfn, time_):
    client, stub = cfn
    expect_describe(stub, described(
        ROOT_CS, "FAILED",
        reason=f"Nested change set {DB_CS} was not successfully created: Currently in FAILED."))
    stub.add_response("describe_change_set", described(
        DB_CS, "FAILED", reason="Template error: instance of Fn::GetAtt references undefined "
        "resource Foo", stack_name="webstack-dev-DatabaseStack-XYZ"), {"ChangeSetName": DB_CS})
    expect_delete(stub)
    with pytest.raises(ChangeSetFailed, match="failed: webstack-dev-DatabaseStack-XYZ: "
                                              "Template error: instance of Fn::GetAtt"):
        wait_until_ready(client, ROOT_CS, stack_name=STACK, timeout=60,
                         waiter=Waiter(sleep=time_.sleep, clock=time_.clock))


def test_wait_gives_up_at_the_deadline(cfn, time_):
    client, stub = cfn
    for _ in range(7):  # t = 0, 1, 2.5, 4.5, 6.5, 8.5, 10
        expect_describe(stub, described(ROOT_CS, "CREATE_PENDING"))
    expect_delete(stub)
    with pytest.raises(ChangeSetTimeout) as late:
        wait_until_ready(client, ROOT_CS, stack_name=STACK, timeout=10,
                         waiter=Waiter(sleep=time_.sleep, clock=time_.clock))
    assert str(late.value).startswith(f"change set {ROOT_CS} still CREATE_PENDING after 10 s")
    assert late.value.exit_code == Exit.AWS
    assert time_.now == 10


# -- the stack's state -------------------------------------------------------------------------


def test_a_missing_stack_is_created(cfn):
    client, stub = cfn
    stub.add_client_error("describe_stacks", service_error_code="ValidationError",
                          service_message=f"Stack with id {STACK} does not exist",
                          expected_params={"StackName": STACK})
    assert change_set_type(client, STACK) == ("CREATE", None)


def test_an_existing_stack_is_updated(cfn):
    client, stub = cfn
    answer = stack("UPDATE_ROLLBACK_COMPLETE")
    stub.add_response("describe_stacks", answer, {"StackName": STACK})
    kind, found = change_set_type(client, STACK)
    assert kind == "UPDATE" and found is not None and found["StackId"] == STACK_ID


def test_an_orphan_in_review_is_deleted_and_created_again(cfn, time_):
    client, stub = cfn
    stub.add_response("describe_stacks", stack("REVIEW_IN_PROGRESS"), {"StackName": STACK})
    stub.add_response("list_stack_resources", {"StackResourceSummaries": []},
                      {"StackName": STACK_ID})
    stub.add_response("delete_stack", {}, {"StackName": STACK_ID})
    stub.add_response("describe_stacks", stack("DELETE_IN_PROGRESS"), {"StackName": STACK_ID})
    stub.add_response("describe_stacks", stack("DELETE_COMPLETE"), {"StackName": STACK_ID})
    assert change_set_type(client, STACK, waiter=Waiter(sleep=time_.sleep, clock=time_.clock)) == (
        "CREATE", None)
    assert time_.sleeps == [1.0]


def test_a_blocking_state_raises_with_its_message(cfn):
    client, stub = cfn
    stub.add_response("describe_stacks", stack("UPDATE_IN_PROGRESS", environment="staging"),
                      {"StackName": STACK})
    with pytest.raises(StackStateError) as blocked:
        change_set_type(client, STACK)
    assert str(blocked.value) == (
        f"stack {STACK} in us-east-1 is UPDATE_IN_PROGRESS; wait, or attach with "
        f"'webstack watch --env staging --region us-east-1 --stack-name {STACK}'")
    assert blocked.value.exit_code == Exit.USAGE


@pytest.mark.parametrize("status", ["UPDATE_IN_PROGRESS", "CREATE_IN_PROGRESS",
                                    "UPDATE_ROLLBACK_IN_PROGRESS", "DELETE_IN_PROGRESS",
                                    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"])
def test_in_progress_suggests_webstack_watch(status):
    message = blocking_state(status, "dev", STACK, "eu-west-1")
    assert message == (f"stack {STACK} in eu-west-1 is {status}; wait, or attach with "
                       "'webstack watch --env dev --region eu-west-1'")


def test_rollback_complete_suggests_recreate_outside_prod():
    message = blocking_state("ROLLBACK_COMPLETE", "dev", STACK, "us-east-1")
    assert message is not None
    assert "never created successfully; rerun with --recreate" in message


def test_rollback_complete_in_prod_refuses_recreate():
    message = blocking_state("ROLLBACK_COMPLETE", "prod", "webstack-prod", "us-east-1")
    assert message is not None
    assert "--recreate is refused for prod" in message
    assert "then delete it with 'webstack destroy --env prod --region us-east-1 --force' and " \
        "deploy again" in message


def test_every_repair_command_reaches_the_stack_as_webstack_did(monkeypatch, tmp_path):
    """The prod repair said 'aws cloudformation delete-stack' without --endpoint-url: run
    against a local endpoint, it went to AWS (or nowhere). A local endpoint 'webstack local
    up' did not start is named by its URL: --local would reach another one."""
    monkeypatch.setenv("WEBSTACK_STATE_DIR", str(tmp_path))
    local = "http://127.0.0.1:5190"
    message = blocking_state("ROLLBACK_COMPLETE", "prod", "shop", "eu-west-1",
                             endpoint_url=local)
    assert message is not None
    assert ("'webstack destroy --env prod --region eu-west-1 --stack-name shop --endpoint-url "
            f"{local} --force'") in message
    message = blocking_state("DELETE_FAILED", "dev", "shop", "eu-west-1", profile="ops",
                             endpoint_url="https://cfn.example.test")
    assert message is not None
    assert ("aws cloudformation delete-stack --stack-name shop --region eu-west-1 --profile ops "
            "--endpoint-url https://cfn.example.test [--retain-resources") in message
    message = blocking_state("UPDATE_ROLLBACK_FAILED", "dev", "shop", "eu-west-1",
                             endpoint_url=local)
    assert message is not None
    assert ("AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing aws cloudformation "
            "continue-update-rollback --stack-name shop --region eu-west-1 --endpoint-url "
            f"{local} [--resources-to-skip") in message


def test_update_rollback_failed_prints_continue_update_rollback():
    message = blocking_state("UPDATE_ROLLBACK_FAILED", "prod", STACK, "us-east-1")
    assert message is not None
    assert (f"aws cloudformation continue-update-rollback --stack-name {STACK} "
            "--region us-east-1 [--resources-to-skip LogicalId ...]") in message


def test_delete_failed_prints_the_delete_to_finish():
    message = blocking_state("DELETE_FAILED", "dev", STACK, "us-east-1")
    assert message is not None
    assert f"aws cloudformation delete-stack --stack-name {STACK} --region us-east-1" in message


@pytest.mark.parametrize("status", ["CREATE_COMPLETE", "UPDATE_COMPLETE",
                                    "UPDATE_ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS",
                                    "IMPORT_COMPLETE"])
def test_settled_states_do_not_block(status):
    assert blocking_state(status, "prod", STACK, "us-east-1") is None


@pytest.mark.parametrize("status", ["UPDATE_IN_PROGRESS", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED",
                                    "UPDATE_ROLLBACK_FAILED", "DELETE_FAILED",
                                    "IMPORT_ROLLBACK_FAILED"])
def test_every_blocking_message_is_one_line(status):
    for environment in ("dev", "prod"):
        message = blocking_state(status, environment, STACK, "us-east-1")
        assert message and "\n" not in message


# -- parameters and the deployment date --------------------------------------------------------

TEMPLATE_PARAMS = {
    "Environment": {"Type": "String"},
    "CostCenter": {"Type": "String"},
    "DeploymentDate": {"Type": "String"},
    "AlarmEmail": {"Type": "String", "Default": ""},
    "CertificateArn": {"Type": "String", "Default": ""},
}
DEPLOYED = {"Environment": "dev", "CostCenter": "CC-1234", "DeploymentDate": "2026-11-01",
            "AlarmEmail": "ops@example.com"}


def test_update_keeps_every_parameter_not_overridden():
    sent = build_parameters(TEMPLATE_PARAMS, {"Environment": "dev"}, DEPLOYED)
    assert sent == [
        {"ParameterKey": "AlarmEmail", "UsePreviousValue": True},
        # CertificateArn is new to the stack: not sent, so its Default applies.
        {"ParameterKey": "CostCenter", "UsePreviousValue": True},
        {"ParameterKey": "DeploymentDate", "UsePreviousValue": True},
        {"ParameterKey": "Environment", "ParameterValue": "dev"},
    ]


def test_create_sends_overrides_and_needs_the_required_ones():
    overrides = {"Environment": "dev", "CostCenter": "CC-1234", "DeploymentDate": "2026-11-29"}
    assert build_parameters(TEMPLATE_PARAMS, overrides, None) == [
        {"ParameterKey": "CostCenter", "ParameterValue": "CC-1234"},
        {"ParameterKey": "DeploymentDate", "ParameterValue": "2026-11-29"},
        {"ParameterKey": "Environment", "ParameterValue": "dev"},
    ]
    with pytest.raises(UsageError, match="parameter CostCenter has no value and no default; "
                                         "pass --param CostCenter=VALUE"):
        build_parameters(TEMPLATE_PARAMS, {"Environment": "dev", "DeploymentDate": "x"}, None)


def test_an_unknown_override_is_a_usage_error():
    with pytest.raises(UsageError, match="--param Colour is not a parameter"):
        build_parameters(TEMPLATE_PARAMS, {"Colour": "blue"}, DEPLOYED)


@pytest.mark.parametrize("status", ["ROLLBACK_FAILED", "UPDATE_ROLLBACK_FAILED", "DELETE_FAILED",
                                    "IMPORT_ROLLBACK_FAILED"])
def test_a_settled_failed_stack_is_sent_to_its_events_not_to_an_empty_watch(status):
    """'review its events (see webstack watch ...)': watch of a settled stack shows none."""
    message = blocking_state(status, "dev", "shop", "eu-west-1", profile="ops",
                             endpoint_url="https://cfn.example.test")
    assert message is not None
    assert ("'aws cloudformation describe-stack-events --stack-name shop --region eu-west-1 "
            "--profile ops --endpoint-url https://cfn.example.test'") in message
    assert "webstack watch" not in message
