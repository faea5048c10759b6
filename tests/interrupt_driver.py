"""A deploy of two regions against a slow simulated CloudFormation, for the Ctrl-C tests.

Run as a script: ``python tests/interrupt_driver.py DURATION HANG``. It installs webstack's own
signal handling and executes both regions with webstack's own pipeline, in worker threads, as
``webstack deploy --region us-east-1 --region us-west-2`` does after the plan is confirmed.
"""

from __future__ import annotations

import sys

from simulated_cloud import SimulatedCloud

from scripts.deploy.options import Console, Options
from scripts.deploy.pipeline import execute_all
from scripts.deploy.waiting import Waiter, handle_interrupts
from scripts.errors import WebstackError

REGIONS = ("us-east-1", "us-west-2")
STACK = "shop-dev"


def main(duration: float, hang: float) -> int:
    options = Options(environment="dev", regions=list(REGIONS), stack_name=STACK, yes=True,
                      timeout=duration + 60.0)
    console = Console(prefix=True)
    prepared = [SimulatedCloud(STACK, duration, 0.0, region=region, hang=hang).prepared(
        options, region, console.emitter(region)) for region in REGIONS]
    waiter = Waiter()
    print("executing", flush=True)
    try:
        with handle_interrupts(waiter):
            return execute_all(options, prepared, console, waiter)
    except WebstackError as err:  # as cli.main reports it
        print(f"webstack deploy: {err}", file=sys.stderr)
        return int(err.exit_code)


if __name__ == "__main__":
    raise SystemExit(main(float(sys.argv[1]), float(sys.argv[2])))
