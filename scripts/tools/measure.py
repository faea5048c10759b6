"""Measuring whole commands: paired runs after a warm-up, medians, ratios, and the report.

Figures that are compared run in alternation (A, B, A, B, ...) and each ratio is taken pair by
pair, so a busy neighbour on a shared machine slows both sides of a pair alike.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

COMMAND_TIMEOUT = 300.0


class BenchError(Exception):
    """A measurement could not be taken; one line, says what to do."""


# -- figures ---------------------------------------------------------------------------------


@dataclass
class Figure:
    """One row of the table: samples in seconds (or a ratio), and the target if there is one."""

    key: str
    label: str
    samples: list[float]
    unit: str = "s"  # "s" or "x" (a ratio)
    target: float | None = None
    judge: str = "median"  # which statistic the target applies to: "median" or "max"
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def low(self) -> float:
        return min(self.samples)

    @property
    def high(self) -> float:
        return max(self.samples)

    @property
    def met(self) -> bool | None:
        if self.target is None or not self.samples:
            return None
        value = self.high if self.judge == "max" else self.median
        return value <= self.target

    def cell(self, value: float) -> str:
        return f"{value:.2f}x" if self.unit == "x" else f"{value:.2f} s"

    def target_cell(self) -> str:
        if self.target is None:
            return ""
        bound = f"{self.target:.2f}x" if self.unit == "x" else f"{self.target:.2f} s"
        return f"<= {bound}" + (" (max)" if self.judge == "max" else "")

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(median=self.median, min=self.low, max=self.high, met=self.met,
                   runs=len(self.samples))
        return out


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (what, why)
    notes: list[str] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def skip(self, what: str, why: str) -> None:
        print(f"  skipped {what}: {why}", flush=True)
        self.skipped.append((what, why))


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """A/B pair by pair: round i of A over round i of B."""
    return [a / b for a, b in zip(numerators, denominators, strict=True)]


def alternate(commands: dict[str, Callable[[], float]], *, runs: int, warmup: int,
              label: str) -> dict[str, list[float]]:
    """Run each command once per round, in order (A, B, A, B, ...); drop the warm-up rounds."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(warmup + runs):
        kind = "warm-up" if round_ < warmup else f"run {round_ - warmup + 1}/{runs}"
        print(f"  {label}: {kind}", flush=True)
        for name, command in commands.items():
            elapsed = command()
            if round_ >= warmup:
                samples[name].append(elapsed)
    return samples


# -- processes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finished:
    """A finished command: wall time, exit code, and stdout lines with the time each arrived."""

    elapsed: float
    code: int
    lines: list[tuple[float, str]]
    stderr: str
    cpu: float = 0.0  # user + system seconds of the command and every process it waited for

    def last_words(self) -> str:
        text = self.stderr.strip().splitlines() or [line for _, line in self.lines] or [""]
        return text[-1].strip()[:300]


def execute(argv: Sequence[str], *, cwd: Path, env: dict[str, str],
            timeout: float = COMMAND_TIMEOUT) -> Finished:
    """Run ``argv`` to completion (killed after ``timeout``); wall time includes start-up."""
    with tempfile.TemporaryFile() as errors:
        cpu_before = _children_cpu()
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=errors, text=True)
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        lines: list[tuple[float, str]] = []
        try:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append((time.time(), line.rstrip("\n")))
            code = process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        elapsed = time.perf_counter() - started
        cpu = _children_cpu() - cpu_before
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    if elapsed >= timeout:
        raise BenchError(f"{' '.join(argv[:4])} ... did not finish within {timeout:.0f} s")
    return Finished(elapsed, code, lines, stderr, cpu)


def _children_cpu() -> float:
    """CPU seconds of this process's waited-for children so far (they include theirs)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: Sequence[str], *, cwd: Path, env: dict[str, str], ok: Sequence[int] = (0,),
          timeout: float = COMMAND_TIMEOUT, cpu_into: list[float] | None = None) -> float:
    """Wall time of one command that must exit with one of ``ok``; its CPU time is appended
    to ``cpu_into`` when given."""
    done = execute(argv, cwd=cwd, env=env, timeout=timeout)
    if done.code not in ok:
        raise BenchError(f"'{' '.join(str(a) for a in argv[:6])} ...' exited {done.code}: "
                         f"{done.last_words()}")
    if cpu_into is not None:
        cpu_into.append(done.cpu)
    return done.elapsed


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any AWS setting (profiles, endpoints, keys), plus ``extra``.

    Python writes bytecode here, as a user's does: without it, every webstack command compiled
    its own modules from source (about 0.1 s a run), while awscli's and cfn-lint's came
    compiled from their wheels."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(NO_COLOR="1", **extra)
    return env


def tool(name: str) -> str | None:
    """A console script of this interpreter's environment, else one on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


# -- output ----------------------------------------------------------------------------------


def table(results: Results) -> list[str]:
    rows = [["figure", "median", "min", "max", "runs", "target", "met"]]
    for f in results.figures:
        met = {None: "", True: "yes", False: "**no**"}[f.met]
        rows.append([f.label, f.cell(f.median), f.cell(f.low), f.cell(f.high),
                     str(len(f.samples)), f.target_cell(), met])
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return lines


def report(results: Results, meta: dict[str, Any], out: Path) -> Path:
    """Print the table and write it as markdown and JSON; returns the markdown path."""
    lines = [f"Measured {meta['finished']} on {meta['machine']} ({meta['cores']} cores, load "
             f"{meta['load_before']} before, {meta['load_after']} after), "
             f"{meta['elapsed']:.0f} s, with `{meta['command']}`.", "", *table(results)]
    if results.notes or results.skipped or any(f.note for f in results.figures):
        lines.append("")
    lines += [f"- {f.label}: {f.note}" for f in results.figures if f.note]
    lines += [f"- {note}" for note in results.notes]
    lines += [f"- skipped {what}: {why}" for what, why in results.skipped]
    text = "\n".join(lines) + "\n"
    print()
    print(text, end="")
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    document = {"meta": meta, "figures": [f.as_json() for f in results.figures],
                "skipped": [{"what": w, "why": y} for w, y in results.skipped],
                "notes": results.notes}
    for name in (f"bench-{stamp}", "latest"):
        (out / f"{name}.md").write_text(text, encoding="utf-8")
        (out / f"{name}.json").write_text(json.dumps(document, indent=2, sort_keys=True,
                                                     default=str) + "\n", encoding="utf-8")
    return out / "latest.md"


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


# -- the README's figures --------------------------------------------------------------------

README_BEGIN = "<!-- bench:begin (python -m scripts.tools.bench --readme writes from here) -->"
README_END = "<!-- bench:end -->"


def readme_block(results: Results, meta: dict[str, Any]) -> str:
    """The README's figures: the day, the machine and its load they were measured at, the
    command, then the table; a figure that is a target says so in its own column."""
    lines = [f"Latest, measured {str(meta['finished'])[:10]} on {meta['machine']} "
             f"({meta['cores']} cores, load {meta['load_before']} before and "
             f"{meta['load_after']} after), with `{meta['command']}`. A figure with a target "
             "names it, and *met* says whether it held (on the median, or on every run where "
             "the target says max):", "", *table(results)]
    if results.notes or results.skipped or any(f.note for f in results.figures):
        lines.append("")
    lines += [f"- {f.label}: {f.note}" for f in results.figures if f.note]
    lines += [f"- {note}" for note in results.notes]
    lines += [f"- skipped {what}: {why}" for what, why in results.skipped]
    return "\n".join(lines)


def with_readme_block(text: str, block: str) -> str:
    """``text`` (README.md) with what stands between the bench's two markers replaced."""
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        raise BenchError(f"README.md has no '{README_BEGIN}' ... '{README_END}' block to "
                         "write the figures into; put the two lines back around the table")
    return f"{text[:begin + len(README_BEGIN)]}\n{block}\n{text[end:]}"


def readme_refusal(sections: Sequence[str], every: Sequence[str], readme: Path) -> str | None:
    """Why ``--readme`` would not get to write, said before minutes of measuring: the README
    shows every default section, between its two markers."""
    missing = [name for name in every if name not in sections]
    if missing:
        return (f"--readme rewrites every figure the README shows, but --only leaves out "
                f"{', '.join(missing)}; drop --only (--all adds the test command)")
    try:
        with_readme_block(readme.read_text(encoding="utf-8"), "")
    except (OSError, BenchError) as err:
        return str(err)
    return None
