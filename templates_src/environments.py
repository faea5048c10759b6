"""The environment table: the only place where dev, staging and prod differ.

It is data, validated when this module is imported, and projected into each
stack's ``EnvironmentConfig`` mapping (only the columns that stack reads).
A bad value fails here, naming the environment and the field, not halfway
through a CloudFormation deploy.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, fields
from typing import Final

from templates_src import topology
from templates_src.errors import TemplateSourceError
from templates_src.topology import SUBNET_COUNT, TIERS
from templates_src.validators import Check, at_least, between, one_of, problems

ENVIRONMENT_NAMES: Final = ("dev", "staging", "prod")
# The topology owns the number; preflight reads it here, beside the table it checks.
AZ_COUNT: Final = topology.AZ_COUNT

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS: Final = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
     2557, 2922, 3288, 3653}
)
# Performance Insights keeps 7 days free, or whole months (31 days each) up to 23, or 731.
PERFORMANCE_INSIGHTS_RETENTION_DAYS: Final = frozenset({7, 731, *(31 * m for m in range(1, 24))})

_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_DB_CLASS = re.compile(r"^db\.[a-z][a-z0-9-]*\.[a-z0-9]+$")


class EnvironmentTableError(TemplateSourceError):
    """A value in the environment table is invalid; the message names env and field."""


@dataclass(frozen=True)
class Capacity:
    """Auto Scaling group sizes. No desired capacity: the group starts at ``min`` and target
    tracking owns its size from then on, so a deploy never resets it (as the CDK leaves
    DesiredCapacity unset). A team that wants more instances now sets them on the group."""

    min: int
    max: int


@dataclass(frozen=True)
class Thresholds:
    """Alarm thresholds."""

    cpu_high_percent: int
    alb_5xx_per_minute: int
    unhealthy_hosts: int
    database_cpu_percent: int
    database_free_storage_gib: int


@dataclass(frozen=True)
class Environment:
    """One environment's values; checked on construction."""

    name: str
    vpc_cidr: str
    subnet_prefix: int
    nat_per_az: bool
    # Every log the stack keeps: flow logs, app logs, and load balancer/S3 access logs.
    log_retention_days: int
    instance_type: str
    asg: Capacity
    cpu_target_percent: int
    db_instance_class: str
    db_allocated_storage_gib: int
    db_max_allocated_storage_gib: int
    db_backup_retention_days: int
    db_performance_insights_retention_days: int
    multi_az_database: bool
    # The database and the load balancer refuse deletion while this holds.
    deletion_protection: bool
    # The load balancer serves HTTPS: the root's Rule refuses an empty CertificateArn.
    requires_https: bool
    # Alarms reach a person: the root's Rule refuses an empty AlarmEmail.
    requires_alarm_subscriber: bool
    bucket_transition_days: int
    bucket_noncurrent_expiry_days: int
    alarms: Thresholds

    def subnet_cidrs(self) -> dict[str, str]:
        """``{"PublicSubnet0": "10.10.0.0/24", ...}``: carved in order from the VPC range."""
        blocks = ipaddress.ip_network(self.vpc_cidr).subnets(new_prefix=self.subnet_prefix)
        names = [tier.subnet_logical_id(index) for tier in TIERS for index in range(AZ_COUNT)]
        return {name: str(next(blocks)) for name in names}

    def _fail(self, field: str, problem: str) -> EnvironmentTableError:
        return EnvironmentTableError(
            f"environment table: {self.name}.{field}: {problem} "
            "(fix it in templates_src/environments.py)"
        )

    def __post_init__(self) -> None:
        found = next(problems(self, CHECKS), None)
        if found is not None:
            raise self._fail(*found)


def _valid_cidr(value: str, _row: object) -> str | None:
    try:
        vpc = ipaddress.ip_network(value)
    except ValueError as err:
        return f"{value!r} is not a valid CIDR ({err})"
    if not 16 <= vpc.prefixlen <= 24:
        return f"prefix /{vpc.prefixlen} must be between /16 and /24"
    return None


def _subnets_fit(value: int, row: Environment) -> str | None:
    """SUBNET_COUNT subnets of this prefix are carved out of the VPC range."""
    vpc_prefix = ipaddress.ip_network(row.vpc_cidr).prefixlen
    smallest = vpc_prefix + (SUBNET_COUNT - 1).bit_length()
    if smallest <= value <= 28:
        return None
    return (f"{SUBNET_COUNT} subnets of /{value} do not fit inside {row.vpc_cidr} "
            f"(use /{smallest} to /28)")


def _ec2_instance_type(value: str, _row: object) -> str | None:
    if _INSTANCE_TYPE.match(value) and not value.startswith("db."):
        return None
    return f"{value!r} is not an EC2 instance type"


def _rds_instance_class(value: str, _row: object) -> str | None:
    return None if _DB_CLASS.match(value) else f"{value!r} is not an RDS instance class"


def _capacity_ordered(cap: Capacity, _row: object) -> str | None:
    if 0 <= cap.min <= cap.max and cap.max >= 1:
        return None
    return f"need 0 <= min <= max and max >= 1, got min={cap.min} max={cap.max}"


def _capacity_can_roll(cap: Capacity, _row: object) -> str | None:
    if cap.min < cap.max:
        return None
    return "min must be below max so a rolling update can proceed"


def _storage_can_grow(value: int, row: Environment) -> str | None:
    if 20 <= value <= row.db_max_allocated_storage_gib <= 65536:
        return None
    return "need 20 <= allocated <= max allocated <= 65536 GiB"


def _above_scaling_target(value: int, row: Environment) -> str | None:
    if value > row.cpu_target_percent:
        return None
    return "must be above cpu_target_percent, or scaling would page on every scale-out"


def _below_allocated_storage(value: int, row: Environment) -> str | None:
    if 1 <= value < row.db_allocated_storage_gib:
        return None
    return "must be at least 1 and below db_allocated_storage_gib"


_PERCENTAGE: Final = between(1, 100, "{value} is not a percentage in 1..100")
# Field (dotted for nested rows) -> check, run in order after the types: a check may rely
# on the fields checked before it (subnet_prefix on a valid vpc_cidr).
CHECKS: Final[tuple[tuple[str, Check], ...]] = (
    ("name", one_of(ENVIRONMENT_NAMES, f"must be one of {', '.join(ENVIRONMENT_NAMES)}")),
    ("vpc_cidr", _valid_cidr),
    ("subnet_prefix", _subnets_fit),
    ("log_retention_days",
     one_of(LOG_RETENTION_DAYS, "{value} is not a CloudWatch Logs retention period")),
    ("instance_type", _ec2_instance_type),
    ("db_instance_class", _rds_instance_class),
    ("asg", _capacity_ordered),
    ("asg", _capacity_can_roll),
    ("cpu_target_percent", between(10, 90, "must be between 10 and 90")),
    ("db_allocated_storage_gib", _storage_can_grow),
    ("db_backup_retention_days", between(1, 35, "must be between 1 and 35 days")),
    ("db_performance_insights_retention_days", one_of(
        PERFORMANCE_INSIGHTS_RETENTION_DAYS,
        "{value} is not a Performance Insights retention period "
        "(7, a multiple of 31 up to 713, or 731)",
    )),
    ("bucket_transition_days", at_least(30, "S3 needs at least 30 days before STANDARD_IA")),
    ("bucket_noncurrent_expiry_days", at_least(1, "must be at least 1 day")),
    ("alarms.cpu_high_percent", _PERCENTAGE),
    ("alarms.database_cpu_percent", _PERCENTAGE),
    ("alarms.cpu_high_percent", _above_scaling_target),
    ("alarms.alb_5xx_per_minute", at_least(1, "must be at least 1")),
    ("alarms.unhealthy_hosts", at_least(1, "must be at least 1")),
    ("alarms.database_free_storage_gib", _below_allocated_storage),
)


def validate_table(table: dict[str, Environment]) -> dict[str, Environment]:
    """Check what no single row can: completeness, keys, and non-overlapping CIDRs."""
    missing = [n for n in ENVIRONMENT_NAMES if n not in table]
    if missing or len(table) != len(ENVIRONMENT_NAMES):
        raise EnvironmentTableError(
            f"environment table: needs exactly {', '.join(ENVIRONMENT_NAMES)}; "
            f"missing {', '.join(missing) or 'none'}, got {', '.join(table)}"
        )
    for key, env in table.items():
        if env.name != key:
            raise EnvironmentTableError(
                f"environment table: row {key!r} is named {env.name!r}; make them match"
            )
    names = list(table)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            a = ipaddress.ip_network(table[first].vpc_cidr)
            b = ipaddress.ip_network(table[second].vpc_cidr)
            if a.overlaps(b):
                raise EnvironmentTableError(
                    f"environment table: {second}.vpc_cidr {b} overlaps {first}.vpc_cidr {a}; "
                    "give each environment its own range"
                )
    return table


ENVIRONMENTS: Final[dict[str, Environment]] = validate_table(
    {
        "dev": Environment(
            name="dev",
            vpc_cidr="10.10.0.0/16",
            subnet_prefix=24,
            nat_per_az=False,
            log_retention_days=30,
            instance_type="t3.micro",
            asg=Capacity(min=1, max=2),
            cpu_target_percent=60,
            db_instance_class="db.t3.micro",
            db_allocated_storage_gib=20,
            db_max_allocated_storage_gib=50,
            db_backup_retention_days=1,
            db_performance_insights_retention_days=7,
            multi_az_database=False,
            deletion_protection=False,
            requires_https=False,
            requires_alarm_subscriber=False,
            bucket_transition_days=30,
            bucket_noncurrent_expiry_days=7,
            alarms=Thresholds(
                cpu_high_percent=90,
                alb_5xx_per_minute=50,
                unhealthy_hosts=1,
                database_cpu_percent=90,
                database_free_storage_gib=2,
            ),
        ),
        "staging": Environment(
            name="staging",
            vpc_cidr="10.20.0.0/16",
            subnet_prefix=24,
            nat_per_az=False,
            log_retention_days=90,
            instance_type="t3.small",
            asg=Capacity(min=1, max=4),
            cpu_target_percent=60,
            db_instance_class="db.t3.small",
            db_allocated_storage_gib=50,
            db_max_allocated_storage_gib=100,
            db_backup_retention_days=7,
            db_performance_insights_retention_days=7,
            multi_az_database=False,
            deletion_protection=False,
            requires_https=True,
            requires_alarm_subscriber=False,
            bucket_transition_days=30,
            bucket_noncurrent_expiry_days=30,
            alarms=Thresholds(
                cpu_high_percent=85,
                alb_5xx_per_minute=20,
                unhealthy_hosts=1,
                database_cpu_percent=85,
                database_free_storage_gib=5,
            ),
        ),
        "prod": Environment(
            name="prod",
            vpc_cidr="10.30.0.0/16",
            subnet_prefix=22,
            nat_per_az=True,
            log_retention_days=365,
            instance_type="m6i.large",
            asg=Capacity(min=2, max=6),
            cpu_target_percent=50,
            db_instance_class="db.m6g.large",
            db_allocated_storage_gib=100,
            db_max_allocated_storage_gib=500,
            db_backup_retention_days=35,
            db_performance_insights_retention_days=731,
            multi_az_database=True,
            deletion_protection=True,
            requires_https=True,
            requires_alarm_subscriber=True,
            bucket_transition_days=90,
            bucket_noncurrent_expiry_days=365,
            alarms=Thresholds(
                cpu_high_percent=80,
                alb_5xx_per_minute=5,
                unhealthy_hosts=1,
                database_cpu_percent=80,
                database_free_storage_gib=10,
            ),
        ),
    }
)


def is_protected(name: str) -> bool:
    """Deletion protection in the table marks an environment the tooling guards: no
    --recreate, destroy only with --force, termination protection and a stack policy.
    An unknown name is treated as protected."""
    env = ENVIRONMENTS.get(name)
    return env is None or env.deletion_protection


def requiring(capability: str) -> tuple[str, ...]:
    """The environments whose row sets the boolean field ``capability`` (for template Rules,
    which cannot read a mapping)."""
    return tuple(name for name, env in ENVIRONMENTS.items() if getattr(env, capability) is True)


def _cell(value: object) -> str:
    """Mapping values are strings: booleans as ``true``/``false``, numbers in decimal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def columns(env: Environment) -> dict[str, str]:
    """Every mapping column of one environment, flattened with CamelCase names."""
    out: dict[str, str] = {}
    for f in fields(env):
        if f.name == "name":
            continue
        value = getattr(env, f.name)
        if f.name == "subnet_prefix":
            out.update({f"{name}Cidr": cidr for name, cidr in env.subnet_cidrs().items()})
        elif isinstance(value, Capacity | Thresholds):
            prefix = "Asg" if isinstance(value, Capacity) else "Alarm"
            for sub in fields(value):
                out[prefix + _camel(sub.name)] = _cell(getattr(value, sub.name))
            if isinstance(value, Thresholds):  # CloudWatch measures FreeStorageSpace in bytes
                out["AlarmDatabaseFreeStorageBytes"] = str(value.database_free_storage_gib * 2**30)
        else:
            out[_camel(f.name)] = _cell(value)
    return out


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def mapping(used: set[str]) -> dict[str, dict[str, str]]:
    """The ``EnvironmentConfig`` mapping restricted to the columns a stack reads."""
    table = {name: columns(env) for name, env in ENVIRONMENTS.items()}
    unknown = used - set(table["dev"])
    if unknown:
        raise KeyError(f"no environment column named {', '.join(sorted(unknown))}")
    return {name: {k: v for k, v in cols.items() if k in used} for name, cols in table.items()}
