"""Replacement predicted from the resource schemas cfn-lint bundles."""

from __future__ import annotations

from scripts.build.schemas import create_only, replacement


def test_create_only_properties_come_from_the_bundled_schemas():
    assert {"DBInstanceIdentifier", "KmsKeyId", "StorageEncrypted"} <= create_only(
        "AWS::RDS::DBInstance")
    assert "CidrBlock" in create_only("AWS::EC2::VPC")
    assert create_only("AWS::Made::Up") == frozenset()


def test_a_create_only_change_replaces_and_an_ordinary_one_does_not():
    assert replacement("AWS::RDS::DBInstance", {"KmsKeyId"}) == "True"
    assert replacement("AWS::RDS::DBInstance", {"EngineVersion", "DBParameterGroupName"}) == \
        "False"
    assert replacement("AWS::RDS::DBInstance", {"AvailabilityZone"}) == "Conditional"
    assert replacement("AWS::RDS::DBParameterGroup", {"Family"}) == "True"
    assert replacement("AWS::SNS::Topic", {"DisplayName"}) == "False"
