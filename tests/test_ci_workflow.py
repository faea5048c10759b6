"""The example CI workflow runs exactly the commands the README documents."""

from __future__ import annotations

import re
from typing import Any

import yaml

from scripts.paths import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"


def _readme_section(title: str) -> str:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def _sh_lines(section: str) -> list[str]:
    return [line for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S)
            for line in block.splitlines() if line and not line.startswith("#")]


def _jobs() -> dict[str, Any]:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers
    jobs: dict[str, Any] = workflow["jobs"]
    return jobs


def _runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_every_pull_request_runs_the_readmes_test_command():
    test_command = _sh_lines(_readme_section("Two commands"))[1]
    assert _runs(_jobs()["test"]) == [test_command]


def test_the_gate_job_runs_exactly_the_commands_the_readme_documents():
    assert _runs(_jobs()["gate"]) == _sh_lines(_readme_section("Continuous integration"))


def test_the_gate_uploads_its_sarif_and_posts_the_diff_to_the_summary():
    steps = _jobs()["gate"]["steps"]
    upload = next(s for s in steps if str(s.get("uses", "")).startswith(
        "github/codeql-action/upload-sarif"))
    assert upload["with"]["sarif_file"] == "cfn-lint.sarif" and upload["if"] == "always()"
    runs = _runs(_jobs()["gate"])
    assert any("--format sarif > cfn-lint.sarif" in run for run in runs)
    assert any("diff --format markdown" in run and "$GITHUB_STEP_SUMMARY" in run for run in runs)
