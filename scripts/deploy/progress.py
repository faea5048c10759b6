"""What a person reads while a stack changes: the events reduced to the stacks' states.

The watcher (events.py) polls and hands every new event to a ``Progress``; these decide what
is shown. ``EventLines`` prints each event in full (``--verbose``, and what the watcher does
when it is given nothing else). ``StateLines`` is for logs and pipes: one line per stack state
change and per failed resource, each within ``LINE_WIDTH``. ``LiveView`` is for a terminal:
one line per stack, redrawn in place by rich's ``Live``. ``EventLog`` keeps every event, in
full, in a file under the state folder, whatever is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from scripts.deploy.events import ECHO, Progress, StackEvent, Watcher, WatchResult, summary
from scripts.deploy.stacks import STACK_TYPE, StackStatus
from scripts.deploy.waiting import Waiter

# A region prefix ("[eu-central-1] ", 15 columns) still fits in 100.
LINE_WIDTH = 84
_NAME_WIDTH, _STATUS_WIDTH = 24, 30


def fit(line: str, width: int = LINE_WIDTH) -> str:
    """One line within ``width`` columns, cut with an ellipsis."""
    return line if len(line) <= width else line[: width - 1] + "…"


class EventLines:
    """Every event as one full line: what ``--verbose`` shows."""

    def __init__(self, emit: Callable[[str], None], color: bool = False) -> None:
        self._emit = emit
        self._color = color

    def event(self, event: StackEvent) -> None:
        self._emit(event.line(self._color))

    def tick(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class StackState:
    """One stack as the events describe it so far."""

    name: str
    status: str = ""
    resources: dict[str, str] = field(default_factory=dict)  # logical id -> latest status
    started: datetime | None = None
    finished: datetime | None = None  # when it last settled; None while it is busy
    own: bool = False  # its own events were seen: they, not its parent's view, say its status
    total: int | None = None  # resources the operation touches here, when known (totals.py)

    @property
    def done(self) -> int:
        return sum(StackStatus(s).settled for s in self.resources.values())

    @property
    def counts(self) -> str:
        """``3/7``: resources done of those the operation touches; ``3/?`` when that is not
        known (never the resources seen so far, which grow as it goes)."""
        if self.total is None:
            return f"{self.done}/?" if self.resources else ""
        return f"{self.done}/{max(self.total, len(self.resources))}"

    @property
    def current(self) -> str:
        """The resource most recently set in progress and not finished yet."""
        busy = [lid for lid, s in self.resources.items() if StackStatus(s).in_progress]
        return busy[-1] if busy else ""


class Tree:
    """The stacks' states from the events: the root and each nested stack, in order seen.

    A nested stack's status arrives twice, as a resource of its parent and as the stack's own
    event. The parent's view stands in until the stack's own events arrive; from then on they
    alone move it, so one state change is one line (the parent's UPDATE_FAILED only echoes
    the child's rollback).
    """

    def __init__(self, totals: Mapping[tuple[str, ...], int] | None = None) -> None:
        self.totals = dict(totals or {})
        self.stacks: dict[tuple[str, ...], StackState] = {}
        self.failures: list[StackEvent] = []
        self._failed: set[tuple[tuple[str, ...], str, str, str]] = set()
        self.first: datetime | None = None

    def stack(self, path: tuple[str, ...], name: str) -> StackState:
        if path not in self.stacks:
            self.stacks[path] = StackState(name, total=self.totals.get(path))
        return self.stacks[path]

    def apply(self, event: StackEvent) -> tuple[StackState | None, StackEvent | None]:
        """Record ``event``; the stack whose status changed, and a failure new to the tree."""
        self.first = self.first or event.timestamp
        changed: StackState | None = None
        if event.is_stack_itself:
            self.stack(event.stack_path, event.stack_name).own = True
            changed = self._set(event.stack_path, event.stack_name, event.status, event)
        else:
            parent = self.stack(event.stack_path, event.stack_name)
            parent.resources[event.logical_id] = event.status
            child = (*event.stack_path, event.logical_id)
            if event.resource_type == STACK_TYPE and not (
                    child in self.stacks and self.stacks[child].own):
                changed = self._set(child, event.logical_id, event.status, event)
        failure = None
        if event.status.endswith("_FAILED") and not ECHO.search(event.reason):
            key = (event.stack_path, event.logical_id, event.status, event.reason)
            if key not in self._failed:
                self._failed.add(key)
                self.failures.append(event)
                failure = event
        return changed, failure

    def _set(self, path: tuple[str, ...], name: str, status: str,
             event: StackEvent) -> StackState | None:
        state = self.stack(path, name if not path else path[-1])
        if state.status == status:
            return None
        state.status = status
        state.started = state.started or event.timestamp
        state.finished = event.timestamp if StackStatus(status).settled else None
        return state

    def elapsed(self, now: datetime | None = None) -> float:
        if self.first is None:
            return 0.0
        return max(0.0, ((now or datetime.now(UTC)) - self.first).total_seconds())


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


def _label(path: tuple[str, ...], state: StackState) -> str:
    return "/".join(path) if path else state.name


class StateLines:
    """For logs and pipes: a line when a stack's status changes or a resource fails."""

    def __init__(self, emit: Callable[[str], None],
                 totals: Mapping[tuple[str, ...], int] | None = None) -> None:
        self._emit = emit
        self.tree = Tree(totals)

    def event(self, event: StackEvent) -> None:
        changed, failure = self.tree.apply(event)
        at = _clock(self.tree.elapsed(event.timestamp))
        if changed is not None:
            path = next(p for p, s in self.tree.stacks.items() if s is changed)
            counts = f"{changed.counts} resources" if changed.counts else ""
            self._emit(fit(f"{at:>5} {_label(path, changed):<{_NAME_WIDTH}} "
                           f"{changed.status:<{_STATUS_WIDTH}} {counts}".rstrip()))
        if failure is not None:
            where = "/".join((*failure.stack_path, failure.logical_id))
            self._emit(fit(f"{at:>5} {where} {failure.status}: {failure.reason}"))

    def tick(self) -> None:
        pass

    def close(self) -> None:
        pass


class LiveView:
    """For a terminal: one line per stack (status, resources done/total, the resource in
    progress, elapsed), redrawn in place within the terminal's width; failures printed above
    it once. rich is imported only here, when a stack is watched on a terminal."""

    def __init__(self, stream: IO[str], color: bool, width: int | None = None,
                 totals: Mapping[tuple[str, ...], int] | None = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.tree = Tree(totals)
        self._console = Console(file=stream, no_color=not color, highlight=False,
                                force_terminal=True, width=width, soft_wrap=False)
        self._live = Live(console=self._console, auto_refresh=False, transient=False,
                          redirect_stdout=False, redirect_stderr=False)
        self._live.start()

    def event(self, event: StackEvent) -> None:
        _, failure = self.tree.apply(event)
        if failure is not None:
            where = "/".join((*failure.stack_path, failure.logical_id))
            self._live.console.print(self._text(f"{where} {failure.status}: {failure.reason}",
                                                "red"))
        self._redraw()

    def tick(self) -> None:
        self._redraw()

    def close(self) -> None:
        self._redraw()
        self._live.stop()

    def _text(self, line: str, style: str = "") -> Any:
        from rich.text import Text

        text = Text(line, style=style, no_wrap=True, overflow="ellipsis")
        text.truncate(self._console.width, overflow="ellipsis")
        return text

    def _redraw(self) -> None:
        from rich.console import Group

        now = datetime.now(UTC)
        rows = []
        for path, state in self.tree.stacks.items():
            status = StackStatus(state.status)
            style = ("red" if "FAILED" in status else "yellow"
                     if "ROLLBACK" in status or status.in_progress else "green")
            # event times are CloudFormation's clock, now is this machine's: never below 0
            elapsed = (_clock(max(0.0, ((state.finished or now) - state.started)
                                  .total_seconds())) if state.started else "")
            line = (f"{_label(path, state):<{_NAME_WIDTH}} {state.status:<{_STATUS_WIDTH}} "
                    f"{state.counts:>5} {elapsed:>5} {state.current}")
            rows.append(self._text(line.rstrip(), style))
        self._live.update(Group(*rows), refresh=True)


class EventLog:
    """Every event in full, one line each with its date, in a file; never fails the deploy."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.error: str | None = None
        self._file: IO[str] | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")
        except OSError as err:
            self.error = f"{path}: {err.strerror or err}"

    def event(self, event: StackEvent) -> None:
        if self._file is None:
            return
        try:
            self._file.write(f"{event.timestamp.date().isoformat()} {event.line()}\n")
            self._file.flush()
        except OSError as err:
            self.error = f"{self.path}: {err.strerror or err}"
            self._close()

    def tick(self) -> None:
        pass

    def close(self) -> None:
        self._close()

    def _close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError as err:
                self.error = f"{self.path}: {err.strerror or err}"
            self._file = None

    @property
    def note(self) -> str:
        from scripts.paths import display

        if self.error:
            return f"events not logged ({self.error})"
        return f"every event: {display(self.path)}"


class Shown:
    """The display of one watched stack and its event log, as one ``Progress``."""

    def __init__(self, display: Progress, log: EventLog) -> None:
        self.display = display
        self.log = log

    def event(self, event: StackEvent) -> None:
        self.log.event(event)
        self.display.event(event)

    def tick(self) -> None:
        self.display.tick()

    def close(self) -> None:
        self.display.close()
        self.log.close()

    def closing(self, result: WatchResult) -> list[str]:
        """The summary (the root cause chain once, on failure, its reason never cut), then
        where the events are. A success the display has already shown as the root's last
        state is not said again."""
        lines = summary(result)
        tree: Tree | None = getattr(self.display, "tree", None)
        root = tree.stacks.get(()) if tree is not None else None
        if result.succeeded and root is not None and root.status == result.final_status:
            lines = lines[1:]
        return [*lines, self.log.note]


def log_path(state: Path, stack_name: str, region: str, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return state / "events" / f"{stack_name}-{region}-{stamp}.log"


@contextmanager
def shown(emit: Callable[[str], None], *, stack_name: str, region: str, verbose: bool,
          live_stream: IO[str] | None, color: bool,
          totals: Mapping[tuple[str, ...], int] | None = None) -> Iterator[Shown]:
    """The display for one watch: every event (verbose), a live view (``live_stream``, a
    terminal), or state lines; with the event log beside it, closed when the block ends.
    ``totals``: the resources each stack's operation touches (scripts/deploy/totals.py)."""
    from scripts.paths import state_dir

    log = EventLog(log_path(state_dir(), stack_name, region))
    display: Progress
    if verbose:
        display = EventLines(emit, color)
    elif live_stream is not None:
        display = LiveView(live_stream, color, totals=totals)
    else:
        display = StateLines(emit, totals)
    both = Shown(display, log)
    try:
        yield both
    finally:
        both.close()


def watch(cfn: Any, stack: str, *, emit: Callable[[str], None], stack_name: str, region: str,
          verbose: bool, live_stream: IO[str] | None, color: bool, waiter: Waiter,
          timeout: float, deleting: bool = False,
          totals: Mapping[tuple[str, ...], int] | None = None) -> WatchResult:
    """Follow ``stack`` (a name or id) until it settles, shown as ``shown`` chooses, then emit
    the closing lines: every wait on a stack (deploy, watch, destroy, --recreate's delete)
    reads the same. Cancelled propagates before any closing line."""
    with shown(emit, stack_name=stack_name, region=region, verbose=verbose,
               live_stream=live_stream, color=color, totals=totals) as display:
        result = Watcher(cfn, stack, emit=emit, timeout=timeout, waiter=waiter, color=color,
                         deleting=deleting, progress=display).run()
    for line in display.closing(result):
        emit(line)
    return result
