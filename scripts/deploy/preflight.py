"""Checks run before any change set: a failure here means nothing was created.

They ask the target account what CloudFormation would otherwise find out halfway through a
deploy. The seed incident: a prod deploy died after 32 of 38 resources because RDS no longer
offered PostgreSQL 13.7; the engine-version check names that before anything exists.

A local endpoint may not implement an RDS call (moto: describe_db_engine_versions). Such a
check is skipped with one line, or fails under --strict-preflight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from scripts.build.engine_versions import version_key
from scripts.deploy.aws import AwsError, Target, aws_errors, error_code, error_message, is_local
from scripts.errors import Exit, UsageError, WebstackError
from templates_src.environments import AZ_COUNT, ENVIRONMENTS
from templates_src.regions import AMIS
from templates_src.versions import POSTGRES_VERSION

ENGINE: Final = "postgres"
SKIPPED: Final = "skipped (use --strict-preflight to fail)"
_NOT_IMPLEMENTED_CODES: Final = frozenset(
    {"NotImplemented", "NotImplementedException", "NotImplementedError"}
)

StackState = Callable[[], str | None]
"""Returns why the stack's current state blocks a deploy, or None when it does not."""


class PreflightError(WebstackError):
    """A preflight check failed; the deploy stops before creating anything."""

    exit_code = Exit.FINDINGS


@dataclass
class Check:
    """One check's verdict: ok True (passed), False (failed) or None (skipped)."""

    name: str
    ok: bool | None
    message: str

    @property
    def line(self) -> str:
        if self.ok is None:
            return f"preflight: {self.message}"
        return f"preflight: {self.name} {'ok' if self.ok else 'FAILED'}: {self.message}"


class _Unimplemented(Exception):
    """The endpoint does not implement the call (a local emulator, not AWS)."""


def _not_implemented(err: ClientError) -> bool:
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = error_code(err)
    return code in _NOT_IMPLEMENTED_CODES or status == 501 or (
        code == "InternalFailure" and "implemented" in error_message(err).lower())


def _call(client: Any, operation: str, **kwargs: Any) -> Any:
    """One API call; an emulator's "not implemented" in any of its forms is _Unimplemented.

    moto in-process raises NotImplementedError straight out of the client; the moto server
    answers HTTP 500 with an HTML page, which botocore reports as a ResponseParserError.
    """
    where = f"preflight {client.meta.service_model.service_name}.{operation}"
    try:
        with aws_errors(where):
            return getattr(client, operation)(**kwargs)
    except NotImplementedError as err:
        raise _Unimplemented from err
    except ResponseParserError as err:
        if is_local(client.meta.endpoint_url):
            raise _Unimplemented from err
        raise AwsError(f"{where}: unreadable response from {client.meta.endpoint_url}") from err
    except ClientError as err:
        if _not_implemented(err):
            raise _Unimplemented from err
        raise


def _pages(client: Any, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every page of a paginated call, fetched lazily (so any() stops early)."""
    marker: str | None = None
    while True:
        page = _call(client, operation, **kwargs, **({"Marker": marker} if marker else {}))
        yield page
        marker = page.get("Marker")
        if not marker:
            return


def check_ami(target: Target) -> Check:
    """The pinned AMI still exists in the region (AMIs are deregistered as they age)."""
    region = target.region
    ami = AMIS.get(region)
    if ami is None:
        return Check("ami", False, f"no AMI for {region} in templates_src/regions.py; "
                                   f"run webstack refresh-amis --region {region}")
    try:
        images = _call(target.client("ec2"), "describe_images", ImageIds=[ami])["Images"]
    except ClientError as err:
        if not error_code(err).startswith("InvalidAMIID"):
            raise
        images = []
    if not images:
        return Check("ami", False, f"AMI {ami} does not exist in {region} (pinned in "
                                   "templates_src/regions.py); run webstack refresh-amis")
    state = images[0].get("State", "available")
    if state != "available":
        return Check("ami", False, f"AMI {ami} in {region} is {state}, not available; "
                                   "run webstack refresh-amis")
    return Check("ami", True, f"{ami} exists in {region}")


def check_availability_zones(target: Target) -> Check:
    """The network stack places each tier in AZ_COUNT availability zones."""
    region = target.region
    zones = _call(target.client("ec2"), "describe_availability_zones")["AvailabilityZones"]
    names = sorted(
        z["ZoneName"] for z in zones
        if z.get("State") == "available" and z.get("ZoneType", "availability-zone")
        == "availability-zone"
    )
    if len(names) < AZ_COUNT:
        return Check("availability-zones", False,
                     f"only {len(names)} availability zone(s) available in {region} "
                     f"({', '.join(names) or 'none'}); the network stack needs {AZ_COUNT}, "
                     "deploy to another region")
    return Check("availability-zones", True,
                 f"{len(names)} available in {region} (need {AZ_COUNT})")


def check_engine_version(target: Target, *, strict: bool, version: str | None = None) -> Check:
    """RDS still offers the pinned PostgreSQL version; if not, say which ones it does."""
    version = version or POSTGRES_VERSION
    rds = target.client("rds")
    region = target.region
    major = version.split(".", maxsplit=1)[0]
    try:
        found = _call(rds, "describe_db_engine_versions", Engine=ENGINE, EngineVersion=version)
        if found["DBEngineVersions"]:
            return Check("engine-version", True, f"PostgreSQL {version} is offered in {region}")
        offered = sorted(
            {v["EngineVersion"] for page in _pages(rds, "describe_db_engine_versions",
                                                   Engine=ENGINE)
             for v in page["DBEngineVersions"] if v["EngineVersion"].startswith(f"{major}.")},
            key=version_key,
        )
    except _Unimplemented:
        return _unimplemented("engine-version", "rds.describe_db_engine_versions", strict,
                              f"PostgreSQL {version}")
    return Check("engine-version", False,
                 f"PostgreSQL {version} is not offered in {region} "
                 f"(offered {major}.x: {', '.join(offered) or 'none'}); "
                 "update templates_src/versions.py")


def check_instance_class(target: Target, instance_class: str, environment: str, *,
                         strict: bool, version: str | None = None) -> Check:
    """The environment's DB instance class can be ordered for the pinned version here.

    An empty answer is asked again more broadly, to tell "this class is not offered" from
    "this version has no classes" from "this endpoint knows nothing about PostgreSQL"
    (moto answers every PostgreSQL query with an empty list).
    """
    version = version or POSTGRES_VERSION
    rds = target.client("rds")
    region = target.region
    operation = "describe_orderable_db_instance_options"

    def any_option(**kwargs: Any) -> bool:
        return any(page["OrderableDBInstanceOptions"]
                   for page in _pages(rds, operation, Engine=ENGINE, **kwargs))

    try:
        if any_option(EngineVersion=version, DBInstanceClass=instance_class):
            return Check("instance-class", True, f"{instance_class} ({environment}) is "
                         f"orderable for PostgreSQL {version} in {region}")
        if any_option(EngineVersion=version):
            return Check("instance-class", False,
                         f"{instance_class} ({environment}.db_instance_class) is not orderable "
                         f"for PostgreSQL {version} in {region}; pick another class in "
                         "templates_src/environments.py")
        if any_option():
            return Check("instance-class", False,
                         f"PostgreSQL {version} has no orderable instance classes in {region}; "
                         "update templates_src/versions.py")
    except _Unimplemented:
        return _unimplemented("instance-class", f"rds.{operation}", strict,
                              f"{instance_class} for PostgreSQL {version}")
    return _unimplemented("instance-class", f"rds.{operation}", strict,
                          f"{instance_class} for PostgreSQL {version}",
                          why="returned no PostgreSQL options at this endpoint")


def check_certificate(target: Target, arn: str, *, strict: bool) -> Check:
    """The load balancer's certificate exists in the target's region and is ISSUED: the
    HTTPS listener is created late, after the network and the database, so a certificate
    that cannot serve would fail the create after most of it was made."""
    region = target.region
    parts = arn.split(":")
    if len(parts) < 6 or parts[2] != "acm":
        return Check("certificate", False, f"CertificateArn {arn} is not an ACM certificate "
                     "ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)")
    if parts[3] != region:
        return Check("certificate", False, f"CertificateArn is in {parts[3]}, the load "
                     f"balancer in {region}: ACM certificates serve only their own region; "
                     f"request or import one in {region}")
    try:
        found = _call(target.client("acm"), "describe_certificate", CertificateArn=arn)
    except _Unimplemented:
        return _unimplemented("certificate", "acm.describe_certificate", strict, arn)
    except ClientError as err:
        if error_code(err) not in {"ResourceNotFoundException", "ResourceNotFound"}:
            raise
        return Check("certificate", False, f"no certificate {arn} in {region}: request or "
                     "import it in ACM, then pass its ARN")
    status = found.get("Certificate", {}).get("Status", "")
    if status != "ISSUED":
        return Check("certificate", False, f"certificate {arn} is {status or 'of no status'}, "
                     "not ISSUED; finish its validation in ACM first")
    return Check("certificate", True, f"{parts[5]} is ISSUED in {region}")


def _unimplemented(name: str, call: str, strict: bool, subject: str,
                   why: str = "not implemented by this endpoint") -> Check:
    if strict:
        return Check(name, False, f"{call} {why}; cannot check {subject} (--strict-preflight)")
    return Check(name, None, f"{call} {why}; {SKIPPED}")


def _guarded(name: str, run: Callable[[], Check]) -> Check:
    """A refusal other than credentials or the endpoint fails the check with AWS's words."""
    try:
        return run()
    except ClientError as err:
        return Check(name, False, f"could not run {err.operation_name}: "
                                  f"{error_code(err)}: {error_message(err)}")


def run_preflight(target: Target, *, strict: bool, environment: str | None = None,
                  stack_state: StackState | None = None, certificate_arn: str | None = None,
                  emit: Callable[[str], None] = print, quiet_ok: bool = False) -> list[Check]:
    """Run every check, emitting one line each; credential or endpoint trouble raises AwsError.

    ``environment`` defaults to the target's; ``stack_state`` comes from the deployer, and so
    does ``certificate_arn``, the CertificateArn the change set will carry (none: no check).
    ``quiet_ok``: only the checks that failed or were skipped are emitted (``verdict`` sums up
    the rest).
    """
    name = environment or target.environment
    env = ENVIRONMENTS.get(name)
    if env is None:
        raise UsageError(f"unknown environment '{name}'; valid: {', '.join(ENVIRONMENTS)}")
    checks: list[Check] = []

    def record(check: Check) -> None:
        checks.append(check)
        if not (quiet_ok and check.ok):
            emit(check.line)

    record(_guarded("ami", lambda: check_ami(target)))
    record(_guarded("availability-zones", lambda: check_availability_zones(target)))
    record(_guarded("engine-version", lambda: check_engine_version(target, strict=strict)))
    record(_guarded("instance-class", lambda: check_instance_class(
        target, env.db_instance_class, name, strict=strict)))
    if certificate_arn:
        record(_guarded("certificate", lambda: check_certificate(target, certificate_arn,
                                                                 strict=strict)))
    if stack_state is not None:
        blocked = stack_state()
        record(Check("stack-state", blocked is None,
                     blocked or f"{target.stack_name} can be deployed"))
    return checks


def verdict(checks: list[Check]) -> str:
    """The checks that passed, in two words: ``preflight ok`` (``(1 skipped)`` when one was)."""
    skipped = sum(c.ok is None for c in checks)
    return "preflight ok" + (f" ({skipped} skipped)" if skipped else "")


def raise_on_failure(checks: list[Check], strict: bool) -> None:
    """Raise one line naming the first failure; under strict a skipped check fails too."""
    failed = [c for c in checks if c.ok is False or (strict and c.ok is None)]
    if not failed:
        return
    first = failed[0]
    more = f" (and {len(failed) - 1} more, see above)" if len(failed) > 1 else ""
    raise PreflightError(f"preflight failed: {first.name}: {first.message}{more}; "
                         "nothing was created")
