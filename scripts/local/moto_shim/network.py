"""Deleting what a template made: the network and load-balancer resources moto never deletes.

network_resources_deleted
    moto deletes a resource from a template through the model's ``delete`` (or
    ``delete_from_cloudformation_json``); ``AWS::EC2::RouteTable``,
    ``SubnetRouteTableAssociation``, ``NatGateway``, ``EIP``, ``InternetGateway``,
    ``VPCGatewayAttachment`` and ELBv2's ``TargetGroup``, ``Listener`` and ``ListenerRule`` have
    neither, so a stack's delete skips them silently. The VPC then keeps its route tables and
    cannot be deleted (DependencyViolation): every delete of a network stack failed, and moto
    hid that by losing the stack (see ``failed_delete_keeps_stack``). The patch gives each
    model the delete CloudFormation performs; one already gone counts as deleted, and one still
    in use raises, so moto's delete tries it again after what uses it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from scripts.local.moto_shim.support import PROBE_REGION, Patch, Probe, backend, cloudformation


def _gone_is_deleted(call: Callable[[], Any]) -> None:
    try:
        call()
    except Exception as err:
        if "NotFound" not in f"{getattr(err, 'code', '')} {type(err).__name__}":
            raise


def patches() -> list[Patch]:  # noqa: C901 - one closure per model, side by side
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.elastic_ip_addresses import ElasticAddress
    from moto.ec2.models.internet_gateways import InternetGateway
    from moto.ec2.models.nat_gateways import NatGateway
    from moto.ec2.models.route_tables import RouteTable
    from moto.ec2.models.subnets import SubnetRouteTableAssociation
    from moto.ec2.models.vpn_gateway import VPCGatewayAttachment
    from moto.elbv2.models import FakeListener, FakeListenerRule, FakeTargetGroup, elbv2_backends

    def ec2(account_id: str, region_name: str) -> Any:
        return ec2_backends[account_id][region_name]

    def elbv2(account_id: str, region_name: str) -> Any:
        return elbv2_backends[account_id][region_name]

    def route_table(self: Any, account_id: str, region_name: str) -> None:
        _gone_is_deleted(lambda: ec2(account_id, region_name).delete_route_table(self.id))

    def association(self: Any, account_id: str, region_name: str) -> None:
        ec2(account_id, region_name).subnet_associations.pop(
            f"{self.route_table_id}:{self.subnet_id}", None)

    def nat_gateway(self: Any, account_id: str, region_name: str) -> None:
        _gone_is_deleted(lambda: ec2(account_id, region_name).delete_nat_gateway(self.id))

    def address(self: Any, account_id: str, region_name: str) -> None:
        if self in ec2(account_id, region_name).addresses:
            ec2(account_id, region_name).release_address(address=self.public_ip)

    def internet_gateway(self: Any, account_id: str, region_name: str) -> None:
        _gone_is_deleted(lambda: ec2(account_id, region_name).delete_internet_gateway(self.id))

    def attachment(self: Any, account_id: str, region_name: str) -> None:
        gateways = ec2(account_id, region_name).internet_gateways
        if self.gateway_id in gateways and gateways[self.gateway_id].vpc is not None:
            ec2(account_id, region_name).detach_internet_gateway(self.gateway_id, self.vpc_id)

    def target_group(self: Any, account_id: str, region_name: str) -> None:
        _gone_is_deleted(lambda: elbv2(account_id, region_name).delete_target_group(self.arn))

    def listener(self: Any, account_id: str, region_name: str) -> None:
        _gone_is_deleted(lambda: elbv2(account_id, region_name).delete_listener(self.arn))

    def rule(self: Any, account_id: str, region_name: str) -> None:
        _gone_is_deleted(lambda: elbv2(account_id, region_name).delete_rule(self.arn))

    return [
        (RouteTable, "delete", route_table),
        (SubnetRouteTableAssociation, "delete", association),
        (NatGateway, "delete", nat_gateway),
        (ElasticAddress, "delete", address),
        (InternetGateway, "delete", internet_gateway),
        (VPCGatewayAttachment, "delete", attachment),
        (FakeTargetGroup, "delete", target_group),
        (FakeListener, "delete", listener),
        (FakeListenerRule, "delete", rule),
    ]


def _probe_network_resources_deleted() -> bool:
    from moto import mock_aws

    template = {"Resources": {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.9.0.0/16"}},
        "Table": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": {"Ref": "Vpc"}}},
        "Gateway": {"Type": "AWS::EC2::InternetGateway"},
        "Attachment": {"Type": "AWS::EC2::VPCGatewayAttachment", "Properties": {
            "VpcId": {"Ref": "Vpc"}, "InternetGatewayId": {"Ref": "Gateway"}}},
    }}
    with mock_aws():
        stack = cloudformation().create_stack("probe", json.dumps(template), parameters={})
        try:
            cloudformation().delete_stack(stack.stack_id)
        except Exception:
            return True
        ec2 = backend("ec2", PROBE_REGION)
        return bool(ec2.internet_gateways) or any(
            not table.main_association_id for table in ec2.route_tables.values())


PROBES: dict[str, Probe] = {"network_resources_deleted": _probe_network_resources_deleted}
