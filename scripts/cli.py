"""The ``webstack`` command line: parse, check the input, hand over to a subsystem.

No logic lives here beyond turning options into the calls of scripts/build, scripts/deploy and
scripts/local, and every error a user can hit into one line on stderr with its exit code.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from scripts import inputs
from scripts.cli_args import (
    DEPLOY_EXAMPLES,
    DESCRIPTION,
    DIFF_EXAMPLES,
    EXAMPLES,
    LOCAL_EXAMPLES,
    PLAN_EXAMPLES,
    Version,
    change_args,
    target_args,
    verbose_arg,
)
from scripts.deploy.waiting import stopping_as_interrupt
from scripts.errors import (
    Exit,
    UsageError,
    WebstackError,
    aws_error_line,
    ensure_streams,
    flushed,
    one_line,
    output_failed,
    source_error,
)
from scripts.paths import BUILD_DIR
from templates_src.errors import TemplateSourceError

Handler = Callable[[argparse.Namespace], int]
Add = Callable[..., argparse.ArgumentParser]  # (name, handler, help, examples=None)

class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _report(findings: Sequence[Any], checked: int, started: float) -> int:
    from scripts.build.condense import report

    return report(findings, checked, time.perf_counter() - started)


def cmd_render(args: argparse.Namespace) -> int:
    from scripts.build.verify import fresh_render, write_set

    if not args.output.strip():
        raise UsageError("--output is empty: name a folder, e.g. --output rendered/")
    rendered = fresh_render()
    out = Path(args.output)
    # build/ holds the set alone; any other folder keeps what the set does not name
    write_set(rendered, out, "--output", prune=out.resolve() == BUILD_DIR.resolve())
    print(f"rendered {len(rendered)} templates into {out}")
    return Exit.OK


def cmd_build(args: argparse.Namespace) -> int:
    from scripts.build.verify import fresh_render, gate, render_and_gate, stale_files, write_set

    started = time.perf_counter()
    if args.no_cache:
        rendered, findings = render_and_gate()
    else:
        rendered = fresh_render()
        findings = gate(rendered)
    stale = stale_files(rendered, BUILD_DIR)
    if not args.check and stale:
        write_set(rendered, BUILD_DIR, "build/", prune=True)
    code = _report(findings, len(rendered), started)
    if args.check and stale:
        for name in stale:
            print(f"stale: {name}", file=sys.stderr)
        print("build/ differs from a fresh render; run 'webstack build' and commit build/",
              file=sys.stderr)
        return Exit.FINDINGS
    if not args.check and stale:
        print(f"wrote {', '.join(stale)}")
    return code


def cmd_lint(args: argparse.Namespace) -> int:
    from scripts.build.gate import gate_set, gate_set_cached, relative

    started = time.perf_counter()
    paths = sorted(BUILD_DIR.glob("*.yaml")) if not args.no_build else []
    for extra in args.templates:
        path = Path(extra)
        if not path.is_file():
            raise UsageError(f"no template at {extra}; give the path of a YAML template")
        paths.append(path)
    if not paths:
        raise UsageError("nothing to lint: build/ is empty and no template was given; "
                         "run 'webstack build' first")
    texts = {relative(p): inputs.read_text(p) for p in paths}
    if args.format != "text":
        from scripts.build.gate import Gate
        from scripts.build.lint_report import formatted

        gate = Gate()
        findings = gate_set(texts, gate)  # a report lists every rule run: never the cache
        sys.stdout.write(formatted(findings, gate, args.format).rstrip("\n") + "\n")
        print(f"gate: {len(findings)} finding(s) in {len(texts)} template(s) and every "
              f"resolved set [{time.perf_counter() - started:.2f}s]", file=sys.stderr)
        return Exit.FINDINGS if findings else Exit.OK
    findings = gate_set(texts) if args.no_cache else gate_set_cached(texts)
    return _report(findings, len(texts), started)


def _load_built(name: str) -> Any:
    """build/NAME parsed; one that cannot be read or parsed is one line and exit 2."""
    import yaml

    from scripts.build import yamlio

    try:
        return yamlio.load(inputs.read_text(BUILD_DIR / name))
    except (ValueError, yaml.YAMLError) as err:
        raise UsageError(f"build/{name} does not parse ({one_line(err)}); run 'webstack build'"
                         ) from err


def cmd_show(args: argparse.Namespace) -> int:
    from scripts.build import yamlio
    from scripts.build.resolve import ResolveError, resolve_set

    inputs.check_env_region(args.env, args.region)
    parameters = inputs.parameters(args.param)
    from templates_src.stacks import CHILDREN

    expected = ["root", *CHILDREN]
    stack = inputs.stack_name(args.stack, CHILDREN) if args.stack else None
    missing = [name for name in expected if not (BUILD_DIR / f"{name}.yaml").is_file()]
    if missing:
        raise UsageError(f"build/ is incomplete: build/{missing[0]}.yaml is missing; run "
                         "'webstack build'")
    templates = {name: _load_built(f"{name}.yaml") for name in expected}
    try:
        resolved = resolve_set(templates, args.env, args.region, parameters)
    except ResolveError as err:
        raise UsageError(f"build/: {err}") from err
    chosen = [stack] if stack else list(resolved)
    sys.stdout.write("---\n".join(
        f"# build/{name}.yaml resolved for {args.env} in {args.region}\n"
        + yamlio.dump(resolved[name]) for name in chosen))
    return Exit.OK


def cmd_diff(args: argparse.Namespace) -> int:
    from scripts.build import diff
    from scripts.paths import REPO_ROOT
    from templates_src.environments import ENVIRONMENT_NAMES
    from templates_src.regions import REGIONS

    environments = inputs.choices(args.env, ENVIRONMENT_NAMES, "environment")
    regions = inputs.choices(args.region, REGIONS, "region")
    parameters = inputs.parameters(args.param)
    if args.deployed:
        from scripts.deploy.deployed import deployed_diff

        if len(args.revisions) > 1:
            raise UsageError("--deployed compares the live stack with one HEAD (default the "
                             "working tree's build/); give at most one")
        if not (args.env and args.region and len(environments) == len(regions) == 1):
            raise UsageError("--deployed takes one --env and one --region")
        head_label, head = diff.load_side(args.revisions[0] if args.revisions else None,
                                          diff.repository(REPO_ROOT), role="HEAD")
        options = inputs.options(argparse.Namespace(**{**vars(args), "env": environments[0]}))
        rows, labels = deployed_diff(options.target(regions[0]), parameters, head, head_label)
        pairs, guarded = 1, rows
    else:
        if len(args.revisions) > 2:
            raise UsageError("give at most BASE and HEAD")
        base_spec = args.revisions[0] if args.revisions else "HEAD"
        head_spec = args.revisions[1] if len(args.revisions) > 1 else None
        repo = diff.repository(REPO_ROOT)
        base_label, base = diff.load_side(base_spec, repo, role="BASE")
        head_label, head = diff.load_side(head_spec, repo, role="HEAD")
        labels = (base_label, head_label)
        rows = diff.diff_sets(base, head, environments, regions, parameters=parameters,
                              labels=labels)
        pairs = len(environments) * len(regions)
        guarded = diff.as_deployed(base, head, environments, regions, parameters, rows) \
            if args.fail_on_replacement else rows
    sys.stdout.write(diff.report(rows, args.format, pairs, labels))
    refused = diff.refusals(guarded)
    if args.fail_on_replacement and refused:
        print(f"diff: {len(refused)} data-bearing resource(s) replaced or removed "
              "(--fail-on-replacement)", file=sys.stderr)
        return Exit.FINDINGS
    return Exit.OK


def cmd_graph(args: argparse.Namespace) -> int:
    from scripts.build import graph

    if not (BUILD_DIR / "root.yaml").is_file():
        raise UsageError("no build/root.yaml; run 'webstack build' first")
    sys.stdout.write(graph.render(_load_built("root.yaml"), args.format))
    return Exit.OK


def cmd_deploy(args: argparse.Namespace) -> int:
    from scripts.deploy.pipeline import deploy

    inputs.refuse_what_the_plan_fixed(args)
    if args.plan_format != "text" and not args.plan_output:
        raise UsageError(f"deploy --format {args.plan_format} writes the plan to a file: "
                         "add --plan-output FILE")
    return deploy(inputs.options(args))


def cmd_plan(args: argparse.Namespace) -> int:
    from scripts.deploy.pipeline import plan_only

    return plan_only(inputs.options(args))


def cmd_watch(args: argparse.Namespace) -> int:
    from scripts.deploy.pipeline import watch

    options = inputs.options(args)
    return watch(options.target(inputs.single_region(options, "watch")), options)


def cmd_outputs(args: argparse.Namespace) -> int:
    from scripts.deploy.outputs import fetch_outputs, print_outputs, write_outputs

    options = inputs.options(args)
    by_region = {region: fetch_outputs(options.target(region)) for region in options.regions}
    for region, outputs in by_region.items():
        if len(by_region) > 1:
            print(f"[{region}]")
        print_outputs(outputs, print)
    if options.outputs_file:
        written = write_outputs(options.outputs_file, options.stack_name, by_region)
        print(f"outputs written to {written}")
    return Exit.OK


def cmd_drift(args: argparse.Namespace) -> int:
    from scripts.deploy.drift import detect, report
    from scripts.deploy.pipeline import Interrupted
    from scripts.deploy.waiting import Cancelled, Waiter, handle_interrupts

    options = inputs.options(args)
    target = options.target(inputs.single_region(options, "drift"))
    waiter = Waiter()
    with handle_interrupts(waiter):
        try:
            drifts = detect(target, waiter, timeout=options.timeout)
        except Cancelled:
            raise Interrupted("interrupted; drift detection goes on in CloudFormation "
                              "and changes nothing") from None
    return report(drifts, print, options.stack_name, args.format)


def cmd_destroy(args: argparse.Namespace) -> int:
    from scripts.deploy.destroy import destroy
    from scripts.deploy.lock import target_lock

    options = inputs.options(args)
    target = options.target(inputs.single_region(options, "destroy"))
    with target_lock(target, "destroy"):
        return destroy(target, yes=args.yes, force=args.force, interactive=options.interactive,
                       timeout=options.timeout, verbose=options.verbose,
                       live_stream=options.live_stream(), color=options.color)


def cmd_engine_versions(args: argparse.Namespace) -> int:
    from scripts.build.engine_versions import report

    if not args.major.isdigit():
        raise UsageError(f"--major {args.major!r} is not a major version; give a number such "
                         "as --major 13")
    return report(args.major)


def cmd_refresh_amis(args: argparse.Namespace) -> int:
    from scripts.build.refresh_amis import refresh

    return refresh(args)


def cmd_completion(args: argparse.Namespace) -> int:
    import shtab

    sys.stdout.write(shtab.complete(build_parser(), shell=args.shell))
    return Exit.OK


def cmd_local(args: argparse.Namespace) -> int:
    from scripts.local import endpoint

    if args.action == "up":
        server, started = endpoint.up(args.port, args.timed)
        print(f"local endpoint {'up' if started else 'already up'}: {server.url} "
              f"(pid {server.pid})")
        return Exit.OK
    if args.action == "down":
        print(endpoint.down())
        return Exit.OK
    if args.action == "fail":
        return _local_fail(endpoint, args)
    if args.action == "certificate":
        from scripts.local.certificate import request_certificate

        url = args.endpoint_url or endpoint.ensure_running()
        print(request_certificate(url, args.region, args.domain))
        return Exit.OK
    current = endpoint.running()
    if current:
        print(f"local endpoint up: {current.url} (pid {current.pid})")
        return Exit.OK
    print("local endpoint down")
    return Exit.FINDINGS


def _local_fail(endpoint: Any, args: argparse.Namespace) -> int:
    if args.clear:
        endpoint.clear_failures()
        print("no failures injected")
        return Exit.OK
    if args.resource is None or args.on is None or args.reason is None:
        entries = endpoint.read_failures()
        if not (args.resource or args.on or args.reason):
            for e in entries:
                print(f"{e['resource']} fails on {e['on']}"
                      f"{' in ' + e['stack'] if e.get('stack') else ''}: {e['reason']}")
            return Exit.OK
        raise UsageError("webstack local fail needs --resource, --on and --reason together "
                         "(or --clear, or nothing to list)")
    for e in endpoint.inject_failure(args.resource, args.on, args.reason, args.stack):
        print(f"{e['resource']} fails on {e['on']}"
              f"{' in ' + e['stack'] if e.get('stack') else ''}: {e['reason']}")
    return Exit.OK


def _build_commands(add: Add) -> None:
    p = add("render", cmd_render, "render the template set (no gate) into a folder")
    p.add_argument("--output", default=str(BUILD_DIR), help="folder to write (default build/)")

    p = add("build", cmd_build, "render build/*.yaml and run the gate")
    p.add_argument("--check", action="store_true",
                   help="render in memory; exit 1 and list stale files if build/ differs")
    p.add_argument("--no-cache", action="store_true",
                   help="lint even if this exact input passed before (.cache/gate)")

    p = add("lint", cmd_lint, "run the gate over build/ and any extra templates")
    p.add_argument("templates", nargs="*", help="extra template paths, e.g. a hand-edited copy")
    p.add_argument("--no-build", action="store_true", help="lint only the given templates")
    p.add_argument("--format", choices=("text", "sarif", "junit"), default="text",
                   help="sarif (code scanning) or junit: cfn-lint's formatters, on stdout; "
                        "findings in a resolved set name their environment")
    p.add_argument("--no-cache", action="store_true",
                   help="lint even if this exact input passed before (.cache/gate)")

    p = add("diff", cmd_diff, "what a release does to each environment and region, offline: "
            "resources added, modified, replaced or removed between BASE and HEAD",
            DIFF_EXAMPLES)
    p.add_argument("revisions", nargs="*", metavar="BASE [HEAD]",
                   help="git revisions or folders holding build/ (default: BASE is the last "
                        "commit, HEAD the working tree's build/)")
    p.add_argument("--env", action="append", help="environment (repeatable; default all)")
    p.add_argument("--region", action="append", help="region (repeatable; default all)")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                   help="text for a terminal, markdown for a pull request, json for a script "
                        "(default text)")
    p.add_argument("--fail-on-replacement", action="store_true",
                   help="exit 1 when a data-bearing resource would be replaced or removed")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a root parameter value both sides are resolved with (repeatable)")
    p.add_argument("--deployed", action="store_true",
                   help="compare the live stack (its templates and parameters) with HEAD "
                        "(default build/), without a change set")
    p.add_argument("--stack-name", help="--deployed: root stack name (default webstack-<env>)")
    p.add_argument("--local", action="store_true", help="--deployed: the local endpoint")
    p.add_argument("--endpoint-url", help="--deployed: AWS endpoint")
    p.add_argument("--profile", default=os.environ.get("AWS_PROFILE"),
                   help="--deployed: AWS profile (default $AWS_PROFILE)")

    p = add("graph", cmd_graph, "the root, its children and the output -> parameter wiring, "
            "from build/")
    p.add_argument("--format", choices=("mermaid", "dot"), default="mermaid",
                   help="mermaid (renders in GitHub markdown) or dot (graphviz); default "
                        "mermaid")

    p = add("show", cmd_show, "print a template resolved for one environment and region")
    p.add_argument("--env", required=True, help="dev, staging or prod")
    p.add_argument("--region", required=True, help="one of the regions in the AMI map")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter value, e.g. CertificateArn=arn:... (repeatable)")
    p.add_argument("stack", nargs="?", help="one stack, by its short name or the logical id "
                   "plan and diff print (database or DatabaseStack; root); default all")

    from scripts.build.refresh_amis import add_arguments

    add_arguments(add("refresh-amis", cmd_refresh_amis,
                      "regenerate templates_src/regions.py from the AL2023 SSM parameter"))

    p = add("engine-versions", cmd_engine_versions,
            "list the PostgreSQL versions cfn-lint's data says RDS can create")
    p.add_argument("--major", default="13", help="PostgreSQL major version (default 13)")


def _deploy_commands(add: Add) -> None:
    p = add("deploy", cmd_deploy, "gate, preflight, package, plan, execute and watch",
            DEPLOY_EXAMPLES)
    target_args(p, "deploys to each region in parallel")
    change_args(p)
    p.add_argument("--yes", action="store_true", help="skip the confirmation prompt")
    p.add_argument("--recreate", action="store_true",
                   help="delete and recreate a non-prod stack left in ROLLBACK_COMPLETE")
    p.add_argument("--outputs-file", help="write the outputs here (CDK format)")
    verbose_arg(p)

    p = add("plan", cmd_plan, "create a change set, print the plan, then delete it "
            "(or keep it with --plan-file)", PLAN_EXAMPLES)
    target_args(p, "plans each region in parallel")
    change_args(p)

    p = add("watch", cmd_watch, "stream a stack's events until it settles")
    target_args(p)
    verbose_arg(p)

    p = add("outputs", cmd_outputs, "print a stack's outputs")
    target_args(p, "one block of outputs per region")
    p.add_argument("--outputs-file", help="write them here (CDK format)")

    p = add("drift", cmd_drift, "detect drift on the root and every nested stack; exit 1 "
            "when a resource changed behind CloudFormation's back")
    target_args(p)
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text, or json for a script (default text)")

    p = add("destroy", cmd_destroy, "delete the stack set; data-bearing resources are kept")
    target_args(p)
    p.add_argument("--yes", action="store_true", help="skip the confirmation prompt")
    p.add_argument("--force", action="store_true",
                   help="allow destroying prod (lifts termination protection)")
    verbose_arg(p)


def _local_commands(add: Add) -> None:
    from scripts.local.certificate import DEFAULT_DOMAIN
    from scripts.local.endpoint import DEFAULT_PORT, PORT_ENV

    p = add("local", cmd_local, "the local AWS endpoint (moto) on 127.0.0.1 that --local uses",
            LOCAL_EXAMPLES)
    actions = p.add_subparsers(dest="action", required=True, parser_class=Parser,
                               metavar="{up,down,status,fail,certificate}")

    def action(name: str, help_: str) -> argparse.ArgumentParser:
        return actions.add_parser(name, help=help_, description=help_)

    up = action("up", "start the local endpoint (no-op if it is up)")
    up.add_argument("--port", type=int, default=None,
                    help=f"port to try first (default ${PORT_ENV} or {DEFAULT_PORT})")
    up.add_argument("--timed", type=float, default=0.0, metavar="SECONDS",
                    help="timed mode: each resource takes SECONDS and stacks are seen "
                         "*_IN_PROGRESS, as on AWS (default 0: instant)")
    action("down", "stop the local endpoint (by its pid) and forget its state")
    action("status", "say whether it is up; exit 0 if up, 1 if down")
    fail = action("fail", "make a resource fail on create or update (the rollback path, "
                          "locally); no options: list the failures injected")
    fail.add_argument("--resource", help="logical id of the resource, e.g. Database")
    fail.add_argument("--on", choices=("create", "update"), help="which operation fails")
    fail.add_argument("--reason", help="the failure reason AWS would give")
    fail.add_argument("--stack", help="only in stacks whose name contains this")
    fail.add_argument("--clear", action="store_true", help="inject no failures any more")
    cert = action(
        "certificate", "request an ACM certificate from the local endpoint and print its "
        "ARN, for --param CertificateArn=... (staging and prod refuse to deploy without one)")
    cert.add_argument("--region", default=os.environ.get("AWS_REGION") or "us-east-1",
                      help="region of the certificate: the region you deploy to "
                           "(default $AWS_REGION or us-east-1)")
    cert.add_argument("--domain", default=DEFAULT_DOMAIN,
                      help=f"domain name on the certificate (default {DEFAULT_DOMAIN})")
    cert.add_argument("--endpoint-url", help="local endpoint to ask (default: the one "
                      "'webstack local up' runs, started if needed)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="webstack", description=DESCRIPTION, epilog=EXAMPLES,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=Version, help="print webstack's version and exit")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser,
                                title="commands", metavar="COMMAND")

    def add(name: str, handler: Handler, help_: str,
            examples: str | None = None) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_, description=help_, epilog=examples,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        command.set_defaults(handler=handler)
        return command

    _build_commands(add)
    _deploy_commands(add)
    _local_commands(add)
    p = add("completion", cmd_completion, "print a shell completion script for webstack, "
            "generated from this parser (see the README for where to put it)")
    p.add_argument("shell", choices=("bash", "zsh", "tcsh"), help="the shell to complete in")
    return parser


# Garbage collection after every 50,000 allocations instead of 700: cfn-lint and botocore
# allocate millions of short-lived objects, and the default threshold spent about a quarter of
# a cold gate's CPU in the collector (measured: lint 7.7 s -> 5.0 s of CPU). Objects freed by
# reference counting are freed as before; only cyclic garbage waits a little longer.
GC_THRESHOLD = (50_000, 20, 20)


def run() -> NoReturn:
    """The console script (``webstack``, ``python -m scripts``): main(), then leave at once.

    An interpreter's own exit frees, one by one, every object botocore and cfn-lint loaded:
    about 0.2 s after a deploy has printed its last line (measured on an identical redeploy,
    0.78 s -> 0.59 s). Nothing needs that freeing: the atexit handlers still run (logging,
    temporary directories, multiprocessing) and stdout and stderr are flushed, in that order,
    as the interpreter would. While a non-daemon thread still runs, the ordinary exit joins it.

    A stream the process was started without (``<&-``, ``>&-``) reads or writes /dev/null:
    without stdin there is no terminal to confirm at, without stdout nothing to print to."""
    ensure_streams()
    try:
        code = main()
    except SystemExit as done:  # argparse's own exits (--help)
        if not isinstance(done.code, int | None):
            raise
        code = done.code or 0
    if any(t is not threading.main_thread() and not t.daemon for t in threading.enumerate()):
        raise SystemExit(code)
    atexit._run_exitfuncs()
    os._exit(flushed(code))


def main(argv: Sequence[str] | None = None) -> int:
    """Every error a user can hit ends as one line on stderr and its exit code."""
    import gc

    gc.set_threshold(*GC_THRESHOLD)
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        with stopping_as_interrupt():
            args: Any = build_parser().parse_args(argv)
            return int(args.handler(args))
    except (WebstackError, SyntaxError, TemplateSourceError) as err:
        known = source_error(err)
        if known is None and not isinstance(err, WebstackError):
            return _internal(err)
        shown = known or err
        assert isinstance(shown, WebstackError)
        print(f"webstack{' ' + command if command else ''}: {shown}", file=sys.stderr)
        return int(shown.exit_code)
    except KeyboardInterrupt:
        print("webstack: interrupted", file=sys.stderr)
        return int(Exit.INTERRUPTED)
    except OSError as err:
        lost = output_failed(err, command)
        return _unexpected(err, command) if lost is None else lost
    except Exception as err:
        return _unexpected(err, command)


def _unexpected(err: Exception, command: str | None) -> int:
    """An AWS error no step turned into a sentence is exit 4; anything else is a bug."""
    aws = aws_error_line(err)
    if aws is None:
        return _internal(err)
    print(f"webstack{' ' + command if command else ''}: {aws}", file=sys.stderr)
    return int(Exit.AWS)


def _internal(err: Exception) -> int:
    """A bug in webstack: the only exit 70."""
    if os.environ.get("WEBSTACK_DEBUG"):
        raise err
    print(f"webstack: internal error: {type(err).__name__}: {one_line(err)} "
          "(rerun with WEBSTACK_DEBUG=1 for the traceback, and report it)", file=sys.stderr)
    return 70
