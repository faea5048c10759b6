"""The gate forks workers to lint faster; the verdict is the same however many there are."""

from __future__ import annotations

import threading

import pytest

import scripts.build.gate as gate_module
from scripts.build.gate import LintTarget, lint_jobs, resolved_targets
from scripts.build.yamlio import load
from scripts.errors import UsageError
from scripts.paths import BUILD_DIR


def _bad_compute_targets(regions: tuple[str, ...]) -> list[LintTarget]:
    """compute.yaml with an instance type that does not exist in the prod column: the written
    text is clean, the prod resolved texts are not."""
    text = (BUILD_DIR / "compute.yaml").read_text(encoding="utf-8")
    prod = text.index("    prod:\n")
    bad = text[:prod] + text[prod:].replace("InstanceType: m6i.large",
                                            "InstanceType: m6i.huge", 1)
    resolved, problems = resolved_targets({"copy/compute.yaml": load(bad)},
                                          ["dev", "prod"], regions)
    assert not problems
    return [LintTarget("copy/compute.yaml", bad, regions), *resolved]


def test_forked_workers_find_exactly_what_one_process_finds(gate):
    targets = _bad_compute_targets(gate.regions)
    serial = gate.lint_all(targets, jobs=1)
    forked = sorted(gate.lint_forked(targets, 2))  # forks even if pytest runs threads
    assert serial, "the bad prod instance type should be found"
    assert forked == serial
    # Nothing of the run is left for the next one: a second run lints only its own texts.
    assert sorted(gate.lint_forked(targets[:1], 2)) == gate.lint_all(targets[:1], jobs=1)


def test_a_process_with_threads_lints_in_process(gate, monkeypatch):
    forks: list[int] = []
    monkeypatch.setattr(gate_module.Gate, "lint_forked",
                        lambda self, targets, workers: forks.append(workers) or [])
    targets = _bad_compute_targets(gate.regions)[:2]
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        findings = gate.lint_all(targets, jobs=2)
    finally:
        stop.set()
        other.join()
    assert forks == [], "never fork a multi-threaded process"
    assert findings == gate.lint_all(targets, jobs=1)


def test_jobs_come_from_the_environment_and_never_exceed_the_texts(monkeypatch):
    monkeypatch.setenv("WEBSTACK_GATE_JOBS", "1")
    assert lint_jobs(30) == 1
    monkeypatch.setenv("WEBSTACK_GATE_JOBS", "8")
    assert lint_jobs(3) == 3
    monkeypatch.setenv("WEBSTACK_GATE_JOBS", "two")
    with pytest.raises(UsageError, match="WEBSTACK_GATE_JOBS='two' is not a number"):
        lint_jobs(30)
