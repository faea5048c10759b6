"""`webstack build --check` needs only webstack's own dependencies, not its extras.

A CI job or a pipeline that only builds installs plain ``webstack`` (no ``local``, ``test`` or
``dev`` extra). The test environment has the extras installed, so this test makes every module
that a plain install would not have unimportable, then runs the whole uncached check: the
render, the comparison with build/ and the gate over every environment.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from scripts.paths import REPO_ROOT

# Runs in the child: refuse the listed top-level modules as if they were not installed.
BLOCKER = """
import importlib.abc, sys
BLOCKED = frozenset(sys.argv[1].split(","))
class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (not in a plain install)")
        return None
sys.meta_path.insert(0, NotInstalled())
from scripts.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _plain_install() -> set[str]:
    """Every distribution ``pip install webstack`` brings, by its requirements (no extras)."""
    wanted = [Requirement(r) for r in metadata.requires("webstack") or ()]
    wanted = [r for r in wanted if r.marker is None or r.marker.evaluate({"extra": ""})]
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


def _not_in_a_plain_install() -> list[str]:
    plain = _plain_install() | {"webstack"}
    return sorted(module for module, dists in metadata.packages_distributions().items()
                  if module.isidentifier()
                  and not any(canonicalize_name(d) in plain for d in dists))


def test_the_plain_install_excludes_the_extras_and_keeps_the_dependencies():
    blocked = _not_in_a_plain_install()
    assert {"moto", "pytest", "xdist"} <= set(blocked)
    assert not {"cfnlint", "troposphere", "awacs", "boto3", "yaml", "sarif_om"} & set(blocked)


def test_build_check_runs_uncached_with_only_a_plain_installs_modules():
    done = subprocess.run(
        [sys.executable, "-c", BLOCKER, ",".join(_not_in_a_plain_install()),
         "build", "--check", "--no-cache"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "clean" in done.stdout
