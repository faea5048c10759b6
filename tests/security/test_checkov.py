"""checkov, the independent scanner: nothing fails, and every skip is declared and explained.

Runs only in ``tox run -e security`` (marker ``security``), where checkov lives in a virtualenv
of its own. The verdicts come from checkov's JSON report, never from its exit code alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.build import yamlio
from scripts.paths import BUILD_DIR
from scripts.tools.security_scan import (
    BUILD_TARGET,
    Result,
    ScanReport,
    saved_or_scan,
    write_targets,
)
from templates_src.environments import ENVIRONMENT_NAMES
from templates_src.stacks import CHILDREN

pytestmark = pytest.mark.security

MAX_SKIPS = 3
TARGETS = [BUILD_TARGET, *ENVIRONMENT_NAMES]

Declared = dict[tuple[str, str, str], str]  # (file, logical id, check id) -> reason


@pytest.fixture(scope="module")
def report() -> ScanReport:
    return saved_or_scan()


def declared_skips() -> Declared:
    """Every ``Metadata: {checkov: {skip: [...]}}`` in build/, with its reason."""
    found: Declared = {}
    for path in sorted(BUILD_DIR.glob("*.yaml")):
        for logical_id, resource in yamlio.load(path.read_text(encoding="utf-8"))[
                "Resources"].items():
            for skip in (resource.get("Metadata") or {}).get("checkov", {}).get("skip", []):
                found[(path.name, logical_id, skip["id"])] = skip.get("comment", "")
    return found


def logical_id(result: Result) -> str:
    return result.resource.rsplit(".", 1)[-1]  # "AWS::S3::Bucket.LogBucket" -> "LogBucket"


def test_every_target_was_scanned_and_parsed(report):
    assert list(report.targets) == TARGETS
    for target, verdicts in report.targets.items():
        assert verdicts.parsing_errors == [], target
        files = {r.file for r in [*verdicts.passed, *verdicts.failed, *verdicts.skipped]}
        assert files >= {f"{child}.yaml" for child in CHILDREN}, target
        assert len(verdicts.passed) > 50, f"{target}: too few checks ran to mean anything"


def test_no_check_fails_in_build_or_any_environment(report):
    failed = [f"{r.check_id} {r.resource} in {r.target}/{r.file}" for r in report.failed]
    assert failed == [], "checkov failed:\n" + "\n".join(failed)


def test_every_skip_is_declared_in_the_resources_metadata_with_a_reason(report):
    declared = declared_skips()
    unexplained = []
    for verdicts in report.targets.values():
        for result in verdicts.skipped:
            reason = declared.get((result.file, logical_id(result), result.check_id), "")
            if not reason.strip() or result.comment != reason:
                unexplained.append(f"{result.check_id} {result.resource} in "
                                   f"{result.target}/{result.file}")
    assert unexplained == [], "skipped without a reason in Metadata:\n" + "\n".join(unexplained)


def test_at_most_three_skips_each_one_line_and_each_still_needed(report):
    declared = declared_skips()
    assert 0 < len(declared) <= MAX_SKIPS, sorted(declared)
    for key, reason in declared.items():
        assert reason.strip() and "\n" not in reason, key
        for target in TARGETS:
            used = {(r.file, logical_id(r), r.check_id) for r in report.targets[target].skipped}
            assert key in used, f"{key} is declared but checkov never skipped it in {target}"


def test_environments_are_scanned_resolved_with_a_certificate(tmp_path: Path):
    write_targets(tmp_path, ["prod"])
    resolved = (tmp_path / "prod" / "database.yaml").read_text(encoding="utf-8")
    assert "FindInMap" not in resolved and "MultiAZ: 'true'" in resolved
    compute = (tmp_path / "prod" / "compute.yaml").read_text(encoding="utf-8")
    assert "HttpsListener" in compute and "HttpForwardRule" not in compute


# What checkov must see passing on what security round two added, in every target: the
# database's own log groups encrypted and expiring; the scoped roles and the instances' log
# grant free of write-without-constraint, privilege escalation and exfiltration.
EXPECTED_PASSING = {
    ("database.yaml", "DatabasePostgresqlLogGroup"): {"CKV_AWS_158", "CKV_AWS_66"},
    ("database.yaml", "DatabaseUpgradeLogGroup"): {"CKV_AWS_158", "CKV_AWS_66"},
    ("database.yaml", "DatabaseMonitoringLogGroup"): {"CKV_AWS_158", "CKV_AWS_66"},
    ("iam.yaml", "InstanceRole"): {"CKV_AWS_60", "CKV_AWS_63", "CKV_AWS_107", "CKV_AWS_108",
                                   "CKV_AWS_109", "CKV_AWS_110", "CKV_AWS_111"},
    ("compute.yaml", "AppLogGroupWrite"): {"CKV_AWS_107", "CKV_AWS_108", "CKV_AWS_109",
                                           "CKV_AWS_110", "CKV_AWS_111"},
    ("network.yaml", "FlowLogRole"): {"CKV_AWS_60", "CKV_AWS_111"},
    ("database.yaml", "DatabaseMonitoringRole"): {"CKV_AWS_60", "CKV_AWS_111"},
    ("storage.yaml", "DataKey"): {"CKV_AWS_7", "CKV_AWS_33"},
}


def test_checkov_sees_the_round_two_controls_pass_in_every_target(report):
    for target in TARGETS:
        passed: dict[tuple[str, str], set[str]] = {}
        for result in report.targets[target].passed:
            passed.setdefault((result.file, logical_id(result)), set()).add(result.check_id)
        for resource, checks in EXPECTED_PASSING.items():
            assert checks <= passed.get(resource, set()), (target, resource)
