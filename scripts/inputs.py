"""What the user typed, checked before any work starts: one line and exit 2 when it is wrong.

The CLI (scripts/cli.py) parses; these turn its arguments into checked values (parameters,
environment and region, the deploy Options) so that nothing touches an account, or build/,
with input that cannot work.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from scripts import paths
from scripts.errors import UsageError, did_you_mean


def read_text(path: Path) -> str:
    """A template's text; binary or unreadable input is one line and exit 2."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(f"{path} is not a text template (byte {err.start} is not UTF-8); "
                         "give a YAML or JSON template") from err
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}") from err



def parameters(pairs: Sequence[str]) -> dict[str, str]:
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
        root = paths.BUILD_DIR / "root.yaml"
        declared = yamlio.load(root.read_text(encoding="utf-8")).get("Parameters", {}) \
            if root.is_file() else {}
        check_parameter_names(out, declared)
    return out



def check_env_region(environment: str, region: str) -> None:
    from templates_src.environments import ENVIRONMENT_NAMES
    from templates_src.regions import REGIONS

    if environment not in ENVIRONMENT_NAMES:
        raise UsageError(f"unknown environment '{environment}'; "
                         f"{did_you_mean(environment, ENVIRONMENT_NAMES)}"
                         f"valid: {', '.join(ENVIRONMENT_NAMES)}")
    if region not in REGIONS:
        raise UsageError(f"unknown region '{region}' (no AMI in the region map); "
                         f"{did_you_mean(region, REGIONS)}valid: {', '.join(REGIONS)}")



def stack_name(given: str, children: Iterable[str]) -> str:
    """A stack's short name (``database``) from either name the commands print: the short
    one, or the logical id that plan, diff and graph show (``DatabaseStack``)."""
    from templates_src.stacks.root import logical_id

    names = {"root": "root", "Root": "root"}
    for child in children:
        names[child] = names[logical_id(child)] = child
    if given in names:
        return names[given]
    folded = {key.casefold(): value for key, value in names.items()}
    if given.casefold() in folded:
        return folded[given.casefold()]
    shown = ["root", *(f"{c} ({logical_id(c)})" for c in children)]
    raise UsageError(f"unknown stack '{given}'; {did_you_mean(given, names, aliases=names)}"
                     f"valid: {', '.join(shown)}")


def choices(given: Sequence[str] | None, valid: Sequence[str], what: str) -> list[str]:
    for name in given or ():
        if name not in valid:
            raise UsageError(f"unknown {what} '{name}'; {did_you_mean(name, valid)}"
                             f"valid: {', '.join(valid)}")
    return list(dict.fromkeys(given)) if given else list(valid)



# The commands that may start the local endpoint for --local: the others act on stacks that
# exist, and a new endpoint holds none.
CREATING = frozenset({"deploy", "plan"})


def endpoint(args: argparse.Namespace) -> str | None:
    if args.local and args.endpoint_url:
        raise UsageError("give --local or --endpoint-url, not both")
    if args.local:
        from scripts.local.endpoint import endpoint_if_running, ensure_running

        if getattr(args, "command", None) in CREATING:
            return ensure_running()
        url = endpoint_if_running()
        if url is None:  # a new endpoint would hold nothing: say so, do not start one
            from scripts.deploy.aws import AwsError

            raise AwsError("the local endpoint is not running, and the stacks it held went "
                           "with it (it keeps them in memory); 'webstack deploy --local' "
                           "starts a new one")
        return url
    url = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    if url is not None:
        from botocore.utils import is_valid_endpoint_url, is_valid_ipv6_endpoint_url

        try:
            valid = is_valid_endpoint_url(url) or is_valid_ipv6_endpoint_url(url)
        except ValueError:  # urllib cannot split it (an unclosed IPv6 bracket)
            valid = False
        if not valid:
            source = "--endpoint-url" if args.endpoint_url else "AWS_ENDPOINT_URL"
            raise UsageError(f"{source} {url!r} is not a URL botocore can use; give one such "
                             "as http://localhost:5000")
    return url



def options(args: argparse.Namespace) -> Any:
    from scripts.deploy.aws import default_region
    from scripts.deploy.options import DEFAULT_TIMEOUT, Options
    from scripts.deploy.outputs import default_outputs_path
    from scripts.deploy.stacks import default_stack_name
    from scripts.deploy.validate import (
        check_default_outputs,
        check_stack_name,
        check_writable_file,
    )

    regions = list(dict.fromkeys(args.region or [default_region(args.profile or None) or ""]))
    if not regions or not regions[0]:
        raise UsageError("no region: pass --region, or set AWS_REGION or AWS_DEFAULT_REGION, "
                         "or 'region =' in the profile in ~/.aws/config")
    for region in regions:
        check_env_region(args.env, region)
    overrides = parameters(getattr(args, "param", []))
    stack_name = default_stack_name(args.env) if args.stack_name is None else args.stack_name
    check_stack_name(stack_name)
    timeout = getattr(args, "timeout", None)
    if timeout is not None and not (0 < timeout < float("inf")):
        raise UsageError(f"--timeout {timeout:g} is not a positive number of seconds; "
                         "give e.g. --timeout 1800")
    outputs_file = getattr(args, "outputs_file", None)
    if outputs_file is not None:
        check_writable_file(outputs_file, "--outputs-file")
    elif getattr(args, "command", None) == "deploy":  # it writes them to the state folder
        check_default_outputs(default_outputs_path(stack_name, regions))
    plan_output = getattr(args, "plan_output", None)
    if plan_output is not None:
        check_writable_file(plan_output, "--plan-output")
    return Options(
        environment=args.env,
        regions=regions,
        stack_name=stack_name,
        profile=args.profile or None,
        endpoint_url=endpoint(args),
        overrides=overrides,
        yes=getattr(args, "yes", False),
        allow_replacement=getattr(args, "allow_replacement", False),
        recreate=getattr(args, "recreate", False),
        strict_preflight=getattr(args, "strict_preflight", False),
        rollback_triggers=not getattr(args, "no_rollback_triggers", False),
        timeout=timeout or DEFAULT_TIMEOUT,
        outputs_file=outputs_file,
        plan_file=getattr(args, "plan_file", None),
        plan_format=getattr(args, "plan_format", None) or "text",
        plan_output=plan_output,
        color=sys.stdout.isatty() and not os.environ.get("NO_COLOR"),
        interactive=sys.stdin.isatty(),
        verbose=getattr(args, "verbose", False),
        terminal=sys.stdout.isatty(),
    )



def single_region(options: Any, command: str) -> str:
    if len(options.regions) != 1:
        raise UsageError(f"{command} takes one --region")
    return str(options.regions[0])


# What a plan fixed when it was made: given again with --plan-file it would be ignored.
PLAN_FIXES = (("param", "--param"), ("recreate", "--recreate"),
              ("no_rollback_triggers", "--no-rollback-triggers"),
              ("strict_preflight", "--strict-preflight"))


def refuse_what_the_plan_fixed(args: argparse.Namespace) -> None:
    """``deploy --plan-file`` runs the reviewed change set as it is: an option that would
    change it is refused, not ignored."""
    if args.plan_file:  # before any lock: a FIFO or a device would block or never end
        import stat

        try:
            mode = os.stat(args.plan_file).st_mode
        except OSError as err:
            raise UsageError(f"cannot read the plan file {args.plan_file}: {err.strerror}; run "
                             "'webstack plan' again") from err
        if not stat.S_ISREG(mode):
            raise UsageError(f"plan file {args.plan_file} is not a regular file (a FIFO, a "
                             "device or a folder): not a webstack plan; run 'webstack plan' "
                             "again")
    fixed = [flag for name, flag in PLAN_FIXES if args.plan_file and getattr(args, name, None)]
    if fixed:
        raise UsageError(f"{fixed[0]} cannot be given with --plan-file: the plan fixed what "
                         "its change set does; make a new plan with it ('webstack plan ... "
                         "--plan-file FILE')")
