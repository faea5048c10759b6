"""The README's test command, timed as a newcomer meets it: from a fresh clone, with empty
package caches (cold) and with the caches that run left behind (warm).

Each run clones HEAD of this repository (committed work only) into a temporary folder and runs
the command there, one ``&&`` step at a time, so the table shows the bootstrap (venv + pip)
apart from tox. pip, uv and virtualenv get their caches from ``UV_CACHE_DIR``,
``PIP_CACHE_DIR``, ``XDG_CACHE_HOME`` and ``VIRTUALENV_OVERRIDE_APP_DATA``, all pointed at one
folder: empty for a cold run, the previous cold run's for the warm run after it. Your own
caches are never read or written. tox's closing summary gives each environment's setup and
command time. Every run's output goes to ``test-command-<kind>-<n>.log`` beside the results.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scripts.paths import REPO_ROOT
from scripts.tools.measure import BenchError, Figure, Results, clean_env, load_average

SECTION = "test-command"
COLD_TARGET = 120.0
WARM_TARGET = 60.0
RUN_TIMEOUT = 1800.0
CACHE_VARIABLES = ("UV_CACHE_DIR", "PIP_CACHE_DIR", "XDG_CACHE_HOME",
                   "VIRTUALENV_OVERRIDE_APP_DATA")
# "  py: OK (179.95=setup[18.42]+cmd[0.67,160.85] seconds)", tox's closing summary.
SUMMARY = re.compile(r"^\s*(?P<env>[\w.-]+): (?P<outcome>OK|FAIL[^(]*)\s*\((?P<total>[\d.]+)="
                     r"setup\[(?P<setup>[\d.]+)\]\+cmd\[(?P<cmd>[\d.,]*)\] seconds\)")


@dataclass
class Run:
    """One timed run of the test command in a fresh clone."""

    kind: str
    steps: list[tuple[str, float]] = field(default_factory=list)
    envs: dict[str, tuple[float, float]] = field(default_factory=dict)  # env -> (setup, cmd)
    load: str = ""

    @property
    def total(self) -> float:
        return sum(seconds for _, seconds in self.steps)


def readme_test_command(readme: Path = REPO_ROOT / "README.md") -> str:
    """The second command of the README's "Two commands" section."""
    section = readme.read_text(encoding="utf-8").split("## Two commands", 1)[1]
    blocks = re.findall(r"```sh\n(.*?)```", section.split("\n## ", 1)[0], flags=re.S)
    lines = [line for block in blocks for line in block.splitlines()
             if line and not line.startswith("#")]
    if len(lines) < 2:
        raise BenchError("the README's 'Two commands' section has no second command")
    command: str = lines[1]
    return command


def steps(command: str) -> list[str]:
    """``a && b && c`` as its steps; run one after another they stop where the chain would."""
    return [part.strip() for part in command.split(" && ")]


def tox_summary(output: str) -> dict[str, tuple[float, float]]:
    """Each environment's (setup, command) seconds from tox's closing lines."""
    found: dict[str, tuple[float, float]] = {}
    for line in output.splitlines():
        match = SUMMARY.match(line)
        if match:
            commands = [float(x) for x in match["cmd"].split(",") if x]
            found[match["env"]] = (float(match["setup"]), sum(commands))
    return found


def run_environment(caches: Path) -> dict[str, str]:
    """This environment with every package cache in ``caches`` and no virtualenv active."""
    env = clean_env(**{name: str(caches) for name in CACHE_VARIABLES})
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a newcomer's Python writes bytecode
    active = env.pop("VIRTUAL_ENV", None)
    if active:
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                      if not p.startswith(active))
    for name in [k for k in env if k.startswith("TOX_")]:
        del env[name]
    return env


def clone(source: Path, into: Path) -> str:
    """A fresh clone of ``source``'s HEAD; returns its commit."""
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", f"file://{source}", str(into)],
                   check=True, stdin=subprocess.DEVNULL)
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=into, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


def run_once(kind: str, command: str, *, folder: Path, caches: Path, log: Path) -> Run:
    """Clone into ``folder`` and run ``command`` there, step by step; output to ``log``."""
    clone(REPO_ROOT, folder)
    caches.mkdir(parents=True, exist_ok=True)
    env = run_environment(caches)
    run = Run(kind, load=load_average())
    with log.open("w", encoding="utf-8") as out:
        for step in steps(command):
            out.write(f"$ {step}\n")
            out.flush()
            started = time.perf_counter()
            try:
                done = subprocess.run(["bash", "-c", step], check=False, cwd=folder, env=env,
                                      stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT)
            except subprocess.TimeoutExpired as err:
                raise BenchError(f"the test command ({kind}) took over {RUN_TIMEOUT:.0f} s; "
                                 f"see {log}") from err
            run.steps.append((step, time.perf_counter() - started))
            if done.returncode != 0:
                raise BenchError(f"the test command ({kind}) failed at '{step[:60]}' with exit "
                                 f"{done.returncode}; see {log}")
    run.envs = tox_summary(log.read_text(encoding="utf-8", errors="replace"))
    return run


def measure(results: Results, *, runs: int, scratch: Path, logs: Path) -> None:
    """``runs`` pairs: a cold run on empty caches, then a warm run on what it cached."""
    command = readme_test_command()
    logs.mkdir(parents=True, exist_ok=True)
    done: list[Run] = []
    for index in range(1, runs + 1):
        caches = scratch / f"test-command-caches-{index}"
        for kind in ("cold", "warm"):
            print(f"  test command, {kind} caches: run {index}/{runs} (minutes)", flush=True)
            done.append(run_once(kind, command, folder=scratch / f"test-command-{kind}-{index}",
                                 caches=caches, log=logs / f"test-command-{kind}-{index}.log"))
            print(f"    {done[-1].total:.0f} s", flush=True)
    for figure in figures(done, command):
        results.add(figure)


def figures(done: Sequence[Run], command: str) -> list[Figure]:
    """The two totals against their targets, then where each went: steps, then tox envs."""
    out: list[Figure] = []
    for kind, target in (("cold", COLD_TARGET), ("warm", WARM_TARGET)):
        runs = [r for r in done if r.kind == kind]
        if not runs:
            continue
        out.append(Figure(f"test_command_{kind}", f"README test command, fresh clone, {kind} "
                          "package caches", [r.total for r in runs], target=target,
                          note=f"`{command}`; load before each run: "
                               + "; ".join(r.load for r in runs)))
        for position, (step, _) in enumerate(runs[0].steps):
            out.append(Figure(f"test_command_{kind}_step{position + 1}",
                              f"  {kind}: `{step if len(step) <= 48 else step[:45] + '...'}`",
                              [r.steps[position][1] for r in runs]))
        for env in runs[0].envs:
            parts = _env_parts(runs, env)
            for part, samples in parts.items():
                out.append(Figure(f"test_command_{kind}_{env}_{part}",
                                  f"  {kind}: tox {env}, {part}", samples))
    return out


def _env_parts(runs: Sequence[Run], env: str) -> Mapping[str, list[float]]:
    present = [r.envs[env] for r in runs if env in r.envs]
    return {"setup": [s for s, _ in present], "commands": [c for _, c in present]}
