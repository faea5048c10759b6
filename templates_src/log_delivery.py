"""AWS-owned accounts that deliver load balancer access logs, one per region.

In regions launched before August 2022 the load balancer writes its access logs as a regional
Elastic Load Balancing account, which the log bucket's policy must name ("Enable access logs
for your Application Load Balancer", Elastic Load Balancing user guide). Unlike regions.py
this table is kept by hand; it is checked against the AMI map on import, so a region added
there without its log account fails here, not at deploy time.
"""

from __future__ import annotations

from typing import Final

from templates_src.errors import TemplateSourceError
from templates_src.regions import REGIONS

ELB_LOG_DELIVERY_ACCOUNTS: Final[dict[str, str]] = {
    "eu-west-1": "156460612806",
    "us-east-1": "127311923021",
    "us-west-2": "797873946194",
}


def check_accounts(accounts: dict[str, str]) -> dict[str, str]:
    missing = sorted(set(REGIONS) - set(accounts))
    if missing:
        raise TemplateSourceError(
            f"log delivery table: no ELB log delivery account for {', '.join(missing)} "
            "(add it to templates_src/log_delivery.py from the ELB user guide)"
        )
    bad = sorted(region for region, account in accounts.items()
                 if not (account.isdigit() and len(account) == 12))
    if bad:
        raise TemplateSourceError(
            f"log delivery table: {', '.join(bad)}: an account id is 12 digits "
            "(fix it in templates_src/log_delivery.py)"
        )
    return accounts


check_accounts(ELB_LOG_DELIVERY_ACCOUNTS)
