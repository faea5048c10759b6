"""A deploy re-renders only when templates_src/, the render's code or build/ changed: the
freshness marker is a content hash, so a stale build/ is refused however it got stale."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scripts import paths
from scripts.build import verify
from scripts.errors import UsageError


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """build/ copied to a scratch folder, an empty marker cache, the gate counted (its own
    verdict is tested elsewhere), and the renders counted."""
    build = tmp_path / "build"
    shutil.copytree(paths.BUILD_DIR, build)
    monkeypatch.setattr(paths, "BUILD_DIR", build)
    monkeypatch.setattr(verify, "RENDER_CACHE", tmp_path / "render-cache")
    counts: dict[str, list[int]] = {"render": [], "gate": []}
    real_render = verify.fresh_render

    def counted_render() -> dict[str, str]:
        counts["render"].append(1)
        return real_render()

    monkeypatch.setattr(verify, "fresh_render", counted_render)
    monkeypatch.setattr(verify, "gate", lambda rendered, **_: counts["gate"].append(1) or [])
    return counts


def test_the_second_check_of_the_same_sources_and_build_skips_the_render(checkout):
    verify.check_build()
    verify.check_build()
    assert checkout == {"render": [1], "gate": [1, 1]}, "rendered once, gated every time"


def test_a_build_file_changed_after_a_clean_check_is_still_stale(checkout):
    verify.check_build()
    network = paths.BUILD_DIR / "network.yaml"
    network.write_text(network.read_text(encoding="utf-8").replace(
        "10.", "11.", 1), encoding="utf-8")
    with pytest.raises(UsageError, match=r"build/ is stale \(build/network.yaml\)"):
        verify.check_build()


def test_a_template_source_change_changes_the_key(tmp_path, monkeypatch):
    """The key covers templates_src/ and the render's own code (a copy of the checkout)."""
    root = tmp_path / "checkout"
    shutil.copytree(paths.REPO_ROOT / "templates_src", root / "templates_src")
    shutil.copytree(paths.REPO_ROOT / "scripts" / "build", root / "scripts" / "build")
    monkeypatch.setattr(paths, "REPO_ROOT", root)
    built = {"root.yaml": "AWSTemplateFormatVersion: '2010-09-09'\n"}
    keys = [verify.fresh_key(built)]
    environments = root / "templates_src" / "environments.py"
    environments.write_text(environments.read_text(encoding="utf-8") + "\n# edited\n",
                            encoding="utf-8")
    keys.append(verify.fresh_key(built))
    render = root / "scripts" / "build" / "yamlio.py"
    render.write_text(render.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    keys.append(verify.fresh_key(built))
    keys.append(verify.fresh_key({**built, "root.yaml": built["root.yaml"] + "# edited\n"}))
    assert None not in keys and len(set(keys)) == 4
