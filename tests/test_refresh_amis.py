"""refresh-amis regenerates the pinned AMI map exactly, shows the change, and fails in one line."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from unittest import mock

import boto3
import pytest
from botocore.stub import Stubber

from scripts import cli
from scripts.build import refresh_amis
from scripts.build.refresh_amis import SSM_PARAMETER, parse_module, render_module
from scripts.deploy import aws
from templates_src import regions

COMMITTED = Path(regions.__file__)
COMMITTED_DAY = date(2026, 11, 29)
MOTO_SOURCE = "local endpoint (moto 5.2.5 dated snapshot)"
NEW_AMI = "ami-0123456789abcdef0"


@pytest.fixture(autouse=True)
def no_ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Whatever the developer's shell has configured must not reach these tests."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SSM",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    aws.reset_sessions()  # a session cached by an earlier test may hold its credentials




def main(argv: list[str], *, today: date | None = None,
         client_factory: refresh_amis.ClientFactory | None = None) -> int:
    """``webstack refresh-amis ARGV``, with the day and the SSM clients chosen by the test."""
    with mock.patch.object(refresh_amis, "today", lambda: today or date.today()):
        if client_factory is None:
            return cli.main(["refresh-amis", *argv])
        with mock.patch.object(refresh_amis, "client_factory",
                               lambda _profile, _endpoint: client_factory):
            return cli.main(["refresh-amis", *argv])


@pytest.fixture
def pinned(tmp_path: Path) -> Path:
    """A copy of the committed regions.py: the tests write here, never to the repo."""
    copy = tmp_path / "regions.py"
    shutil.copyfile(COMMITTED, copy)
    return copy


def stubbed(values: Mapping[str, str | None]) -> refresh_amis.ClientFactory:
    """SSM clients answering from the botocore model; None means ParameterNotFound."""
    clients: dict[str, refresh_amis.SsmClient] = {}
    for region, value in values.items():
        client = boto3.client(
            "ssm",
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        stubber = Stubber(client)
        if value is None:
            stubber.add_client_error(
                "get_parameter",
                service_error_code="ParameterNotFound",
                http_status_code=400,
                expected_params={"Name": SSM_PARAMETER},
            )
        else:
            stubber.add_response(
                "get_parameter",
                {
                    "Parameter": {
                        "Name": SSM_PARAMETER,
                        "Type": "String",
                        "Value": value,
                        "Version": 1,
                        "ARN": f"arn:aws:ssm:{region}::parameter{SSM_PARAMETER}",
                        "DataType": "text",
                    }
                },
                {"Name": SSM_PARAMETER},
            )
        stubber.activate()
        clients[region] = client
    return clients.__getitem__


def one_line_error(err: str) -> str:
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("webstack refresh-amis: ")
    return err


def test_rendering_the_committed_values_reproduces_the_committed_file_byte_for_byte() -> None:
    text = render_module(regions.AMIS, MOTO_SOURCE, COMMITTED_DAY)

    assert text == COMMITTED.read_text(encoding="utf-8")
    assert regions.SOURCE == MOTO_SOURCE
    assert COMMITTED_DAY.isoformat() == regions.REFRESHED


def test_committed_map_is_what_moto_serves_and_a_stale_copy_is_rewritten_to_it(
    moto_url: str, pinned: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    served = {
        region: boto3.client(
            "ssm",
            region_name=region,
            endpoint_url=moto_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).get_parameter(Name=SSM_PARAMETER)["Parameter"]["Value"]
        for region in regions.REGIONS
    }
    stale = pinned.read_text(encoding="utf-8").replace(regions.AMIS["us-east-1"], NEW_AMI)
    pinned.write_text(stale, encoding="utf-8")

    code = main(["--endpoint-url", moto_url, "--output", str(pinned)], today=COMMITTED_DAY)

    assert code == 0
    written = parse_module(pinned.read_text(encoding="utf-8"))
    assert written is not None
    assert written.amis == served == regions.AMIS
    assert pinned.read_bytes() == COMMITTED.read_bytes()
    assert f'-    "us-east-1": "{NEW_AMI}",' in capsys.readouterr().out


def test_rerun_with_nothing_new_leaves_the_file_and_its_date_alone(
    moto_url: str, pinned: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--endpoint-url", moto_url, "--output", str(pinned)], today=date(2027, 1, 1))

    assert code == 0
    assert capsys.readouterr().out == "AMI map unchanged\n"
    assert pinned.read_bytes() == COMMITTED.read_bytes()


def test_a_missing_output_is_generated_for_the_repo_regions(moto_url: str, tmp_path: Path) -> None:
    fresh = tmp_path / "regions.py"

    assert main(["--endpoint-url", moto_url, "--output", str(fresh)], today=COMMITTED_DAY) == 0
    assert fresh.read_bytes() == COMMITTED.read_bytes()


def test_aws_endpoint_url_environment_variable_points_at_moto(
    moto_url: str, pinned: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)

    assert main(["--check", "--output", str(pinned)]) == 0
    assert capsys.readouterr().out == "AMI map unchanged\n"


def test_a_changed_ami_shows_region_and_both_ids_and_check_exits_1_without_writing(
    pinned: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    served = {**regions.AMIS, "us-east-1": NEW_AMI}

    code = main(["--check", "--output", str(pinned)], client_factory=stubbed(served))

    assert code == 1
    diff = capsys.readouterr().out
    assert f'-    "us-east-1": "{regions.AMIS["us-east-1"]}",' in diff
    assert f'+    "us-east-1": "{NEW_AMI}",' in diff
    assert '"eu-west-1"' not in "".join(line for line in diff.splitlines() if line[:1] in "+-")
    assert pinned.read_bytes() == COMMITTED.read_bytes()


def test_a_changed_ami_is_written_with_todays_date(pinned: Path) -> None:
    served = {**regions.AMIS, "us-east-1": NEW_AMI}

    code = main(["--output", str(pinned)], today=date(2027, 1, 2), client_factory=stubbed(served))

    assert code == 0
    written = parse_module(pinned.read_text(encoding="utf-8"))
    assert written is not None
    assert written.amis == served
    assert written.refreshed == date(2027, 1, 2)
    assert written.source == "AWS SSM (public parameter)"


def test_dry_run_prints_the_diff_and_writes_nothing(
    pinned: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    served = {**regions.AMIS, "us-west-2": NEW_AMI}

    assert main(["--dry-run", "--output", str(pinned)], client_factory=stubbed(served)) == 0
    assert f'+    "us-west-2": "{NEW_AMI}",' in capsys.readouterr().out
    assert pinned.read_bytes() == COMMITTED.read_bytes()


def test_an_unreachable_endpoint_is_one_line_and_exit_4(
    pinned: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--endpoint-url", "http://localhost:1", "--output", str(pinned)])

    assert code == 4
    captured = capsys.readouterr()
    err = one_line_error(captured.err)
    assert "cannot reach the endpoint" in err and "http://localhost:1" in err
    assert captured.out == ""
    assert pinned.read_bytes() == COMMITTED.read_bytes()


def test_a_parameter_missing_in_a_region_names_that_region(
    pinned: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    served = {**regions.AMIS, "us-west-2": None}

    code = main(["--output", str(pinned)], client_factory=stubbed(served))

    assert code == 4
    err = one_line_error(capsys.readouterr().err)
    assert f"cannot read {SSM_PARAMETER} in us-west-2: ParameterNotFound" in err
    assert pinned.read_bytes() == COMMITTED.read_bytes()


def test_real_aws_without_credentials_says_how_to_fix_it(
    pinned: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SSM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code = main(["--region", "us-east-1", "--output", str(pinned)])

    assert code == 4
    err = one_line_error(capsys.readouterr().err)
    assert "in us-east-1: no AWS credentials; set AWS_PROFILE" in err


def test_an_unknown_region_is_rejected_before_any_call(
    pinned: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--region", "us-east-l", "--output", str(pinned)], client_factory=stubbed({}))

    assert code == 2
    assert "unknown region 'us-east-l'" in one_line_error(capsys.readouterr().err)


def test_a_value_that_is_not_an_ami_id_never_reaches_the_file(
    pinned: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    served = {**regions.AMIS, "eu-west-1": 'ami-1", "x": "y'}

    assert main(["--output", str(pinned)], client_factory=stubbed(served)) == 4
    assert "in eu-west-1: value" in one_line_error(capsys.readouterr().err)
    assert pinned.read_bytes() == COMMITTED.read_bytes()


@pytest.mark.parametrize(
    ("endpoint", "source"),
    [
        ("http://localhost:5000", MOTO_SOURCE),
        ("http://127.0.0.1:4566", MOTO_SOURCE),
        ("http://[::1]:5000", MOTO_SOURCE),
        ("https://ssm.us-east-1.amazonaws.com", "AWS SSM (public parameter)"),
        (None, "AWS SSM (public parameter)"),
    ],
)
def test_source_names_where_the_ids_were_read(endpoint: str | None, source: str) -> None:
    assert refresh_amis.describe_source(endpoint) == source
