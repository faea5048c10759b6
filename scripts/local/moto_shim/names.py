"""Physical names CloudFormation generates when a template gives none, within service limits.

generated_names_within_limits
    moto names a resource ``<stack>-<LogicalId>-<12 random>`` whatever its length, except for
    target groups, load balancers and buckets. A nested stack's name already carries its
    parent's, so the database identifier generated for ``webstack-staging`` is longer than
    RDS's 63 characters and the deploy fails. CloudFormation shortens the stack and logical-id
    parts so the name fits the service's limit (and lowercases where the service wants it);
    the patch does the same for every type in ``LIMITS``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from scripts.local.moto_shim.support import Patch, Probe, require

# (maximum length, lowercase only) of the names CloudFormation generates, per type.
LIMITS: Final[dict[str, tuple[int, bool]]] = {
    "AWS::RDS::DBInstance": (63, True),
    "AWS::RDS::DBSubnetGroup": (255, True),
    "AWS::RDS::DBParameterGroup": (255, True),
    "AWS::S3::Bucket": (63, True),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": (32, False),
    "AWS::ElasticLoadBalancingV2::TargetGroup": (32, False),
    "AWS::IAM::Role": (64, False),
    "AWS::IAM::InstanceProfile": (128, False),
    "AWS::IAM::ManagedPolicy": (128, False),
    "AWS::CloudFormation::Stack": (128, False),
    "AWS::EC2::LaunchTemplate": (128, False),
    "AWS::AutoScaling::AutoScalingGroup": (255, False),
    "AWS::SNS::Topic": (256, False),
    "AWS::Logs::LogGroup": (512, False),
    "AWS::CloudWatch::Alarm": (255, False),
    "AWS::Lambda::Function": (64, False),
}
SUFFIX: Final = 12


def fit(stack_name: str, logical_id: str, suffix: str, limit: int, *, lower: bool) -> str:
    """``<stack>-<logical>-<suffix>`` shortened to ``limit``: the logical id keeps up to half
    of the room, the stack name the rest; no empty part, no double or trailing hyphen."""
    room = limit - len(suffix) - 2
    logical_room = max(1, min(len(logical_id), room // 2))
    stack_room = max(1, room - logical_room)
    if len(stack_name) < stack_room:
        logical_room = min(len(logical_id), room - len(stack_name))
    parts = [stack_name[:stack_room].strip("-"), logical_id[:logical_room].strip("-"), suffix]
    name = re.sub(r"-{2,}", "-", "-".join(p for p in parts if p))
    return name.lower() if lower else name


def patches() -> list[Patch]:
    from moto.cloudformation import parsing, utils

    require(parsing, "generate_resource_name")
    require(utils, "random_suffix")
    stock: Callable[[str, str, str], str] = parsing.generate_resource_name

    def generate_resource_name(resource_type: str, stack_name: str, logical_id: str) -> str:
        if resource_type not in LIMITS:
            return stock(resource_type, stack_name, logical_id)
        limit, lower = LIMITS[resource_type]
        return fit(stack_name, logical_id, utils.random_suffix()[:SUFFIX], limit, lower=lower)

    return [(parsing, "generate_resource_name", generate_resource_name)]


def _probe_generated_names_within_limits() -> bool:
    from moto import mock_aws
    from moto.cloudformation import parsing

    stack = "webstack-staging-DatabaseStack-ABCDEFGHIJKLM"
    with mock_aws():
        name = parsing.generate_resource_name("AWS::RDS::DBInstance", stack, "Database")
    return len(name) > LIMITS["AWS::RDS::DBInstance"][0] or name != name.lower()


PROBES: dict[str, Probe] = {
    "generated_names_within_limits": _probe_generated_names_within_limits,
}
