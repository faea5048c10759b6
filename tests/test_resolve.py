"""resolve(): the template CloudFormation sees for one environment and region."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest

from scripts.build.render import render_dicts
from scripts.build.resolve import ResolveError, resolve, resolve_set
from templates_src.regions import AMIS, REGIONS

ENV_PARAM = {"Type": "String", "AllowedValues": ["dev", "prod"]}
COST_CENTER = {"Type": "String", "AllowedPattern": "^CC-[0-9]{4,6}$"}
ENV_MAP = {
    "dev": {"Size": "small", "NatPerAz": "false", "Replicas": "1"},
    "prod": {"Size": "large", "NatPerAz": "true", "Replicas": "3"},
}
REGION_MAP = {"eu-west-1": {"Ami": "ami-eu"}, "us-east-1": {"Ami": "ami-us"}}


def env_value(key: str) -> dict[str, Any]:
    return {"Fn::FindInMap": ["EnvironmentConfig", {"Ref": "Environment"}, key]}


def template(
    resources: dict[str, Any],
    *,
    conditions: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A small template with the Environment parameter and both maps the real set uses."""
    body: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "test",
        "Parameters": {"Environment": ENV_PARAM, "CostCenter": COST_CENTER, **(parameters or {})},
        "Mappings": {"EnvironmentConfig": ENV_MAP, "RegionMap": REGION_MAP},
        "Resources": resources,
    }
    if conditions is not None:
        body["Conditions"] = conditions
    if outputs is not None:
        body["Outputs"] = outputs
    return body


def bucket(**properties: Any) -> dict[str, Any]:
    return {"Type": "AWS::S3::Bucket", "Properties": properties}


def props(resolved: dict[str, Any], name: str = "B") -> Any:
    return resolved["Resources"][name]["Properties"]


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


# -- Ref and pseudo parameters -----------------------------------------------------------


def test_environment_and_pseudo_parameters_become_literals() -> None:
    resolved = resolve(template({"B": bucket(
        Env={"Ref": "Environment"},
        Region={"Ref": "AWS::Region"},
        Partition={"Ref": "AWS::Partition"},
        Suffix={"Ref": "AWS::URLSuffix"},
        Account={"Ref": "AWS::AccountId"},
    )}), "prod", "eu-west-1")
    assert props(resolved) == {
        "Env": "prod", "Region": "eu-west-1", "Partition": "aws", "Suffix": "amazonaws.com",
        "Account": {"Ref": "AWS::AccountId"},
    }


def test_china_region_has_its_own_partition() -> None:
    resolved = resolve(template({"B": bucket(
        Partition={"Ref": "AWS::Partition"}, Suffix={"Ref": "AWS::URLSuffix"},
    )}), "dev", "cn-north-1")
    assert props(resolved) == {"Partition": "aws-cn", "Suffix": "amazonaws.com.cn"}


def test_refs_to_resources_and_getatt_are_left_alone() -> None:
    resolved = resolve(template({
        "A": bucket(),
        "B": bucket(Other={"Ref": "A"}, Arn={"Fn::GetAtt": ["A", "Arn"]}),
    }), "dev", "eu-west-1")
    assert props(resolved) == {"Other": {"Ref": "A"}, "Arn": {"Fn::GetAtt": ["A", "Arn"]}}


# -- parameters ----------------------------------------------------------------------------


def test_parameter_value_given_wins_over_default_and_default_is_used_otherwise() -> None:
    resolved = resolve(template(
        {"B": bucket(Given={"Ref": "Given"}, Defaulted={"Ref": "Defaulted"})},
        parameters={
            "Given": {"Type": "String", "Default": "from-default"},
            "Defaulted": {"Type": "String", "Default": "the-default"},
        },
    ), "dev", "eu-west-1", {"Given": "from-caller"})
    assert props(resolved) == {"Given": "from-caller", "Defaulted": "the-default"}


def test_parameter_without_value_or_default_stays_a_ref_and_a_parameter() -> None:
    resolved = resolve(template({"B": bucket(Cost={"Ref": "CostCenter"})}), "dev", "eu-west-1")
    assert props(resolved) == {"Cost": {"Ref": "CostCenter"}}
    assert resolved["Parameters"] == {"CostCenter": COST_CENTER}


def test_list_parameter_resolves_to_a_list() -> None:
    resolved = resolve(template(
        {"B": bucket(Subnets={"Ref": "Subnets"})},
        parameters={"Subnets": {"Type": "List<AWS::EC2::Subnet::Id>"}},
    ), "dev", "eu-west-1", {"Subnets": "subnet-1, subnet-2"})
    assert props(resolved) == {"Subnets": ["subnet-1", "subnet-2"]}


def test_ssm_parameter_is_not_resolved_because_its_value_is_read_at_deploy_time() -> None:
    ssm = {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/ami/latest"}
    resolved = resolve(template({"B": bucket(Ami={"Ref": "Ami"})}, parameters={"Ami": ssm}),
                       "dev", "eu-west-1")
    assert props(resolved) == {"Ami": {"Ref": "Ami"}}
    assert "Ami" in resolved["Parameters"]


def test_contradicting_environment_parameter_is_an_error() -> None:
    with pytest.raises(ResolveError, match="contradicts environment 'prod'"):
        resolve(template({"B": bucket()}), "prod", "eu-west-1", {"Environment": "dev"})


# -- Fn::Sub -------------------------------------------------------------------------------


def test_sub_with_only_known_variables_collapses_to_a_string() -> None:
    resolved = resolve(template({"B": bucket(
        Name={"Fn::Sub": "app-${Environment}-${AWS::Region}"},
        Arn={"Fn::Sub": "arn:${AWS::Partition}:s3:::x-${Size}"},
        Literal={"Fn::Sub": "${!Keep}-${Environment}"},
    )}, parameters={"Size": {"Type": "String", "Default": "10"}}), "prod", "us-east-1")
    assert props(resolved) == {
        "Name": "app-prod-us-east-1", "Arn": "arn:aws:s3:::x-10", "Literal": "${Keep}-prod",
    }


def test_sub_keeps_unknown_variables_and_substitutes_the_rest() -> None:
    resolved = resolve(template({"B": bucket(
        Name={"Fn::Sub": "${Environment}-${CostCenter}-${AWS::AccountId}-${Other.Arn}"},
    )}), "dev", "eu-west-1")
    assert props(resolved) == {
        "Name": {"Fn::Sub": "dev-${CostCenter}-${AWS::AccountId}-${Other.Arn}"},
    }
    assert "CostCenter" in resolved["Parameters"]


def test_a_sub_that_stays_keeps_its_partition_where_it_was_written() -> None:
    """cfn-lint's I3042 reads ``arn:aws:...`` inside a Sub as a hard-coded partition."""
    resolved = resolve(template({"B": bucket(
        Root={"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"},
        Logs={"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*"},
        Known={"Fn::Sub": "arn:${AWS::Partition}:s3:::${Environment}"},
    )}), "dev", "eu-west-1")
    assert props(resolved) == {
        "Root": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"},
        "Logs": {"Fn::Sub": "arn:${AWS::Partition}:logs:eu-west-1:${AWS::AccountId}:*"},
        "Known": "arn:aws:s3:::dev",
    }


def test_substituted_value_containing_a_dollar_brace_is_not_read_as_a_variable() -> None:
    resolved = resolve(template(
        {"B": bucket(Name={"Fn::Sub": "${Odd}-${CostCenter}"})},
        parameters={"Odd": {"Type": "String", "Default": "${Environment}"}},
    ), "dev", "eu-west-1")
    assert props(resolved) == {"Name": {"Fn::Sub": "${!Environment}-${CostCenter}"}}


def test_sub_variable_map_values_are_resolved_and_literal_ones_substituted() -> None:
    resolved = resolve(template({"B": bucket(
        Both={"Fn::Sub": ["${Arn}/${Where}", {
            "Arn": {"Fn::GetAtt": ["A", "Arn"]}, "Where": {"Ref": "AWS::Region"},
        }]},
        AllKnown={"Fn::Sub": ["${Env}-x", {"Env": {"Ref": "Environment"}}]},
    )}), "dev", "eu-west-1")
    assert props(resolved) == {
        "Both": {"Fn::Sub": ["${Arn}/eu-west-1", {"Arn": {"Fn::GetAtt": ["A", "Arn"]}}]},
        "AllKnown": "dev-x",
    }


# -- Fn::FindInMap -------------------------------------------------------------------------


def test_find_in_map_by_environment_and_region_becomes_the_mapped_value() -> None:
    resolved = resolve(template({"B": bucket(
        Size=env_value("Size"),
        Ami={"Fn::FindInMap": ["RegionMap", {"Ref": "AWS::Region"}, "Ami"]},
    )}), "prod", "us-east-1")
    assert props(resolved) == {"Size": "large", "Ami": "ami-us"}


def test_find_in_map_default_value_is_used_when_the_key_is_missing() -> None:
    resolved = resolve(template({"B": bucket(
        NoKey={"Fn::FindInMap": ["EnvironmentConfig", "dev", "Nope", {"DefaultValue": "d"}]},
        NoEntry={"Fn::FindInMap": ["RegionMap", "ap-south-1", "Ami", {"DefaultValue": "e"}]},
        Present={"Fn::FindInMap": ["EnvironmentConfig", "dev", "Size", {"DefaultValue": "d"}]},
    )}), "dev", "eu-west-1")
    assert props(resolved) == {"NoKey": "d", "NoEntry": "e", "Present": "small"}


def test_find_in_map_keyed_by_an_unresolved_parameter_stays_with_its_mapping() -> None:
    by_cost = {"Fn::FindInMap": ["EnvironmentConfig", {"Ref": "CostCenter"}, "Size"]}
    resolved = resolve(template({"B": bucket(Size=by_cost, Env=env_value("Size"))}),
                       "dev", "eu-west-1")
    assert props(resolved) == {"Size": by_cost, "Env": "small"}
    assert resolved["Mappings"] == {"EnvironmentConfig": ENV_MAP}


def test_missing_second_level_key_is_an_error_naming_map_and_key() -> None:
    with pytest.raises(ResolveError, match=r"EnvironmentConfig\.dev has no key 'Nope'"):
        resolve(template({"B": bucket(X=env_value("Nope"))}), "dev", "eu-west-1")


# -- conditions ----------------------------------------------------------------------------

CONDITIONS: dict[str, Any] = {
    "NatPerAz": {"Fn::Equals": [env_value("NatPerAz"), "true"]},
    "Single": {"Fn::Not": [{"Condition": "NatPerAz"}]},
    "InUs": {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]},
    "Both": {"Fn::And": [{"Condition": "NatPerAz"}, {"Condition": "InUs"}]},
    "Either": {"Fn::Or": [{"Condition": "NatPerAz"}, {"Condition": "InUs"}]},
    "BoolEqualsString": {"Fn::Equals": [True, "true"]},
    "NumberEqualsString": {"Fn::Equals": [3, env_value("Replicas")]},
}


def conditioned_template() -> dict[str, Any]:
    return template(
        {name: {**bucket(), "Condition": name} for name in CONDITIONS},
        conditions=copy.deepcopy(CONDITIONS),
    )


@pytest.mark.parametrize(("environment", "region", "expected"), [
    ("prod", "eu-west-1", {"NatPerAz", "Either", "BoolEqualsString", "NumberEqualsString"}),
    ("prod", "us-east-1",
     {"NatPerAz", "InUs", "Both", "Either", "BoolEqualsString", "NumberEqualsString"}),
    ("dev", "eu-west-1", {"Single", "BoolEqualsString"}),
    ("dev", "us-east-1", {"Single", "InUs", "Either", "BoolEqualsString"}),
])
def test_conditions_evaluate_equals_not_and_or_and_condition(
    environment: str, region: str, expected: set[str]
) -> None:
    resolved = resolve(conditioned_template(), environment, region)
    assert set(resolved["Resources"]) == expected
    assert all("Condition" not in body for body in resolved["Resources"].values())
    assert "Conditions" not in resolved


def test_condition_on_an_unresolved_parameter_stays_with_what_uses_it() -> None:
    resolved = resolve(template(
        {
            "B": {**bucket(Cidr={"Fn::If": ["Costed", "a", {"Ref": "AWS::NoValue"}]}),
                  "Condition": "Costed"},
            "Always": bucket(),
        },
        conditions={
            "Costed": {"Fn::Equals": [{"Ref": "CostCenter"}, env_value("Size")]},
            "Prod": {"Fn::Equals": [{"Ref": "Environment"}, "prod"]},
        },
        outputs={"Out": {"Value": "x", "Condition": "Costed"}},
    ), "dev", "eu-west-1")
    assert resolved["Conditions"] == {"Costed": {"Fn::Equals": [{"Ref": "CostCenter"}, "small"]}}
    assert resolved["Resources"]["B"]["Condition"] == "Costed"
    assert props(resolved) == {"Cidr": {"Fn::If": ["Costed", "a", {"Ref": "AWS::NoValue"}]}}
    assert resolved["Outputs"]["Out"]["Condition"] == "Costed"
    assert "CostCenter" in resolved["Parameters"]


def test_and_with_a_false_operand_is_false_even_when_another_is_unknown() -> None:
    resolved = resolve(template(
        {"B": {**bucket(), "Condition": "ProdAndCosted"}},
        conditions={"ProdAndCosted": {"Fn::And": [
            {"Fn::Equals": [{"Ref": "Environment"}, "prod"]},
            {"Fn::Equals": [{"Ref": "CostCenter"}, "CC-1234"]},
        ]}},
    ), "dev", "eu-west-1")
    assert resolved["Resources"] == {}
    assert "Conditions" not in resolved


def test_evaluated_condition_named_by_a_kept_condition_is_kept() -> None:
    resolved = resolve(template(
        {"B": {**bucket(), "Condition": "ProdAndCosted"}},
        conditions={
            "Prod": {"Fn::Equals": [{"Ref": "Environment"}, "prod"]},
            "ProdAndCosted": {"Fn::And": [
                {"Condition": "Prod"}, {"Fn::Equals": [{"Ref": "CostCenter"}, "CC-1234"]},
            ]},
        },
    ), "prod", "eu-west-1")
    assert set(resolved["Conditions"]) == {"Prod", "ProdAndCosted"}
    assert resolved["Conditions"]["Prod"] == {"Fn::Equals": ["prod", "prod"]}


def test_iam_condition_block_is_not_mistaken_for_a_condition_function() -> None:
    statement = {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    resolved = resolve(template({"B": bucket(Statement=[statement])}), "dev", "eu-west-1")
    assert props(resolved) == {"Statement": [statement]}


def test_undefined_condition_is_an_error() -> None:
    with pytest.raises(ResolveError, match="condition 'Nope' is not defined"):
        resolve(template({"B": {**bucket(), "Condition": "Nope"}}, conditions={}),
                "dev", "eu-west-1")


def test_condition_cycle_is_an_error() -> None:
    with pytest.raises(ResolveError, match="depends on itself"):
        resolve(template({"B": bucket()}, conditions={
            "A": {"Fn::Not": [{"Condition": "B"}]}, "B": {"Fn::Not": [{"Condition": "A"}]},
        }), "dev", "eu-west-1")


# -- removed resources and outputs ---------------------------------------------------------


def test_false_condition_removes_resources_and_outputs_and_true_drops_the_key() -> None:
    resolved = resolve(template(
        {"Nat1": {**bucket(), "Condition": "NatPerAz"}, "Nat0": bucket()},
        conditions={"NatPerAz": CONDITIONS["NatPerAz"]},
        outputs={
            "Nat1Id": {"Value": {"Ref": "Nat1"}, "Condition": "NatPerAz"},
            "Nat0Id": {"Value": {"Ref": "Nat0"}},
        },
    ), "dev", "eu-west-1")
    assert set(resolved["Resources"]) == {"Nat0"}
    assert set(resolved["Outputs"]) == {"Nat0Id"}

    prod = resolve(template(
        {"Nat1": {**bucket(), "Condition": "NatPerAz"}},
        conditions={"NatPerAz": CONDITIONS["NatPerAz"]},
        outputs={"Nat1Id": {"Value": {"Ref": "Nat1"}, "Condition": "NatPerAz"}},
    ), "prod", "eu-west-1")
    assert prod["Resources"] == {"Nat1": bucket()}
    assert prod["Outputs"] == {"Nat1Id": {"Value": {"Ref": "Nat1"}}}


def test_depends_on_entries_naming_removed_resources_are_dropped() -> None:
    resolved = resolve(template(
        {
            "Gone": {**bucket(), "Condition": "NatPerAz"},
            "Kept": bucket(),
            "Partial": {**bucket(), "DependsOn": ["Gone", "Kept"]},
            "OnlyGone": {**bucket(), "DependsOn": ["Gone"]},
            "StringGone": {**bucket(), "DependsOn": "Gone"},
            "StringKept": {**bucket(), "DependsOn": "Kept"},
        },
        conditions={"NatPerAz": CONDITIONS["NatPerAz"]},
    ), "dev", "eu-west-1")
    resources = resolved["Resources"]
    assert "Gone" not in resources
    assert resources["Partial"]["DependsOn"] == ["Kept"]
    assert "DependsOn" not in resources["OnlyGone"]
    assert "DependsOn" not in resources["StringGone"]
    assert resources["StringKept"]["DependsOn"] == "Kept"


# -- Fn::If and AWS::NoValue ---------------------------------------------------------------


def test_if_takes_the_branch_its_condition_chooses_resolved() -> None:
    body = template(
        {"B": bucket(Nat={"Fn::If": ["NatPerAz", {"Ref": "Nat1"}, env_value("Size")]})},
        conditions={"NatPerAz": CONDITIONS["NatPerAz"]},
    )
    assert props(resolve(body, "prod", "eu-west-1")) == {"Nat": {"Ref": "Nat1"}}
    assert props(resolve(body, "dev", "eu-west-1")) == {"Nat": "small"}


def test_no_value_removes_the_key_or_the_list_item() -> None:
    no_value = {"Ref": "AWS::NoValue"}
    resolved = resolve(template(
        {"B": bucket(
            Direct=no_value,
            ByIf={"Fn::If": ["NatPerAz", "kept", no_value]},
            Items=["a", no_value, {"Fn::If": ["NatPerAz", "b", no_value]}, "c"],
        )},
        conditions={"NatPerAz": CONDITIONS["NatPerAz"]},
    ), "dev", "eu-west-1")
    assert props(resolved) == {"Items": ["a", "c"]}


# -- optional folding ----------------------------------------------------------------------


def test_join_and_select_of_literals_fold() -> None:
    resolved = resolve(template({"B": bucket(
        Joined={"Fn::Join": ["-", ["app", {"Ref": "Environment"}]]},
        Partial={"Fn::Join": ["-", ["app", {"Ref": "A"}]]},
        Selected={"Fn::Select": [1, ["a", {"Ref": "Environment"}]]},
        AzStays={"Fn::Select": [0, {"Fn::GetAZs": ""}]},
    )}), "prod", "eu-west-1")
    assert props(resolved) == {
        "Joined": "app-prod",
        "Partial": {"Fn::Join": ["-", ["app", {"Ref": "A"}]]},
        "Selected": "prod",
        "AzStays": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
    }


# -- what is left of the template ----------------------------------------------------------


def test_unused_parameters_mappings_and_conditions_are_dropped_the_rest_kept() -> None:
    body = template(
        {"B": bucket(Size=env_value("Size"), Cost={"Fn::Sub": "${CostCenter}"})},
        conditions={"NatPerAz": CONDITIONS["NatPerAz"]},
        parameters={"Unused": {"Type": "String", "Default": "x"}},
    )
    body["Metadata"] = {"Owner": {"Ref": "Environment"}}
    resolved = resolve(body, "dev", "eu-west-1")
    assert "Mappings" not in resolved
    assert "Conditions" not in resolved
    assert resolved["Parameters"] == {"CostCenter": COST_CENTER}
    assert resolved["Metadata"] == {"Owner": {"Ref": "Environment"}}
    assert resolved["Description"] == "test"
    assert resolved["AWSTemplateFormatVersion"] == "2010-09-09"


def test_input_is_not_mutated_and_output_shares_nothing_with_it() -> None:
    body = conditioned_template()
    body["Resources"]["Tagged"] = bucket(Tags=[
        {"Key": "Env", "Value": {"Ref": "Environment"}},
        {"Key": "CostCenter", "Value": {"Ref": "CostCenter"}},
    ])
    before = copy.deepcopy(body)
    resolved = resolve(body, "prod", "eu-west-1")
    assert body == before
    resolved["Resources"]["Tagged"]["Properties"]["Tags"].append("x")
    resolved["Parameters"]["CostCenter"]["Type"] = "changed"
    assert body == before


# -- errors --------------------------------------------------------------------------------


def test_unknown_environment_names_the_map_and_the_template() -> None:
    body = template({"B": bucket(Size=env_value("Size"))})
    with pytest.raises(ResolveError, match=r"^EnvironmentConfig has no entry for 'qa' \(x\.yaml\)"):
        resolve_set({"x": body}, "qa", "eu-west-1")


def test_unknown_region_is_an_error_even_behind_a_false_condition() -> None:
    body = template(
        {"B": {**bucket(Ami={"Fn::FindInMap": ["RegionMap", {"Ref": "AWS::Region"}, "Ami"]}),
               "Condition": "NatPerAz"}},
        conditions={"NatPerAz": CONDITIONS["NatPerAz"]},
    )
    with pytest.raises(ResolveError) as caught:
        resolve_set({"compute": body}, "dev", "ap-south-1")
    message = str(caught.value)
    assert message.startswith("RegionMap has no entry for 'ap-south-1' (compute.yaml)")
    assert "eu-west-1, us-east-1" in message
    assert "\n" not in message


def test_resolve_error_is_a_value_error() -> None:
    assert issubclass(ResolveError, ValueError)


# -- the real template set -----------------------------------------------------------------


@cache
def rendered() -> dict[str, dict[str, Any]]:
    return render_dicts()


@cache
def resolved_set(environment: str, region: str) -> dict[str, dict[str, Any]]:
    return resolve_set(rendered(), environment, region)


def test_prod_has_a_nat_gateway_per_az_and_dev_shares_one() -> None:
    prod = resolved_set("prod", "eu-west-1")["network"]
    dev = resolved_set("dev", "eu-west-1")["network"]
    assert {"NatGateway0", "NatGateway1"} <= set(prod["Resources"])
    assert "NatGateway0" in dev["Resources"]
    assert "NatGateway1" not in dev["Resources"]
    assert "NatPerAz" not in dev.get("Conditions", {})
    route = dev["Resources"]["PrivateDefaultRoute1"]["Properties"]
    assert route["NatGatewayId"] == {"Ref": "NatGateway0"}


@pytest.mark.parametrize("region", REGIONS)
def test_launch_template_image_is_the_pinned_ami_of_the_region(region: str) -> None:
    compute = resolved_set("prod", region)["compute"]
    data = compute["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert data["ImageId"] == AMIS[region]


def test_database_is_multi_az_in_prod_only() -> None:
    def multi_az(environment: str) -> Any:
        database = resolved_set(environment, "eu-west-1")["database"]
        return database["Resources"]["Database"]["Properties"]["MultiAZ"]

    assert multi_az("prod") == "true"
    assert multi_az("dev") == "false"


def test_root_passes_children_only_what_their_resolved_forms_declare() -> None:
    resolved = resolved_set("staging", "us-east-1")
    root = resolved["root"]
    passed = root["Resources"]["NetworkStack"]["Properties"]["Parameters"]
    assert set(passed) == set(resolved["network"]["Parameters"])
    assert "Environment" not in passed and "CostCenter" in passed
    assert "Environment" not in root["Parameters"]
    assert "CostCenter" in root["Parameters"]


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
@pytest.mark.parametrize("region", REGIONS)
def test_no_switch_is_left_in_any_resolved_template(environment: str, region: str) -> None:
    for name, body in resolved_set(environment, region).items():
        text = json.dumps(body)
        for leftover in ("Fn::FindInMap", "Fn::If", "AWS::NoValue"):
            assert leftover not in text, f"{name} still has {leftover}"
        assert "Mappings" not in body, name
        for node in walk(body):
            assert node not in ({"Ref": "Environment"}, {"Ref": "AWS::Region"}), name
            if isinstance(node, str):
                assert "${Environment}" not in node, name
                assert "${AWS::Region}" not in node, name


def test_resolving_the_real_set_leaves_the_rendered_templates_untouched() -> None:
    before = json.dumps(rendered(), sort_keys=True)
    resolve_set(rendered(), "prod", "eu-west-1")
    assert json.dumps(rendered(), sort_keys=True) == before
