"""One typo, one line: the closest valid values, once, not once per region."""

from __future__ import annotations

from typing import Any

import pytest

from scripts import cli
from scripts.build.condense import LONGEST_LIST, lines, shortened
from scripts.build.gate import Finding, LintTarget
from scripts.errors import Exit, did_you_mean

REGIONS = ("eu-west-1", "us-east-1", "us-west-2")
TYPO = """\
AWSTemplateFormatVersion: '2010-09-09'
Resources:
  LaunchTemplate:
    Type: AWS::EC2::LaunchTemplate
    Properties:
      LaunchTemplateData:
        InstanceType: m6i.huge
"""


def test_did_you_mean_names_the_closest_values_or_nothing() -> None:
    assert did_you_mean("prd", ["dev", "staging", "prod"]) == "did you mean 'prod'? "
    assert did_you_mean("PROD", ["dev", "staging", "prod"]) == "did you mean 'prod'? "
    assert did_you_mean("zzz", ["dev", "staging", "prod"]) == ""
    two_names = {"database": "database", "DatabaseStack": "database"}
    assert did_you_mean("Databse", two_names, aliases=two_names) == "did you mean 'database'? "


def test_a_typo_in_the_instance_type_is_one_line_with_the_close_types_for_all_regions(
        gate: Any) -> None:
    findings = [f for region in REGIONS for f in gate.lint(LintTarget(
        f"build/compute.yaml [dev, resolved for {region}]", TYPO, (region,), resolved=True))
        if f.rule == "E3628"]  # not the project's hardening rule, which this template breaks
    assert len(findings) == 3 and all(len(str(f)) > 10_000 for f in findings)  # as cfn-lint
    (line,) = lines(findings)
    assert line.startswith("build/compute.yaml [dev, resolved for eu-west-1, us-east-1, "
                           "us-west-2]:Resources/LaunchTemplate/")
    assert "'m6i.huge' is not one of the " in line and "did you mean 'm6i.large'" in line
    assert len(line) < 400


def test_a_short_enumeration_and_an_unresolved_finding_are_left_as_they_are() -> None:
    short = "'x' is not one of ['a', 'b', 'c']"
    assert shortened(short) == short
    long = "'t3.mirco' is not one of [" + ", ".join(
        f"'t{n}.micro'" for n in range(2, 3 + LONGEST_LIST)) + "]"
    assert shortened(long).startswith(f"'t3.mirco' is not one of the {LONGEST_LIST + 1} valid "
                                      "values; did you mean 't3.micro' or ")
    written = Finding("build/root.yaml", "Resources/X", "E3012", short)
    assert lines([written, written]) == [str(written)]


@pytest.mark.parametrize(("argv", "expected"), [
    (["show", "--env", "prd", "--region", "us-east-1"],
     "unknown environment 'prd'; did you mean 'prod'? valid: dev, staging, prod"),
    (["show", "--env", "dev", "--region", "us-east1"], "did you mean 'us-east-1'"),
    (["show", "--env", "dev", "--region", "us-east-1", "--param", "CostCentre=CC-1234"],
     "--param CostCentre is not a parameter of the root template; did you mean 'CostCenter'?"),
    (["show", "--env", "dev", "--region", "us-east-1", "Databse"],
     "unknown stack 'Databse'; did you mean 'database'? valid: root, storage (StorageStack)"),
    (["diff", "--env", "stagign"], "unknown environment 'stagign'; did you mean 'staging'?"),
])
def test_a_value_outside_its_set_names_the_closest_in_one_line(
        argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == Exit.USAGE
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1, err


@pytest.mark.parametrize("name", ["DatabaseStack", "databasestack"])
def test_show_takes_the_logical_id_that_plan_and_diff_print_as_well_as_the_short_name(
        name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["show", "--env", "dev", "--region", "us-east-1", "database"]) == 0
    short = capsys.readouterr().out
    assert cli.main(["show", "--env", "dev", "--region", "us-east-1", name]) == 0
    assert capsys.readouterr().out == short
    assert short.startswith("# build/database.yaml resolved for dev in us-east-1")
