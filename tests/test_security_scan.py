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


def test_the_tests_read_the_saved_report_only_when_it_was_made_from_this_build(
        tmp_path, monkeypatch):
    """tox's security environment scans once and its tests read that report; a report made
    from another build/ (or none) means a new scan."""
    import json

    from scripts.tools import security_scan as module

    scans: list[int] = []
    fresh = module.ScanReport({}, 1.0, {"results": {}})
    monkeypatch.setattr(module, "scan", lambda *_, **__: scans.append(1) or fresh)
    saved = tmp_path / "checkov.json"
    raw = {"results": {"failed_checks": [{"file_path": "/dev/storage.yaml", "check_id": "CKV_X",
                                          "resource": "AWS::S3::Bucket.B"}]}}
    saved.write_text(json.dumps(raw), encoding="utf-8")
    monkeypatch.setenv(module.REPORT_ENV, str(saved))

    assert module.saved_or_scan() is fresh and scans == [1], "no digest: not trusted"
    digest = tmp_path / f"checkov.json{module.BUILD_DIGEST_SUFFIX}"
    digest.write_text("another build", encoding="utf-8")
    assert module.saved_or_scan() is fresh and scans == [1, 1], "another build/: scanned again"
    digest.write_text(module.build_digest(), encoding="utf-8")
    report = module.saved_or_scan()
    assert scans == [1, 1] and [r.check_id for r in report.failed] == ["CKV_X"]
