"""Pinned engine versions: the PostgreSQL major is ONE choice (``POSTGRES``), checked by the
gate and by preflight.

Each major's version is the newest x.y that cfn-lint 1.58's RDS data says can still create
instances (13.7 and 13.22 are flagged deprecated, W3691). Re-check with
`webstack engine-versions [--major N]` (reads cfn-lint's bundled data) or, against an account,
`aws rds describe-db-engine-versions --engine postgres --engine-version 13 \
--query 'DBEngineVersions[].EngineVersion'`. Checked 2026-11-29.

13 stays the choice because the deployed fleet runs it. The way out is one line: set
``POSTGRES = POSTGRES_MAJORS["17"]`` (or "16", or "18", the newest: 18.1-18.4 and 18.6 can be
created); the plan then modifies the instance in place (major version upgrade allowed) and
replaces only its parameter group, whose family follows the major (README, "Upgrading
PostgreSQL").
"""

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class PostgresMajor:
    """One PostgreSQL major: the version RDS creates and its parameter group family."""

    version: str

    @property
    def major(self) -> str:
        return self.version.split(".", 1)[0]

    @property
    def family(self) -> str:
        return f"postgres{self.major}"


POSTGRES_MAJORS: Final = {
    "13": PostgresMajor("13.23"),
    "16": PostgresMajor("16.15"),
    "17": PostgresMajor("17.11"),
    "18": PostgresMajor("18.6"),
}
POSTGRES: Final = POSTGRES_MAJORS["13"]
POSTGRES_VERSION: Final = POSTGRES.version
POSTGRES_FAMILY: Final = POSTGRES.family
# PostgreSQL 13 left RDS standard support in 2026; creating it needs extended support,
# so the choice is written down instead of left to the account default. The same value for
# every major: changing it is no part of an upgrade.
POSTGRES_LIFECYCLE_SUPPORT: Final = "open-source-rds-extended-support"
