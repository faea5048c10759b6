"""Root: nests every child by local TemplateURL and wires parameters by output name."""

from __future__ import annotations

import pytest
from troposphere import Output, Parameter, Template

from templates_src.common import ROOT_PARAMETERS
from templates_src.stacks import CHILDREN, root
from templates_src.stacks.root import ROOT_OUTPUTS, WiringError

PROMISED = {"AppUrl", "LoadBalancerDNS", "VpcId", "PublicSubnetIds", "PrivateSubnetIds",
            "DatabaseSubnetIds", "DatabaseEndpoint", "DatabasePort", "BucketName",
            "AutoScalingGroupName", "AlarmTopicArn", "Environment"}


def _root_values() -> dict[str, dict[str, str]]:
    return {name: value.to_dict() for name, value in root.ROOT_VALUES.items()}


def test_the_root_passes_its_stack_name_to_the_children_that_declare_it(rendered):
    assert _root_values() == {"RootStackName": {"Ref": "AWS::StackName"}}
    takers = [child for child in CHILDREN if "RootStackName" in rendered[child]["Parameters"]]
    assert takers == ["database"]


def test_every_promised_output_exists(rendered):
    assert set(rendered["root"]["Outputs"]) >= PROMISED


def test_children_are_nested_by_local_template_url(rendered):
    stacks = {k: v for k, v in rendered["root"]["Resources"].items()
              if v["Type"] == "AWS::CloudFormation::Stack"}
    assert {v["Properties"]["TemplateURL"] for v in stacks.values()} == {
        f"{name}.yaml" for name in CHILDREN
    }


def test_each_child_parameter_is_wired_from_the_root_or_an_earlier_output(rendered):
    order = list(CHILDREN)
    resources = rendered["root"]["Resources"]
    for child in CHILDREN:
        wired = resources[root.logical_id(child)]["Properties"]["Parameters"]
        assert set(wired) == set(rendered[child]["Parameters"])
        for key, value in wired.items():
            if "Fn::GetAtt" in value:
                producer, attribute = value["Fn::GetAtt"]
                name = producer.removesuffix("Stack").lower()
                assert order.index(name) < order.index(child)
                assert attribute.removeprefix("Outputs.") in rendered[name]["Outputs"]
            elif key in root.ROOT_VALUES:
                assert _root_values()[key] == value
            else:
                assert value["Ref"] in rendered["root"]["Parameters"]


def test_storage_comes_first_needing_nothing_and_its_key_reaches_every_encrypting_stack(
        rendered):
    assert next(iter(CHILDREN)) == "storage"
    inputs = set(rendered["storage"]["Parameters"]) - set(ROOT_PARAMETERS)
    assert inputs == set()
    resources = rendered["root"]["Resources"]
    for child in ("network", "iam", "database", "compute", "monitoring"):
        wired = resources[root.logical_id(child)]["Properties"]["Parameters"]
        assert wired["DataKeyArn"] == {"Fn::GetAtt": ["StorageStack", "Outputs.DataKeyArn"]}


def test_a_parameter_nothing_outputs_fails_rendering_with_its_name():
    child = Template()
    child.add_parameter(Parameter("QueueArn", Type="String"))
    with pytest.raises(WiringError, match="stack 'worker' needs parameter 'QueueArn'"):
        root.build({"worker": child})


def test_a_root_output_nothing_provides_fails_rendering():
    child = Template()
    child.add_output(Output("VpcId", Value="x"))
    with pytest.raises(WiringError, match="re-exports"):
        root.build({"network": child})
    assert "VpcId" in ROOT_OUTPUTS
