"""The environment table is validated on load; each stack carries only what it reads."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from templates_src.environments import (
    ENVIRONMENTS,
    Capacity,
    EnvironmentTableError,
    Thresholds,
    validate_table,
)

PROD = ENVIRONMENTS["prod"]


@pytest.mark.parametrize(("change", "message"), [
    ({"vpc_cidr": "10.300.0.0/16"}, r"prod\.vpc_cidr: '10\.300\.0\.0/16' is not a valid CIDR"),
    ({"vpc_cidr": "10.30.0.0/24", "subnet_prefix": 24}, r"prod\.subnet_prefix: 6 subnets"),
    ({"asg": Capacity(min=7, max=6)}, r"prod\.asg: need 0 <= min <= max"),
    ({"asg": Capacity(min=2, max=2)}, r"prod\.asg: min must be below max"),
    ({"instance_type": "huge"}, r"prod\.instance_type: 'huge' is not an EC2 instance type"),
    ({"db_instance_class": "m6g.large"}, r"prod\.db_instance_class"),
    ({"log_retention_days": 42}, r"prod\.log_retention_days: 42 is not a CloudWatch"),
    ({"db_backup_retention_days": 36}, r"prod\.db_backup_retention_days"),
    ({"db_performance_insights_retention_days": 30},
     r"prod\.db_performance_insights_retention_days: 30 is not a Performance Insights"),
    ({"bucket_transition_days": 10}, r"prod\.bucket_transition_days"),
    ({"alarms": dataclasses.replace(PROD.alarms, cpu_high_percent=130)},
     r"prod\.alarms\.cpu_high_percent: 130 is not a percentage"),
    ({"alarms": dataclasses.replace(PROD.alarms, database_free_storage_gib=500)},
     r"prod\.alarms\.database_free_storage_gib"),
])
def test_a_bad_value_fails_naming_env_and_field(change, message):
    with pytest.raises(EnvironmentTableError, match=message) as error:
        dataclasses.replace(PROD, **change)
    assert "templates_src/environments.py" in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(("change", "message"), [
    ({"db_backup_retention_days": "1"},
     r"prod\.db_backup_retention_days: must be int, not str \('1'\)"),
    ({"multi_az_database": 1}, r"prod\.multi_az_database: must be bool, not int \(1\)"),
    ({"subnet_prefix": True}, r"prod\.subnet_prefix: must be int, not bool \(True\)"),
    ({"vpc_cidr": 10}, r"prod\.vpc_cidr: must be str, not int"),
    ({"cpu_target_percent": 50.0}, r"prod\.cpu_target_percent: must be int, not float"),
    ({"asg": {"min": 2, "max": 6}}, r"prod\.asg: must be Capacity, not dict"),
    ({"asg": Capacity(min=2, max="6")},  # type: ignore[arg-type]
     r"prod\.asg\.max: must be int, not str"),
    ({"alarms": dataclasses.replace(PROD.alarms, unhealthy_hosts=None)},
     r"prod\.alarms\.unhealthy_hosts: must be int, not NoneType"),
])
def test_a_value_of_the_wrong_type_fails_naming_env_and_field(change, message):
    """A typo in the table is the user's to fix, not an internal error of the tooling."""
    with pytest.raises(EnvironmentTableError, match=message) as error:
        dataclasses.replace(PROD, **change)
    assert "templates_src/environments.py" in str(error.value)


def test_types_are_checked_before_any_limit():
    with pytest.raises(EnvironmentTableError, match="subnet_prefix: must be int"):
        dataclasses.replace(PROD, subnet_prefix="22", vpc_cidr="not a cidr")


def test_overlapping_cidrs_across_environments_fail():
    table = dict(ENVIRONMENTS)
    table["staging"] = dataclasses.replace(table["staging"], vpc_cidr="10.30.0.0/16")
    overlap = r"(staging|prod)\.vpc_cidr 10\.30\.0\.0/16 overlaps"
    with pytest.raises(EnvironmentTableError, match=overlap):
        validate_table(table)


def test_a_missing_environment_fails():
    with pytest.raises(EnvironmentTableError, match="missing prod"):
        validate_table({k: v for k, v in ENVIRONMENTS.items() if k != "prod"})


def test_thresholds_are_data_not_code():
    assert isinstance(PROD.alarms, Thresholds)
    assert PROD.multi_az_database and not ENVIRONMENTS["dev"].multi_az_database


def test_each_stack_maps_exactly_the_columns_it_reads(rendered):
    for stack, template in rendered.items():
        mapping = template.get("Mappings", {}).get("EnvironmentConfig")
        text = json.dumps(template.get("Resources", {})) + json.dumps(
            template.get("Conditions", {})) + json.dumps(template.get("Outputs", {}))
        read = set(re.findall(r'"EnvironmentConfig", \{"Ref": "Environment"\}, "(\w+)"', text))
        if mapping is None:
            assert read == set(), stack
            continue
        assert set(mapping) == set(ENVIRONMENTS)
        for column_values in mapping.values():
            assert set(column_values) == read, stack


def test_protection_follows_the_tables_deletion_protection_and_unknown_is_protected():
    from templates_src.environments import is_protected

    assert [name for name in ENVIRONMENTS if is_protected(name)] == [
        name for name, env in ENVIRONMENTS.items() if env.deletion_protection] == ["prod"]
    assert is_protected("qa")
