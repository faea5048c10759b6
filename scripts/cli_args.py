"""What ``webstack --help`` says to a person (the description, the examples, ``--version``)
and the options several commands share, with their help lines; cli.py builds the parser."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

DESCRIPTION = """\
webstack renders a three-tier web application's CloudFormation templates (troposphere, in
templates_src/) into build/, gates them with cfn-lint, and deploys them through change sets:
the same build/ goes to dev, staging and prod, which differ only by the environment table.

The five commands to start with:
  build    render build/*.yaml and run the gate (cfn-lint and the project's rules)
  show     print a template resolved for one environment and region
  diff     what a release changes in each environment and region, offline
  plan     the change set a deploy would execute, then deleted (or kept with --plan-file)
  deploy   gate, preflight, package, change set, plan, confirm, execute, watch
"""

EXAMPLES = """\
examples:
  webstack build
  webstack show --env dev --region us-east-1 database
  webstack diff HEAD~1 --env prod
  webstack local up
  webstack deploy --env dev --region us-east-1 --local --param CostCenter=CC-1234 --yes

'webstack COMMAND --help' describes a command; 'webstack completion bash' prints a
completion script (see the README)."""

DEPLOY_EXAMPLES = """\
examples:
  webstack deploy --env dev --region us-east-1 --local --param CostCenter=CC-1234 --yes
  webstack deploy --env prod --region eu-west-1 --param CostCenter=CC-1234 \\
      --param CertificateArn=arn:aws:acm:... --param AlarmEmail=oncall@example.com
  webstack deploy --env staging --region us-east-1 --plan-file plan.json   (a reviewed plan)
  webstack deploy --env dev --region us-east-1 --region eu-west-1 --yes    (two regions)"""

PLAN_EXAMPLES = """\
examples:
  webstack plan --env dev --region us-east-1 --local --param CostCenter=CC-1234
  webstack plan --env prod --region eu-west-1 --plan-file plan.json   (then deploy --plan-file)
  webstack plan --env staging --region us-east-1 --format markdown > plan.md"""

DIFF_EXAMPLES = """\
examples:
  webstack diff                          (the last commit's build/ against the working tree's)
  webstack diff main HEAD --env prod     (two revisions, prod only)
  webstack diff --format markdown --fail-on-replacement origin/main
  webstack diff --deployed --env dev --region us-east-1 --local   (the live stack)"""

LOCAL_EXAMPLES = """\
examples:
  webstack local up --port 5230           (then --local on any command uses it)
  webstack local up --timed 0.25          (each resource takes 0.25 s, as on AWS)
  webstack local fail --resource Database --on update --reason "Rate exceeded"
  webstack local certificate --region eu-west-1
  webstack local down"""


class Version(argparse.Action):
    """``--version``: the installed distribution's version, read only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        from importlib import metadata

        try:
            version = metadata.version("webstack")
        except metadata.PackageNotFoundError:  # run from a checkout without installing it
            version = "unknown (not installed)"
        print(f"webstack {version}")
        parser.exit()


def target_args(p: argparse.ArgumentParser, many: str = "") -> None:
    """The options that name a stack; ``many`` says what repeating --region does."""
    p.add_argument("--env", required=True, help="dev, staging or prod")
    p.add_argument("--region", action="append",
                   help="target region (default: $AWS_REGION, $AWS_DEFAULT_REGION, then the "
                        "profile's region in ~/.aws/config)"
                        + (f"; repeatable: {many}" if many else ""))
    p.add_argument("--stack-name", help="root stack name (default webstack-<env>)")
    p.add_argument("--local", action="store_true",
                   help="use the local endpoint on 127.0.0.1, starting it if needed")
    p.add_argument("--endpoint-url", help="AWS endpoint (AWS_ENDPOINT_URL is honoured too)")
    p.add_argument("--profile", default=os.environ.get("AWS_PROFILE"),
                   help="AWS profile (default $AWS_PROFILE)")
    p.add_argument("--timeout", type=float, help="seconds to wait for the stack to settle "
                   "(default 3600)")


def verbose_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verbose", "-v", action="store_true",
                   help="print every CloudFormation event in full instead of one line per "
                        "stack state change (every event also goes to a log file under the "
                        "state folder, named at the end), and each preflight check")


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
    p.add_argument("--format", dest="plan_format", choices=("text", "markdown", "json"),
                   default="text", help="the plan as markdown or json (plan: on stdout, the "
                   "progress on stderr; deploy: needs --plan-output)")
    p.add_argument("--plan-output", metavar="FILE",
                   help="also write the plan document (--format) to FILE, e.g. for a CI job")
