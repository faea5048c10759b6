"""The CLI: one-line errors with distinct exit codes, and staleness named by file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from scripts import cli
from scripts.paths import BUILD_DIR, REPO_ROOT


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def build_copy(tmp_path, monkeypatch):
    copy = tmp_path / "build"
    shutil.copytree(BUILD_DIR, copy)
    monkeypatch.setattr(cli, "BUILD_DIR", copy)
    return copy


def test_build_check_on_a_stale_tree_exits_1_and_names_the_file(capsys, build_copy):
    path = build_copy / "storage.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "# hand edit\n", encoding="utf-8")
    (build_copy / "old.yaml").write_text("{}\n", encoding="utf-8")
    code, _, err = run(capsys, "build", "--check")
    assert code == 1
    assert "stale: build/storage.yaml" in err
    assert "stale: build/old.yaml (not rendered any more)" in err
    assert "webstack build" in err


def test_build_check_on_a_fresh_tree_passes(capsys, build_copy):
    code, out, _ = run(capsys, "build", "--check")
    assert code == 0
    assert "clean" in out


@pytest.mark.parametrize(("argv", "needle"), [
    (["show", "--env", "qa", "--region", "us-east-1"], "valid: dev, staging, prod"),
    (["show", "--env", "dev", "--region", "mars-1"], "valid: eu-west-1, us-east-1, us-west-2"),
    (["show", "--env", "dev", "--region", "us-east-1", "--param", "oops"], "Key=Value"),
    (["show", "--env", "dev", "--region", "us-east-1", "nosuch"], "unknown stack 'nosuch'"),
    (["lint", "missing.yaml"], "no template at missing.yaml"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, needle):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert needle in err
    assert err.count("\n") == 1


def test_no_traceback_from_a_real_process():
    result = subprocess.run([sys.executable, "-m", "scripts", "show", "--env", "qa",
                             "--region", "us-east-1"], cwd=REPO_ROOT, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("webstack show: unknown environment 'qa'")


def test_show_prints_the_resolved_template(capsys):
    code, out, _ = run(capsys, "show", "--env", "prod", "--region", "eu-west-1", "network")
    assert code == 0
    assert out.startswith("# build/network.yaml resolved for prod in eu-west-1\n")
    assert "FindInMap" not in out and "!If" not in out and "NoValue" not in out
    assert "NatGateway1:" in out
    assert "CidrBlock: 10.30.0.0/16" in out


def test_a_broken_environment_table_is_one_line_exit_3(capsys, monkeypatch):
    from templates_src.environments import EnvironmentTableError

    def broken() -> dict[str, str]:
        raise EnvironmentTableError("environment table: prod.asg: bad")

    monkeypatch.setattr("scripts.build.render.render", broken)
    code, _, err = run(capsys, "build", "--check")
    assert code == 3
    assert err == "webstack build: environment table: prod.asg: bad\n"


def _console(code: str) -> subprocess.CompletedProcess[bytes]:
    """A process that ends through cli.run(), as the console script does, with its stdout
    buffered as it is in a pipe."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          check=False, timeout=60, env=env)


def test_the_console_script_exits_with_mains_code_and_runs_the_atexit_handlers():
    """run() skips the interpreter's teardown, not its duties: the exit code is main()'s, the
    atexit handlers run, and what was printed without a flush still arrives."""
    done = _console(
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stdout.write('handler ran\\n'))\n"
        "from scripts import cli\n"
        "cli.main = lambda: (sys.stdout.write('x' * 200000), sys.stderr.write('err'), 3)[2]\n"
        "cli.run()\n")
    assert done.returncode == 3
    assert done.stdout == b"x" * 200000 + b"handler ran\n"
    assert done.stderr == b"err"


def test_the_console_script_waits_for_a_thread_still_running():
    done = _console(
        "import sys, threading, time\n"
        "from scripts import cli\n"
        "def late():\n"
        "    time.sleep(0.3); sys.stdout.write('thread finished\\n')\n"
        "cli.main = lambda: (threading.Thread(target=late).start(), 0)[1]\n"
        "cli.run()\n")
    assert (done.returncode, done.stdout) == (0, b"thread finished\n")


def test_the_console_script_with_stdout_closed_says_its_error_and_no_traceback():
    done = subprocess.run(f"{sys.executable} -m scripts outputs >&-", shell=True,
                          executable="/bin/bash", cwd=REPO_ROOT, capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("webstack outputs: the following arguments are required")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("argv", [["graph"], ["--help"], ["show", "--env", "prod",
                                                        "--region", "eu-west-1"]])
def test_output_that_cannot_be_written_is_one_line_and_exit_74(argv):
    """A full disk is not a reader that left: the output is lost, and the exit code says so,
    whether the write fails while the command runs (show) or in the last flush (--help)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with open("/dev/full", "wb") as full:
        done = subprocess.run([sys.executable, "-m", "scripts", *argv], cwd=REPO_ROOT,
                              stdout=full, stderr=subprocess.PIPE, text=True, check=False,
                              timeout=60, env=env)
    assert done.returncode == 74
    assert done.stderr.count("\n") == 1
    assert done.stderr.endswith(": could not write the output: [Errno 28] No space left on "
                                "device\n")


@pytest.mark.parametrize(("command", "extra"), [("deploy", ["--yes"]), ("destroy", ["--yes"]),
                                               ("plan", [])])
def test_a_command_acting_on_aws_cut_short_by_a_closed_pipe_is_not_a_success(
        capsys, monkeypatch, command, extra):
    """``webstack deploy ... | head``: the reader left while the deploy was still printing; the
    deploy stopped there, so it must not exit 0 as if it had finished."""
    def closed(_args: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, f"cmd_{command}", closed)
    code, _, err = run(capsys, command, "--env", "dev", "--region", "us-east-1", *extra)
    assert code == 74
    assert err.startswith(f"webstack {command}: the output was closed before the command "
                          "finished (broken pipe)")
    assert err.count("\n") == 1
    assert ("webstack watch" in err) == (command != "plan")


def test_the_console_script_into_a_closed_pipe_is_quiet():
    done = subprocess.run(f"{sys.executable} -m scripts show --env prod --region eu-west-1 "
                          "| head -c 10 >/dev/null; echo ${PIPESTATUS[0]}", shell=True,
                          executable="/bin/bash", cwd=REPO_ROOT, capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.stdout == "0\n"
    assert done.stderr == ""


def test_render_into_a_folder_keeps_every_file_the_set_does_not_name(capsys, tmp_path):
    """`render --output .` at the repository root once deleted .cfnlintrc.yaml: only build/,
    which holds the set alone, loses the templates no longer rendered."""
    (tmp_path / "docker-compose.yaml").write_text("services: {}\n", encoding="utf-8")
    (tmp_path / ".cfnlintrc.yaml").write_text("regions: [us-east-1]\n", encoding="utf-8")
    code, out, _ = run(capsys, "render", "--output", str(tmp_path))
    assert code == 0 and out.startswith("rendered 8 templates")
    assert (tmp_path / "docker-compose.yaml").read_text(encoding="utf-8") == "services: {}\n"
    assert (tmp_path / ".cfnlintrc.yaml").is_file()
    assert (tmp_path / "root.yaml").is_file()


def test_build_still_removes_a_template_no_longer_rendered(capsys, build_copy):
    (build_copy / "old.yaml").write_text("{}\n", encoding="utf-8")
    code, _, _ = run(capsys, "build")
    assert code == 0
    assert not (build_copy / "old.yaml").exists()


def test_render_with_an_empty_output_is_refused(capsys):
    code, _, err = run(capsys, "render", "--output", "")
    assert code == 2
    assert err == "webstack render: --output is empty: name a folder, e.g. --output rendered/\n"


def test_graph_of_a_root_template_that_does_not_parse_is_one_line_and_exit_2(capsys, build_copy):
    (build_copy / "root.yaml").write_text("a: [\n", encoding="utf-8")
    code, _, err = run(capsys, "graph")
    assert code == 2
    assert err.startswith("webstack graph: build/root.yaml does not parse (")
    assert err.endswith("; run 'webstack build'\n") and err.count("\n") == 1


def test_a_deploy_started_without_stdin_is_not_an_internal_error():
    """``<&-``: no stdin is no terminal (a deploy without --yes is refused at the prompt);
    reading whether it is one must not crash first."""
    done = subprocess.run(f"{sys.executable} -m scripts deploy --env dev --region us-east-1 "
                          "--endpoint-url http://127.0.0.1:9 --param CostCenter=CC-1234 <&-",
                          shell=True, executable="/bin/bash", cwd=REPO_ROOT,
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 4, done.stderr
    assert "cannot reach the endpoint" in done.stderr and "internal error" not in done.stderr
