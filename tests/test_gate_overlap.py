"""A cold build renders and resolves in a forked child while cfn-lint starts up
(``gate_rendered``): the verdict is the gate's, and a render error is still the user's error."""

from __future__ import annotations

import pytest

import scripts.build.gate as gate_module
from scripts.errors import SourceError
from scripts.paths import BUILD_DIR


@pytest.fixture
def forking(gate, monkeypatch):
    """The session's gate (no second start-up) and a fork even if pytest runs threads."""
    monkeypatch.setattr(gate_module, "Gate", lambda: gate)
    monkeypatch.setattr(gate_module, "_can_fork", lambda: True)
    monkeypatch.setenv("WEBSTACK_GATE_JOBS", "2")
    return gate


def _bad_prod_compute() -> dict[str, str]:
    text = (BUILD_DIR / "compute.yaml").read_text(encoding="utf-8")
    prod = text.index("    prod:\n")
    return {"copy/compute.yaml": text[:prod] + text[prod:].replace(
        "InstanceType: m6i.large", "InstanceType: m6i.huge", 1)}


def test_the_child_renders_and_the_verdict_is_the_gates(forking):
    calls: list[str] = []

    def render() -> dict[str, str]:
        calls.append("rendered")  # in the child's memory: this process never sees it
        return _bad_prod_compute()

    texts, findings = gate_module.gate_rendered(render)
    assert texts == _bad_prod_compute()
    assert calls == [], "the render ran in the child"
    assert findings == gate_module.gate_set(texts, forking)
    assert any(f.template.startswith("copy/compute.yaml [prod") and "m6i.huge" in f.message
               for f in findings)


def test_a_render_error_is_raised_here_not_lost_in_the_child(forking):
    calls: list[str] = []

    def render() -> dict[str, str]:
        calls.append("rendered")
        raise SourceError("environments.py: prod has no InstanceType; add it")

    with pytest.raises(SourceError, match="prod has no InstanceType"):
        gate_module.gate_rendered(render)
    assert calls == ["rendered"], "this process rendered again and met the error itself"


def test_a_set_where_one_template_changed_lints_only_that_templates_texts(gate, tmp_path,
                                                                           monkeypatch):
    """``CleanTargets`` (gate_set_cached's second level): clean texts are remembered, a text
    with findings never is, and a changed template is linted again whatever else was clean."""
    linted: list[str] = []
    real = gate.lint_each

    def spy(targets, jobs=None):
        targets = list(targets)
        linted.extend(t.label for t in targets)
        return real(targets, jobs=1)

    monkeypatch.setattr(gate, "lint_each", spy)
    cache = gate_module.CleanTargets(tmp_path, "salt")
    clean = {"copy/iam.yaml": (BUILD_DIR / "iam.yaml").read_text(encoding="utf-8"),
             "copy/compute.yaml": (BUILD_DIR / "compute.yaml").read_text(encoding="utf-8")}
    assert gate_module.gate_set(clean, gate, cache=cache) == []
    assert set(linted) == {"copy/iam.yaml", "copy/compute.yaml"}

    linted.clear()
    bad = {**clean, **_bad_prod_compute()}
    findings = gate_module.gate_set(bad, gate, cache=cache)
    assert any("m6i.huge" in f.message for f in findings)
    assert set(linted) == {"copy/compute.yaml"}, "iam.yaml was found clean before"

    linted.clear()
    assert gate_module.gate_set(bad, gate, cache=cache) == findings
    assert "copy/compute.yaml" in linted, "a text with findings is never remembered"
    linted.clear()
    gate_module.gate_set(clean, gate, cache=gate_module.CleanTargets(tmp_path, "other"))
    assert set(linted) == {"copy/iam.yaml", "copy/compute.yaml"}, "another salt knows nothing"
