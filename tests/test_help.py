"""The help a new user reads, the commands the errors suggest, and completion from the parser."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from scripts import cli, cli_args
from scripts.paths import REPO_ROOT


def commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
             ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command's words and its parser, ``local up`` included."""
    for action in parser._actions:  # argparse keeps its subparsers nowhere else
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from commands(sub, (*prefix, name))


def code_of(argv: list[str]) -> int:
    """main()'s exit code, or argparse's own (--help and --version exit 0 by SystemExit, which
    the console script, cli.run, turns into the code)."""
    try:
        return cli.main(argv)
    except SystemExit as done:
        return int(done.code or 0)


PARSER = cli.build_parser()
COMMANDS = dict(commands(PARSER))


def test_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    assert code_of(["--version"]) == 0
    assert capsys.readouterr().out == f"webstack {metadata.version('webstack')}\n"


def test_the_top_level_help_says_what_webstack_is_and_the_five_commands_to_start_with(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert code_of(["--help"]) == 0
    out = capsys.readouterr().out
    assert "No logic lives here" not in out and "``" not in out  # not the module's docstring
    start = out.index("The five commands to start with:")
    five = [line.split()[0] for line in out[start:].splitlines()[1:6]]
    assert five == ["build", "show", "diff", "plan", "deploy"]
    assert all(word in COMMANDS for word in [(name,) for name in five])
    assert "examples:" in out and "webstack completion bash" in out


def test_every_command_has_a_description_and_every_option_a_help_line() -> None:
    missing = []
    for words, parser in COMMANDS.items():
        if not parser.description:
            missing.append(" ".join(words))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                name = "/".join(action.option_strings) or action.dest
                missing.append(f"{' '.join(words)} {name}")
    assert missing == []
    assert len(COMMANDS) >= 20  # 17 commands and local's 5 actions


@pytest.mark.parametrize("words", [("deploy",), ("plan",), ("diff",), ("local",)])
def test_deploy_plan_diff_and_local_show_examples(words: tuple[str, ...]) -> None:
    help_text = COMMANDS[words].format_help()
    assert "examples:" in help_text
    assert f"webstack {' '.join(words)} " in help_text


def example_commands() -> list[str]:
    """Every example line of every help text, as the shell would pass it (continuations
    joined, a trailing '(comment)' and '> file' left out)."""
    texts = [cli_args.EXAMPLES, cli_args.DEPLOY_EXAMPLES, cli_args.PLAN_EXAMPLES,
             cli_args.DIFF_EXAMPLES, cli_args.LOCAL_EXAMPLES]
    found = []
    for text in texts:
        for raw in text.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+>.*$", "", re.sub(r"\s+\(.*\)$", "", raw.strip()))
            if line.startswith("webstack "):
                found.append(line)
    return found


@pytest.mark.parametrize("example", example_commands())
def test_every_example_in_the_help_is_a_command_the_parser_accepts(example: str) -> None:
    import shlex

    args = cli.build_parser().parse_args(shlex.split(example)[1:])  # a UsageError otherwise
    assert callable(args.handler)


HINT = re.compile(r"'webstack ([a-z][a-z-]*(?: (?:up|down|status|fail|certificate))?)"
                  r"((?: [^'{]*)?)[^']*'")


def hints() -> list[tuple[str, str, str]]:
    """Every ``'webstack ...'`` an error or a message in scripts/ suggests: (file, command,
    the options it names)."""
    found = []
    for path in sorted((REPO_ROOT / "scripts").rglob("*.py")):
        for match in HINT.finditer(path.read_text(encoding="utf-8")):
            found.append((str(path.relative_to(REPO_ROOT)), match[1], match[2]))
    return found


def test_the_hints_are_found() -> None:
    named = {command for _, command, _ in hints()}
    assert {"build", "watch", "local up", "deploy", "outputs"} <= named


@pytest.mark.parametrize(("where", "command", "rest"), hints())
def test_every_command_a_message_suggests_is_one_the_cli_accepts(
        where: str, command: str, rest: str, capsys: pytest.CaptureFixture[str]) -> None:
    if command == "COMMAND":
        return
    words = command.split()
    assert tuple(words) in COMMANDS, f"{where}: 'webstack {command}' is not a command"
    assert code_of([*words, "--help"]) == 0, f"{where}: webstack {command} --help"
    capsys.readouterr()
    options = {o for a in COMMANDS[tuple(words)]._actions for o in a.option_strings}
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", rest))
    assert named <= options, f"{where}: 'webstack {command}' has no {named - options}"


AWS_COMMANDS = ["deploy", "plan", "watch", "outputs", "drift", "destroy", "refresh-amis"]


@pytest.mark.parametrize("command", AWS_COMMANDS)
def test_every_command_that_reaches_aws_takes_local_as_the_credentials_error_says(
        command: str) -> None:
    options = {o for a in COMMANDS[(command,)]._actions for o in a.option_strings}
    assert "--local" in options


def test_completion_scripts_are_generated_from_the_parser(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["completion", "zsh"]) == 0
    zsh = capsys.readouterr().out
    assert zsh.startswith("#compdef webstack")
    assert cli.main(["completion", "bash"]) == 0
    bash = capsys.readouterr().out
    for (name,) in (words for words in COMMANDS if len(words) == 1):
        assert name in bash and name in zsh
    assert "--plan-file" in bash and "--fail-on-replacement" in zsh
    script = tmp_path / "webstack.bash"
    script.write_text(bash, encoding="utf-8")
    if shutil.which("bash"):
        subprocess.run(["bash", "-n", str(script)], check=True)  # it parses as bash
    assert cli.main(["completion", "fish"]) == 2
    assert "invalid choice: 'fish'" in capsys.readouterr().err


@pytest.mark.parametrize("kwargs", [
    {}, {"profile": "ops"}, {"endpoint_url": "http://localhost:5230"},
    {"endpoint_url": "https://cloudformation.example.com"}])
def test_the_reattach_command_every_interruption_prints_is_one_the_cli_accepts(
        kwargs: dict[str, str]) -> None:
    import shlex

    from scripts.deploy.stacks import reattach_command

    command = reattach_command("prod", "eu-west-1", "shop-prod", **kwargs)
    args = cli.build_parser().parse_args(shlex.split(command)[1:])
    assert (args.command, args.env, args.region, args.stack_name) == (
        "watch", "prod", ["eu-west-1"], "shop-prod")
