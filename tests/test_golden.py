"""build/ is exactly what the source renders: the released bytes are reviewable."""

from __future__ import annotations

import difflib

from scripts.build.render import render
from scripts.paths import BUILD_DIR

FIX = "run `webstack build` and commit build/ with the source change"


def test_build_matches_a_fresh_render():
    rendered = render()
    on_disk = {p.name for p in BUILD_DIR.glob("*.yaml")}
    assert on_disk == set(rendered), f"build/ holds {sorted(on_disk)}; {FIX}"
    for name, text in rendered.items():
        committed = (BUILD_DIR / name).read_text(encoding="utf-8")
        if committed != text:
            diff = "".join(difflib.unified_diff(
                committed.splitlines(keepends=True), text.splitlines(keepends=True),
                f"build/{name} (committed)", f"build/{name} (fresh render)",
            ))
            raise AssertionError(f"build/{name} is stale; {FIX}\n{diff}")


def test_rendering_is_byte_stable():
    assert render() == render()
