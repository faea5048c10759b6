"""The subnet topology: which tiers every AZ gets, and how each tier reaches out.

A tier is named for what runs in it and typed by its egress, as the CDK's ``SubnetType``
does; the network stack routes by the egress, never by the name, so a new tier of a known
kind is routed correctly with no new code. Logical ids derive from the tier names, so
those never change once shipped.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final

from templates_src.errors import TemplateSourceError


class Egress(enum.Enum):
    """How a tier's subnets reach outside the VPC."""

    INTERNET = "internet"  # a route to the internet gateway (CDK: PUBLIC)
    NAT = "nat"  # outbound only, through a NAT gateway (CDK: PRIVATE_WITH_EGRESS)
    NONE = "none"  # no route out of the VPC at all (CDK: PRIVATE_ISOLATED)


class TopologyError(TemplateSourceError):
    """The tier list cannot be built; the message names the tier."""


_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")


@dataclass(frozen=True)
class Tier:
    """One row of subnets, one subnet per AZ."""

    name: str
    egress: Egress

    def __post_init__(self) -> None:
        # The name becomes part of logical ids and output names.
        if not _NAME.match(self.name):
            raise TopologyError(f"topology: tier {self.name!r} must be CamelCase letters/digits")

    def subnet_logical_id(self, index: int) -> str:
        """The logical id of this tier's subnet in the index-th AZ."""
        return f"{self.name}Subnet{index}"


def validate_tiers(tiers: tuple[Tier, ...]) -> tuple[Tier, ...]:
    """Names are unique, and NAT egress has a public tier to put its gateways in."""
    names = [tier.name for tier in tiers]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise TopologyError(f"topology: tier {', '.join(duplicates)} appears more than once")
    kinds = {tier.egress for tier in tiers}
    if Egress.NAT in kinds and Egress.INTERNET not in kinds:
        raise TopologyError("topology: a NAT tier needs an internet tier to hold the NAT gateways")
    return tiers


# Subnets per VPC: every tier in every AZ. Logical ids and CIDRs derive from these.
TIERS: Final = validate_tiers((
    Tier("Public", Egress.INTERNET),
    Tier("Private", Egress.NAT),
    Tier("Database", Egress.NONE),
))
AZ_COUNT: Final = 2
SUBNET_COUNT: Final = len(TIERS) * AZ_COUNT

