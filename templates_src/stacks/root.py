"""Root: nests the children and wires each child's parameters to earlier outputs by name."""

from __future__ import annotations

from collections.abc import Mapping

from troposphere import GetAtt, Ref, Template, cloudformation

from templates_src.common import ROOT_PARAMETERS, Stack, removal_policy
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


class WiringError(TemplateSourceError):
    """A child needs a parameter that neither the root nor an earlier child provides."""


def logical_id(child: str) -> str:
    return f"{child.capitalize()}Stack"


def build(children: Mapping[str, Template]) -> Template:
    """``children`` in deployment order; each one's parameters are wired by name."""
    s = Stack("root", "three-tier web application (nests storage, network, security, iam, "
                      "database, compute and monitoring)")
    t = s.template
    for name in ROOT_PARAMETERS:
        if name not in t.parameters:
            s.root_parameter(name)
    t.set_metadata({
        "cfn-lint": {"config": {"ignore_checks": sorted(LINT_EXCEPTIONS)}},
        "webstack": {"lint-exceptions": LINT_EXCEPTIONS},
    })

    producers: dict[str, str] = {}  # output name -> child that outputs it
    for child, template in children.items():
        parameters: dict[str, object] = {}
        for parameter in template.parameters:
            if parameter in ROOT_PARAMETERS:
                parameters[parameter] = Ref(parameter)
            elif parameter in producers:
                parameters[parameter] = GetAtt(
                    logical_id(producers[parameter]), f"Outputs.{parameter}"
                )
            else:
                raise WiringError(
                    f"stack '{child}' needs parameter '{parameter}', but no root parameter "
                    "or earlier stack outputs it; add the output or reorder the stacks"
                )
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
