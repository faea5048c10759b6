"""Gaps in how moto reads our templates: nested outputs, YAML, parameters, attributes, tags.

nested_stack_outputs
    moto's ``AWS::CloudFormation::Stack`` model (``moto.cloudformation.models.Stack``) has no
    ``get_cfn_attribute``, so ``Fn::GetAtt Child.Outputs.X`` raises AttributeError (HTTP 500 on
    the server, or a silently missing output). The patch reads the child stack's output.
yaml_getatt_dots
    moto's YAML loader splits ``!GetAtt A.B.C`` at every dot, ``[A, B, C]``; CloudFormation
    splits at the first dot only, ``[A, "B.C"]``, which ``Outputs.X`` (and RDS's
    ``Endpoint.Address``) need. ``${Child.Outputs.X}`` inside ``Fn::Sub`` is still split at
    every dot by moto and is not supported.
yaml_condition_short_form
    moto's YAML loader reads ``!Condition Name`` (inside ``!Not``, ``!And``, ``!Or``) as
    ``{"Fn::Condition": Name}``, which its condition evaluation takes for a value: so
    ``!Not [!Condition ServeHttps]`` is always false, and prod's port 80 forwarded to the app
    instead of redirecting to HTTPS. CloudFormation reads ``{"Condition": Name}``; so does the
    patched loader (the same constructor as yaml_getatt_dots).
termination_protection
    moto records EnableTerminationProtection at create time but has no
    UpdateTerminationProtection action (HTTP 500) and deletes a protected stack. The patch adds
    the action and refuses DeleteStack on a protected stack with AWS's ValidationError.
failed_delete_keeps_stack
    moto's DeleteStack takes the stack out of its stacks before it deletes the resources; when
    one cannot go yet (a nested network stack whose VPC the compute stack still uses, during a
    rollback), the stack vanishes, neither listed nor deleted, its resources left for good,
    and the retry finds nothing to delete. The same patch keeps it, DELETE_FAILED, so the
    retry deletes it once what held it is gone.
target_group_attributes
    moto's ELBv2 ``FakeTargetGroup`` has no ``get_cfn_attribute``, so ``Fn::GetAtt
    TargetGroup.TargetGroupFullName`` (the CloudWatch dimension the alarms use) fails.
    The patch derives the documented attributes from the target group's ARN.
load_balancer_attributes
    moto's ELBv2 ``FakeLoadBalancer`` answers ``Fn::GetAtt LoadBalancer.LoadBalancerFullName``
    (the CloudWatch dimension of the load balancer's alarms) and ``SecurityGroups`` with the
    unresolved intrinsic itself, so the alarms carried a dictionary as their dimension, and a
    change set of the monitoring stack read it as changed (text on one side). The patch derives
    the full name from the ARN and answers the security groups, as CloudFormation does.
kms_key_tags
    moto's ``AWS::KMS::Key`` hands the template's ``Tags`` (``Key``/``Value``, as CloudFormation
    writes them) to ``create_key``, which wants the KMS API's ``TagKey``/``TagValue``: a tagged
    key fails with KeyError, and everything that reads its ARN with "undefined resource".
    The patch renames the tag fields before moto's own code runs.
kms_key_policy_text
    moto stores a template's ``KeyPolicy`` (a mapping) as it is, where the KMS API keeps policy
    text: every DescribeKey of that key then answers HTTP 500 (moto parses the policy as JSON),
    which breaks anything that checks a retained key. The same patch hands moto the JSON text.
db_parameter_group_ref
    moto's ``AWS::RDS::DBParameterGroup`` has no physical id, so ``Ref`` to it yields the model
    object instead of the group's name, and a ``DBInstance`` naming it fails (HTTP 500). The
    patch gives the model its name as physical id, as CloudFormation's ``Ref`` returns.

"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from scripts.local.moto_shim.support import (
    PROBE_BUCKET,
    PROBE_OUTPUT,
    PROBE_REGION,
    PROBE_RESOURCES,
    Patch,
    Probe,
    backend,
    cloudformation,
    output_value,
    require,
)


def patches() -> list[Patch]:  # noqa: C901 - one closure per gap, side by side
    """Every (owner, attribute, replacement) the shim installs, checked against this moto."""
    import yaml
    from moto.cloudformation import models, responses, utils
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException, ValidationError
    from moto.elbv2 import models as elbv2_models

    require(models, "Stack", "CloudFormationBackend", "yaml_tag_constructor")
    require(models.Stack, "outputs", "exports", "_parse_template", "_create_output_map")
    require(utils, "yaml_tag_constructor")
    require(responses, "yaml_tag_constructor")
    require(elbv2_models, "FakeTargetGroup", "FakeLoadBalancer")
    require(models, "ChangeSet", "Change")
    require(responses, "CloudFormationResponse")
    require(models.CloudFormationBackend, "delete_stack", "get_stack")
    from moto.core.responses import ActionResult
    from moto.kms import models as kms_models
    from moto.rds import models as rds_models

    require(kms_models.Key, "create_from_cloudformation_json")
    require(rds_models, "DBParameterGroup")
    stock_kms_key: Callable[..., Any] = kms_models.Key.__dict__[
        "create_from_cloudformation_json"].__func__

    def create_kms_key(cls: Any, /, resource_name: str, cloudformation_json: Any,
                       account_id: str, region_name: str, **kwargs: Any) -> Any:
        properties = cloudformation_json.get("Properties") or {}
        tags = [{"TagKey": tag["Key"], "TagValue": tag["Value"]} if "Key" in tag else tag
                for tag in properties.get("Tags") or []]
        policy = properties.get("KeyPolicy")
        if isinstance(policy, dict):
            policy = json.dumps(policy)
        renamed = {**cloudformation_json,
                   "Properties": {**properties, "Tags": tags,
                                  **({"KeyPolicy": policy} if policy is not None else {})}}
        return stock_kms_key(cls, resource_name, renamed, account_id, region_name, **kwargs)

    def update_termination_protection(self: Any) -> Any:
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        stack.enable_termination_protection = self._get_param(
            "EnableTerminationProtection") in (True, "true", "True")
        return ActionResult({"StackId": stack.stack_id})

    delete_stack = _delete_stack(models.CloudFormationBackend.delete_stack, ValidationError)

    def target_group_attribute(self: Any, attribute_name: str) -> Any:
        # arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>
        full_name = self.arn.split(":", 5)[5]
        attributes = {
            "TargetGroupFullName": full_name,
            "TargetGroupName": self.name,
            "TargetGroupArn": self.arn,
            "LoadBalancerArns": list(getattr(self, "load_balancer_arns", [])),
        }
        if attribute_name not in attributes:
            raise UnformattedGetAttTemplateException()
        return attributes[attribute_name]

    stock_balancer_attribute: Callable[[Any, str], Any] = \
        elbv2_models.FakeLoadBalancer.get_cfn_attribute

    def balancer_attribute(self: Any, attribute_name: str) -> Any:
        # arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>
        if attribute_name == "LoadBalancerFullName":
            return self.arn.split(":loadbalancer/", 1)[1]
        if attribute_name == "SecurityGroups":
            return list(self.security_groups)
        return stock_balancer_attribute(self, attribute_name)

    def get_cfn_attribute(self: Any, attribute_name: str) -> Any:
        prefix, _, output_key = attribute_name.partition(".")
        if prefix != "Outputs" or not output_key:
            raise UnformattedGetAttTemplateException()
        for output in self.outputs or []:
            if output["OutputKey"] == output_key:
                return output["OutputValue"]
        raise ValidationError(message=f"Template error: stack {self.name} has no output "
                                      f"{output_key} for Fn::GetAtt {attribute_name}")

    def has_cfn_attr(cls: Any, attr: str) -> bool:
        return attr.startswith("Outputs.") and len(attr) > len("Outputs.")

    stock_constructor: Callable[[Any, str, Any], Any] = utils.yaml_tag_constructor

    def yaml_tag_constructor(loader: Any, tag: str, node: Any) -> Any:
        if tag == "!GetAtt" and isinstance(node, yaml.ScalarNode):
            return {"Fn::GetAtt": node.value.split(".", 1)}
        if tag == "!Condition" and isinstance(node, yaml.ScalarNode):
            return {"Condition": node.value}  # CloudFormation's form, not "Fn::Condition"
        return stock_constructor(loader, tag, node)

    return [
        (models.Stack, "get_cfn_attribute", get_cfn_attribute),
        (models.Stack, "has_cfn_attr", classmethod(has_cfn_attr)),
        # Each module calls the constructor through its own global name.
        (utils, "yaml_tag_constructor", yaml_tag_constructor),
        (models, "yaml_tag_constructor", yaml_tag_constructor),
        (responses, "yaml_tag_constructor", yaml_tag_constructor),
        (elbv2_models.FakeTargetGroup, "get_cfn_attribute", target_group_attribute),
        (elbv2_models.FakeLoadBalancer, "get_cfn_attribute", balancer_attribute),
        (responses.CloudFormationResponse, "update_termination_protection",
         update_termination_protection),
        (models.CloudFormationBackend, "delete_stack", delete_stack),
        (kms_models.Key, "create_from_cloudformation_json", classmethod(create_kms_key)),
        (rds_models.DBParameterGroup, "physical_resource_id",
         property(lambda group: group.name)),
    ]



def _delete_stack(stock_delete: Callable[..., None], validation_error: Callable[..., Exception]
                  ) -> Callable[..., None]:
    """DeleteStack: refused while protected (termination_protection); a stack whose delete
    fails is kept, DELETE_FAILED (failed_delete_keeps_stack)."""
    def delete_stack(self: Any, name_or_stack_id: str) -> None:
        protected = [s for s in self.stacks.values()
                     if name_or_stack_id in (s.stack_id, s.name)
                     and getattr(s, "enable_termination_protection", False)]
        if protected:
            raise validation_error(
                message=f"Stack [{protected[0].name}] cannot be deleted while "
                        "TerminationProtection is enabled")
        named = [s for s in self.stacks.values() if name_or_stack_id in (s.stack_id, s.name)]
        try:
            stock_delete(self, name_or_stack_id)
        except Exception:
            # moto takes the stack out of its stacks before deleting its resources: one that
            # fails (a VPC still in use) would vanish, resources and all, and a retry would
            # find nothing to delete. It stays, DELETE_FAILED, as on CloudFormation.
            for stack in named:
                if stack.stack_id not in self.deleted_stacks:
                    stack.status = "DELETE_FAILED"
                    self.stacks[stack.stack_id] = stack
            raise

    return delete_stack


# Probes run against moto's backends in this process, inside mock_aws (which resets them).

def _probe_nested_stack_outputs() -> bool:
    from moto import mock_aws
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    child = {**PROBE_RESOURCES, **PROBE_OUTPUT}
    parent = {
        "Resources": {"Child": {"Type": "AWS::CloudFormation::Stack", "Properties": {
            "TemplateURL": f"http://localhost:5000/{PROBE_BUCKET}/child.json"}}},
        "Outputs": {"Value": {"Value": {"Fn::GetAtt": ["Child", "Outputs.Value"]}}},
    }
    with mock_aws():
        s3 = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        s3.create_bucket(PROBE_BUCKET, PROBE_REGION)
        s3.put_object(PROBE_BUCKET, "child.json", json.dumps(child).encode())
        stack = cloudformation().create_stack("probe", json.dumps(parent), parameters={})
        return bool(output_value(stack) != "probe")


def _probe_yaml_getatt_dots() -> bool:
    from moto.cloudformation.models import Stack

    parsed = Stack.parse_template("Value: !GetAtt Child.Outputs.Value\n")
    return bool(parsed["Value"] != {"Fn::GetAtt": ["Child", "Outputs.Value"]})


def _probe_yaml_condition_short_form() -> bool:
    from moto.cloudformation.models import Stack

    parsed = Stack.parse_template("Value: !Not [!Condition Other]\n")
    return bool(parsed["Value"] != {"Fn::Not": [{"Condition": "Other"}]})


def _probe_termination_protection() -> bool:
    from moto import mock_aws
    from moto.cloudformation.responses import CloudFormationResponse

    if not hasattr(CloudFormationResponse, "update_termination_protection"):
        return True
    with mock_aws():
        backend = cloudformation()
        stack = backend.create_stack("probe", json.dumps(PROBE_RESOURCES), parameters={},
                                     enable_termination_protection=True)
        try:
            backend.delete_stack(stack.stack_id)
        except Exception:
            return False
        return True


def _probe_target_group_attributes() -> bool:
    from moto import mock_aws
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends
    from moto.elbv2.models import elbv2_backends

    with mock_aws():
        vpc = ec2_backends[DEFAULT_ACCOUNT_ID][PROBE_REGION].create_vpc("10.0.0.0/16")
        group = elbv2_backends[DEFAULT_ACCOUNT_ID][PROBE_REGION].create_target_group(
            "probe", protocol="HTTP", port=80, vpc_id=vpc.id, target_type="instance")
        try:
            value = group.get_cfn_attribute("TargetGroupFullName")  # type: ignore[attr-defined]
        except AttributeError:
            return True
        return not str(value).startswith("targetgroup/probe/")


def _probe_load_balancer_attributes() -> bool:
    from moto import mock_aws
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends
    from moto.elbv2.models import elbv2_backends

    with mock_aws():
        ec2 = ec2_backends[DEFAULT_ACCOUNT_ID][PROBE_REGION]
        vpc = ec2.create_vpc("10.0.0.0/16")
        subnets = [ec2.create_subnet(vpc.id, f"10.0.{i}.0/24",
                                     availability_zone=f"{PROBE_REGION}{zone}").id
                   for i, zone in enumerate("ab")]
        balancer = elbv2_backends[DEFAULT_ACCOUNT_ID][PROBE_REGION].create_load_balancer(
            "probe", security_groups=[], subnet_ids=subnets)
        try:
            value = balancer.get_cfn_attribute("LoadBalancerFullName")
        except NotImplementedError:
            return True
        return not (isinstance(value, str) and value.startswith("app/probe/"))


def _probe_kms_key_tags() -> bool:
    from moto import mock_aws

    template = json.dumps({"Resources": {"Key": {"Type": "AWS::KMS::Key", "Properties": {
        "KeyPolicy": {"Version": "2012-10-17", "Statement": []},
        "Tags": [{"Key": "CostCenter", "Value": "CC-1234"}],
    }}}})
    with mock_aws():
        try:
            cloudformation().create_stack("probe", template, parameters={})
        except KeyError:
            return True
        return False


def _probe_kms_key_policy_text() -> bool:
    from moto import mock_aws

    template = json.dumps({"Resources": {"Key": {"Type": "AWS::KMS::Key", "Properties": {
        "KeyPolicy": {"Version": "2012-10-17", "Statement": []}}}}})
    with mock_aws():
        cloudformation().create_stack("probe", template, parameters={})
        keys = list(backend("kms").keys.values())
        return not keys or not isinstance(keys[0].policy, str)


def _probe_db_parameter_group_ref() -> bool:
    from moto import mock_aws

    template = json.dumps({
        "Resources": {"Group": {"Type": "AWS::RDS::DBParameterGroup", "Properties": {
            "Description": "probe", "Family": "postgres13", "Parameters": {"rds.force_ssl": "1"},
        }}},
        "Outputs": {"Value": {"Value": {"Ref": "Group"}}},
    })
    with mock_aws():
        stack = cloudformation().create_stack("probe", template, parameters={})
        return not isinstance(output_value(stack), str)


def _probe_failed_delete_keeps_stack() -> bool:
    from moto import mock_aws

    from scripts.local.moto_shim import failures

    with mock_aws():
        backend = cloudformation()
        stack = backend.create_stack("probe", json.dumps(PROBE_RESOURCES), parameters={})
        stock_delete = stack.resource_map.delete

        def refuse() -> None:
            raise failures.InjectedFailure("DependencyViolation")

        stack.resource_map.delete = refuse
        with contextlib.suppress(failures.InjectedFailure):
            backend.delete_stack(stack.stack_id)
        stack.resource_map.delete = stock_delete
        return stack.stack_id not in backend.stacks


PROBES: dict[str, Probe] = {
    "failed_delete_keeps_stack": _probe_failed_delete_keeps_stack,
    "nested_stack_outputs": _probe_nested_stack_outputs,
    "yaml_getatt_dots": _probe_yaml_getatt_dots,
    "yaml_condition_short_form": _probe_yaml_condition_short_form,
    "termination_protection": _probe_termination_protection,
    "target_group_attributes": _probe_target_group_attributes,
    "load_balancer_attributes": _probe_load_balancer_attributes,
    "kms_key_tags": _probe_kms_key_tags,
    "kms_key_policy_text": _probe_kms_key_policy_text,
    "db_parameter_group_ref": _probe_db_parameter_group_ref,
}

