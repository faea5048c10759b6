"""The plan a reviewer reads, and the plan file that pins `deploy --plan-file` to it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from scripts.deploy.changeset import Change
from scripts.deploy.plan import (
    Plan,
    StackState,
    from_json,
    hash_templates,
    read_plan,
    render,
    stack_state,
    to_json,
    verify_change_set,
    verify_plan,
    write_plan,
)
from scripts.errors import Exit, UsageError

CHANGE_SET = "arn:aws:cloudformation:us-east-1:123456789012:changeSet/webstack-1/aaaa-0001"
GREEN, YELLOW, RED = "\033[32m", "\033[33m", "\033[31m"

CHANGES = [
    Change("Add", (), "AlarmTopic", "AWS::SNS::Topic"),
    Change("Modify", (), "DatabaseStack", "AWS::CloudFormation::Stack", "False",
           "arn:aws:cloudformation:us-east-1:123456789012:stack/db/1", ("Properties",)),
    Change("Modify", ("DatabaseStack",), "Database", "AWS::RDS::DBInstance", "True",
           "webstack-db", ("Properties",), changed_properties=("DBInstanceIdentifier",)),
    Change("Modify", ("IamStack",), "InstanceRole", "AWS::IAM::Role", "False", "role",
           ("Properties",), changed_properties=("Policies",)),
    Change("Add", ("SecurityStack",), "AppIngressFromAlb", "AWS::EC2::SecurityGroupIngress"),
    Change("Remove", ("StorageStack",), "OldQueue", "AWS::SNS::Topic", physical_id="q"),
]


def test_one_aligned_line_per_change_in_tree_order():
    lines = render(CHANGES, color=False)
    rows = lines[:6]
    assert rows[0].split() == ["add", "AlarmTopic", "AWS::SNS::Topic", "-"]
    assert rows[1].split()[:2] == ["modify", "DatabaseStack"]
    assert rows[2].split() == ["modify", "DatabaseStack/Database", "AWS::RDS::DBInstance",
                               "True"]
    assert rows[5].split() == ["remove", "StorageStack/OldQueue", "AWS::SNS::Topic", "-"]
    # Columns line up: each address and each type starts at the same place on every row.
    at, type_at = rows[0].index("AlarmTopic"), rows[0].index("AWS::SNS::Topic")
    for row in rows:
        _, address, resource_type, *_ = row.split()
        assert row[at:].startswith(address)
        assert row[type_at:].startswith(resource_type)


def test_every_plan_line_fits_100_columns_the_type_giving_way_in_its_middle():
    """The longest addresses and types webstack makes, a verdict and a retag: the type is cut
    in its middle (the kind kept), never the action, the address, the verdict or the tags."""
    changes = [
        Change("Modify", ("MonitoringStack",), "DatabaseFreeStorageLowAlarm",
               "AWS::CloudWatch::Alarm", "False", scope=("Tags",)),
        Change("Modify", ("ComputeStack",), "LoadBalancer",
               "AWS::ElasticLoadBalancingV2::LoadBalancer", "Conditional",
               scope=("Properties",)),
        Change("Modify", ("SecurityStack",), "LoadBalancerSecurityGroup",
               "AWS::EC2::SecurityGroup", "False", scope=("Properties",)),
        Change("Modify", ("DatabaseStack",), "DatabaseMonitoringRole", "AWS::IAM::Role",
               "False", scope=("Properties",)),
        Change("Modify", ("DatabaseStack",), "Database", "AWS::RDS::DBInstance", "True",
               scope=("Properties",), changed_properties=("DBInstanceIdentifier",)),
    ]
    lines = render(changes, color=False)
    assert [line for line in lines if len(line) > 100] == []
    balancer = next(line for line in lines if "ComputeStack/LoadBalancer" in line)
    address, cut, verdict = balancer.split()[1:]
    assert (address, verdict) == ("ComputeStack/LoadBalancer", "Conditional")
    assert cut.startswith("AWS::") and cut.endswith("…::LoadBalancer"), cut
    retag = next(line for line in lines if "DatabaseFreeStorageLowAlarm" in line)
    assert retag.endswith("False        (tags only)")
    assert sum(line.startswith(("warning:", "refused:")) for line in lines) == 3
    # a plan that fits is not cut
    assert "AWS::ElasticLoadBalancingV2::LoadBalancer" in render(changes[1:2], color=False)[0]
    # an 80-column terminal: the type gives way further
    plain = [Change("Modify", c.path, c.logical_id, c.resource_type, "False") for c in changes]
    narrow = render(plain, color=False, width=80)[:len(plain)]
    assert max(len(line) for line in narrow) == 80, narrow


def test_counts_per_action():
    assert render(CHANGES, color=False)[6] == "plan: 2 to add, 3 to modify, 1 to remove"
    assert render([], color=False) == ["plan: 0 to add, 0 to modify, 0 to remove"]


def test_colour_codes_only_when_asked():
    plain = "\n".join(render(CHANGES, color=False))
    assert "\033[" not in plain
    coloured = render(CHANGES, color=True)
    assert coloured[0].startswith(f"{GREEN}add")
    assert coloured[1].startswith(f"{YELLOW}modify")
    assert coloured[5].startswith(f"{RED}remove")


def test_warnings_for_iam_and_security_group_changes():
    warnings = [line for line in render(CHANGES, color=False) if line.startswith("warning:")]
    assert warnings == [
        "warning: IamStack/InstanceRole modify: changes IAM permissions; review what it grants",
        "warning: SecurityStack/AppIngressFromAlb add: changes network access; review the rules",
    ]


@pytest.mark.parametrize(("change", "warned"), [
    (Change("Modify", (), "Role", "AWS::IAM::Role", "False", scope=("Tags",)), False),
    (Change("Add", (), "Profile", "AWS::IAM::InstanceProfile"), True),
    (Change("Modify", (), "Group", "AWS::EC2::SecurityGroup", "False", scope=("Properties",)),
     True),
    (Change("Modify", (), "BucketPolicy", "AWS::S3::BucketPolicy", "False",
            scope=("Properties",)), True),
    (Change("Modify", (), "Key", "AWS::KMS::Key", "False", scope=("Properties",),
            changed_properties=("KeyPolicy",)), True),
    (Change("Modify", (), "Key", "AWS::KMS::Key", "False", scope=("Properties",),
            changed_properties=("Description",)), False),
    (Change("Modify", (), "Topic", "AWS::SNS::Topic", "False", scope=("Properties",)), False),
])
def test_which_changes_are_security_sensitive(change, warned):
    lines = render([change], color=False)
    assert any(line.startswith("warning:") for line in lines) is warned


def test_a_retag_is_marked_tags_only():
    line = render([Change("Modify", (), "Role", "AWS::IAM::Role", "False", scope=("Tags",))],
                  color=False)[0]
    assert line.endswith("False  (tags only)")


def test_a_stateful_violation_is_refused_in_the_plan():
    refused = [line for line in render(CHANGES, color=False) if line.startswith("refused:")]
    assert refused == [
        "refused: DatabaseStack/Database replaced; rerun with --allow-replacement after taking "
        "a backup",
    ]
    allowed = render(CHANGES, color=False, allow_replacement=True)
    assert not any(line.startswith("refused:") for line in allowed)
    assert any(line.startswith("allowed: DatabaseStack/Database") for line in allowed)


# -- the plan file ----------------------------------------------------------------------------

HASHES = {"build/root.yaml": "a" * 64, "build/database.yaml": "b" * 64}
STATE = StackState("UPDATE_COMPLETE", "2026-11-28T10:00:00+00:00")


def a_plan(**overrides: Any) -> Plan:
    fields: dict[str, Any] = {
        "stack_name": "webstack-dev", "region": "us-east-1", "environment": "dev",
        "change_set_id": CHANGE_SET, "change_set_type": "UPDATE",
        "template_hashes": dict(HASHES), "stack": STATE,
        "parameters": [{"ParameterKey": "Environment", "ParameterValue": "dev"},
                       {"ParameterKey": "CostCenter", "UsePreviousValue": True}],
        "changes": list(CHANGES), "created": "2026-11-29T03:00:00+00:00",
    }
    fields.update(overrides)
    return Plan(**fields)


def test_the_plan_file_round_trips(tmp_path):
    plan = a_plan()
    assert from_json(to_json(plan)) == plan
    path = write_plan(tmp_path / "out" / "plan.json", plan)
    assert read_plan(path) == plan
    assert to_json(read_plan(path)) == path.read_text(encoding="utf-8")


def test_a_new_stack_plan_round_trips():
    plan = a_plan(stack=StackState(), change_set_type="CREATE", changes=[])
    assert from_json(to_json(plan)) == plan


@pytest.mark.parametrize("text", ["not json", "{}", '{"format": 1, "stack_name": "x"}',
                                  '{"format": 99}', "[]"])
def test_a_broken_plan_file_is_one_usage_error(text):
    with pytest.raises(UsageError) as broken:
        from_json(text)
    assert "\n" not in str(broken.value) and "run 'webstack plan' again" in str(broken.value)


def test_a_missing_plan_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="cannot read the plan file"):
        read_plan(tmp_path / "nope.json")


def test_verify_accepts_an_unchanged_plan():
    verify_plan(a_plan(), dict(HASHES), STATE, environment="dev", region="us-east-1",
                stack_name="webstack-dev")


def test_verify_names_the_template_that_changed():
    current = {**HASHES, "build/database.yaml": "c" * 64}
    with pytest.raises(UsageError) as changed:
        verify_plan(a_plan(), current, STATE)
    assert str(changed.value) == ("build/database.yaml changed since the plan was made; "
                                  "run 'webstack plan' again")
    assert changed.value.exit_code == Exit.USAGE


def test_verify_notices_a_new_or_removed_template():
    with pytest.raises(UsageError, match=r"build/extra.yaml is new since the plan"):
        verify_plan(a_plan(), {**HASHES, "build/extra.yaml": "d" * 64}, STATE)
    with pytest.raises(UsageError, match=r"build/database.yaml is gone since the plan"):
        verify_plan(a_plan(), {"build/root.yaml": "a" * 64}, STATE)


def test_verify_notices_the_stack_moved():
    moved = StackState("UPDATE_COMPLETE", "2026-11-29T02:00:00+00:00")
    with pytest.raises(UsageError) as changed:
        verify_plan(a_plan(), dict(HASHES), moved)
    assert str(changed.value) == (
        "stack webstack-dev in us-east-1 changed since the plan was made (UPDATE_COMPLETE at "
        "2026-11-28T10:00:00+00:00, now UPDATE_COMPLETE at 2026-11-29T02:00:00+00:00); "
        "run 'webstack plan' again")
    with pytest.raises(UsageError, match=r"\(absent, now CREATE_COMPLETE"):
        verify_plan(a_plan(stack=StackState()), dict(HASHES),
                    StackState("CREATE_COMPLETE", "2026-11-29T02:00:00+00:00"))


def test_a_create_plan_matches_the_stack_its_change_set_made():
    review = StackState("REVIEW_IN_PROGRESS", "2026-11-29T03:00:00+00:00")
    verify_plan(a_plan(stack=StackState()), dict(HASHES), review)


def test_verify_refuses_a_plan_for_another_target():
    with pytest.raises(UsageError, match=r"the plan is for webstack-dev \(dev, us-east-1\)"):
        verify_plan(a_plan(), dict(HASHES), STATE, environment="prod")


def test_hashes_are_sha256_keyed_as_a_reader_names_the_file(tmp_path):
    build = tmp_path / "build"
    build.mkdir()
    (build / "root.yaml").write_text("Resources: {}\n", encoding="utf-8")
    (build / "notes.txt").write_text("ignored", encoding="utf-8")
    assert hash_templates(build) == {
        "build/root.yaml": hashlib.sha256(b"Resources: {}\n").hexdigest()}


def test_stack_state_reads_the_last_update_or_the_creation():
    created = datetime(2026, 11, 1, tzinfo=UTC)
    updated = datetime(2026, 11, 28, 10, tzinfo=UTC)
    assert stack_state(None) == StackState()
    assert stack_state({"StackStatus": "CREATE_COMPLETE", "CreationTime": created}) == \
        StackState("CREATE_COMPLETE", "2026-11-01T00:00:00+00:00")
    assert stack_state({"StackStatus": "UPDATE_COMPLETE", "CreationTime": created,
                        "LastUpdatedTime": updated}) == STATE


# -- the planned change set itself ------------------------------------------------------------


@pytest.fixture
def cfn() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("cloudformation", region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/webstack-dev/0000-0001"
OTHER_STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/webstack-prod/0000-0002"
STACK = {"StackName": "webstack-dev", "StackId": STACK_ID}
# Root-level changes (no nested change set to descend into), as the plan recorded them.
REVIEWED = [
    Change("Add", (), "AlarmTopic", "AWS::SNS::Topic"),
    Change("Modify", (), "InstanceRole", "AWS::IAM::Role", "False", "role", ("Properties",),
           changed_properties=("Policies",)),
]
PARAMETERS = [{"ParameterKey": "Environment", "ParameterValue": "dev"},
              {"ParameterKey": "CostCenter", "ParameterValue": "CC-1234"}]


def bound_plan(**overrides: Any) -> Plan:
    return a_plan(**{"changes": list(REVIEWED), "parameters": PARAMETERS,
                     "stack_id": STACK_ID, **overrides})


def aws_change(change: Change) -> dict[str, Any]:
    """A Change as DescribeChangeSet shows it (the botocore model's ResourceChange)."""
    resource: dict[str, Any] = {
        "Action": change.action, "LogicalResourceId": change.logical_id,
        "ResourceType": change.resource_type, "Scope": list(change.scope),
        "Details": [{"Target": {"Attribute": "Properties", "Name": name}}
                    for name in change.changed_properties]}
    if change.replacement:
        resource["Replacement"] = change.replacement
    if change.physical_id:
        resource["PhysicalResourceId"] = change.physical_id
    return {"Type": "Resource", "ResourceChange": resource}


def planned(status: str, execution: str, *, stack_id: str = STACK_ID,
            parameters: list[dict[str, Any]] | None = None,
            changes: list[Change] | None = None) -> dict[str, Any]:
    return {"ChangeSetId": CHANGE_SET, "StackName": "webstack-dev", "StackId": stack_id,
            "Status": status, "ExecutionStatus": execution,
            "Parameters": PARAMETERS if parameters is None else parameters,
            "Changes": [aws_change(c) for c in (REVIEWED if changes is None else changes)]}


EXPECTED = {"ChangeSetName": CHANGE_SET, "StackName": "webstack-dev"}
# The packaged root the change set was made from, as GetTemplate answers it.
TEMPLATE = "Resources:\n  AlarmTopic:\n    Type: AWS::SNS::Topic\n"


def template_read(stub: Any, body: str = TEMPLATE) -> None:
    stub.add_response("get_template", {"TemplateBody": body, "StagesAvailable": ["Original"]},
                      {"StackName": STACK_ID, "ChangeSetName": CHANGE_SET,
                       "TemplateStage": "Original"})


def test_the_reviewed_change_set_passes_and_its_changes_are_read_afresh(cfn):
    client, stub = cfn
    stub.add_response("describe_change_set", planned("CREATE_COMPLETE", "AVAILABLE"), EXPECTED)
    template_read(stub)
    stub.add_response("describe_change_set", planned("CREATE_COMPLETE", "AVAILABLE"),
                      {"ChangeSetName": CHANGE_SET})
    assert verify_change_set(client, bound_plan(), STACK, template=TEMPLATE) == REVIEWED


def test_an_obsolete_change_set_is_refused(cfn):
    client, stub = cfn
    stub.add_response("describe_change_set", planned("CREATE_COMPLETE", "OBSOLETE"), EXPECTED)
    with pytest.raises(UsageError, match="is CREATE_COMPLETE/OBSOLETE, not executable"):
        verify_change_set(client, bound_plan(), STACK, template=TEMPLATE)


def test_a_deleted_change_set_is_refused(cfn):
    client, stub = cfn
    stub.add_client_error("describe_change_set", service_error_code="ChangeSetNotFound",
                          service_message=f"ChangeSet [{CHANGE_SET}] does not exist",
                          expected_params=EXPECTED)
    with pytest.raises(UsageError, match="no longer exists; run 'webstack plan' again"):
        verify_change_set(client, bound_plan(), STACK, template=TEMPLATE)


def test_another_stacks_change_set_put_in_the_file_is_refused(cfn):
    """The hostile case: a plan file edited to name a change set of another stack."""
    client, stub = cfn
    stub.add_response("describe_change_set", planned("CREATE_COMPLETE", "AVAILABLE",
                                                     stack_id=OTHER_STACK), EXPECTED)
    with pytest.raises(UsageError, match=r"belongs to .*webstack-prod/0000-0002, but the plan "
                                         r"was made for .*webstack-dev/0000-0001"):
        verify_change_set(client, bound_plan(), STACK, template=TEMPLATE)


def test_a_stack_made_again_under_the_same_name_is_not_the_planned_one(cfn):
    client, stub = cfn
    stub.add_response("describe_change_set", planned("CREATE_COMPLETE", "AVAILABLE"), EXPECTED)
    with pytest.raises(UsageError, match="refusing to execute it"):
        verify_change_set(client, bound_plan(), {**STACK, "StackId": OTHER_STACK},
                          template=TEMPLATE)


def test_a_change_set_with_other_parameters_is_refused(cfn):
    client, stub = cfn
    stub.add_response("describe_change_set", planned(
        "CREATE_COMPLETE", "AVAILABLE", parameters=[*PARAMETERS[:1], {
            "ParameterKey": "CostCenter", "ParameterValue": "CC-9999"}]), EXPECTED)
    template_read(stub)
    with pytest.raises(UsageError, match="carries other parameters than the plan recorded"):
        verify_change_set(client, bound_plan(), STACK, template=TEMPLATE)


def test_a_change_set_whose_changes_differ_from_the_plan_is_refused(cfn):
    """Another change set with the same parameters (one that removes the database stack)."""
    client, stub = cfn
    removal = [*REVIEWED, Change("Remove", (), "DatabaseStack", "AWS::CloudFormation::Stack",
                                 physical_id="db")]
    stub.add_response("describe_change_set", planned("CREATE_COMPLETE", "AVAILABLE"), EXPECTED)
    template_read(stub)
    stub.add_response("describe_change_set", planned("CREATE_COMPLETE", "AVAILABLE",
                                                     changes=removal),
                      {"ChangeSetName": CHANGE_SET})
    with pytest.raises(UsageError, match=r"does not make the reviewed changes \(1 differ, e.g. "
                                         r"DatabaseStack\)"):
        verify_change_set(client, bound_plan(), STACK, template=TEMPLATE)


def test_the_data_guard_runs_again_on_the_described_changes(cfn):
    client, stub = cfn
    replaced = [Change("Modify", (), "Database", "AWS::RDS::DBInstance", "True", "db",
                       ("Properties",), changed_properties=("DBInstanceIdentifier",))]
    for _ in range(2):
        stub.add_response("describe_change_set", planned("CREATE_COMPLETE", "AVAILABLE",
                                                         changes=replaced), EXPECTED)
        template_read(stub)
        stub.add_response("describe_change_set", planned("CREATE_COMPLETE", "AVAILABLE",
                                                         changes=replaced),
                          {"ChangeSetName": CHANGE_SET})
    plan = bound_plan(changes=replaced, allow_replacement=True)
    with pytest.raises(UsageError, match=r"would lose data: Database \(replaced\)"):
        verify_change_set(client, plan, STACK, template=TEMPLATE)
    assert verify_change_set(client, plan, STACK, template=TEMPLATE,
                             allow_replacement=True) == replaced


def test_a_change_set_made_from_another_template_is_refused(cfn):
    """The forged plan: its changes and parameters edited to match a change set that someone
    made from another template; only the template the change set was made from tells."""
    client, stub = cfn
    stub.add_response("describe_change_set", planned("CREATE_COMPLETE", "AVAILABLE"), EXPECTED)
    template_read(stub, TEMPLATE + "  Extra:\n    Type: AWS::SNS::Topic\n")
    with pytest.raises(UsageError, match=r"was not made from build/ as it stands"):
        verify_change_set(client, bound_plan(), STACK, template=TEMPLATE)


def test_a_json_template_body_is_compared_as_a_document(cfn):
    """A template sent as JSON reads back in another layout; the same document passes."""
    client, stub = cfn
    stub.add_response("describe_change_set", planned("CREATE_COMPLETE", "AVAILABLE"), EXPECTED)
    stub.add_response("get_template", {"TemplateBody": json.dumps(
        {"Resources": {"AlarmTopic": {"Type": "AWS::SNS::Topic"}}})},
        {"StackName": STACK_ID, "ChangeSetName": CHANGE_SET, "TemplateStage": "Original"})
    stub.add_response("describe_change_set", planned("CREATE_COMPLETE", "AVAILABLE"),
                      {"ChangeSetName": CHANGE_SET})
    assert verify_change_set(client, bound_plan(), STACK, template=TEMPLATE) == REVIEWED


def test_plan_files_are_plain_paths(tmp_path):
    assert isinstance(write_plan(str(tmp_path / "p.json"), a_plan()), Path)
