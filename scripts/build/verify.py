"""Build verification: render from source, compare with build/, and gate.

``webstack build``, ``build --check``, ``deploy``, ``plan`` and the bench all go through here,
so "what build/ should hold" and "is it safe to ship" are answered one way.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from scripts import paths
from scripts.build.gate import Finding, gate_set, gate_set_cached
from scripts.errors import Exit, SourceError, UsageError, WebstackError


def fresh_render() -> dict[str, str]:
    """Render in memory; a broken source (table, wiring) is a SourceError, not a traceback."""
    from templates_src.errors import TemplateSourceError

    try:
        from scripts.build.render import render

        return render()
    except TemplateSourceError as err:
        raise SourceError(str(err)) from err


def stale_files(rendered: Mapping[str, str], build_dir: Path) -> list[str]:
    """build/ files that differ from ``rendered``, are missing, or are no longer rendered."""
    stale = []
    for name, text in rendered.items():
        path = build_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(f"build/{name}")
    stale += [f"build/{p.name} (not rendered any more)" for p in sorted(build_dir.glob("*.yaml"))
              if p.name not in rendered]
    return stale


def gate(rendered: Mapping[str, str], *, cached: bool = True) -> list[Finding]:
    """The gate over a rendered set, labelled as build/ names them."""
    texts = {f"build/{name}": text for name, text in rendered.items()}
    return gate_set_cached(texts) if cached else gate_set(texts)


def check_build() -> None:
    """build/ must equal a fresh render and pass the gate; otherwise nothing is deployed."""
    rendered = fresh_render()
    stale = stale_files(rendered, paths.BUILD_DIR)
    if stale:
        raise UsageError(f"build/ is stale ({', '.join(stale)}); run 'webstack build' and "
                         "commit it before deploying")
    findings = gate(rendered)
    if findings:
        for finding in findings:
            print(finding, file=sys.stderr)
        raise WebstackError(f"the gate found {len(findings)} problem(s); nothing was deployed",
                            Exit.FINDINGS)
