"""The README's test command is exactly what CI runs."""

from __future__ import annotations

import re

from scripts.paths import REPO_ROOT


def _commands() -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    return [next(line for line in block.splitlines() if not line.startswith("#"))
            for block in blocks]


def test_readme_has_exactly_two_commands():
    assert len(_commands()) == 2


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line for line in ci.splitlines() if line and not line.startswith(("#", "set ",
                                                                                  "cd "))]
    assert commands == [_commands()[1]]
