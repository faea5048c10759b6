"""The ``webstack`` command line: parse, check the input, hand over to a subsystem.

No logic lives here beyond turning options into the calls of scripts/build, scripts/deploy and
scripts/local, and every error a user can hit into one line on stderr with its exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from scripts.errors import Exit, UsageError, WebstackError
from scripts.paths import BUILD_DIR

Handler = Callable[[argparse.Namespace], int]


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


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
    from scripts.build.verify import fresh_render

    rendered = fresh_render()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (out / name).write_text(text, encoding="utf-8")
    print(f"rendered {len(rendered)} templates into {out}")
    return Exit.OK


def cmd_build(args: argparse.Namespace) -> int:
    from scripts.build.verify import fresh_render, gate, stale_files

    started = time.perf_counter()
    rendered = fresh_render()
    stale = stale_files(rendered, BUILD_DIR)
    if not args.check:
        BUILD_DIR.mkdir(exist_ok=True)
        for name, text in rendered.items():
            (BUILD_DIR / name).write_text(text, encoding="utf-8")
        for extra in BUILD_DIR.glob("*.yaml"):
            if extra.name not in rendered:
                extra.unlink()
    code = _report(gate(rendered, cached=not args.no_cache), len(rendered), started)
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
    texts = {relative(p): p.read_text(encoding="utf-8") for p in paths}
    findings = gate_set(texts) if args.no_cache else gate_set_cached(texts)
    return _report(findings, len(texts), started)


def _parameters(pairs: Sequence[str]) -> dict[str, str]:
    """``--param K=V`` pairs, each key a parameter of build/root.yaml."""
    from scripts.build import yamlio
    from scripts.deploy.changeset import check_parameter_names

    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not key.isidentifier():
            raise UsageError(f"--param {pair!r} is not Key=Value; write e.g. "
                             "--param CertificateArn=arn:aws:acm:...")
        out[key] = value
    if "Environment" in out:
        raise UsageError("--param Environment is not allowed; use --env")
    if out:
        root = BUILD_DIR / "root.yaml"
        declared = yamlio.load(root.read_text(encoding="utf-8")).get("Parameters", {}) \
            if root.is_file() else {}
        check_parameter_names(out, declared)
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
    from scripts.build.resolve import ResolveError, resolve_set

    _check_env_region(args.env, args.region)
    parameters = _parameters(args.param)
    names = sorted(p.stem for p in BUILD_DIR.glob("*.yaml"))
    if args.stack and args.stack not in names:
        raise UsageError(f"unknown stack '{args.stack}'; valid: {', '.join(names)}")
    templates = {name: yamlio.load((BUILD_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
                 for name in ["root", *(n for n in names if n != "root")]}
    try:
        resolved = resolve_set(templates, args.env, args.region, parameters)
    except ResolveError as err:
        raise UsageError(f"build/: {err}") from err
    chosen = [args.stack] if args.stack else list(resolved)
    sys.stdout.write("---\n".join(
        f"# build/{name}.yaml resolved for {args.env} in {args.region}\n"
        + yamlio.dump(resolved[name]) for name in chosen))
    return Exit.OK


def _endpoint(args: argparse.Namespace) -> str | None:
    if args.local and args.endpoint_url:
        raise UsageError("give --local or --endpoint-url, not both")
    if args.local:
        from scripts.local.endpoint import ensure_running

        return ensure_running()
    return args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None


def _options(args: argparse.Namespace) -> Any:
    from scripts.deploy.options import DEFAULT_TIMEOUT, Options
    from scripts.deploy.stacks import default_stack_name

    regions = list(dict.fromkeys(args.region or [os.environ.get("AWS_REGION", "")]))
    if not regions or not regions[0]:
        raise UsageError("no region: pass --region (or set AWS_REGION)")
    for region in regions:
        _check_env_region(args.env, region)
    overrides = _parameters(getattr(args, "param", []))
    return Options(
        environment=args.env,
        regions=regions,
        stack_name=args.stack_name or default_stack_name(args.env),
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
    from scripts.deploy.outputs import fetch_outputs, print_outputs, write_outputs

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


def cmd_refresh_amis(args: argparse.Namespace) -> int:
    from scripts.build.refresh_amis import refresh

    return refresh(args)


def cmd_local(args: argparse.Namespace) -> int:
    from scripts.local import endpoint

    if args.action == "up":
        server, started = endpoint.up(args.port)
        print(f"local endpoint {'up' if started else 'already up'}: {server.url} "
              f"(pid {server.pid})")
        return Exit.OK
    if args.action == "down":
        print(endpoint.down())
        return Exit.OK
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


def _target_args(p: argparse.ArgumentParser, many_regions: bool = True) -> None:
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


def _change_args(p: argparse.ArgumentParser) -> None:
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


def _build_commands(add: Callable[[str, Handler, str], argparse.ArgumentParser]) -> None:
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

    from scripts.build.refresh_amis import add_arguments

    add_arguments(add("refresh-amis", cmd_refresh_amis,
                      "regenerate templates_src/regions.py from the AL2023 SSM parameter"))

    p = add("engine-versions", cmd_engine_versions,
            "list the PostgreSQL versions cfn-lint's data says RDS can create")
    p.add_argument("--major", default="13", help="major version (default 13)")


def _deploy_commands(add: Callable[[str, Handler, str], argparse.ArgumentParser]) -> None:
    p = add("deploy", cmd_deploy, "gate, preflight, package, plan, execute and watch")
    _target_args(p)
    _change_args(p)
    p.add_argument("--yes", action="store_true", help="skip the confirmation prompt")
    p.add_argument("--recreate", action="store_true",
                   help="delete and recreate a non-prod stack left in ROLLBACK_COMPLETE")
    p.add_argument("--outputs-file", help="write the outputs here (CDK format)")

    p = add("plan", cmd_plan, "create a change set, print the plan, then delete it "
            "(or keep it with --plan-file)")
    _target_args(p)
    _change_args(p)

    p = add("watch", cmd_watch, "stream a stack's events until it settles")
    _target_args(p, many_regions=False)

    p = add("outputs", cmd_outputs, "print a stack's outputs")
    _target_args(p)
    p.add_argument("--outputs-file", help="write them here (CDK format)")

    p = add("destroy", cmd_destroy, "delete the stack set; data-bearing resources are kept")
    _target_args(p, many_regions=False)
    p.add_argument("--yes", action="store_true", help="skip the confirmation prompt")
    p.add_argument("--force", action="store_true",
                   help="allow destroying prod (lifts termination protection)")


def _local_commands(add: Callable[[str, Handler, str], argparse.ArgumentParser]) -> None:
    from scripts.local.certificate import DEFAULT_DOMAIN
    from scripts.local.endpoint import DEFAULT_PORT, PORT_ENV

    p = add("local", cmd_local, "the local AWS endpoint (moto) on 127.0.0.1 that --local uses")
    actions = p.add_subparsers(dest="action", required=True, parser_class=Parser)
    up = actions.add_parser("up", help="start the local endpoint (no-op if it is up)")
    up.add_argument("--port", type=int, default=None,
                    help=f"port to try first (default ${PORT_ENV} or {DEFAULT_PORT})")
    actions.add_parser("down", help="stop the local endpoint and forget its state")
    actions.add_parser("status", help="say whether it is up; exit 0 if up, 1 if down")
    cert = actions.add_parser(
        "certificate", help="request an ACM certificate from the local endpoint and print its "
        "ARN, for --param CertificateArn=... (staging and prod refuse to deploy without one)")
    cert.add_argument("--region", default=os.environ.get("AWS_REGION") or "us-east-1",
                      help="region of the certificate: the region you deploy to "
                           "(default $AWS_REGION or us-east-1)")
    cert.add_argument("--domain", default=DEFAULT_DOMAIN,
                      help=f"domain name on the certificate (default {DEFAULT_DOMAIN})")
    cert.add_argument("--endpoint-url", help="local endpoint to ask (default: the one "
                      "'webstack local up' runs, started if needed)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="webstack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    def add(name: str, handler: Handler, help_: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_, description=help_)
        command.set_defaults(handler=handler)
        return command

    _build_commands(add)
    _deploy_commands(add)
    _local_commands(add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Every error a user can hit ends as one line on stderr and its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        args: Any = build_parser().parse_args(argv)
        return int(args.handler(args))
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
