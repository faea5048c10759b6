"""Build verification: render from source, compare with build/, and gate.

``webstack build``, ``build --check``, ``deploy``, ``plan`` and the bench all go through here,
so "what build/ should hold" and "is it safe to ship" are answered one way.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from scripts import paths
from scripts.errors import Exit, SourceError, UsageError, WebstackError

if TYPE_CHECKING:  # the gate (cfn-lint's loader, yaml) is imported where it runs: render needs none
    from scripts.build.gate import Finding


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
    from scripts.build.gate import gate_set, gate_set_cached

    texts = _labelled(rendered)
    return gate_set_cached(texts) if cached else gate_set(texts)


def render_and_gate() -> tuple[dict[str, str], list[Finding]]:
    """``fresh_render`` and an uncached ``gate`` of it, the render overlapping the gate's
    start-up (``gate_rendered``): a cold build's critical path."""
    from scripts.build.gate import gate_rendered

    labelled, findings = gate_rendered(lambda: _labelled(fresh_render()))
    return {name.removeprefix(_LABEL): text for name, text in labelled.items()}, findings


_LABEL = "build/"


def _labelled(rendered: Mapping[str, str]) -> dict[str, str]:
    return {f"{_LABEL}{name}": text for name, text in rendered.items()}


def check_build() -> None:
    """build/ must equal a fresh render and pass the gate; otherwise nothing is deployed.

    A render is a pure function of templates_src/ and the libraries it uses, so once build/
    was found equal to one, the same sources and the same build/ need no second render
    (``fresh_key``): a redeploy skips importing troposphere and rendering.
    """
    built = _build_texts()
    key = fresh_key(built)
    marker = RENDER_CACHE / key if key else None
    if marker is not None and marker.is_file():
        rendered = built
    else:
        rendered = fresh_render()
        stale = stale_files(rendered, paths.BUILD_DIR)
        if stale:
            raise UsageError(f"build/ is stale ({', '.join(stale)}); run 'webstack build' "
                             "and commit it before deploying")
        if marker is not None:
            _remember(marker)
    findings = gate(rendered)
    if findings:
        from scripts.build.condense import lines

        for line in lines(findings):
            print(line, file=sys.stderr)
        raise WebstackError(f"the gate found {len(findings)} problem(s); nothing was deployed",
                            Exit.FINDINGS)


RENDER_CACHE = paths.REPO_ROOT / ".cache" / "render"
# Everything a render depends on besides templates_src/: the code that writes the YAML and
# the libraries that build it.
_RENDER_INPUTS = ("scripts/build/render.py", "scripts/build/yamlio.py")
_RENDER_LIBRARIES = ("troposphere", "awacs", "PyYAML")


def _build_texts() -> dict[str, str]:
    """build/'s templates as they are (unreadable ones are left to the render to report)."""
    texts: dict[str, str] = {}
    for path in sorted(paths.BUILD_DIR.glob("*.yaml")):
        try:
            texts[path.name] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return {}
    return texts


def fresh_key(built: Mapping[str, str]) -> str | None:
    """A content hash of templates_src/, the render's code and libraries, and build/;
    None when something cannot be read (then the render decides)."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    if not built:
        return None
    digest = hashlib.sha256(sys.version.encode())
    try:
        for library in _RENDER_LIBRARIES:
            digest.update(f"{library}=={version(library)}\0".encode())
        sources = sorted((paths.REPO_ROOT / "templates_src").rglob("*.py"))
        if not sources:  # not a checkout: nothing to vouch for the render with
            return None
        for path in [*sources, *(paths.REPO_ROOT / name for name in _RENDER_INPUTS)]:
            digest.update(str(path.relative_to(paths.REPO_ROOT)).encode() + b"\0"
                          + path.read_bytes() + b"\0")
    except (OSError, PackageNotFoundError):
        return None
    for name, text in sorted(built.items()):
        digest.update(f"build/{name}\0{text}\0".encode())
    return digest.hexdigest()


def _remember(marker: Path) -> None:
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass  # a read-only checkout renders every time


def _writable(rendered: Mapping[str, str], folder: Path) -> tuple[Path, str] | None:
    """The first path a write of ``rendered`` into ``folder`` would fail on, and why."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return folder, err.strerror or str(err)
    if not os.access(folder, os.W_OK | os.X_OK):
        return folder, "permission denied"
    for name in rendered:
        path = folder / name
        if path.is_dir():
            return path, "is a directory"
        if path.exists() and not os.access(path, os.W_OK):
            return path, "read-only file"
    return None


def write_set(rendered: Mapping[str, str], folder: Path, label: str, *,
              prune: bool = False) -> None:
    """Write ``rendered`` into ``folder`` all at once, or not at all.

    Anything that cannot be written (a read-only folder or file) is found first; then the set
    is written into a temporary folder beside it and each file renamed into place (atomic
    within one filesystem). With ``prune`` (build/, which holds nothing else), templates no
    longer rendered are removed; any other folder keeps every file the set does not name.
    Should a rename still fail, the files already replaced are put back: build/ is never
    half-written.
    """
    blocked = _writable(rendered, folder)
    if blocked is not None:
        raise UsageError(f"cannot write {label} ({blocked[0]}: {blocked[1]}); make it "
                         "writable and run again")
    staging = Path(tempfile.mkdtemp(prefix=".render-", dir=folder))
    replaced: list[str] = []
    try:
        (staging / "previous").mkdir()
        for name, text in rendered.items():
            (staging / name).write_text(text, encoding="utf-8")
            if (folder / name).exists():
                shutil.copy2(folder / name, staging / "previous" / name)
        for name in rendered:
            os.replace(staging / name, folder / name)
            replaced.append(name)
        for extra in folder.glob("*.yaml") if prune else ():
            if extra.name not in rendered:
                extra.unlink()
    except OSError as err:
        for name in replaced:
            previous = staging / "previous" / name
            if previous.exists():
                os.replace(previous, folder / name)
            else:
                (folder / name).unlink(missing_ok=True)
        raise UsageError(f"cannot write {label} ({err.filename or folder}: "
                         f"{err.strerror or err}); nothing was changed") from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
