"""Live progress for deploy, watch and destroy: one line per CloudFormation event.

The root stack's events only say that a nested stack failed, never why, so the watcher also
reads the events of every nested stack it discovers and reports the deepest real reason.
It polls (no boto3 waiters: they poll every 30 s) and stops on the root stack's final status.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from scripts.deploy.aws import AwsError, aws_errors, error_code, error_message
from scripts.deploy.stacks import OPERATION_STARTS, ROLLBACK_STARTS, STACK_TYPE, StackStatus
from scripts.deploy.waiting import Waiter
from scripts.errors import UsageError, one_line

BACKOFF = 1.5

# Failure reasons that only echo another failure: a cancellation, or a parent naming its child.
ECHO = re.compile(
    r"Resource (creation|update|deletion) cancelled"
    r"|The following resource\(s\) failed to (create|update|delete)"
    r"|Embedded stack .* was not successfully (created|updated|deleted)",
    re.IGNORECASE,
)
_RED, _GREEN, _YELLOW, _RESET = "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[0m"
_PATH_WIDTH, _STATUS_WIDTH, _TYPE_WIDTH = 20, 28, 32


def _paint(status: str) -> str:
    if "FAILED" in status:
        return _RED
    if "ROLLBACK" in status or "IN_PROGRESS" in status:
        return _YELLOW
    if "COMPLETE" in status:
        return _GREEN
    return ""


@dataclass(frozen=True)
class StackEvent:
    """One event, placed in the nested-stack tree so a child's failure reads in context."""

    timestamp: datetime
    stack_path: tuple[str, ...]
    stack_name: str
    logical_id: str
    resource_type: str
    status: str
    reason: str
    event_id: str

    @property
    def path(self) -> str:
        return "/".join(("root", *self.stack_path))

    @property
    def is_stack_itself(self) -> bool:
        """The stack's own status change, as opposed to one of its resources."""
        return self.resource_type == STACK_TYPE and self.logical_id == self.stack_name

    def line(self, color: bool = False) -> str:
        status = self.status
        colour = _paint(status) if color else ""
        if colour:
            status = f"{colour}{status}{_RESET}"
        parts = [
            self.timestamp.astimezone(UTC).strftime("%H:%M:%S"),
            self.path.ljust(_PATH_WIDTH),
            status + " " * (_STATUS_WIDTH - len(self.status)),
            self.resource_type.ljust(_TYPE_WIDTH),
            self.logical_id,
        ]
        if self.reason:
            parts.append(self.reason)
        return " ".join(parts)


@dataclass
class WatchResult:
    """How the watch ended; `succeeded` is derived so it can never disagree with the status."""

    stack_name: str
    final_status: str
    elapsed: float
    events: list[StackEvent] = field(default_factory=list)
    timed_out: bool = False
    root_causes: list[StackEvent] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return not self.timed_out and StackStatus(self.final_status).succeeded


def root_causes(events: Iterable[StackEvent]) -> list[StackEvent]:
    """The first real failures, deepest first in the tree: what a user has to fix.

    Cancellations and parents reporting a failed child are echoes. A failure after its stack
    started rolling back is a consequence, unless nothing else explains the outcome.
    """
    ordered = sorted(events, key=lambda e: e.timestamp)
    rollback_at: dict[tuple[str, ...], datetime] = {}
    for event in ordered:
        if event.is_stack_itself and event.status in ROLLBACK_STARTS:
            rollback_at.setdefault(event.stack_path, event.timestamp)
    failed = [e for e in ordered if e.status.endswith("_FAILED") and not ECHO.search(e.reason)]
    real = [e for e in failed if not _explained_deeper(e, failed)]
    first = [e for e in real
             if e.stack_path not in rollback_at or e.timestamp <= rollback_at[e.stack_path]]
    return first or real


def _explained_deeper(event: StackEvent, failed: list[StackEvent]) -> bool:
    """A stack-level failure is only a pointer when a failure inside that stack exists."""
    if event.resource_type != STACK_TYPE:
        return False
    scope = event.stack_path if event.is_stack_itself else (*event.stack_path, event.logical_id)
    return any(
        other is not event
        and other.stack_path[: len(scope)] == scope
        and (len(other.stack_path) > len(scope) or not other.is_stack_itself)
        for other in failed
    )


def summary(result: WatchResult) -> list[str]:
    """The closing lines: outcome and time, then each root cause of a failure."""
    if result.timed_out:
        head = (f"{result.stack_name}: still {result.final_status} after "
                f"{result.elapsed:.0f} s; reattach with webstack watch")
    else:
        head = f"{result.stack_name}: {result.final_status} in {result.elapsed:.1f}s"
    lines = [head]
    if not result.succeeded:
        # An endpoint that retries a failing resource reports the same cause more than once.
        lines += dict.fromkeys(f"root cause: {e.path} {e.logical_id} ({e.resource_type}): "
                               f"{e.reason}" for e in result.root_causes)
    return lines


class Progress(Protocol):
    """What a watcher tells a display (scripts/deploy/progress.py): each new event, each
    poll (a live view redraws its clocks), and the end."""

    def event(self, event: StackEvent) -> None: ...

    def tick(self) -> None: ...

    def close(self) -> None: ...


class _StackGone(Exception):
    """describe_* said the stack does not exist."""


@dataclass
class _Nested:
    """A nested stack being followed, and whether its own events say it is busy."""

    path: tuple[str, ...]
    started: datetime | None = None  # the parent's latest *_IN_PROGRESS event for it
    finished: datetime | None = None  # its own latest final status event
    gone: bool = False  # CloudFormation no longer knows it (seen on local endpoints)

    @property
    def active(self) -> bool:
        if self.gone:
            return False
        return self.finished is None or (self.started is not None and self.started > self.finished)


# The longest wait between polls. Completion is reported at most this plus one round of
# calls after the stack settles, so 1.5 s keeps that under 2 s (and polling within 1-2 s).
POLL_MAX = 1.5

class Watcher:
    """Follows a root stack and its nested stacks until the root reaches a final status.

    Each new event goes to ``progress`` (scripts/deploy/progress.py), or, without one, to
    ``emit`` as one full line. ``since=None`` shows the stack's latest operation: events back
    to the root's last CREATE/UPDATE/DELETE/IMPORT_IN_PROGRESS. ``deleting=True`` tells the
    watcher the caller started a delete, so a stack that is already gone counts as
    DELETE_COMPLETE.
    """

    def __init__(
        self,
        cfn: Any,
        stack_name_or_id: str,
        *,
        emit: Callable[[str], None],
        since: datetime | None = None,
        poll_min: float = 1.0,
        poll_max: float = POLL_MAX,
        timeout: float = 3600.0,
        waiter: Waiter | None = None,
        color: bool = False,
        deleting: bool = False,
        progress: Progress | None = None,
    ) -> None:
        if not 0 < poll_min <= poll_max:
            raise ValueError(f"need 0 < poll_min <= poll_max, got {poll_min}, {poll_max}")
        self._cfn = cfn
        self._target = stack_name_or_id
        self._emit = emit
        self._since = since
        self._poll_min = poll_min
        self._poll_max = poll_max
        self._timeout = timeout
        self._waiter = waiter or Waiter()
        self._color = color
        self._deleting = deleting
        self._progress = progress
        self._reset()

    def _reset(self) -> None:
        """Per-run state, rebuilt by every run() so an interrupted run leaves nothing behind."""
        self._stack_id: str | None = None
        self._stack_name = self._target
        self._status: str | None = None
        self._from = self._since
        self._seen: set[str] = set()
        self._events: list[StackEvent] = []
        self._nested: dict[str, _Nested] = {}

    def run(self) -> WatchResult:
        """Poll until the root's status is final or `timeout` passes; quiet polls back off."""
        self._reset()
        started = self._waiter.clock()
        deadline = started + self._timeout
        interval = self._poll_min
        while True:  # ends on a final status or at the deadline
            previous = self._status
            status = self._root_status()
            fresh = self._new_events()
            for event in fresh:
                if self._progress is None:
                    self._emit(event.line(self._color))
                else:
                    self._progress.event(event)
            if self._progress is not None:
                self._progress.tick()
            if StackStatus(status).settled:
                return self._result(status, started, timed_out=False)
            remaining = deadline - self._waiter.clock()
            if remaining <= 0:
                return self._result(status, started, timed_out=True)
            if fresh or status != previous:
                interval = self._poll_min
            self._waiter.sleep(min(interval, remaining))
            interval = min(interval * BACKOFF, self._poll_max)

    def _result(self, status: str, started: float, *, timed_out: bool) -> WatchResult:
        result = WatchResult(
            stack_name=self._stack_name,
            final_status=status,
            elapsed=self._waiter.clock() - started,
            events=list(self._events),
            timed_out=timed_out,
        )
        if not result.succeeded:
            result.root_causes = root_causes(self._events)
        return result

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        where = f"watching stack {self._stack_name}"
        try:
            with aws_errors(where):
                response: dict[str, Any] = getattr(self._cfn, operation)(**kwargs)
                return response
        except ClientError as err:
            if error_code(err) == "ValidationError" and "does not exist" in error_message(err):
                raise _StackGone(error_message(err)) from err
            raise AwsError(f"{where}: {error_message(err)}") from err

    def _root_status(self) -> str:
        try:
            stacks = self._call("describe_stacks", StackName=self._stack_id or self._target)
        except _StackGone:
            stacks = {}
        found = stacks.get("Stacks") or []
        if not found:
            if self._deleting or (self._status or "").startswith("DELETE_"):
                self._status = "DELETE_COMPLETE"
                return self._status
            raise UsageError(f"stack '{self._target}' does not exist; check the stack name, "
                             "--env and --region")
        stack = found[0]
        self._stack_id = stack.get("StackId") or self._stack_id
        self._stack_name = stack["StackName"]
        self._status = str(stack["StackStatus"])
        return self._status

    def _new_events(self) -> list[StackEvent]:
        """Unseen events of the root and every active nested stack, oldest first."""
        if self._stack_id is None:
            return []
        fresh = self._read(self._stack_id, ())
        followed = 0
        while followed < len(self._nested):  # grows as children reveal grandchildren
            stack_id = list(self._nested)[followed]
            followed += 1
            if self._nested[stack_id].active:
                fresh += self._read(stack_id, self._nested[stack_id].path)
        fresh.sort(key=lambda e: e.timestamp)  # stable: each stack's own order survives ties
        self._events += fresh
        return fresh

    def _read(self, stack_id: str, path: tuple[str, ...]) -> list[StackEvent]:
        """Pages newest first, stopping at the first event already seen or before `since`."""
        newest_first: list[tuple[StackEvent, str]] = []
        kwargs: dict[str, Any] = {"StackName": stack_id}
        done = False
        while not done:
            try:
                page = self._call("describe_stack_events", **kwargs)
            except _StackGone:
                if path:
                    self._nested[stack_id].gone = True
                break
            for raw in page.get("StackEvents", []):
                event = _event(raw, path)
                if event.event_id in self._seen or (self._from and event.timestamp < self._from):
                    done = True
                    break
                newest_first.append((event, str(raw.get("PhysicalResourceId") or "")))
                if (self._from is None and not path and event.is_stack_itself
                        and event.status in OPERATION_STARTS):
                    self._from = event.timestamp
                    done = True
                    break
            kwargs["NextToken"] = page.get("NextToken")
            done = done or not kwargs["NextToken"]
        events = []
        for event, physical_id in reversed(newest_first):
            self._seen.add(event.event_id)
            self._follow(event, physical_id, stack_id)
            events.append(event)
        return events

    def _follow(self, event: StackEvent, physical_id: str, stack_id: str) -> None:
        """Discover nested stacks from their parent's events and track when each is busy."""
        if event.resource_type != STACK_TYPE:
            return
        if physical_id == stack_id or event.is_stack_itself:
            nested = self._nested.get(stack_id)
            if nested is not None:
                nested.finished = event.timestamp if StackStatus(event.status).settled else None
            return
        if not physical_id:
            return
        child = self._nested.setdefault(physical_id, _Nested((*event.stack_path, event.logical_id)))
        if not StackStatus(event.status).settled:
            child.started = event.timestamp


def _event(raw: dict[str, Any], path: tuple[str, ...]) -> StackEvent:
    timestamp: datetime = raw["Timestamp"]
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=UTC)
    return StackEvent(
        timestamp=timestamp,
        stack_path=path,
        stack_name=str(raw.get("StackName", "")),
        logical_id=str(raw.get("LogicalResourceId", "")),
        resource_type=str(raw.get("ResourceType", "")),
        status=str(raw.get("ResourceStatus", "")),
        reason=one_line(raw.get("ResourceStatusReason") or ""),
        event_id=str(raw["EventId"]),
    )
