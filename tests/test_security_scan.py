"""The checkov runner's own logic, without checkov: targets, result grouping, a missing checkov."""

from __future__ import annotations

import pytest

from scripts.tools import security_scan
from scripts.tools.security_scan import BUILD_TARGET, ScanError, checkov_executable, write_targets
from templates_src.environments import ENVIRONMENT_NAMES


def test_targets_are_build_and_each_environment_resolved(tmp_path):
    targets = write_targets(tmp_path, list(ENVIRONMENT_NAMES))
    assert targets == [BUILD_TARGET, *ENVIRONMENT_NAMES]
    build = sorted(p.name for p in (tmp_path / BUILD_TARGET).glob("*.yaml"))
    for environment in ENVIRONMENT_NAMES:
        assert sorted(p.name for p in (tmp_path / environment).glob("*.yaml")) == build
        database = (tmp_path / environment / "database.yaml").read_text(encoding="utf-8")
        assert "!FindInMap" not in database and "Mappings" not in database
    assert "!FindInMap" in (tmp_path / BUILD_TARGET / "database.yaml").read_text(encoding="utf-8")


def test_results_are_grouped_by_target_with_their_skip_reasons():
    report = {"results": {
        "passed_checks": [{"file_path": "/dev/storage.yaml", "check_id": "CKV_AWS_7",
                           "resource": "AWS::KMS::Key.DataKey"}],
        "failed_checks": [{"file_path": "/prod/compute.yaml", "check_id": "CKV_AWS_91",
                           "resource": "AWS::ElasticLoadBalancingV2::LoadBalancer.LoadBalancer"}],
        "skipped_checks": [{"file_path": "/build/storage.yaml", "check_id": "CKV_AWS_18",
                            "resource": "AWS::S3::Bucket.LogBucket",
                            "check_result": {"result": "SKIPPED", "suppress_comment": "why"}}],
        "parsing_errors": ["/staging/broken.yaml"],
    }}
    targets = security_scan.split_by_target(report, ["build", "dev", "staging", "prod"])
    assert [r.check_id for r in targets["dev"].passed] == ["CKV_AWS_7"]
    (failed,) = targets["prod"].failed
    assert str(failed) == ("prod/compute.yaml: CKV_AWS_91 "
                           "AWS::ElasticLoadBalancingV2::LoadBalancer.LoadBalancer")
    (skipped,) = targets["build"].skipped
    assert (skipped.file, skipped.comment) == ("storage.yaml", "why")
    assert targets["staging"].parsing_errors == ["/staging/broken.yaml"]
    assert targets["dev"].counts() == "1 passed, 0 failed, 0 skipped"


def test_a_missing_checkov_is_one_line_naming_the_fix(monkeypatch):
    monkeypatch.setenv(security_scan.CHECKOV_ENV, "/nowhere/checkov")
    with pytest.raises(ScanError, match="tox run -e security") as error:
        checkov_executable()
    assert "\n" not in str(error.value)
    assert security_scan.main([]) == ScanError.exit_code
