"""`webstack build --check` needs only webstack's own dependencies, not its extras.

A CI job or a pipeline that only builds installs plain ``webstack`` (no ``local``, ``test`` or
``dev`` extra). The test environment has the extras installed, so this test builds a folder
that holds only what a plain install brings: each such distribution's top-level packages and
its metadata, linked from site-packages, and webstack's own two packages. A Python that sees
nothing else (``-S``: no site-packages; ``-P``: not the working folder, so not ``tests/``)
runs the console script's entry on the whole uncached check: the render, the comparison with
build/ and the gate over every environment. A module the plain install lacks is as absent
there as on a machine without it: ``find_spec`` answers None, its metadata is not found.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from scripts.paths import REPO_ROOT

OWN_PACKAGES = ("scripts", "templates_src")
# The child: the folder first on its path, then what the console script runs.
CHILD = ("import sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'webstack'; "
         "from scripts.cli import run; run()")


def _plain_install() -> set[str]:
    """Every distribution ``pip install webstack`` brings, by its requirements (no extras)."""
    return installed_with("webstack") - {"webstack"}


def installed_with(root: str) -> set[str]:
    """``root`` and every distribution a plain ``pip install root`` brings (no extras)."""
    wanted = [Requirement(root)]
    seen: set[tuple[str, frozenset[str]]] = set()
    plain: set[str] = set()
    while wanted:
        requirement = wanted.pop()
        name = canonicalize_name(requirement.name)
        extras = frozenset(requirement.extras)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        plain.add(name)
        for text in metadata.requires(requirement.name) or ():
            child = Requirement(text)
            if child.marker is None or any(child.marker.evaluate({"extra": extra})
                                           for extra in {"", *extras}):
                wanted.append(child)
    return plain


def top_levels(distribution: metadata.Distribution) -> set[str]:
    """The names a distribution installs at the top of site-packages (packages, modules,
    its .dist-info folder)."""
    return {file.parts[0] for file in distribution.files or ()
            if file.parts[0] not in {"..", "__pycache__"} and not file.name.endswith(".pth")
            and not file.parts[0].startswith("__editable__")}


def linked_site(folder: Path, distributions: set[str]) -> Path:
    """A folder holding exactly these installed distributions, as links."""
    folder.mkdir()
    for name in sorted(distributions):
        distribution = metadata.distribution(name)
        for top in top_levels(distribution):
            source = Path(str(distribution.locate_file(top)))
            if not (folder / top).exists() and source.exists():
                (folder / top).symlink_to(source)
    return folder


def plain_site(folder: Path) -> Path:
    """A folder holding exactly what a plain install of webstack brings, as links."""
    linked_site(folder, _plain_install() | {"webstack"})
    for package in OWN_PACKAGES:
        if not (folder / package).exists():
            (folder / package).symlink_to(REPO_ROOT / package)
    return folder


def _visible(site: Path, *names: str) -> dict[str, bool]:
    """Which top-level modules a Python confined to ``site`` can find."""
    probe = ("import importlib.util, sys; sys.path.insert(0, sys.argv[1]); "
             "print(' '.join(str(importlib.util.find_spec(n) is not None) for n in sys.argv[2:]))")
    done = subprocess.run([sys.executable, "-S", "-P", "-c", probe, str(site), *names],
                          cwd=site, capture_output=True, text=True, check=True)
    return dict(zip(names, (word == "True" for word in done.stdout.split()), strict=True))


def test_the_plain_site_has_the_dependencies_and_not_the_extras(tmp_path):
    site = plain_site(tmp_path / "site")
    visible = _visible(site, "cfnlint", "troposphere", "awacs", "boto3", "yaml", "sarif_om",
                       "scripts", "templates_src", "moto", "pytest", "xdist", "werkzeug",
                       "packaging", "tests")
    assert [n for n, seen in visible.items() if seen] == [
        "cfnlint", "troposphere", "awacs", "boto3", "yaml", "sarif_om", "scripts",
        "templates_src"]


def test_build_check_runs_uncached_with_only_a_plain_install(tmp_path):
    site = plain_site(tmp_path / "site")
    done = subprocess.run(
        [sys.executable, "-S", "-P", "-c", CHILD, str(site), "build", "--check", "--no-cache"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "clean" in done.stdout
