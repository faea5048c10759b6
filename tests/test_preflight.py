"""Preflight names what would break a deploy halfway (the 13.7 incident) before anything exists,
and says in one line what it could not check."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from scripts.deploy import preflight
from scripts.deploy.aws import AwsError, Target
from scripts.deploy.preflight import (
    Check,
    PreflightError,
    raise_on_failure,
    run_preflight,
    verdict,
)
from scripts.errors import UsageError
from templates_src.environments import ENVIRONMENTS
from templates_src.regions import AMIS
from templates_src.versions import POSTGRES_VERSION

REGION = "eu-west-1"
AMI = AMIS[REGION]
PROD_CLASS = ENVIRONMENTS["prod"].db_instance_class
ENGINE_SKIPPED = ("preflight: rds.describe_db_engine_versions not implemented by this endpoint; "
                  "skipped (use --strict-preflight to fail)")
ORDERABLE_SKIPPED = ("preflight: rds.describe_orderable_db_instance_options not implemented by "
                     "this endpoint; skipped (use --strict-preflight to fail)")
ORDERABLE_EMPTY = ("preflight: rds.describe_orderable_db_instance_options returned no PostgreSQL "
                   "options at this endpoint; skipped (use --strict-preflight to fail)")


@pytest.fixture(autouse=True)
def no_ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Whatever the developer's shell has configured must not reach these tests."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@dataclass
class Account:
    """EC2 and RDS of one region, answering from botocore Stubbers in the order added."""

    target: Target
    ec2: Stubber
    rds: Stubber
    lines: list[str] = field(default_factory=list)

    def run(self, *, strict: bool = False, **kwargs: Any) -> list[Check]:
        checks = run_preflight(self.target, strict=strict, emit=self.lines.append, **kwargs)
        self.ec2.assert_no_pending_responses()
        self.rds.assert_no_pending_responses()
        return checks

    # EC2 ------------------------------------------------------------------------------------
    def ami(self, exists: bool = True, ami: str = AMI) -> Account:
        if exists:
            self.ec2.add_response("describe_images", {"Images": [
                {"ImageId": ami, "State": "available", "Name": "al2023-ami"}]},
                {"ImageIds": [ami]})
        else:
            self.ec2.add_client_error(
                "describe_images", service_error_code="InvalidAMIID.NotFound",
                service_message=f"The image id '[{ami}]' does not exist",
                http_status_code=400, expected_params={"ImageIds": [ami]})
        return self

    def zones(self, *letters: str) -> Account:
        self.ec2.add_response("describe_availability_zones", {"AvailabilityZones": [
            {"ZoneName": f"{REGION}{x}", "State": "available", "RegionName": REGION,
             "ZoneType": "availability-zone"} for x in letters]}, {})
        return self

    # RDS ------------------------------------------------------------------------------------
    def version(self, version: str, offered: bool = True) -> Account:
        found = [{"Engine": "postgres", "EngineVersion": version}] if offered else []
        self.rds.add_response("describe_db_engine_versions", {"DBEngineVersions": found},
                              {"Engine": "postgres", "EngineVersion": version})
        return self

    def all_versions(self, *pages: list[str]) -> Account:
        for index, page in enumerate(pages):
            response: dict[str, Any] = {"DBEngineVersions": [
                {"Engine": "postgres", "EngineVersion": v} for v in page]}
            expected: dict[str, Any] = {"Engine": "postgres"}
            if index + 1 < len(pages):
                response["Marker"] = f"page-{index + 1}"
            if index:
                expected["Marker"] = f"page-{index}"
            self.rds.add_response("describe_db_engine_versions", response, expected)
        return self

    def orderable(self, found: bool, **query: str) -> Account:
        options = [{"Engine": "postgres", "EngineVersion": query.get("EngineVersion", "13.23"),
                    "DBInstanceClass": query.get("DBInstanceClass", "db.t3.micro")}]
        self.rds.add_response("describe_orderable_db_instance_options",
                              {"OrderableDBInstanceOptions": options if found else []},
                              {"Engine": "postgres", **query})
        return self

    def class_orderable(self, version: str = POSTGRES_VERSION,
                        instance_class: str = PROD_CLASS) -> Account:
        return self.orderable(True, EngineVersion=version, DBInstanceClass=instance_class)

    def not_implemented(self, operation: str) -> Account:
        """LocalStack's way: HTTP 501 with InternalFailure."""
        self.rds.add_client_error(
            operation, service_error_code="InternalFailure", http_status_code=501,
            service_message=f"API action '{operation}' for service 'rds' not yet implemented")
        return self

    def healthy(self) -> Account:
        return self.ami().zones("a", "b", "c").version(POSTGRES_VERSION).class_orderable()


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


@pytest.fixture
def account() -> Iterator[Account]:
    ec2, rds = client("ec2"), client("rds")
    with Stubber(ec2) as ec2_stub, Stubber(rds) as rds_stub:
        target = Target("prod", REGION, "webstack-prod").use_client("ec2", ec2).use_client(
            "rds", rds)
        yield Account(target, ec2_stub, rds_stub)


def failure(checks: list[Check], strict: bool = False) -> str:
    with pytest.raises(PreflightError) as err:
        raise_on_failure(checks, strict)
    assert err.value.exit_code == 1
    message = str(err.value)
    assert "\n" not in message
    return message


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


# --- the seed incident -----------------------------------------------------------------------

def test_the_13_7_incident_fails_naming_version_region_and_what_is_offered(
        account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight, "POSTGRES_VERSION", "13.7")
    account.ami().zones("a", "b", "c")
    account.version("13.7", offered=False).all_versions(
        ["12.22", "13.20"], ["13.23", "14.15", "16.6"])
    account.orderable(False, EngineVersion="13.7", DBInstanceClass=PROD_CLASS)
    account.orderable(False, EngineVersion="13.7")
    account.orderable(True)

    checks = account.run()

    version = by_name(checks)["engine-version"]
    assert version.ok is False
    assert version.message == ("PostgreSQL 13.7 is not offered in eu-west-1 (offered 13.x: "
                               "13.20, 13.23); update templates_src/versions.py")
    message = failure(checks)
    assert message.startswith("preflight failed: engine-version: PostgreSQL 13.7 is not offered "
                              "in eu-west-1 (offered 13.x: 13.20, 13.23)")
    assert message.endswith("nothing was created")
    assert "preflight: engine-version FAILED: PostgreSQL 13.7" in "\n".join(account.lines)


def test_no_version_of_the_major_left_says_none(account: Account,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight, "POSTGRES_VERSION", "11.22")
    account.ami().zones("a", "b").version("11.22", offered=False).all_versions(["13.23"])
    account.orderable(False, EngineVersion="11.22", DBInstanceClass=PROD_CLASS)
    account.orderable(False, EngineVersion="11.22")
    account.orderable(True)
    assert "(offered 11.x: none)" in by_name(account.run())["engine-version"].message


# --- the other checks ------------------------------------------------------------------------

def test_all_good_passes_with_one_ok_line_per_check(account: Account) -> None:
    checks = account.healthy().run(stack_state=lambda: None)
    raise_on_failure(checks, strict=True)
    assert [c.ok for c in checks] == [True] * 5
    assert account.lines == [
        f"preflight: ami ok: {AMI} exists in eu-west-1",
        "preflight: availability-zones ok: 3 available in eu-west-1 (need 2)",
        f"preflight: engine-version ok: PostgreSQL {POSTGRES_VERSION} is offered in eu-west-1",
        f"preflight: instance-class ok: {PROD_CLASS} (prod) is orderable for PostgreSQL "
        f"{POSTGRES_VERSION} in eu-west-1",
        "preflight: stack-state ok: webstack-prod can be deployed",
    ]


def test_a_missing_ami_fails_naming_ami_region_and_refresh(account: Account) -> None:
    account.ami(exists=False).zones("a", "b").version(POSTGRES_VERSION).class_orderable()
    message = failure(account.run())
    assert AMI in message
    assert "eu-west-1" in message
    assert "run webstack refresh-amis" in message


def test_an_ami_answer_with_no_images_also_fails(account: Account) -> None:
    account.ec2.add_response("describe_images", {"Images": []}, {"ImageIds": [AMI]})
    account.zones("a", "b").version(POSTGRES_VERSION).class_orderable()
    assert f"AMI {AMI} does not exist in eu-west-1" in failure(account.run())


def test_a_region_without_a_pinned_ami_fails_without_asking(monkeypatch: pytest.MonkeyPatch,
                                                            account: Account) -> None:
    monkeypatch.setattr(preflight, "AMIS", {})
    account.zones("a", "b").version(POSTGRES_VERSION).class_orderable()
    assert "no AMI for eu-west-1 in templates_src/regions.py" in failure(account.run())


def test_one_availability_zone_fails(account: Account) -> None:
    account.ami().zones("a").version(POSTGRES_VERSION).class_orderable()
    message = failure(account.run())
    assert "only 1 availability zone(s) available in eu-west-1 (eu-west-1a)" in message
    assert "needs 2" in message


def test_zones_not_available_do_not_count(account: Account) -> None:
    account.ami()
    account.ec2.add_response("describe_availability_zones", {"AvailabilityZones": [
        {"ZoneName": "eu-west-1a", "State": "available"},
        {"ZoneName": "eu-west-1b", "State": "impaired"}]}, {})
    account.version(POSTGRES_VERSION).class_orderable()
    assert "only 1 availability zone(s)" in failure(account.run())


def test_a_class_that_cannot_be_ordered_fails_naming_class_and_environment(
        account: Account) -> None:
    account.ami().zones("a", "b").version(POSTGRES_VERSION)
    account.orderable(False, EngineVersion=POSTGRES_VERSION, DBInstanceClass=PROD_CLASS)
    account.orderable(True, EngineVersion=POSTGRES_VERSION)
    message = failure(account.run())
    assert message == (
        f"preflight failed: instance-class: {PROD_CLASS} (prod.db_instance_class) is not "
        f"orderable for PostgreSQL {POSTGRES_VERSION} in eu-west-1; pick another class in "
        "templates_src/environments.py; nothing was created")


def test_the_environment_can_be_named_explicitly(account: Account) -> None:
    dev_class = ENVIRONMENTS["dev"].db_instance_class
    account.ami().zones("a", "b").version(POSTGRES_VERSION).class_orderable(
        instance_class=dev_class)
    checks = account.run(environment="dev")
    assert f"{dev_class} (dev)" in by_name(checks)["instance-class"].message


def test_an_unknown_environment_is_a_usage_error(account: Account) -> None:
    with pytest.raises(UsageError, match="unknown environment 'qa'"):
        run_preflight(account.target, strict=False, environment="qa")


def test_a_blocking_stack_state_fails_with_the_hooks_message(account: Account) -> None:
    account.healthy()
    checks = account.run(stack_state=lambda: "webstack-prod is UPDATE_IN_PROGRESS; wait")
    assert failure(checks) == ("preflight failed: stack-state: webstack-prod is "
                               "UPDATE_IN_PROGRESS; wait; nothing was created")


def test_a_refused_call_fails_its_check_with_awss_words(account: Account) -> None:
    account.ami().zones("a", "b")
    account.rds.add_client_error("describe_db_engine_versions",
                                 service_error_code="AccessDenied",
                                 service_message="not authorized to perform: rds:Describe*",
                                 http_status_code=403)
    account.class_orderable()
    message = failure(account.run())
    assert "could not run DescribeDBEngineVersions: AccessDenied: not authorized" in message


def test_expired_credentials_stop_preflight_with_an_aws_error(account: Account) -> None:
    account.ec2.add_client_error("describe_images", service_error_code="ExpiredToken",
                                 http_status_code=400)
    with pytest.raises(AwsError, match="AWS rejected the credentials"):
        run_preflight(account.target, strict=False, emit=account.lines.append)


def test_several_failures_name_the_first_and_count_the_rest(account: Account) -> None:
    account.ami(exists=False).zones("a").version(POSTGRES_VERSION).class_orderable()
    message = failure(account.run())
    assert message.startswith("preflight failed: ami: ")
    assert "(and 1 more, see above)" in message


# --- an endpoint that does not implement the RDS calls ---------------------------------------

def test_unimplemented_rds_calls_are_skipped_in_one_line_each_and_pass(
        account: Account) -> None:
    account.ami().zones("a", "b")
    account.not_implemented("describe_db_engine_versions")
    account.not_implemented("describe_orderable_db_instance_options")
    checks = account.run()
    raise_on_failure(checks, strict=False)
    assert ENGINE_SKIPPED in account.lines
    assert ORDERABLE_SKIPPED in account.lines
    assert [c.ok for c in checks] == [True, True, None, None]


def test_quietly_only_what_did_not_pass_is_a_line_and_the_rest_one_verdict(
        account: Account) -> None:
    """What a deploy prints without --verbose: a skipped check is said; passing ones are the
    verdict the packaged line carries."""
    account.ami().zones("a", "b")
    account.not_implemented("describe_db_engine_versions")
    account.not_implemented("describe_orderable_db_instance_options")
    checks = account.run(quiet_ok=True)
    assert account.lines == [ENGINE_SKIPPED, ORDERABLE_SKIPPED]
    assert verdict(checks) == "preflight ok (2 skipped)"
    assert verdict([Check("ami", True, "fine")]) == "preflight ok"


def test_unimplemented_rds_calls_fail_under_strict(account: Account) -> None:
    account.ami().zones("a", "b")
    account.not_implemented("describe_db_engine_versions")
    account.not_implemented("describe_orderable_db_instance_options")
    checks = account.run(strict=True)
    message = failure(checks, strict=True)
    assert message.startswith(
        "preflight failed: engine-version: rds.describe_db_engine_versions not implemented by "
        f"this endpoint; cannot check PostgreSQL {POSTGRES_VERSION} (--strict-preflight)")


def test_a_skipped_check_fails_when_strict_is_applied_afterwards() -> None:
    checks = [Check("ami", True, "fine"), Check("engine-version", None, "not implemented")]
    raise_on_failure(checks, strict=False)
    assert "engine-version" in failure(checks, strict=True)


# --- moto, as the local endpoint serves it ---------------------------------------------------

@pytest.mark.parametrize("region", sorted(AMIS))
def test_moto_in_process_knows_the_pinned_amis_and_skips_the_rds_checks(region: str) -> None:
    """moto's dated snapshot serves the AMI ids in regions.py; its RDS does not do PostgreSQL:
    describe_db_engine_versions raises NotImplementedError in-process, and
    describe_orderable_db_instance_options answers [] for every PostgreSQL query."""
    lines: list[str] = []
    with mock_aws():
        checks = run_preflight(Target("dev", region, "webstack-dev"), strict=False,
                               emit=lines.append)
    raise_on_failure(checks, strict=False)
    assert lines[0] == f"preflight: ami ok: {AMIS[region]} exists in {region}"
    assert lines[1].startswith("preflight: availability-zones ok: ")
    assert lines[2:] == [ENGINE_SKIPPED, ORDERABLE_EMPTY]




def test_moto_server_answers_500_html_which_is_read_as_not_implemented(moto_url: str) -> None:
    """The moto server turns NotImplementedError into an HTML 500 page (botocore: a
    ResponseParserError, not a ClientError); on a local endpoint that means "not implemented"."""
    lines: list[str] = []
    target = Target("dev", REGION, "webstack-dev", endpoint_url=moto_url)
    checks = run_preflight(target, strict=False, emit=lines.append)
    raise_on_failure(checks, strict=False)
    assert lines[2:] == [ENGINE_SKIPPED, ORDERABLE_EMPTY]
    strict = run_preflight(target, strict=True, emit=lines.append)
    assert "not implemented by this endpoint" in failure(strict, strict=True)
