"""``python -m scripts.tools.bench``: how fast rendering, the gate and deploys are, side by side
with ``cdk synth``, cfn-lint and the AWS CLI, measured on this machine.

Every figure is several runs after a warm-up, reported as median, min and max. Figures that
are compared run in alternation (A, B, A, B, ...) and each ratio is taken pair by pair, so a
busy neighbour on a shared machine slows both sides of a pair alike. The table goes to stdout
and, as markdown and JSON, to ``bench/results/`` (not committed).

Deploys go to a local endpoint the harness starts on a free port of 127.0.0.1, with its state in
a temporary directory, and stops at the end whatever happens. Stack names are unique per run.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from scripts.paths import BUILD_DIR, REPO_ROOT

RESULTS_DIR = REPO_ROOT / "bench" / "results"
CDK_SOURCE = REPO_ROOT.parent / "shared" / "bench" / "cdk"
CDK_CACHE = REPO_ROOT / ".cache" / "bench-cdk"
CDK_ENV = {"CDK_DISABLE_VERSION_CHECK": "1", "NESTED": "1"}
REGION = "us-east-1"
COST_CENTER = "CC-1234"
SCALE_SIZES = (50, 200, 500)
# Linear means the per-resource cost from 200 to 500 stays within this factor of 50 to 200.
LINEAR_TOLERANCE = 1.3
COMMAND_TIMEOUT = 300.0
INSTALL_TIMEOUT = 600.0


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

    def last_words(self) -> str:
        text = self.stderr.strip().splitlines() or [line for _, line in self.lines] or [""]
        return text[-1].strip()[:300]


def execute(argv: Sequence[str], *, cwd: Path, env: dict[str, str],
            timeout: float = COMMAND_TIMEOUT) -> Finished:
    """Run ``argv`` to completion (killed after ``timeout``); wall time includes start-up."""
    with tempfile.TemporaryFile() as errors:
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
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    if elapsed >= timeout:
        raise BenchError(f"{' '.join(argv[:4])} ... did not finish within {timeout:.0f} s")
    return Finished(elapsed, code, lines, stderr)


def timed(argv: Sequence[str], *, cwd: Path, env: dict[str, str], ok: Sequence[int] = (0,),
          timeout: float = COMMAND_TIMEOUT) -> float:
    """Wall time of one command that must exit with one of ``ok``."""
    done = execute(argv, cwd=cwd, env=env, timeout=timeout)
    if done.code not in ok:
        raise BenchError(f"'{' '.join(str(a) for a in argv[:6])} ...' exited {done.code}: "
                         f"{done.last_words()}")
    return done.elapsed


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any AWS setting (profiles, endpoints, keys), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(NO_COLOR="1", PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def tool(name: str) -> str | None:
    """A console script of this interpreter's environment, else one on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


# -- the harness -----------------------------------------------------------------------------


@dataclass
class Settings:
    runs: int
    warmup: int
    slow_runs: int
    sections: tuple[str, ...]
    cdk_source: Path
    out: Path
    api_latency: float
    latency_trials: int
    one_worker: bool = False


class Bench:
    """Shared state of one harness run: a scratch directory and the commands to time."""

    def __init__(self, settings: Settings, scratch: Path) -> None:
        self.settings = settings
        self.scratch = scratch
        self.results = Results()
        # Short: the local endpoint derives an RDS identifier from the stack name and rejects
        # it once the name passes about 14 characters.
        self.run_id = f"{random.randrange(16**4):04x}"
        self.env = clean_env(WEBSTACK_STATE_DIR=str(scratch / "state"))
        self.webstack = [sys.executable, "-m", "scripts"]

    def ws(self, *args: str, env: dict[str, str] | None = None, ok: Sequence[int] = (0,)
           ) -> float:
        return timed([*self.webstack, *args], cwd=REPO_ROOT, env=env or self.env, ok=ok)

    # -- 1-4: render, build, the gate's baselines, cdk synth ------------------------------

    def preflight(self) -> None:
        """build/ must be fresh and clean, or every figure below measures a failure. This run
        also leaves the gate's verdict cached, which the warm build and the deploys reuse."""
        done = execute([*self.webstack, "build", "--check"], cwd=REPO_ROOT, env=self.env)
        if done.code != 0:
            raise BenchError(f"'webstack build --check' fails ({done.last_words()}); run "
                             "'webstack build' and retry")

    def gate(self) -> None:
        s, r = self.settings, self.results
        files = [str(p) for p in sorted(BUILD_DIR.glob("*.yaml"))]
        cfn_lint = tool("cfn-lint")
        if cfn_lint is None:
            raise BenchError("cfn-lint is not installed in this environment; pip install -e .")
        out = self.scratch / "render"
        commands: dict[str, Callable[[], float]] = {
            "render": lambda: self.ws("render", "--output", str(out)),
            "build_cold": lambda: self.ws("build", "--check", "--no-cache"),
            "build_warm": lambda: self.ws("build", "--check"),
            "cfn_lint": lambda: timed([cfn_lint, *files], cwd=REPO_ROOT, env=self.env),
        }
        synth = self.cdk_synth()
        if synth is not None:
            commands["cdk"] = synth
        got = alternate(commands, runs=s.runs, warmup=s.warmup, label="render, build, gate")
        r.add(Figure("render", "webstack render (whole process)", got["render"], target=0.2))
        r.add(Figure("build_cold", "webstack build, cold: render + full gate, every resolved set",
                     got["build_cold"], note="build --check --no-cache (does not write build/)"))
        r.add(Figure("build_warm", "webstack build, warm: verdict cached under .cache/gate",
                     got["build_warm"], note="build --check"))
        r.add(Figure("cfn_lint", "cfn-lint, one process over build/", got["cfn_lint"]))
        if synth is not None:
            r.add(Figure("cdk", "cdk synth, nested CDK app", got["cdk"],
                         note="npx cdk synth --quiet --no-notices, NESTED=1"))
            r.add(Figure("build_cold_vs_cdk", "ratio: build cold / cdk synth",
                         ratios(got["build_cold"], got["cdk"]), unit="x", target=0.75))
            r.add(Figure("build_warm_vs_cdk", "ratio: build warm / cdk synth",
                         ratios(got["build_warm"], got["cdk"]), unit="x", target=0.75))
        r.add(Figure("build_cold_vs_cfn_lint", "ratio: build cold / cfn-lint one process",
                     ratios(got["build_cold"], got["cfn_lint"]), unit="x"))
        r.notes.append(gate_workload())

        one_worker = dict(self.env, WEBSTACK_GATE_JOBS="1")

        def per_file() -> float:
            return sum(timed([cfn_lint, f], cwd=REPO_ROOT, env=self.env) for f in files)

        slow_commands: dict[str, Callable[[], float]] = {"cfn_lint_per_file": per_file}
        if s.one_worker:
            slow_commands["build_cold_serial"] = lambda: self.ws(
                "build", "--check", "--no-cache", env=one_worker)
        slow = alternate(slow_commands, runs=s.slow_runs, warmup=0, label="slow baselines")
        r.add(Figure("cfn_lint_per_file", "cfn-lint, one process per file (sum)",
                     slow["cfn_lint_per_file"]))
        if s.one_worker:
            r.add(Figure("build_cold_serial", "webstack build, cold, one worker (no fork)",
                         slow["build_cold_serial"], note="WEBSTACK_GATE_JOBS=1"))

    def cdk_synth(self) -> Callable[[], float] | None:
        """``npx cdk synth`` of the shared app, installed once under .cache/; None if skipped."""
        source = self.settings.cdk_source
        npm, npx = shutil.which("npm"), shutil.which("npx")
        if not shutil.which("node") or npm is None or npx is None:
            self.results.skip("cdk synth", "node/npm/npx are not on PATH")
            return None
        if not (source / "package.json").is_file():
            self.results.skip("cdk synth", f"no CDK app at {source}; point --cdk-app at it")
            return None
        try:
            install_cdk_app(source, CDK_CACHE, npm)
        except BenchError as err:
            self.results.skip("cdk synth", str(err))
            return None
        env = dict(self.env, **CDK_ENV)
        argv = [npx, "--no", "cdk", "synth", "--quiet", "--no-notices"]
        return lambda: timed(argv, cwd=CDK_CACHE, env=env)

    # -- 5: deploys against the local endpoint --------------------------------------------

    def deploys(self, endpoint: str) -> None:
        s, r = self.settings, self.results
        from scripts.deploy.aws import make_client

        cfn = make_client("cloudformation", REGION, None, endpoint)
        aws = tool("aws")
        if aws is None:
            r.skip("AWS CLI baseline", "awscli is not installed here; 'tox -e bench' installs it")
        bucket = f"bench-cli-{self.run_id}"
        if aws is not None:
            make_client("s3", REGION, None, endpoint).create_bucket(Bucket=bucket)
        cli_env = clean_env(
            AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION,
            AWS_CONFIG_FILE=str(self.scratch / "no-aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(self.scratch / "no-aws-credentials"),
        )
        packaged = self.scratch / "packaged.yaml"
        latencies: list[float] = []
        names: dict[str, str] = {}
        rounds: list[int] = []

        def deploy(*extra: str) -> Finished:
            done = execute([*self.webstack, "deploy", "--env", "dev", "--region", REGION,
                            "--local", "--yes", "--stack-name", names["ws"],
                            "--param", f"CostCenter={COST_CENTER}", *extra,
                            "--outputs-file", str(self.scratch / "outputs.json")],
                           cwd=REPO_ROOT, env=self.env)
            if done.code != 0:
                raise BenchError(f"webstack deploy exited {done.code}: {done.last_words()}")
            return done

        def full_create() -> float:
            index = len(rounds)
            rounds.append(index)
            names["ws"] = f"ws-{self.run_id}-{index}"
            names["cli"] = f"cli-{self.run_id}-{index}"
            done = deploy()
            latencies.append(completion_latency(cfn, names["ws"], done, "create complete"))
            return done.elapsed

        def redeploy() -> float:
            done = deploy()
            if not any("no changes" in line for _, line in done.lines):
                raise BenchError("the identical redeploy changed something; see its output")
            return done.elapsed

        def update() -> float:
            done = deploy("--param", f"AlarmEmail=ops-{names['ws']}@example.com")
            latencies.append(completion_latency(cfn, names["ws"], done, "update complete"))
            return done.elapsed

        def cli(stack: str, *, empty_ok: bool) -> float:
            assert aws is not None
            package = timed([aws, "cloudformation", "package", "--template-file",
                             str(BUILD_DIR / "root.yaml"), "--s3-bucket", bucket,
                             "--output-template-file", str(packaged)],
                            cwd=REPO_ROOT, env=cli_env)
            done = execute([aws, "cloudformation", "deploy", "--template-file", str(packaged),
                            "--stack-name", stack,
                            "--capabilities", "CAPABILITY_IAM", "CAPABILITY_NAMED_IAM",
                            *(["--no-fail-on-empty-changeset"] if empty_ok else []),
                            "--parameter-overrides", "Environment=dev",
                            f"CostCenter={COST_CENTER}",
                            f"DeploymentDate={date.today().isoformat()}"],
                           cwd=REPO_ROOT, env=cli_env)
            # The endpoint refuses an empty change set in CreateChangeSet itself, where AWS
            # creates it and reports "no changes"; the CLI has done its work either way.
            empty = empty_ok and "No updates are to be performed" in done.stderr
            if done.code != 0 and not empty:
                raise BenchError(f"aws cloudformation deploy exited {done.code}: "
                                 f"{done.last_words()}")
            return package + done.elapsed

        commands: dict[str, Callable[[], float]] = {"ws_create": full_create}
        if aws is not None:
            commands["cli_create"] = lambda: cli(names["cli"], empty_ok=False)
        commands["ws_redeploy"] = redeploy
        if aws is not None:
            commands["cli_redeploy"] = lambda: cli(names["cli"], empty_ok=True)
        commands["ws_update"] = update
        got = alternate(commands, runs=s.runs, warmup=s.warmup, label="deploys")
        r.add(Figure("ws_create", "webstack deploy --local --yes, full create of dev",
                     got["ws_create"], note="includes render + gate (verdict cached)"))
        r.add(Figure("ws_redeploy", "webstack deploy, identical redeploy", got["ws_redeploy"]))
        r.add(Figure("ws_update", "webstack deploy, one-parameter update (AlarmEmail)",
                     got["ws_update"]))
        if aws is not None:
            r.add(Figure("cli_create", "aws cloudformation package + deploy, full create",
                         got["cli_create"], note="awscli in the same environment"))
            r.add(Figure("cli_redeploy", "aws cloudformation package + deploy, identical "
                         "redeploy", got["cli_redeploy"], note="--no-fail-on-empty-changeset"))
            r.add(Figure("create_vs_cli", "ratio: webstack create / CLI create",
                         ratios(got["ws_create"], got["cli_create"]), unit="x", target=1.0))
            r.add(Figure("redeploy_vs_cli", "ratio: webstack redeploy / CLI create",
                         ratios(got["ws_redeploy"], got["cli_create"]), unit="x", target=0.5))
            r.add(Figure("update_vs_cli", "ratio: webstack update / CLI create",
                         ratios(got["ws_update"], got["cli_create"]), unit="x"))
        kept = latencies[2 * s.warmup:]  # a create and an update per round
        r.add(Figure("latency_endpoint", "completion latency, local endpoint",
                     kept, target=2.0, judge="max",
                     note="last stack event -> success line; the endpoint finishes the stack "
                          "inside ExecuteChangeSet, so no poll is ever waited for"))

    # -- 6: completion latency against a stack that takes its time -------------------------

    def latency(self) -> None:
        s = self.settings
        trials = s.latency_trials
        rng = random.Random(7)
        # Stack durations spread over a few poll periods, so completion lands at every phase of
        # the watcher's 1 s -> 1.5 s -> 2 s poll schedule. Every other stack goes quiet for the
        # second half of its run (a database being created), so the watcher has backed off to
        # its longest interval when the root completes.
        durations = [2.0 + 8.0 * i / trials + rng.uniform(0.0, 0.25) for i in range(trials)]
        print(f"  completion latency: {trials} simulated deploys at once, "
              f"{s.api_latency * 1000:.0f} ms per API call", flush=True)
        Simulation.make(0.3, s.api_latency, -1).run()  # warm-up: imports, first client
        simulations = [Simulation.make(d, s.api_latency, i, quiet_tail=i % 2 == 1)
                       for i, d in enumerate(durations)]
        found: list[float] = []
        errors: list[BaseException] = []

        def one(simulation: Simulation) -> None:
            try:
                found.append(simulation.run())
            except BaseException as err:  # reported below, after every thread ended
                errors.append(err)

        threads = [threading.Thread(target=one, args=(sim,), daemon=True) for sim in simulations]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=max(durations) + 60.0)
        if errors or len(found) != trials:
            raise BenchError(f"simulated deploys failed: {errors[:1] or 'timed out'}")
        self.results.add(Figure(
            "latency_simulated", "completion latency, stack completing at any moment",
            found, target=2.0, judge="max",
            note=f"deploy.execute() against a time-driven stub of CloudFormation (7 nested "
                 f"stacks) on a real botocore client, real sleeps, "
                 f"{s.api_latency * 1000:.0f} ms per call"))
        import inspect

        from scripts.deploy.events import Watcher

        longest = inspect.signature(Watcher).parameters["poll_max"].default
        self.results.notes.append(
            f"completion latency is bounded by the watcher's longest poll interval ({longest:.1f} "
            f"s, scripts/events.py) plus one poll's calls and the outputs call: about "
            f"{longest + 4 * s.api_latency:.2f} s at {s.api_latency * 1000:.0f} ms per call; "
            f"the sampled max approaches it when a stack completes just after a poll")

    # -- 7: scale ------------------------------------------------------------------------

    def scale(self) -> None:
        s, r = self.settings, self.results
        cfn_lint = tool("cfn-lint")
        if cfn_lint is None:
            raise BenchError("cfn-lint is not installed in this environment; pip install -e .")
        folder = self.scratch / "scale"
        folder.mkdir()
        paths = {n: write_scale_template(folder, n) for n in SCALE_SIZES}

        def ws_lint(n: int) -> float:
            return self.ws("lint", "--no-build", "--no-cache", str(paths[n]))

        def plain(n: int) -> float:
            return timed([cfn_lint, str(paths[n])], cwd=REPO_ROOT, env=self.env)

        for _ in range(s.warmup):
            print("  scale: warm-up", flush=True)
            ws_lint(SCALE_SIZES[0])
            plain(SCALE_SIZES[0])
        commands: dict[str, Callable[[], float]] = {}
        for n in SCALE_SIZES:
            commands[f"ws_{n}"] = functools.partial(ws_lint, n)
            commands[f"cfn_{n}"] = functools.partial(plain, n)
        got = alternate(commands, runs=s.slow_runs, warmup=0, label="scale")
        for n in SCALE_SIZES:
            r.add(Figure(f"scale_ws_{n}", f"webstack lint, {n} resources", got[f"ws_{n}"]))
            r.add(Figure(f"scale_cfn_{n}", f"cfn-lint, {n} resources", got[f"cfn_{n}"]))
            r.add(Figure(f"scale_ratio_{n}", f"ratio: webstack lint / cfn-lint at {n}",
                         ratios(got[f"ws_{n}"], got[f"cfn_{n}"]), unit="x",
                         target=1.2 if n == SCALE_SIZES[-1] else None))
        small, mid, big = SCALE_SIZES
        for tool_key, name in (("ws", "webstack lint"), ("cfn", "cfn-lint")):
            first = [(b - a) / (mid - small) * 1000 for a, b in
                     zip(got[f"{tool_key}_{small}"], got[f"{tool_key}_{mid}"], strict=True)]
            second = [(b - a) / (big - mid) * 1000 for a, b in
                      zip(got[f"{tool_key}_{mid}"], got[f"{tool_key}_{big}"], strict=True)]
            growth = statistics.median(second) / statistics.median(first)
            r.notes.append(
                f"{name}: {statistics.median(first):.1f} ms per resource from {small} to {mid}, "
                f"{statistics.median(second):.1f} ms from {mid} to {big} "
                f"({'linear' if growth <= LINEAR_TOLERANCE else 'faster than linear'}: "
                f"x{growth:.2f})")


def gate_workload() -> str:
    """How many texts one cold build lints: build/ as written, and each resolved variant."""
    from scripts.build import yamlio
    from scripts.build.gate import load_lint_config, resolved_targets
    from templates_src.environments import ENVIRONMENTS

    written = {p.name: yamlio.load(p.read_text(encoding="utf-8"))
               for p in sorted(BUILD_DIR.glob("*.yaml"))}
    regions = tuple(load_lint_config().get("regions") or ())
    resolved, _ = resolved_targets(written, list(ENVIRONMENTS), regions)
    resources = sum(len(body.get("Resources") or {}) for body in written.values())
    return (f"a cold build lints {len(written) + len(resolved)} texts: the {len(written)} "
            f"templates of build/ ({resources} resources) as written, and {len(resolved)} "
            f"resolved (environment x region, identical texts once); cfn-lint lints the "
            f"{len(written)}")


# -- the CDK app -----------------------------------------------------------------------------


def install_cdk_app(source: Path, cache: Path, npm: str) -> None:
    """Copy the read-only app to ``cache`` and install its packages once (npm ci with a lock
    file, npm install without); later runs reuse it until the app's files change."""
    files = sorted(p for p in source.iterdir() if p.is_file())
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    stamp = cache / ".bench-stamp"
    if (cache / "node_modules").is_dir() and stamp.is_file() and \
            stamp.read_text() == digest.hexdigest():
        return
    print(f"  installing the CDK app into {cache} (once)", flush=True)
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    for path in files:
        shutil.copy2(path, cache / path.name)
    command = "ci" if (source / "package-lock.json").is_file() else "install"
    try:
        done = execute([npm, command, "--no-audit", "--no-fund"], cwd=cache,
                       env=clean_env(), timeout=INSTALL_TIMEOUT)
    except BenchError as err:
        raise BenchError(f"npm {command} did not finish: {err}") from err
    if done.code != 0:
        raise BenchError(f"npm {command} failed in {cache}: {done.last_words()}")
    stamp.write_text(digest.hexdigest())


# -- completion latency ---------------------------------------------------------------------


def completion_latency(cfn: Any, stack: str, done: Finished, success: str) -> float:
    """Seconds from the root stack's last event to the line where webstack reported success."""
    reported = next((at for at, line in done.lines if success in line), None)
    if reported is None:
        raise BenchError(f"webstack never said '{success}' for {stack}: {done.last_words()}")
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    newest: datetime = max(event["Timestamp"] for event in events)
    return float(reported - newest.timestamp())


class SimulatedCloud:
    """CloudFormation as a clock sees it: a root stack with seven nested stacks that starts at
    ExecuteChangeSet and completes ``duration`` seconds later, children first.

    Its answers are given to a real botocore client through ``before-call`` (the hook botocore's
    Stubber uses), so the watcher runs through the client it uses against AWS. Each call costs
    ``latency`` seconds, half before the state is read and half after, like a round trip.
    """

    CHILDREN = ("Network", "Security", "Iam", "Storage", "Database", "Compute", "Monitoring")
    STACK = "AWS::CloudFormation::Stack"

    def __init__(self, name: str, duration: float, latency: float, *,
                 quiet_tail: bool = False) -> None:
        self.name = name
        self.duration = duration
        # The last child finishes at 91% of the duration, or at 50% with a quiet tail.
        self.settled = 0.5 if quiet_tail else 0.91
        self.latency = latency
        self.root_id = self._id(name)
        self.started: float | None = None
        self.events: dict[str, list[dict[str, Any]]] = {}

    @staticmethod
    def _id(name: str) -> str:
        suffix = hashlib.sha256(name.encode()).hexdigest()[:12]
        return f"arn:aws:cloudformation:{REGION}:123456789012:stack/{name}/{suffix}"

    def _schedule(self, start: float) -> None:
        """Children start one after another and finish one after another until ``settled``;
        the root's CREATE_COMPLETE at 100% of the duration is the last event."""
        def event(stack: tuple[str, str], logical: str, status: str, seconds: float, *,
                  physical: str, type_: str = self.STACK) -> dict[str, Any]:
            name, stack_id = stack
            return {"StackId": stack_id, "StackName": name, "LogicalResourceId": logical,
                    "PhysicalResourceId": physical, "ResourceType": type_,
                    "ResourceStatus": status, "EventId": f"{name}-{logical}-{status}",
                    "Timestamp": datetime.fromtimestamp(start + seconds, UTC)}

        root_stack = (self.name, self.root_id)
        root = [event(root_stack, self.name, "CREATE_IN_PROGRESS", 0.0, physical=self.root_id)]
        for index, child in enumerate(self.CHILDREN):
            child_stack = (f"{self.name}-{child}Stack", self._id(f"{self.name}-{child}Stack"))
            child_id = child_stack[1]
            finish = self.settled - (len(self.CHILDREN) - 1 - index) * 0.06
            begin, end = 0.05 * (index + 1), self.duration * finish
            root.append(event(root_stack, f"{child}Stack", "CREATE_IN_PROGRESS", begin,
                              physical=child_id))
            self.events[child_id] = [
                event(child_stack, child_stack[0], "CREATE_IN_PROGRESS", begin + 0.01,
                      physical=child_id),
                event(child_stack, f"{child}Resource", "CREATE_IN_PROGRESS", begin + 0.02,
                      physical="physical", type_="AWS::SSM::Parameter"),
                event(child_stack, f"{child}Resource", "CREATE_COMPLETE", end - 0.02,
                      physical="physical", type_="AWS::SSM::Parameter"),
                event(child_stack, child_stack[0], "CREATE_COMPLETE", end - 0.01,
                      physical=child_id),
            ]
            root.append(event(root_stack, f"{child}Stack", "CREATE_COMPLETE", end,
                              physical=child_id))
        root.append(event(root_stack, self.name, "CREATE_COMPLETE", self.duration,
                          physical=self.root_id))
        self.events[self.root_id] = root

    @property
    def last_event(self) -> datetime:
        newest: datetime = max(e["Timestamp"] for e in self.events[self.root_id])
        return newest

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.cloudformation", self._remember)
        client.meta.events.register("before-call.cloudformation", self._answer)

    @staticmethod
    def _remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_params"] = dict(params)  # the call's own arguments, before serializing

    def _answer(self, model: Any, context: dict[str, Any], **_: Any
                ) -> tuple[Any, dict[str, Any]]:
        from botocore.awsrequest import AWSResponse

        time.sleep(self.latency / 2)
        body = getattr(self, f"_{model.name}")(context["bench_params"], time.time())
        time.sleep(self.latency / 2)
        return AWSResponse(None, 200, {}, None), {"ResponseMetadata": {"HTTPStatusCode": 200},
                                                  **body}

    def _ExecuteChangeSet(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        self.started = now
        self._schedule(now)
        return {}

    def _DescribeChangeSet(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        return {"ExecutionStatus": "EXECUTE_IN_PROGRESS", "Status": "CREATE_COMPLETE",
                "ChangeSetId": params["ChangeSetName"], "StackName": self.name}

    def _DescribeStacks(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        assert self.started is not None
        done = now >= self.started + self.duration
        return {"Stacks": [{
            "StackName": self.name, "StackId": self.root_id,
            "CreationTime": datetime.fromtimestamp(self.started, UTC),
            "StackStatus": "CREATE_COMPLETE" if done else "CREATE_IN_PROGRESS",
            "Outputs": [{"OutputKey": "AppUrl", "OutputValue": "http://example.invalid"}],
        }]}

    def _DescribeStackEvents(self, params: dict[str, Any], now: float) -> dict[str, Any]:
        stack = params["StackName"]
        events = self.events[self.root_id if stack == self.name else stack]
        visible = [e for e in events if e["Timestamp"].timestamp() <= now]
        return {"StackEvents": sorted(visible, key=lambda e: e["Timestamp"], reverse=True)}


@dataclass
class Simulation:
    """One simulated deploy, its client built up front (a boto3 session is not thread-safe)."""

    cloud: SimulatedCloud
    options: Any
    prepared: Any

    @classmethod
    def make(cls, duration: float, latency: float, index: int, *,
             quiet_tail: bool = False) -> Simulation:
        from scripts.deploy import pipeline as deploy
        from scripts.deploy.aws import Target, make_client

        name = f"latency-{index}"
        cloud = SimulatedCloud(name, duration, latency, quiet_tail=quiet_tail)
        client = make_client("cloudformation", REGION, None, "http://127.0.0.1:9")
        cloud.attach(client)
        target = Target("dev", REGION, name, None, "http://127.0.0.1:9",
                        _clients={"cloudformation": client})
        options = deploy.Options(environment="dev", regions=[REGION], stack_name=name,
                                 yes=True, timeout=duration + 60.0)
        prepared = deploy.Prepared(target, emit=lambda _line: None,
                                   change_set_id=f"{name}-change-set", change_set_type="CREATE")
        return cls(cloud, options, prepared)

    def run(self) -> float:
        """Execute and watch with webstack's own code; seconds from the last stack event to the
        moment ``deploy.execute`` hands back its result, outputs included."""
        from scripts.deploy import pipeline as deploy

        result = deploy.execute(self.options, self.prepared, deploy._InterruptState())
        reported = time.time()
        if result.code != 0:
            raise BenchError(f"the simulated deploy of {self.cloud.name} ended "
                             f"'{result.result}'")
        return reported - self.cloud.last_event.timestamp()


# -- scale templates ---------------------------------------------------------------------


def scale_template(count: int) -> dict[str, Any]:
    """``count`` tagged resources (SNS topics and SSM parameters) that pass every project rule.

    No ``Environment`` parameter, so the gate lints the text as written, exactly as cfn-lint
    does: the comparison is the gate's own cost, not the resolved sets.
    """
    cost_tags = {"Environment": "bench", "CostCenter": {"Ref": "CostCenter"},
                 "DeploymentDate": {"Ref": "DeploymentDate"}}
    resources: dict[str, Any] = {}
    for index in range(count):
        if index % 2:
            resources[f"Parameter{index:04d}"] = {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Type": "String", "Value": f"value-{index}",
                               "Description": f"benchmark parameter {index}", "Tags": cost_tags},
            }
        else:
            resources[f"Topic{index:04d}"] = {
                "Type": "AWS::SNS::Topic",
                "Properties": {"DisplayName": f"topic {index}", "Tags": [
                    {"Key": key, "Value": value} for key, value in cost_tags.items()]},
            }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"Benchmark: {count} tagged resources",
        # I3010 says 500 resources approach the quota; that is the point of this template.
        "Metadata": {"cfn-lint": {"config": {"ignore_checks": ["I3010"]}}},
        "Parameters": {
            "CostCenter": {"Type": "String", "Default": COST_CENTER,
                           "AllowedPattern": "^CC-[0-9]{4,6}$"},
            "DeploymentDate": {"Type": "String", "Default": "2026-01-01",
                               "AllowedPattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
        },
        "Resources": resources,
    }


def write_scale_template(folder: Path, count: int) -> Path:
    from scripts.build import yamlio

    path = folder / f"scale-{count}.yaml"
    path.write_text(yamlio.dump(scale_template(count)), encoding="utf-8")
    return path


# -- the local endpoint ----------------------------------------------------------------------


@contextmanager
def local_endpoint(state: Path) -> Iterator[str]:
    """A fresh endpoint on a free port of 127.0.0.1 with its state in ``state``; always stopped."""
    from scripts.local import endpoint as local

    previous = os.environ.get(local.STATE_DIR_ENV)
    os.environ[local.STATE_DIR_ENV] = str(state)
    state.mkdir(parents=True, exist_ok=True)
    try:
        server, _ = local.up(port=local.free_port())
        print(f"  local endpoint {server.url} (pid {server.pid})", flush=True)
        try:
            yield server.url
        finally:
            print(f"  {local.down()}", flush=True)
    finally:
        if previous is None:
            os.environ.pop(local.STATE_DIR_ENV, None)
        else:
            os.environ[local.STATE_DIR_ENV] = previous


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


def _load() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


# -- entry point -----------------------------------------------------------------------------

SECTIONS = ("gate", "deploy", "latency", "scale")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.tools.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="measured runs per figure (5)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up runs, not counted (1)")
    parser.add_argument("--slow-runs", type=int, default=3,
                        help="runs of the slow figures: cfn-lint per file, scale (3)")
    parser.add_argument("--only", action="append", choices=SECTIONS,
                        help="measure only this section (repeatable)")
    parser.add_argument("--cdk-app", type=Path, default=CDK_SOURCE,
                        help=f"the equivalent CDK app (default {CDK_SOURCE})")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR,
                        help="where the markdown and JSON go (default bench/results/)")
    parser.add_argument("--api-latency", type=float, default=0.05,
                        help="seconds per CloudFormation call in the simulated latency run")
    parser.add_argument("--latency-trials", type=int, default=16,
                        help="simulated deploys for the completion latency (16)")
    parser.add_argument("--one-worker", action="store_true",
                        help="also time a cold build linting in one process (WEBSTACK_GATE_JOBS=1)")
    return parser


def _interrupt_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if min(args.runs, args.slow_runs, args.latency_trials) < 1 or args.warmup < 0:
        print("bench: --runs, --slow-runs and --latency-trials must be at least 1, --warmup "
              "at least 0", file=sys.stderr)
        return 2
    settings = Settings(runs=args.runs, warmup=args.warmup, slow_runs=args.slow_runs,
                        sections=tuple(args.only or SECTIONS), cdk_source=args.cdk_app,
                        out=args.out, api_latency=args.api_latency,
                        latency_trials=args.latency_trials, one_worker=args.one_worker)
    command = " ".join(["python -m scripts.tools.bench", *(sys.argv[1:] if argv is None else argv)])
    load_before, started = _load(), time.perf_counter()
    previous = signal.signal(signal.SIGTERM, _interrupt_on_sigterm)  # the endpoint always stops
    try:
        return _run(settings, command, load_before, started)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(settings: Settings, command: str, load_before: str, started: float) -> int:
    with tempfile.TemporaryDirectory(prefix="webstack-bench-") as scratch:
        bench = Bench(settings, Path(scratch))
        try:
            print("preflight: build/ is fresh and passes the gate", flush=True)
            bench.preflight()
            if "gate" in settings.sections:
                print("render, build, the gate's baselines and cdk synth", flush=True)
                bench.gate()
            if "deploy" in settings.sections:
                print("deploys against the local endpoint", flush=True)
                with local_endpoint(Path(scratch) / "state") as endpoint:
                    bench.deploys(endpoint)
            if "latency" in settings.sections:
                print("completion latency", flush=True)
                bench.latency()
            if "scale" in settings.sections:
                print(f"scale: webstack lint and cfn-lint over {', '.join(map(str, SCALE_SIZES))}"
                      " resources", flush=True)
                bench.scale()
        except BenchError as err:
            print(f"bench: {err}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("bench: interrupted; the local endpoint was stopped", file=sys.stderr)
            return 130
    meta = {
        "command": command, "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.node() or "this machine", "cores": os.cpu_count(),
        "python": platform.python_version(), "load_before": load_before,
        "load_after": _load(), "elapsed": time.perf_counter() - started,
        "runs": settings.runs, "warmup": settings.warmup, "slow_runs": settings.slow_runs,
    }
    written = report(bench.results, meta, settings.out)
    judged = [f for f in bench.results.figures if f.met is not None]
    missed = [f.label for f in judged if not f.met]
    print(f"\ntargets: {len(judged) - len(missed)} of {len(judged)} met"
          + (f"; missed: {'; '.join(missed)}" if missed else ""))
    print(f"written to {written} and {written.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
