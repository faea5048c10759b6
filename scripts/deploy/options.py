"""What the user asked of one deploy, plan, watch or destroy; and how each region reports."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TextIO

from scripts.deploy.aws import Target
from scripts.deploy.stacks import reattach_command

DEFAULT_TIMEOUT = 3600.0


@dataclass
class Options:
    """What the user asked for, common to every region of one command."""

    environment: str
    regions: list[str]
    stack_name: str
    profile: str | None = None
    endpoint_url: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    yes: bool = False
    allow_replacement: bool = False
    recreate: bool = False
    strict_preflight: bool = False
    rollback_triggers: bool = True
    timeout: float = DEFAULT_TIMEOUT
    outputs_file: str | None = None
    plan_file: str | None = None
    plan_format: str = "text"  # text | markdown | json: the plan document (plan, --plan-output)
    plan_output: str | None = None  # write the plan document here (a CI job posts it)
    today: str = field(default_factory=lambda: date.today().isoformat())
    color: bool = False
    interactive: bool = False
    verbose: bool = False  # every event in full, as lines, instead of the stacks' states
    terminal: bool = False  # stdout is a terminal: the stacks' states redraw in place

    def live_stream(self) -> TextIO | None:
        """Where a live view draws, or None for lines: one region's progress on a terminal
        (several regions share the screen as prefixed lines; a plan document on stdout
        moves the progress to stderr, see pipeline._console)."""
        if self.verbose or not self.terminal or len(self.regions) != 1:
            return None
        if self.plan_format != "text" and not self.plan_output:
            return None
        return sys.stdout

    def target(self, region: str) -> Target:
        return Target(self.environment, region, self.stack_name, self.profile, self.endpoint_url)

    def reattach(self, region: str) -> str:
        """The command that attaches to this stack again in ``region``."""
        return reattach_command(self.environment, region, self.stack_name,
                                profile=self.profile, endpoint_url=self.endpoint_url)


class Console:
    """Line output shared by parallel regions; each line prefixed with its region."""

    def __init__(self, prefix: bool, stream: TextIO | None = None) -> None:
        self._prefix = prefix
        self._lock = threading.Lock()
        self._stream = stream  # None: stdout as it is when a line is printed

    def emitter(self, region: str) -> Callable[[str], None]:
        def emit(line: str) -> None:
            with self._lock:
                print(f"[{region}] {line}" if self._prefix else line, flush=True,
                      file=self._stream or sys.stdout)

        return emit


@dataclass
class RegionResult:
    """How one region's deploy ended: a word for the table, its exit code and its outputs."""

    region: str
    result: str
    elapsed: float
    code: int
    outputs: dict[str, str] = field(default_factory=dict)
    # A failure's root cause and the next step, for the one line on stderr.
    detail: str = ""
