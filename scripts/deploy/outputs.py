"""A stack's outputs: read, printed, and written in the CDK's ``--outputs-file`` format."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from scripts.deploy.aws import Target
from scripts.deploy.stacks import check_readable, identified_stack, reattach_command
from scripts.errors import Exit, UsageError, WebstackError, one_line, shown
from scripts.paths import state_dir


class OutputsNotWritten(WebstackError):
    """The outputs file could not be written (the stack itself is as the command left it)."""

    exit_code = Exit.OUTPUT


def fetch_outputs(target: Target) -> dict[str, str]:
    stack = identified_stack(target.client("cloudformation"), target.stack_name,
                             target.environment)
    if stack is None:
        raise UsageError(f"stack {target.stack_name} does not exist in {target.region}; "
                         "deploy it first")
    check_readable(stack, target.region, "outputs", reattach=reattach_command(
        target.environment, target.region, target.stack_name, profile=target.profile,
        endpoint_url=target.endpoint_url))
    return stack_outputs(stack)


def stack_outputs(stack: Mapping[str, Any]) -> dict[str, str]:
    """A described stack's outputs, key -> value."""
    return {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}


def default_outputs_path(stack_name: str, regions: Iterable[str]) -> Path:
    """Where a deploy writes its outputs without ``--outputs-file``: the state folder
    (``$WEBSTACK_STATE_DIR``, else ``.webstack/``), ``outputs/<stack>-<regions>.json``."""
    return state_dir() / "outputs" / f"{stack_name}-{'-'.join(sorted(regions))}.json"


def write_outputs(path: str | Path, stack_name: str, by_region: Mapping[str, Mapping[str, str]]
                  ) -> Path:
    """CDK's format: {"<stack>": {"Key": "value"}}; several regions key by stack@region."""
    if len(by_region) == 1:
        document = {stack_name: dict(next(iter(by_region.values())))}
    else:
        document = {f"{stack_name}@{region}": dict(o) for region, o in by_region.items()}
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    except OSError as err:  # a full disk is this file's, not stdout's (errors.output_failed)
        raise OutputsNotWritten(f"the outputs could not be written to {shown(out)}: {one_line(err)}"
                                ) from err
    return out


def print_outputs(outputs: Mapping[str, str], emit: Callable[[str], None]) -> None:
    width = max((len(k) for k in outputs), default=0)
    for key in sorted(outputs):
        emit(f"  {key.ljust(width)}  {outputs[key]}")
