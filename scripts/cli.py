"""The ``webstack`` command line."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from scripts.errors import Exit, SourceError, UsageError, WebstackError
from scripts.paths import BUILD_DIR

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _fresh_render() -> dict[str, str]:
    """Render in memory; a broken source (table, wiring) is a SourceError, not a traceback."""
    from templates_src.errors import TemplateSourceError

    try:
        from scripts.build.render import render

        return render()
    except TemplateSourceError as err:
        raise SourceError(str(err)) from err


def _stale_files(rendered: dict[str, str], build_dir: Path) -> list[str]:
    stale = []
    for name, text in rendered.items():
        path = build_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(f"build/{name}")
    stale += [f"build/{p.name} (not rendered any more)" for p in sorted(build_dir.glob("*.yaml"))
              if p.name not in rendered]
    return stale


def _report(findings: Sequence[object], checked: int, started: float) -> int:
    for finding in findings:
        print(finding)
    elapsed = time.perf_counter() - started
    if findings:
        print(f"gate: {len(findings)} finding(s) in {checked} template(s) "
              f"[{elapsed:.2f}s]; fix them, or list a justified ignore in .cfnlintrc.yaml",
              file=sys.stderr)
        return Exit.FINDINGS
    print(f"gate: {checked} template(s) clean, every environment resolved [{elapsed:.2f}s]")
    return Exit.OK


def cmd_render(args: argparse.Namespace) -> int:
    rendered = _fresh_render()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (out / name).write_text(text, encoding="utf-8")
    print(f"rendered {len(rendered)} templates into {out}")
    return Exit.OK


def _gate(args: argparse.Namespace) -> Callable[[dict[str, str]], list[Any]]:
    from scripts.build.gate import gate_set, gate_set_cached

    return gate_set if args.no_cache else gate_set_cached


def cmd_build(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    rendered = _fresh_render()
    stale = _stale_files(rendered, BUILD_DIR)
    if not args.check:
        BUILD_DIR.mkdir(exist_ok=True)
        for name, text in rendered.items():
            (BUILD_DIR / name).write_text(text, encoding="utf-8")
        for extra in BUILD_DIR.glob("*.yaml"):
            if extra.name not in rendered:
                extra.unlink()
    findings = _gate(args)({f"build/{name}": text for name, text in rendered.items()})
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
    from scripts.build.gate import relative

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
    texts = {relative(p): p.read_text(encoding="utf-8") for p in paths}
    return _report(_gate(args)(texts), len(texts), started)


def _parameters(pairs: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not key.isidentifier():
            raise UsageError(f"--param {pair!r} is not Key=Value; write e.g. "
                             "--param CertificateArn=arn:aws:acm:...")
        out[key] = value
    return out


def _check_env_region(environment: str, region: str) -> None:
    from templates_src.environments import ENVIRONMENT_NAMES
    from templates_src.regions import REGIONS

    if environment not in ENVIRONMENT_NAMES:
        raise UsageError(f"unknown environment '{environment}'; "
                         f"valid: {', '.join(ENVIRONMENT_NAMES)}")
    if region not in REGIONS:
        raise UsageError(f"unknown region '{region}' (no AMI in the region map); "
                         f"valid: {', '.join(REGIONS)}")


def cmd_show(args: argparse.Namespace) -> int:
    from scripts.build import yamlio
    from scripts.build.resolve import ResolveError, resolve

    _check_env_region(args.env, args.region)
    parameters = _parameters(args.param)
    names = sorted(p.stem for p in BUILD_DIR.glob("*.yaml"))
    if args.stack and args.stack not in names:
        raise UsageError(f"unknown stack '{args.stack}'; valid: {', '.join(names)}")
    chosen = [args.stack] if args.stack else ["root", *(n for n in names if n != "root")]
    documents = []
    for name in chosen:
        body = yamlio.load((BUILD_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
        try:
            resolved = resolve(body, args.env, args.region, parameters)
        except ResolveError as err:
            raise UsageError(f"build/{name}.yaml: {err}") from err
        header = f"# build/{name}.yaml resolved for {args.env} in {args.region}\n"
        documents.append(header + yamlio.dump(resolved))
    sys.stdout.write("---\n".join(documents))
    return Exit.OK


def _endpoint(args: argparse.Namespace) -> str | None:
    if args.local and args.endpoint_url:
        raise UsageError("give --local or --endpoint-url, not both")
    if args.local:
        from scripts.local.endpoint import ensure_running

        return ensure_running()
    return args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None


def _options(args: argparse.Namespace) -> Any:
    from scripts.deploy.pipeline import DEFAULT_TIMEOUT, Options

    regions = list(dict.fromkeys(args.region or [os.environ.get("AWS_REGION", "")]))
    if not regions or not regions[0]:
        raise UsageError("no region: pass --region (or set AWS_REGION)")
    for region in regions:
        _check_env_region(args.env, region)
    overrides = _parameters(getattr(args, "param", []))
    if "Environment" in overrides:
        raise UsageError("--param Environment is not allowed; use --env")
    return Options(
        environment=args.env,
        regions=regions,
        stack_name=args.stack_name or f"webstack-{args.env}",
        profile=args.profile or None,
        endpoint_url=_endpoint(args),
        overrides=overrides,
        yes=getattr(args, "yes", False),
        allow_replacement=getattr(args, "allow_replacement", False),
        recreate=getattr(args, "recreate", False),
        strict_preflight=getattr(args, "strict_preflight", False),
        rollback_triggers=not getattr(args, "no_rollback_triggers", False),
        timeout=getattr(args, "timeout", None) or DEFAULT_TIMEOUT,
        outputs_file=getattr(args, "outputs_file", None),
        plan_file=getattr(args, "plan_file", None),
        color=sys.stdout.isatty() and not os.environ.get("NO_COLOR"),
        interactive=sys.stdin.isatty(),
    )


def _single_region(options: Any, command: str) -> str:
    if len(options.regions) != 1:
        raise UsageError(f"{command} takes one --region")
    return str(options.regions[0])


def cmd_deploy(args: argparse.Namespace) -> int:
    from scripts.deploy.pipeline import deploy

    return deploy(_options(args))


def cmd_plan(args: argparse.Namespace) -> int:
    from scripts.deploy.pipeline import plan_only

    return plan_only(_options(args))


def cmd_watch(args: argparse.Namespace) -> int:
    from scripts.deploy.pipeline import watch

    options = _options(args)
    return watch(options.target(_single_region(options, "watch")), options)


def cmd_outputs(args: argparse.Namespace) -> int:
    from scripts.deploy.pipeline import fetch_outputs, print_outputs, write_outputs

    options = _options(args)
    by_region = {region: fetch_outputs(options.target(region)) for region in options.regions}
    for region, outputs in by_region.items():
        if len(by_region) > 1:
            print(f"[{region}]")
        print_outputs(outputs, print)
    if options.outputs_file:
        written = write_outputs(options.outputs_file, options.stack_name, by_region)
        print(f"outputs written to {written}")
    return Exit.OK


def cmd_destroy(args: argparse.Namespace) -> int:
    from scripts.deploy.destroy import destroy

    options = _options(args)
    target = options.target(_single_region(options, "destroy"))
    return destroy(target, environment=options.environment, yes=args.yes, force=args.force,
                   interactive=options.interactive, timeout=options.timeout)


def cmd_engine_versions(args: argparse.Namespace) -> int:
    from scripts.build.engine_versions import report

    return report(args.major)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="webstack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add(name: str, handler: Handler, help_: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_, description=help_)
        command.set_defaults(handler=handler)
        return command

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
    p.add_argument("--no-cache", action="store_true",
                   help="lint even if this exact input passed before (.cache/gate)")

    p = add("show", cmd_show, "print a template resolved for one environment and region")
    p.add_argument("--env", required=True, help="dev, staging or prod")
    p.add_argument("--region", required=True, help="one of the regions in the AMI map")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter value, e.g. CertificateArn=arn:... (repeatable)")
    p.add_argument("stack", nargs="?", help="one stack (root, network, ...); default all")

    # Listed for --help; main() hands its arguments to scripts/refresh_amis.py unparsed.
    add("refresh-amis", lambda _args: Exit.USAGE,
        "regenerate templates_src/regions.py from the AL2023 SSM parameter "
        "(see 'webstack refresh-amis --help')")

    def target_args(p: argparse.ArgumentParser, many_regions: bool = True) -> None:
        p.add_argument("--env", required=True, help="dev, staging or prod")
        p.add_argument("--region", action="append",
                       help="target region" + (" (repeatable: deploys in parallel)"
                                               if many_regions else ""))
        p.add_argument("--stack-name", help="root stack name (default webstack-<env>)")
        p.add_argument("--local", action="store_true",
                       help="use the local endpoint on 127.0.0.1, starting it if needed")
        p.add_argument("--endpoint-url", help="AWS endpoint (AWS_ENDPOINT_URL is honoured too)")
        p.add_argument("--profile", default=os.environ.get("AWS_PROFILE"), help="AWS profile")
        p.add_argument("--timeout", type=float, help="seconds to wait for the stack to settle "
                       "(default 3600)")

    def change_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                       help="override a root parameter (repeatable)")
        p.add_argument("--strict-preflight", action="store_true",
                       help="fail when the endpoint cannot run a preflight check")
        p.add_argument("--allow-replacement", action="store_true",
                       help="permit replacing or removing data-bearing resources")
        p.add_argument("--no-rollback-triggers", action="store_true",
                       help="do not pass the stack's alarms as rollback triggers on update")
        p.add_argument("--plan-file", help="plan: write the plan here and keep the change set; "
                       "deploy: execute exactly that reviewed change set")

    p = add("deploy", cmd_deploy, "gate, preflight, package, plan, execute and watch")
    target_args(p)
    change_args(p)
    p.add_argument("--yes", action="store_true", help="skip the confirmation prompt")
    p.add_argument("--recreate", action="store_true",
                   help="delete and recreate a non-prod stack left in ROLLBACK_COMPLETE")
    p.add_argument("--outputs-file", help="write the outputs here (CDK format)")

    p = add("plan", cmd_plan, "create a change set, print the plan, then delete it "
            "(or keep it with --plan-file)")
    target_args(p)
    change_args(p)

    p = add("watch", cmd_watch, "stream a stack's events until it settles")
    target_args(p, many_regions=False)

    p = add("outputs", cmd_outputs, "print a stack's outputs")
    target_args(p)
    p.add_argument("--outputs-file", help="write them here (CDK format)")

    p = add("destroy", cmd_destroy, "delete the stack set; data-bearing resources are kept")
    target_args(p, many_regions=False)
    p.add_argument("--yes", action="store_true", help="skip the confirmation prompt")
    p.add_argument("--force", action="store_true",
                   help="allow destroying prod (lifts termination protection)")

    add("local", lambda _args: Exit.USAGE,
        "local AWS endpoint on 127.0.0.1: up | down | status (see 'webstack local --help')")

    p = add("engine-versions", cmd_engine_versions,
            "list the PostgreSQL versions cfn-lint's data says RDS can create")
    p.add_argument("--major", default="13", help="major version (default 13)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["refresh-amis"]:  # its own parser owns every option after the name
        from scripts.build import refresh_amis

        return refresh_amis.main(argv[1:])
    if argv[:1] == ["local"]:
        from scripts.local import endpoint as local

        return _guarded(lambda: local.main(argv[1:]), "local")
    parser = build_parser()
    command = next((a for a in argv if not a.startswith("-")), None)

    def run() -> int:
        args: Any = parser.parse_args(argv)
        return int(args.handler(args))

    return _guarded(run, command)


def _guarded(run: Callable[[], int], command: str | None) -> int:
    """Every error a user can hit ends as one line and its exit code."""
    try:
        return run()
    except WebstackError as err:
        print(f"webstack{' ' + command if command else ''}: {err}", file=sys.stderr)
        return int(err.exit_code)
    except KeyboardInterrupt:
        print("webstack: interrupted", file=sys.stderr)
        return int(Exit.INTERRUPTED)
    except BrokenPipeError:
        return int(Exit.OK)
    except Exception as err:
        if os.environ.get("WEBSTACK_DEBUG"):
            raise
        print(f"webstack: internal error: {type(err).__name__}: {err} "
              "(rerun with WEBSTACK_DEBUG=1 for the traceback, and report it)", file=sys.stderr)
        return 70

