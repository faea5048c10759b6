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
import os
import platform
import random
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from scripts.paths import BUILD_DIR, REPO_ROOT, STATE_DIR_ENV
from scripts.tools import testcommand
from scripts.tools.measure import (
    README_BEGIN,
    BenchError,
    Figure,
    Finished,
    Results,
    alternate,
    clean_env,
    execute,
    load_average,
    ratios,
    readme_block,
    readme_refusal,
    report,
    timed,
    tool,
    with_readme_block,
)
from scripts.tools.workloads import (
    COST_CENTER,
    gate_workload,
    install_cdk_app,
    simulated_cloud,
    write_scale_template,
)

RESULTS_DIR = REPO_ROOT / "bench" / "results"
README = REPO_ROOT / "README.md"  # --readme writes its figures between the markers
CDK_CACHE = REPO_ROOT / ".cache" / "bench-cdk"
# The least any no-op deploy pays: an interpreter, boto3, and one DescribeStacks.
FLOOR = ("import sys, boto3; boto3.client('cloudformation', endpoint_url=sys.argv[1], "
         "region_name='us-east-1', aws_access_key_id='testing', "
         "aws_secret_access_key='testing').describe_stacks(StackName=sys.argv[2])")
CDK_ENV = {"CDK_DISABLE_VERSION_CHECK": "1", "NESTED": "1"}
REGION = "us-east-1"
SCALE_SIZES = (50, 200, 500)
# Linear means the per-resource cost from 200 to 500 stays within this factor of 50 to 200.
LINEAR_TOLERANCE = 1.3


# -- the harness -----------------------------------------------------------------------------


@dataclass
class Settings:
    runs: int
    warmup: int
    slow_runs: int
    sections: tuple[str, ...]
    cdk_source: Path | None
    out: Path
    api_latency: float
    latency_trials: int
    one_worker: bool = False
    test_command_runs: int = 1
    readme: bool = False


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

    def ws(self, *args: str, env: dict[str, str] | None = None, ok: Sequence[int] = (0,),
           cpu_into: list[float] | None = None) -> float:
        return timed([*self.webstack, *args], cwd=REPO_ROOT, env=env or self.env, ok=ok,
                     cpu_into=cpu_into)

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
        cpu: dict[str, list[float]] = {"build_cold": [], "cdk": []}
        commands: dict[str, Callable[[], float]] = {
            "render": lambda: self.ws("render", "--output", str(out)),
            "build_cold": lambda: self.ws("build", "--check", "--no-cache",
                                          cpu_into=cpu["build_cold"]),
            "build_warm": lambda: self.ws("build", "--check"),
            "cfn_lint": lambda: timed([cfn_lint, *files], cwd=REPO_ROOT, env=self.env),
        }
        synth = self.cdk_synth(cpu["cdk"])
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
            kept = {key: samples[s.warmup:] for key, samples in cpu.items()}
            r.add(Figure("build_cold_cpu", "CPU time (user + sys): build cold",
                         kept["build_cold"], note="every process, the forked workers included"))
            r.add(Figure("cdk_cpu", "CPU time (user + sys): cdk synth", kept["cdk"]))
            r.add(Figure("build_cold_vs_cdk_cpu", "ratio of CPU time: build cold / cdk synth",
                         ratios(kept["build_cold"], kept["cdk"]), unit="x"))
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

    def cdk_synth(self, cpu_into: list[float]) -> Callable[[], float] | None:
        """``npx cdk synth`` of the shared app, installed once under .cache/; None if skipped.
        Each run's CPU time is appended to ``cpu_into``."""
        source = self.settings.cdk_source
        npm, npx = shutil.which("npm"), shutil.which("npx")
        if source is None:
            self.results.skip("cdk synth", "no CDK app given; pass --cdk-app FOLDER")
            return None
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
        return lambda: timed(argv, cwd=CDK_CACHE, env=env, cpu_into=cpu_into)

    # -- 5: deploys against the local endpoint --------------------------------------------

    def deploys(self, endpoint: str) -> None:  # noqa: C901, PLR0915 - closures share one run's names
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

        logs = make_client("logs", REGION, None, endpoint)

        def monitoring_group() -> list[str]:
            """What a CLI user passes once RDSOSMetrics exists in the region (an earlier stack
            made it; webstack passes the same by itself): the database stack must not create
            it again."""
            found = logs.describe_log_groups(logGroupNamePrefix="RDSOSMetrics")["logGroups"]
            owned = any(g["logGroupName"] == "RDSOSMetrics" for g in found)
            return ["RdsMonitoringLogGroup=existing"] if owned else []

        def cli(stack: str, *, empty_ok: bool) -> float:
            assert aws is not None
            existing = monitoring_group()  # before the clock starts
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
                            f"DeploymentDate={date.today().isoformat()}", *existing],
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
        commands["floor"] = lambda: timed([sys.executable, "-c", FLOOR, endpoint, names["ws"]],
                                          cwd=REPO_ROOT, env=self.env)
        got = alternate(commands, runs=s.runs, warmup=s.warmup, label="deploys")
        r.add(Figure("ws_create", "webstack deploy --local --yes, full create of dev",
                     got["ws_create"], note="includes render + gate (verdict cached)"))
        r.add(Figure("ws_redeploy", "webstack deploy, identical redeploy", got["ws_redeploy"]))
        r.add(Figure("ws_update", "webstack deploy, one-parameter update (AlarmEmail)",
                     got["ws_update"]))
        r.add(Figure("floor", "floor of a no-op: python, boto3, one DescribeStacks",
                     got["floor"], note="python -c: import boto3, one client, DescribeStacks"))
        r.add(Figure("redeploy_vs_floor", "ratio: webstack redeploy / the floor",
                     ratios(got["ws_redeploy"], got["floor"]), unit="x"))
        if aws is not None:
            r.add(Figure("cli_create", "aws cloudformation package + deploy, full create",
                         got["cli_create"], note="awscli in the same environment"))
            r.add(Figure("cli_redeploy", "aws cloudformation package + deploy, identical "
                         "redeploy", got["cli_redeploy"], note="--no-fail-on-empty-changeset"))
            r.add(Figure("create_vs_cli", "ratio: webstack create / CLI create",
                         ratios(got["ws_create"], got["cli_create"]), unit="x", target=0.6))
            r.add(Figure("redeploy_vs_cli", "ratio: webstack redeploy / CLI create",
                         ratios(got["ws_redeploy"], got["cli_create"]), unit="x", target=0.25))
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
        simulation = simulated_cloud().Simulation
        simulation.make(0.3, s.api_latency, -1).run()  # warm-up: imports, first client
        simulations = [simulation.make(d, s.api_latency, i, quiet_tail=i % 2 == 1)
                       for i, d in enumerate(durations)]
        found: list[float] = []
        errors: list[BaseException] = []

        def one(simulation: Any) -> None:
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


# -- the CDK app -----------------------------------------------------------------------------


# -- completion latency ---------------------------------------------------------------------


def completion_latency(cfn: Any, stack: str, done: Finished, success: str) -> float:
    """Seconds from the root stack's last event to the line where webstack reported success."""
    reported = next((at for at, line in done.lines if success in line), None)
    if reported is None:
        raise BenchError(f"webstack never said '{success}' for {stack}: {done.last_words()}")
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    newest: datetime = max(event["Timestamp"] for event in events)
    return float(reported - newest.timestamp())


# -- the local endpoint ----------------------------------------------------------------------


@contextmanager
def local_endpoint(state: Path) -> Iterator[str]:
    """A fresh endpoint on a free port of 127.0.0.1 with its state in ``state``; always stopped."""
    from scripts.local import endpoint as local

    previous = os.environ.get(STATE_DIR_ENV)
    os.environ[STATE_DIR_ENV] = str(state)
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
            os.environ.pop(STATE_DIR_ENV, None)
        else:
            os.environ[STATE_DIR_ENV] = previous


# -- entry point -----------------------------------------------------------------------------

SECTIONS = ("gate", "deploy", "latency", "scale")
OPT_IN = (testcommand.SECTION,)  # minutes each: only with --only


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.tools.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="measured runs per figure (5)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up runs, not counted (1)")
    parser.add_argument("--slow-runs", type=int, default=3,
                        help="runs of the slow figures: cfn-lint per file, scale (3)")
    parser.add_argument("--only", action="append", choices=(*SECTIONS, *OPT_IN),
                        help="measure only this section (repeatable)")
    parser.add_argument("--all", action="store_true",
                        help=f"every section, {OPT_IN[0]} too (over --only)")
    parser.add_argument("--readme", action="store_true",
                        help=f"write the figures into README.md, between '{README_BEGIN}' "
                             "and the end marker (needs every default section)")
    parser.add_argument("--cdk-app", type=Path, default=None,
                        help="folder of the equivalent CDK app (its package.json) to time "
                             "'cdk synth' beside the cold build; without it that figure is "
                             "skipped")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR,
                        help="where the markdown and JSON go (default bench/results/)")
    parser.add_argument("--api-latency", type=float, default=0.05,
                        help="seconds per CloudFormation call in the simulated latency run")
    parser.add_argument("--latency-trials", type=int, default=16,
                        help="simulated deploys for the completion latency (16)")
    parser.add_argument("--one-worker", action="store_true",
                        help="also time a cold build linting in one process (WEBSTACK_GATE_JOBS=1)")
    parser.add_argument("--test-command-runs", type=int, default=1,
                        help="cold + warm pairs of --only test-command: the README's test "
                             "command from a fresh clone, on empty then warm package caches (1)")
    return parser


def _interrupt_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sections = (*SECTIONS, *OPT_IN) if args.all else tuple(args.only or SECTIONS)
    refused = readme_refusal(sections, SECTIONS, README) if args.readme else None
    if min(args.runs, args.slow_runs, args.latency_trials) < 1 or args.warmup < 0:
        refused = "--runs, --slow-runs and --latency-trials must be at least 1, --warmup at least 0"
    if refused:
        print(f"bench: {refused}", file=sys.stderr)
        return 2
    settings = Settings(runs=args.runs, warmup=args.warmup, slow_runs=args.slow_runs,
                        sections=sections, cdk_source=args.cdk_app, readme=args.readme,
                        out=args.out, api_latency=args.api_latency,
                        latency_trials=args.latency_trials, one_worker=args.one_worker,
                        test_command_runs=max(1, args.test_command_runs))
    command = " ".join(["python -m scripts.tools.bench", *(sys.argv[1:] if argv is None else argv)])
    load_before, started = load_average(), time.perf_counter()
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
            if testcommand.SECTION in settings.sections:
                print("the README's test command from a fresh clone, cold and warm caches",
                      flush=True)
                testcommand.measure(bench.results, runs=settings.test_command_runs,
                                    scratch=Path(scratch), logs=settings.out)
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
        "load_after": load_average(), "elapsed": time.perf_counter() - started,
        "runs": settings.runs, "warmup": settings.warmup, "slow_runs": settings.slow_runs,
    }
    written = report(bench.results, meta, settings.out)
    if settings.readme:
        README.write_text(with_readme_block(README.read_text(encoding="utf-8"),
                                            readme_block(bench.results, meta)), encoding="utf-8")
        print(f"figures written into {README}")
    judged = [f for f in bench.results.figures if f.met is not None]
    missed = [f.label for f in judged if not f.met]
    print(f"\ntargets: {len(judged) - len(missed)} of {len(judged)} met"
          + (f"; missed: {'; '.join(missed)}" if missed else ""))
    print(f"written to {written} and {written.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
