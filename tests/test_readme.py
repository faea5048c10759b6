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


def _readme() -> str:
    return (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def test_every_webstack_environment_variable_is_documented():
    used = set()
    for path in [*(REPO_ROOT / "scripts").rglob("*.py"), REPO_ROOT / "tox.ini"]:
        used |= set(re.findall(r"WEBSTACK_[A-Z][A-Z_]*[A-Z]", path.read_text(encoding="utf-8")))
    table = _readme().split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(WEBSTACK_[A-Z_]+)`", table))
    assert used == documented


def test_the_layout_names_every_module_and_folder():
    layout = _readme().split("## Layout", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"[\w/<>.-]+", layout))
    missing = []
    for package in ("scripts", "templates_src"):
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            if path.name == "__init__.py" or path.parent.name == "stacks" or \
                    (path.parent.name == "rules" and path.name.startswith("e91")):
                continue  # stacks/<child>.py and the rule files are named by pattern
            if path.name not in named and not any(path.name in word for word in named):
                missing.append(str(path.relative_to(REPO_ROOT)))
        for folder in sorted(p for p in (REPO_ROOT / package).iterdir() if p.is_dir()
                             and p.name != "__pycache__"):
            if f"{folder.name}/" not in named:
                missing.append(f"{folder.relative_to(REPO_ROOT)}/")
    assert missing == []


def test_the_test_command_runs_every_check_side_by_side_with_uv():
    command = _commands()[1]
    assert "'tox-uv==" in command and " run-parallel " in command
    envs = command.rsplit(" -e ", 1)[1].split(",")
    assert envs == ["py", "lint", "security"]
