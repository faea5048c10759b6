"""Helpers every stack module shares: parameters, the environment mapping, tags, outputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from troposphere import (
    FindInMap,
    GetAZs,
    Not,
    Output,
    Parameter,
    Ref,
    Region,
    Select,
    Sub,
    Tags,
    Template,
    logs,
)

from templates_src.environments import ENVIRONMENT_NAMES, mapping
from templates_src.log_delivery import ELB_LOG_DELIVERY_ACCOUNTS
from templates_src.regions import AMIS, REGIONS
from templates_src.validators import ROOT_STACK_NAME_PATTERN

PROJECT: Final = "webstack"
APP_PORT: Final = 8080
HEALTH_PATH: Final = "/health"
DATABASE_PORT: Final = 5432
ENV_MAPPING: Final = "EnvironmentConfig"
REGION_MAPPING: Final = "RegionMap"
TAG_KEYS: Final = ("Environment", "CostCenter", "DeploymentDate")
# Per-region values, projected into each stack's RegionMap (only the columns it reads).
REGION_COLUMNS: Final[dict[str, dict[str, str]]] = {
    "Ami": AMIS,
    "ElbLogDeliveryAccount": ELB_LOG_DELIVERY_ACCOUNTS,
}


@dataclass(frozen=True)
class ParameterSpec:
    """One root parameter; children that need it declare the same definition."""

    type: str
    description: str
    default: str | None = None
    pattern: str | None = None
    allowed: tuple[str, ...] | None = None
    constraint: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    # Values the pattern admits but that must never be used; enforced by a template Rule.
    forbidden: tuple[str, ...] = ()

    def build(self, name: str) -> Parameter:
        kwargs: dict[str, Any] = {"Type": self.type, "Description": self.description}
        if self.default is not None:
            kwargs["Default"] = self.default
        if self.pattern is not None:
            kwargs["AllowedPattern"] = self.pattern
        if self.allowed is not None:
            kwargs["AllowedValues"] = list(self.allowed)
        if self.constraint is not None:
            kwargs["ConstraintDescription"] = self.constraint
        if self.min_length is not None:
            kwargs["MinLength"] = self.min_length
        if self.max_length is not None:
            kwargs["MaxLength"] = self.max_length
        return Parameter(name, **kwargs)

    def rule(self, name: str) -> dict[str, Any] | None:
        """A template Rule refusing the forbidden values before anything is created."""
        if not self.forbidden:
            return None
        return {"Assertions": [{
            # troposphere has no Fn::Contains (a Rules-only function).
            "Assert": Not({"Fn::Contains": [list(self.forbidden), Ref(name)]}),
            "AssertDescription": f"{name} must not be {' or '.join(self.forbidden)}",
        }]}


ROOT_PARAMETERS: Final[dict[str, ParameterSpec]] = {
    "Environment": ParameterSpec(
        "String", "Deployment environment; selects a column of the environment table.",
        allowed=ENVIRONMENT_NAMES,
    ),
    "CostCenter": ParameterSpec(
        "String", "Cost center tagged on every resource, e.g. CC-1234.",
        pattern=r"^CC-[0-9]{4,6}$", constraint="CC- followed by 4 to 6 digits, e.g. CC-1234",
    ),
    "DeploymentDate": ParameterSpec(
        "String", "Date of the deployment (YYYY-MM-DD), tagged on every resource.",
        pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
        constraint="a date as YYYY-MM-DD",
    ),
    "DatabaseUsername": ParameterSpec(
        "String", "Master user name of the database; the password is managed by RDS.",
        default="webstack_admin", pattern=r"^[a-zA-Z][a-zA-Z0-9_]*$",
        constraint="a letter, then letters, digits or underscores",
        min_length=1, max_length=63,
        # Well-known administrator names are the first an attacker tries (Security Hub RDS.25).
        forbidden=("postgres", "admin", "root", "rdsadmin"),
    ),
    "AlarmEmail": ParameterSpec(
        "String", "E-mail address subscribed to the alarm topic; required where the "
        "environment table says requires_alarm_subscriber (prod), else empty for none.",
        default="", pattern=r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$",
        constraint="an e-mail address, or empty",
    ),
    "CertificateArn": ParameterSpec(
        "String", "ACM certificate ARN; the load balancer serves HTTPS with it. Required where "
        "the environment table says requires_https (staging, prod); empty only in dev.",
        default="", pattern=r"^$|^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$",
        constraint="an ACM certificate ARN, or empty",
    ),
    "RdsMonitoringLogGroup": ParameterSpec(
        "String", "create: this stack owns RDSOSMetrics, enhanced monitoring's log group "
        "(one per account and region). existing: another stack in this account and region "
        "already owns it.",
        default="create", allowed=("create", "existing"),
    ),
    "DatabaseLogGroups": ParameterSpec(
        "String", "create: this stack set creates the database's log groups "
        "(/aws/rds/instance/<stack>-db/...). existing: they are kept from an earlier stack of "
        "this name (a destroyed one, or a failed create) and the database writes to them.",
        default="create", allowed=("create", "existing"),
    ),
}
# Filled by the root from its own AWS::StackName: names that must be unique per stack set.
ROOT_STACK_NAME: Final = "RootStackName"
COMMON_PARAMETERS: Final = TAG_KEYS

RemovalPolicy = Literal["Delete", "Retain", "Snapshot"]


def removal_policy(policy: RemovalPolicy) -> dict[str, str]:
    """DeletionPolicy and UpdateReplacePolicy together, as CDK's RemovalPolicy sets them: a
    replacement deletes the old resource, so setting only one would lose the data anyway."""
    return {"DeletionPolicy": policy, "UpdateReplacePolicy": policy}


class Stack:
    """A child template under construction.

    It remembers which environment columns it reads, so its mapping carries only those,
    and which parameters it takes, so the root can wire them by name.
    """

    def __init__(self, name: str, description: str) -> None:
        self.name = name
        self.template = Template(Description=f"{PROJECT} {name}: {description}")
        self.template.set_version("2010-09-09")
        self._columns: set[str] = set()
        self._region_columns: set[str] = set()
        for key in COMMON_PARAMETERS:
            self.template.add_parameter(ROOT_PARAMETERS[key].build(key))

    def env(self, column: str) -> FindInMap:
        """A value from the environment table, looked up by the Environment parameter."""
        self._columns.add(column)
        return FindInMap(ENV_MAPPING, Ref("Environment"), column)

    def region_value(self, column: str) -> FindInMap:
        """A per-region value (``REGION_COLUMNS``), looked up by ``AWS::Region``."""
        if column not in REGION_COLUMNS:
            raise KeyError(f"no region column named {column}")
        self._region_columns.add(column)
        return FindInMap(REGION_MAPPING, Region, column)

    def ami(self) -> FindInMap:
        """The region's pinned AMI."""
        return self.region_value("Ami")

    def root_parameter(self, name: str) -> Ref:
        """Declare a parameter the root passes through from its own parameter of that name."""
        spec = ROOT_PARAMETERS[name]
        self.template.add_parameter(spec.build(name))
        rule = spec.rule(name)
        if rule is not None:
            self.template.add_rule(f"{name}Allowed", rule)
        return Ref(name)

    def root_stack_name(self) -> Ref:
        """Declare the root stack's name, which the root passes down (``ROOT_STACK_NAME``)."""
        self.template.add_parameter(Parameter(
            ROOT_STACK_NAME, Type="String",
            Description="Name of the root stack; names what must be unique per stack set",
            AllowedPattern=ROOT_STACK_NAME_PATTERN,
            ConstraintDescription="lowercase letters, digits and single hyphens, 2 to 60 "
                                  "characters, starting with a letter (RDS lowercases names)",
        ))
        return Ref(ROOT_STACK_NAME)

    def input(self, name: str, description: str, type_: str = "String") -> Ref:
        """Declare a parameter the root fills from an earlier child's output of that name."""
        self.template.add_parameter(Parameter(name, Type=type_, Description=description))
        return Ref(name)

    def output(self, name: str, value: object, description: str) -> None:
        self.template.add_output(Output(name, Value=value, Description=description))

    def log_group(self, title: str, role: str, key: object,
                  name: object | None = None) -> logs.LogGroup:
        """An encrypted log group kept after the stack (logs are evidence), expiring by the
        table's retention; ``name`` when a service writes to a group of a fixed name."""
        extra: dict[str, object] = {} if name is None else {"LogGroupName": name}
        return self.template.add_resource(logs.LogGroup(
            title,
            **removal_policy("Retain"),
            RetentionInDays=self.env("LogRetentionDays"),
            KmsKeyId=key,
            Tags=self.tags(role),
            **extra,
        ))

    def tags(self, role: str | None = None, **extra: object) -> Tags:
        """The three cost tags, plus a Name when the resource has a role."""
        values: dict[str, object] = {key: Ref(key) for key in TAG_KEYS}
        if role is not None:
            values["Name"] = name_of(role)
        values.update(extra)
        return Tags(**values)

    def build(self) -> Template:
        if self._columns:
            self.template.add_mapping(ENV_MAPPING, mapping(self._columns))
        if self._region_columns:
            self.template.add_mapping(REGION_MAPPING, {
                region: {column: REGION_COLUMNS[column][region]
                         for column in sorted(self._region_columns)}
                for region in REGIONS
            })
        return self.template


def scanner_exception(check_id: str, reason: str) -> dict[str, Any]:
    """Resource Metadata skipping one checkov check, with its one-line reason (SECURITY.md)."""
    return {"checkov": {"skip": [{"id": check_id, "comment": reason}]}}


def name_of(role: str) -> Sub:
    """A physical-name-friendly label: ``webstack-<env>-<role>``."""
    return Sub(f"{PROJECT}-${{Environment}}-{role}")


def az(index: int) -> Select:
    """The index-th AZ of the region; never a hard-coded AZ name."""
    return Select(index, GetAZs(""))
