"""Ctrl-C during a deploy of two regions, with real threads, real signals and a real clock.

The first Ctrl-C stops every region's wait within 2 s: each region says its stack goes on and
how to reattach, and the process exits 130. A second Ctrl-C exits at once, even while the
regions' workers are stuck in calls that do not return.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from scripts.deploy.waiting import Cancelled, Waiter

DRIVER = Path(__file__).with_name("interrupt_driver.py")
REPO = DRIVER.parent.parent
REGIONS = ("us-east-1", "us-west-2")


class Driver:
    """The driver process, its output read line by line as it comes."""

    def __init__(self, duration: float, hang: float) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(DRIVER.parent)]),
               "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
        self.process = subprocess.Popen(
            [sys.executable, str(DRIVER), str(duration), str(hang)], cwd=REPO, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate: object, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(predicate) and predicate(self.lines):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        pytest.fail(f"the driver never got there; its output: {self.lines}")

    def interrupt(self) -> None:
        self.process.send_signal(signal.SIGINT)

    def exit_within(self, seconds: float) -> tuple[int, float, str]:
        started = time.monotonic()
        try:
            code = self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"still running {seconds} s after Ctrl-C; output: {self.lines}")
        elapsed = time.monotonic() - started
        self._reader.join(timeout=5)
        assert self.process.stderr is not None
        return code, elapsed, self.process.stderr.read()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _both_watching(lines: list[str]) -> bool:
    return all(any(line.startswith(f"[{region}]") and "IN_PROGRESS" in line for line in lines)
               for region in REGIONS)


def test_the_first_ctrl_c_stops_every_region_within_2s_with_a_reattach_command_each() -> None:
    driver = Driver(duration=60.0, hang=0.0)
    try:
        driver.wait_for(_both_watching)
        driver.interrupt()
        code, elapsed, err = driver.exit_within(10.0)
    finally:
        driver.kill()
    assert code == 130
    assert elapsed < 2.0, f"took {elapsed:.1f} s"
    for region in REGIONS:
        assert (f"[{region}] interrupted; shop-dev goes on (CREATE_IN_PROGRESS). Reattach with: "
                f"webstack watch --env dev --region {region} --stack-name shop-dev") in driver.lines
    assert err.splitlines()[-1] == (
        "webstack deploy: interrupted after execute; shop-dev goes on in us-east-1, us-west-2; "
        "reattach with: webstack watch --env dev --region us-east-1 --stack-name shop-dev; "
        "webstack watch --env dev --region us-west-2 --stack-name shop-dev")


def test_a_second_ctrl_c_exits_at_once_while_the_workers_are_stuck() -> None:
    driver = Driver(duration=60.0, hang=30.0)  # every call after execute blocks for 30 s
    try:
        driver.wait_for(lambda lines: "executing" in lines)
        time.sleep(1.0)  # both workers are now inside a call that does not return
        driver.interrupt()
        time.sleep(0.5)
        assert driver.process.poll() is None, "the first Ctrl-C cannot wake a stuck call"
        driver.interrupt()
        code, elapsed, err = driver.exit_within(5.0)
    finally:
        driver.kill()
    assert code == 130
    assert elapsed < 1.0, f"took {elapsed:.1f} s"
    assert "interrupted again; exiting now" in err


def test_a_waiter_wakes_the_moment_it_is_cancelled_from_another_thread() -> None:
    waiter = Waiter()
    threading.Timer(0.2, waiter.cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        waiter.sleep(30.0)
    assert time.monotonic() - started < 1.0
