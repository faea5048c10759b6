"""Root: nests the children and wires each child's parameters to earlier outputs by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from troposphere import Equals, GetAtt, Not, Ref, StackName, Template, cloudformation

from templates_src.common import ROOT_PARAMETERS, ROOT_STACK_NAME, Stack, removal_policy
from templates_src.environments import requiring
from templates_src.errors import TemplateSourceError

# Root output -> the child output it re-exports. Integration tests read these.
ROOT_OUTPUTS: dict[str, str] = {
    "AppUrl": "AppUrl",
    "LoadBalancerDNS": "LoadBalancerDNS",
    "VpcId": "VpcId",
    "PublicSubnetIds": "PublicSubnetIds",
    "PrivateSubnetIds": "PrivateSubnetIds",
    "DatabaseSubnetIds": "DatabaseSubnetIds",
    "DatabaseEndpoint": "DatabaseEndpointAddress",
    "DatabasePort": "DatabasePort",
    "BucketName": "BucketName",
    "AutoScalingGroupName": "AutoScalingGroupName",
    "AlarmTopicArn": "AlarmTopicArn",
}
LINT_EXCEPTIONS = {
    "W3002": "children are referenced by local TemplateURL; `webstack deploy` packages them",
}


# Values the root gives its children besides its parameters, by the name children declare.
ROOT_VALUES: dict[str, object] = {ROOT_STACK_NAME: StackName}
# Rule name -> (environment-table capability, parameter that must not be empty, what to do).
REQUIRED_IN: dict[str, tuple[str, str, str]] = {
    "HttpsRequired": ("requires_https", "CertificateArn",
                      "the load balancer serves HTTPS only; pass an ACM certificate ARN "
                      "(locally: webstack local certificate)"),
    "AlarmSubscriberRequired": ("requires_alarm_subscriber", "AlarmEmail",
                                "alarms must reach someone; pass the on-call e-mail address"),
}


def required_rule(capability: str, parameter: str, what_to_do: str) -> dict[str, Any]:
    """A template Rule: in the environments whose row sets ``capability``, ``parameter`` must
    not be empty. Rules can only read parameters, so the environments are listed."""
    environments = list(requiring(capability))
    return {
        # troposphere has no Fn::Contains (a Rules-only function).
        "RuleCondition": {"Fn::Contains": [environments, Ref("Environment")]},
        "Assertions": [{
            "Assert": Not(Equals(Ref(parameter), "")),
            "AssertDescription": f"{parameter} is required in {' and '.join(environments)}: "
                                 f"{what_to_do}",
        }],
    }


class WiringError(TemplateSourceError):
    """A child needs a parameter that neither the root nor an earlier child provides."""


def logical_id(child: str) -> str:
    return f"{child.capitalize()}Stack"


def _wire(child: str, template: Template, producers: Mapping[str, str]) -> dict[str, object]:
    """A child's parameters: a root parameter, a root value, or an earlier child's output."""
    parameters: dict[str, object] = {}
    for parameter in template.parameters:
        if parameter in ROOT_PARAMETERS:
            parameters[parameter] = Ref(parameter)
        elif parameter in ROOT_VALUES:
            parameters[parameter] = ROOT_VALUES[parameter]
        elif parameter in producers:
            parameters[parameter] = GetAtt(
                logical_id(producers[parameter]), f"Outputs.{parameter}"
            )
        else:
            raise WiringError(
                f"stack '{child}' needs parameter '{parameter}', but no root parameter "
                "or earlier stack outputs it; add the output or reorder the stacks"
            )
    return parameters


def build(children: Mapping[str, Template]) -> Template:
    """``children`` in deployment order; each one's parameters are wired by name."""
    s = Stack("root", "three-tier web application (nests storage, network, security, iam, "
                      "database, compute and monitoring)")
    t = s.template
    for name in ROOT_PARAMETERS:
        if name not in t.parameters:
            s.root_parameter(name)
    for rule, (capability, parameter, what_to_do) in REQUIRED_IN.items():
        t.add_rule(rule, required_rule(capability, parameter, what_to_do))
    t.set_metadata({
        "cfn-lint": {"config": {"ignore_checks": sorted(LINT_EXCEPTIONS)}},
        "webstack": {"lint-exceptions": LINT_EXCEPTIONS},
    })

    producers: dict[str, str] = {}  # output name -> child that outputs it
    for child, template in children.items():
        parameters = _wire(child, template, producers)
        t.add_resource(cloudformation.Stack(
            logical_id(child),
            # Explicit: what holds data inside a child carries its own Retain/Snapshot.
            **removal_policy("Delete"),
            TemplateURL=f"{child}.yaml",
            Parameters=parameters,
            Tags=s.tags(),
        ))
        for output in template.outputs:
            producers.setdefault(output, child)

    for name, source in ROOT_OUTPUTS.items():
        if source not in producers:
            raise WiringError(f"root output '{name}' re-exports '{source}', which no stack outputs")
        s.output(name, GetAtt(logical_id(producers[source]), f"Outputs.{source}"),
                 f"{source} from the {producers[source]} stack")
    s.output("Environment", Ref("Environment"), "Environment this stack set was deployed as")
    return s.build()
