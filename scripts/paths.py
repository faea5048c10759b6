"""Where things live in the repository."""

from __future__ import annotations

import os
from pathlib import Path

STATE_DIR_ENV = "WEBSTACK_STATE_DIR"
REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_ROOT / "build"
LINT_CONFIG = REPO_ROOT / ".cfnlintrc.yaml"


def state_dir() -> Path:
    """webstack's own state: the local endpoint's pid, port and log, the deploy locks and the
    outputs written after a deploy. ``$WEBSTACK_STATE_DIR`` (a leading ``~`` is the home
    folder), else ``.webstack/`` in the checkout."""
    override = os.environ.get(STATE_DIR_ENV)
    # os.path's expanduser leaves ~unknown-user as it is; Path.expanduser raises
    return Path(os.path.expanduser(override)) if override else REPO_ROOT / ".webstack"


def display(path: Path) -> str:
    """A path as a person reads it on one line: from the current folder when it is inside it
    (``.webstack/events/...``), else from the home folder (``~/...``), else whole (never
    from ``/``)."""
    absolute = Path(os.path.abspath(path))
    bases: list[tuple[Path, str]] = []
    for where, prefix in ((Path.cwd, ""), (Path.home, "~/")):
        try:
            bases.append((where(), prefix))
        except (OSError, RuntimeError):  # no current folder any more, no home folder
            continue
    for base, prefix in bases:
        if base.parent != base and absolute.is_relative_to(base) and absolute != base:
            return prefix + str(absolute.relative_to(base))
    return str(absolute)
