"""``webstack lint --format sarif|junit``: cfn-lint's own formatters, resolved findings named.

The clean build as an empty SARIF and exit 0 is checked in test_gate.py, together with the
shipped set passing: both are the same uncached gate run over build/."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from scripts.build import yamlio
from scripts.build.gate import Finding, gate_set
from scripts.build.lint_report import formatted
from scripts.paths import BUILD_DIR


@pytest.fixture(scope="module")
def bad_prod(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """compute.yaml with an instance type that exists nowhere, in the prod column only."""
    template = yamlio.load((BUILD_DIR / "compute.yaml").read_text(encoding="utf-8"))
    template["Mappings"]["EnvironmentConfig"]["prod"]["InstanceType"] = "m6i.hugeish"
    path = tmp_path_factory.mktemp("lint") / "compute.yaml"
    text = yamlio.dump(template)
    path.write_text(text, encoding="utf-8")
    return path, text


@pytest.fixture(scope="module")
def findings(bad_prod: tuple[Path, str], gate: Any) -> list[Finding]:
    path, text = bad_prod
    return gate_set({str(path): text}, gate)


def test_sarif_names_the_environment_and_points_at_the_line_in_the_file(
        bad_prod: tuple[Path, str], findings: list[Finding], gate: Any):
    path, text = bad_prod
    sarif = json.loads(formatted(findings, gate, "sarif"))
    results = sarif["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"E3628"}
    assert sorted(r["message"]["text"].split("]")[0] for r in results) == [
        "[prod, resolved for eu-west-1", "[prod, resolved for us-east-1",
        "[prod, resolved for us-west-2"]
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "InstanceType: !FindInMap" in t)
    for result in results:
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == str(path)
        assert location["region"]["startLine"] == line
    assert [rule["id"] for rule in sarif["runs"][0]["tool"]["driver"]["rules"]] == ["E3628"]


def test_junit_has_a_case_per_rule_and_the_failures_under_it(findings: list[Finding],
                                                              gate: Any):
    suite = ET.fromstring(formatted(findings, gate, "junit")).find("testsuite")
    assert suite is not None
    cases = {case.get("name", "").split(" ")[0]: case for case in suite.iter("testcase")}
    assert {"E3628", "E9101", "E9102", "E9103", "E9104"} <= set(cases)
    failures = cases["E3628"].findall("failure")
    assert len(failures) == 3 and all("[prod, resolved for" in f.get("message", "")
                                      for f in failures)
    assert cases["E9101"].find("failure") is None and cases["E9101"].find("skipped") is None


def test_a_set_that_does_not_resolve_is_reported_under_the_gates_own_rule(gate: Any):
    finding = Finding("build/database.yaml", "prod/us-east-1", "resolve",
                      "EnvironmentConfig has no entry for 'prod'")
    (result,) = json.loads(formatted([finding], gate, "sarif"))["runs"][0]["results"]
    assert result["ruleId"] == "E9100"
    assert result["message"]["text"].startswith("[prod/us-east-1] EnvironmentConfig")
