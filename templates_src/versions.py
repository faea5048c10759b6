"""Pinned engine versions: ONE line each, checked by the gate and by preflight.

POSTGRES_VERSION is the newest PostgreSQL 13.x that cfn-lint 1.58's RDS data says can
still create instances: 13.7 and 13.22 are flagged deprecated (W3691). Re-check with
`webstack engine-versions` (reads cfn-lint's bundled data) or, against an account,
`aws rds describe-db-engine-versions --engine postgres --engine-version 13 \
--query 'DBEngineVersions[].EngineVersion'`. Checked 2026-11-29.
"""

from typing import Final

POSTGRES_VERSION: Final = "13.23"
POSTGRES_FAMILY: Final = "postgres13"
# PostgreSQL 13 left RDS standard support in 2026; creating it needs extended support,
# so the choice is written down instead of left to the account default.
POSTGRES_LIFECYCLE_SUPPORT: Final = "open-source-rds-extended-support"
