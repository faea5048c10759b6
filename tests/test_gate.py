"""The gate: the shipped set is clean, and a rotten version or a bad table value is fatal."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.build.gate import Finding, gate_set
from scripts.paths import BUILD_DIR, REPO_ROOT
from templates_src.versions import POSTGRES_VERSION


def _build() -> dict[str, str]:
    return {f"build/{p.name}": p.read_text(encoding="utf-8") for p in BUILD_DIR.glob("*.yaml")}


def _database_with(version: str, metadata: str = "") -> str:
    text = (BUILD_DIR / "database.yaml").read_text(encoding="utf-8")
    assert f"EngineVersion: '{POSTGRES_VERSION}'" in text
    return metadata + text.replace(f"EngineVersion: '{POSTGRES_VERSION}'",
                                   f"EngineVersion: '{version}'")


def _rules(findings: list[Finding]) -> set[str]:
    return {f.rule for f in findings}


def test_the_shipped_set_passes_in_every_environment_and_lint_reports_an_empty_sarif(capsys):
    """One uncached gate run over build/ for both: ``webstack lint --format sarif`` runs
    gate_set on exactly these texts (build/NAME.yaml) with a Gate of its own, never the cache,
    and exits 0 only when it finds nothing. (Was also test_lint_report's clean-build test.)"""
    from scripts.cli import main

    code = main(["lint", "--format", "sarif"])
    out, err = capsys.readouterr()
    assert json.loads(out)["runs"][0]["results"] == []
    assert code == 0
    assert "gate: 0 finding(s) in 8 template(s)" in err


@pytest.mark.parametrize("version", ["13.7", "13.22"])
def test_a_deprecated_engine_version_fails_naming_w3691(gate, version):
    findings = gate_set({"copy/database.yaml": _database_with(version)}, gate)
    assert "W3691" in _rules(findings)
    assert any(version in f.message for f in findings if f.rule == "W3691")


def test_template_metadata_cannot_silence_the_engine_check(gate):
    silenced = "Metadata:\n  cfn-lint:\n    config:\n      ignore_checks: [W3691, E3691]\n"
    findings = gate_set({"copy/database.yaml": _database_with("13.7", silenced)}, gate)
    assert "W3691" in _rules(findings)


def test_an_unknown_engine_version_fails_naming_e3691(gate):
    assert "E3691" in _rules(gate_set({"copy/database.yaml": _database_with("13.99")}, gate))


def _compute_with_prod_instance_type(instance_type: str) -> str:
    text = (BUILD_DIR / "compute.yaml").read_text(encoding="utf-8")
    prod = text.index("    prod:\n")
    return text[:prod] + text[prod:].replace("InstanceType: m6i.large",
                                             f"InstanceType: {instance_type}", 1)


def test_a_bad_instance_type_in_the_prod_column_fails_in_prod_only(gate):
    findings = gate_set({"copy/compute.yaml": _compute_with_prod_instance_type("m6i.huge")}, gate)
    assert findings, "a bad prod instance type passed the gate"
    resolved = [f for f in findings if "resolved" in f.template]
    assert resolved and all("[prod," in f.template for f in resolved)
    assert any("m6i.huge" in f.message for f in resolved)


def test_a_db_class_rds_does_not_offer_for_the_engine_fails(gate):
    text = (BUILD_DIR / "database.yaml").read_text(encoding="utf-8")
    prod = text.index("    prod:\n")
    bad = text[:prod] + text[prod:].replace("DbInstanceClass: db.m6g.large",
                                            "DbInstanceClass: db.m1.small", 1)
    findings = gate_set({"copy/database.yaml": bad}, gate)
    assert any("[prod," in f.template and "db.m1.small" in f.message for f in findings)


def test_plain_cfn_lint_at_the_repo_root_agrees(tmp_path):
    cfn_lint = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or "cfn-lint"
    clean = subprocess.run([cfn_lint], cwd=REPO_ROOT,
                           capture_output=True, text=True, check=False)
    assert (clean.returncode, clean.stdout) == (0, "")
    copy = tmp_path / "database.yaml"
    copy.write_text(_database_with("13.7", "Metadata:\n  cfn-lint:\n    config:\n"
                                           "      ignore_checks: [W3691]\n"), encoding="utf-8")
    rotten = subprocess.run([cfn_lint, str(copy)], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=False)
    assert rotten.returncode != 0
    assert "W3691" in rotten.stdout


def test_only_clean_verdicts_are_cached_and_any_change_is_a_new_key(tmp_path, monkeypatch):
    import scripts.build.gate as gate_module

    monkeypatch.setattr(gate_module, "CACHE_DIR", tmp_path)
    calls: list[int] = []

    def fake_gate(texts, **_):
        calls.append(1)
        return [] if "ok" in texts["t"] else [Finding("t", "1", "E0000", "bad")]

    monkeypatch.setattr(gate_module, "gate_set", fake_gate)
    assert gate_module.gate_set_cached({"t": "ok"}) == []
    assert gate_module.gate_set_cached({"t": "ok"}) == []
    assert len(calls) == 1, "an unchanged clean input must not be linted twice"
    assert gate_module.gate_set_cached({"t": "bad"}) != []
    assert gate_module.gate_set_cached({"t": "bad"}) != []
    assert len(calls) == 3, "findings must never be cached"
    assert gate_module.verdict_key({"t": "ok"}) != gate_module.verdict_key({"t": "ok "})


def test_a_second_asker_waits_for_the_verdict_being_linted_instead_of_linting_again(
        tmp_path, monkeypatch):
    """Two deploys (or the test suite's two workers) gating the same set at once lint it once."""
    import threading
    import time

    import scripts.build.gate as gate_module

    monkeypatch.setattr(gate_module, "CACHE_DIR", tmp_path)
    calls: list[int] = []
    linting = threading.Event()

    def slow_gate(texts, **_):
        calls.append(1)
        linting.set()
        time.sleep(0.3)  # the second asker arrives while this lint runs
        return []

    monkeypatch.setattr(gate_module, "gate_set", slow_gate)
    first = threading.Thread(target=gate_module.gate_set_cached, args=({"t": "ok"},))
    first.start()
    assert linting.wait(10)
    assert gate_module.gate_set_cached({"t": "ok"}) == []
    first.join()
    assert calls == [1], "the second asker linted the same input again"


def test_only_what_resolution_can_change_is_resolved_and_regions_only_where_a_map_needs_them():
    from scripts.build import yamlio
    from scripts.build.gate import resolved_targets

    texts = {f"build/{p.name}": yamlio.load(p.read_text(encoding="utf-8"))
             for p in BUILD_DIR.glob("*.yaml")}
    regions = ("us-east-1", "us-west-2", "eu-west-1")
    targets, problems = resolved_targets(texts, ["dev", "prod"], regions)
    assert problems == []
    by_stack: dict[str, list[tuple[str, ...]]] = {}
    for target in targets:
        by_stack.setdefault(target.label.split(" ")[0], []).append(target.regions)
    # compute reads the AMI by region: one text per environment and region
    assert by_stack["build/compute.yaml"] == [(r,) for r in regions] * 2
    # network reads only the environment table: one text per environment, every region
    assert by_stack["build/network.yaml"] == [regions, regions]
    # a template with no Mappings and no Conditions resolves to its parameters' values only
    for label, body in texts.items():
        if not body.get("Mappings") and not body.get("Conditions"):
            assert label not in by_stack
