"""Reliability of the data, on the resolved prod set: nothing the business keeps can vanish.

Each test is one line of the issue's list and of SECURITY.md's reliability rows.
"""

from __future__ import annotations

import pytest

from templates_src.topology import AZ_COUNT

KEPT = [
    ("database", "Database", "Snapshot"),
    ("storage", "AppBucket", "Retain"),
    ("storage", "LogBucket", "Retain"),
    ("storage", "DataKey", "Retain"),
]


@pytest.mark.parametrize(("stack", "logical_id", "policy"), KEPT,
                         ids=[logical_id for _, logical_id, _ in KEPT])
def test_prod_keeps_the_data_on_delete_and_on_replace(prod, stack, logical_id, policy):
    resource = prod.resource(stack, logical_id)
    assert resource["DeletionPolicy"] == policy
    assert resource["UpdateReplacePolicy"] == policy


def test_every_bucket_key_and_database_in_prod_is_one_of_the_kept(prod):
    kept_types = {"AWS::S3::Bucket", "AWS::KMS::Key", "AWS::RDS::DBInstance"}
    found = sorted(
        (stack, logical_id)
        for stack in ("storage", "database")
        for logical_id, resource in prod.resources(stack).items()
        if resource["Type"] in kept_types
    )
    assert found == sorted((stack, logical_id) for stack, logical_id, _ in KEPT)


def test_prod_database_and_load_balancer_refuse_deletion(prod):
    assert prod.props("database", "Database")["DeletionProtection"] == "true"
    attributes = {a["Key"]: a["Value"] for a in prod.props("compute", "LoadBalancer")[
        "LoadBalancerAttributes"]}
    assert attributes["deletion_protection.enabled"] == "true"


def test_prod_keeps_backups_35_days(prod):
    assert prod.props("database", "Database")["BackupRetentionPeriod"] == "35"


def test_prod_database_is_multi_az(prod):
    assert prod.props("database", "Database")["MultiAZ"] == "true"


def test_prod_has_one_nat_per_az_each_serving_its_own_az(prod):
    nats = prod.resources("network", "AWS::EC2::NatGateway")
    assert len(nats) == AZ_COUNT
    subnets = prod.resources("network", "AWS::EC2::Subnet")
    azs = {
        subnets[nat["Properties"]["SubnetId"]["Ref"]]["Properties"]["AvailabilityZone"]["Fn::Select"][0]
        for nat in nats.values()
    }
    assert azs == set(range(AZ_COUNT))
    routes = [r["Properties"] for r in prod.resources("network", "AWS::EC2::Route").values()
              if "NatGatewayId" in r["Properties"]]
    assert sorted(r["NatGatewayId"]["Ref"] for r in routes) == sorted(nats)


def test_every_resource_replaces_as_it_deletes(rendered):
    """A replacement deletes the old resource: a Retain that only covers delete keeps nothing."""
    policies = {
        f"{stack}.{logical_id}": (resource.get("DeletionPolicy"),
                                  resource.get("UpdateReplacePolicy"))
        for stack, template in rendered.items()
        for logical_id, resource in template["Resources"].items()
        if "DeletionPolicy" in resource or "UpdateReplacePolicy" in resource
    }
    assert policies
    assert {name: pair for name, pair in policies.items() if pair[0] != pair[1]} == {}
