"""Waiting that Ctrl-C can stop: bounded by a deadline, backing off, and woken at once.

Every wait in webstack (the watcher, the change-set wait, the execute wait, the local endpoint's
start) sleeps through one ``Waiter``. Its sleep is ``cancel.wait(seconds)``, not ``time.sleep``,
so when the signal handler sets ``cancel`` every waiting thread wakes within milliseconds and
raises ``Cancelled``; the worker of each region then reports its state and how to reattach.
A second Ctrl-C exits the process at once, whatever is still running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final, TypeVar

from scripts.errors import Exit, WebstackError

T = TypeVar("T")
Sleep = Callable[[float], None]
Clock = Callable[[], float]


class Cancelled(WebstackError):
    """The user interrupted (Ctrl-C or SIGTERM) while webstack waited."""

    exit_code = Exit.INTERRUPTED


class Waiter:
    """Sleeps that a cancel event cuts short, and polling against a deadline.

    ``clock`` and ``sleep`` are for tests (a fake clock that moves only when the code under
    test sleeps); a real waiter sleeps on its cancel event.
    """

    def __init__(self, cancel: threading.Event | None = None, *, clock: Clock = time.monotonic,
                 sleep: Sleep | None = None) -> None:
        self.cancel = cancel if cancel is not None else threading.Event()
        self.clock = clock
        self._sleep = sleep

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def check(self) -> None:
        """Raise Cancelled if an interrupt arrived: a safe point between two steps."""
        if self.cancel.is_set():
            raise Cancelled("interrupted")

    def sleep(self, seconds: float) -> None:
        self.check()
        if self._sleep is not None:
            self._sleep(max(seconds, 0.0))
            self.check()
        elif self.cancel.wait(max(seconds, 0.0)):
            raise Cancelled("interrupted")

    def poll(self, probe: Callable[[], tuple[bool, T]], *, timeout: float, first: float = 1.0,
             maximum: float = 2.0, factor: float = 1.5) -> tuple[bool, T]:
        """Call ``probe`` until it says done or ``timeout`` passes, sleeping ``first`` seconds
        and then longer up to ``maximum``; returns its last answer."""
        deadline = self.clock() + timeout
        delay = first
        done, value = probe()
        while not done and self.clock() < deadline:
            self.sleep(min(delay, max(deadline - self.clock(), 0.0)))
            delay = min(delay * factor, maximum)
            done, value = probe()
        return done, value


def _say(text: bytes) -> None:
    """A line on stderr from a signal handler; a terminal already gone (SIGHUP) hears none."""
    with contextlib.suppress(OSError, ValueError):
        os.write(sys.stderr.fileno(), text)


def _at_a_terminal() -> bool:
    with contextlib.suppress(OSError, ValueError):
        return os.isatty(sys.stderr.fileno())
    return False


class Interrupts:
    """The signal handler of a deploy, plan, watch or destroy.

    The first Ctrl-C or SIGTERM sets ``waiter.cancel``: every wait wakes and raises Cancelled,
    and each region finishes cleanly (a change set not yet executed is deleted; a stack already
    changing is left to CloudFormation, with the command that reattaches to it). A second one
    exits the process at once with 130, even while worker threads are busy.
    """

    def __init__(self, waiter: Waiter) -> None:
        self.waiter = waiter
        self.count = 0
        self._raising = False

    def handler(self, signum: int, frame: object) -> None:
        self.count += 1
        if self.count > 1:
            _say(b"\nwebstack: interrupted again; exiting now\n")
            os._exit(int(Exit.INTERRUPTED))
        if _at_a_terminal():  # a person waits for the clean-up; a log gets the one last line
            _say(b"\nwebstack: interrupting; press Ctrl-C again to exit at once\n")
        # Set from another thread: the interrupted code may hold the event's own lock.
        threading.Thread(target=self.waiter.cancel.set, daemon=True).start()
        if self._raising:
            raise KeyboardInterrupt

    @contextmanager
    def raising(self) -> Iterator[None]:
        """Around a blocking call no event can wake (a prompt): Ctrl-C raises there."""
        self._raising = True
        try:
            self.waiter.check()
            yield
        finally:
            self._raising = False


# What stops a run, each handled as Ctrl-C is: a closed terminal (SIGHUP) or a supervisor's
# SIGTERM at the [y/N] prompt deletes the change set as SIGINT does.
STOPPING: Final = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


@contextmanager
def stopping_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt, as SIGINT does, until a command installs
    its own handler (``handle_interrupts``): one that arrives while webstack starts or checks
    its input ends as one line and exit 130, never a silent death (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in STOPPING if sig != signal.SIGINT}
    for sig in previous:
        signal.signal(sig, _interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def handle_interrupts(waiter: Waiter) -> Iterator[Interrupts]:
    """Install ``Interrupts`` for ``STOPPING`` while the block runs (main thread only)."""
    interrupts = Interrupts(waiter)
    if threading.current_thread() is not threading.main_thread():
        yield interrupts
        return
    previous = {sig: signal.getsignal(sig) for sig in STOPPING}
    for sig in previous:
        signal.signal(sig, interrupts.handler)
    try:
        yield interrupts
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
