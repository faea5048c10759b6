"""``webstack local certificate``: an ACM certificate from the local endpoint, for staging and prod.

Outside dev the root template refuses an empty ``CertificateArn`` (the ``HttpsRequired`` Rule),
so a local deploy of staging or prod needs a certificate the local endpoint knows. This asks the
endpoint's ACM for one and returns its ARN, to pass as ``--param CertificateArn=<arn>``. It
refuses any endpoint that is not local: a real account's certificates come from its owner.
"""

from __future__ import annotations

from typing import Final

from scripts.deploy.aws import aws_errors, is_local, make_client
from scripts.errors import UsageError

DEFAULT_DOMAIN: Final = "webstack.local.test"


def request_certificate(endpoint_url: str, region: str, domain: str = DEFAULT_DOMAIN) -> str:
    """The ARN of a (DNS-validated, on moto issued at once) certificate for ``domain``."""
    if not is_local(endpoint_url):
        raise UsageError(f"{endpoint_url} is not a local endpoint; request certificates for "
                         "a real account through ACM itself")
    acm = make_client("acm", region, endpoint_url=endpoint_url)
    with aws_errors(f"request a certificate for {domain} from the local endpoint"):
        arn: str = acm.request_certificate(DomainName=domain, ValidationMethod="DNS")[
            "CertificateArn"]
    return arn
