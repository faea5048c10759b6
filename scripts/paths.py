"""Where things live in the repository."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_ROOT / "build"
LINT_CONFIG = REPO_ROOT / ".cfnlintrc.yaml"
