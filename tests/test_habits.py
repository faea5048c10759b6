"""The AWS tools' habits webstack keeps: where the region comes from, and listings exit 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import cli, inputs
from scripts.deploy.aws import reset_sessions
from scripts.errors import Exit, UsageError

REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE")


@pytest.fixture
def aws_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config file with a default region and a profile of its own; no region variable."""
    for name in REGION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config"
    config.write_text("[default]\nregion = us-west-2\n\n"
                      "[profile ops]\nregion = eu-west-1\n", encoding="utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    reset_sessions()
    return config


def regions(*argv: str) -> list[str]:
    reset_sessions()
    args = cli.build_parser().parse_args(["outputs", "--env", "dev", *argv])
    return list(inputs.options(args).regions)


def test_the_region_comes_from_the_flag_then_aws_region_then_aws_default_region_then_the_profile(
        aws_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert regions() == ["us-west-2"]  # the default profile's region (the map has three)
    assert regions("--profile", "ops") == ["eu-west-1"]  # the profile's own
    monkeypatch.setenv("AWS_PROFILE", "ops")
    assert regions() == ["eu-west-1"]
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert regions() == ["us-east-1"]
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    assert regions() == ["us-west-2"]
    assert regions("--region", "eu-west-1") == ["eu-west-1"]


def test_no_region_anywhere_is_one_line_naming_every_place_it_can_come_from(
        aws_config: Path) -> None:
    aws_config.write_text("[default]\noutput = json\n", encoding="utf-8")
    with pytest.raises(UsageError) as raised:
        regions()
    message = str(raised.value)
    assert raised.value.exit_code == Exit.USAGE
    assert all(where in message for where in ("--region", "AWS_REGION", "AWS_DEFAULT_REGION",
                                              "~/.aws/config"))


def test_a_profile_that_does_not_exist_is_named(aws_config: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["outputs", "--env", "dev", "--profile", "nobody"])
    assert code == Exit.AWS
    assert "AWS profile 'nobody' not found" in capsys.readouterr().err


def test_engine_versions_is_a_listing_and_exits_0_for_any_major(
        capsys: pytest.CaptureFixture[str]) -> None:
    for major in ("16", "9"):  # one the pin is not in, one RDS no longer has
        assert cli.main(["engine-versions", "--major", major]) == Exit.OK, major
        assert f"PostgreSQL {major}.x that RDS can create" in capsys.readouterr().out


def test_refresh_amis_takes_local_as_the_credentials_error_suggests(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from scripts.local import endpoint

    monkeypatch.setattr(endpoint, "ensure_running", lambda: "http://localhost:1")
    args = cli.build_parser().parse_args(["refresh-amis", "--local", "--check",
                                          "--output", str(tmp_path / "regions.py")])
    with pytest.raises(Exception, match="http://localhost:1"):  # it went to that endpoint
        args.handler(args)
