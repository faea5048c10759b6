"""The bench's test-command section: what it runs, in which caches, and how it reads tox."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.tools import bench, testcommand
from scripts.tools.testcommand import Run

SUMMARY = """\
  py: OK (179.95=setup[18.42]+cmd[160.85] seconds)
  lint: FAIL code 1 (12.11=setup[11.93]+cmd[0.18,3.5] seconds)
  build-check: OK (145.83=setup[17.67]+cmd[128.16] seconds)
  evaluation failed :( (180.00 seconds)
"""


def test_it_times_the_readmes_own_test_command_step_by_step():
    command = testcommand.readme_test_command()
    assert command.startswith("python3 -m venv .venv && ")
    assert testcommand.steps(command)[-1].startswith(".venv/bin/tox ")
    assert " && ".join(testcommand.steps(command)) == command


def test_tox_summary_gives_setup_and_command_seconds_per_environment():
    assert testcommand.tox_summary(SUMMARY) == {
        "py": (18.42, 160.85), "lint": (11.93, 3.68), "build-check": (17.67, 128.16)}


def test_every_package_cache_points_at_the_given_folder(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("VIRTUAL_ENV", "/somewhere/.venv")
    monkeypatch.setenv("PATH", "/somewhere/.venv/bin:/usr/bin")
    monkeypatch.setenv("TOX_PARALLEL", "1")
    env = testcommand.run_environment(tmp_path)
    assert {env[name] for name in testcommand.CACHE_VARIABLES} == {str(tmp_path)}
    assert "VIRTUAL_ENV" not in env and "TOX_PARALLEL" not in env
    assert env["PATH"] == "/usr/bin" and "PYTHONDONTWRITEBYTECODE" not in env


def test_cold_and_warm_are_judged_against_two_and_one_minutes():
    runs = [Run("cold", [("a", 100.0), ("b", 30.0)], {"py": (5.0, 90.0)}),
            Run("warm", [("a", 5.0), ("b", 50.0)], {"py": (1.0, 45.0)})]
    got = {f.key: f for f in testcommand.figures(runs, "a && b")}
    assert (got["test_command_cold"].median, got["test_command_cold"].met) == (130.0, False)
    assert (got["test_command_warm"].median, got["test_command_warm"].met) == (55.0, True)
    assert got["test_command_warm_py_setup"].samples == [1.0]


def test_the_section_runs_only_when_asked_for():
    args = bench.build_parser().parse_args(["--only", "test-command"])
    assert args.only == ["test-command"] and "test-command" not in bench.SECTIONS
