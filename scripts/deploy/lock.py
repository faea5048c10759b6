"""One deploy, plan or destroy of a target at a time on this machine.

The lock is a file in the state folder (``.webstack/locks/``, or ``$WEBSTACK_STATE_DIR``) held
with ``flock``: the kernel releases it when the process ends, however it ends, so a crashed or
killed run never leaves a stale lock behind. The file names the holder (pid, command) for the
message the second run prints. Across machines CloudFormation itself refuses a second operation
on a busy stack; scripts/deploy/changeset.py turns that refusal into one line.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scripts.deploy.aws import Target
from scripts.errors import UsageError
from scripts.paths import state_dir


def lock_path(target: Target) -> Path:
    """Where the lock of this stack, in this region, on this endpoint and profile lives."""
    where = f"{target.endpoint_url or ''}|{target.profile or ''}"
    digest = hashlib.sha256(where.encode("utf-8")).hexdigest()[:12]
    return state_dir() / "locks" / f"{target.stack_name}-{target.region}-{digest}.lock"


@contextmanager
def target_lock(target: Target, command: str) -> Iterator[None]:
    """Hold the target's lock while the block runs; refuse (exit 2) if another run holds it."""
    path = lock_path(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise UsageError(f"cannot create the deploy lock {path}: {err.strerror}; make the "
                         "state folder writable or set WEBSTACK_STATE_DIR") from err
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 200, 0).decode("utf-8", "replace").strip() or "another run"
            raise UsageError(
                f"{target.stack_name} in {target.region} is busy: {holder} holds its lock "
                f"({path}); wait for it to finish, or attach with 'webstack watch'"
            ) from None
        os.ftruncate(handle, 0)
        os.pwrite(handle, f"webstack {command} (pid {os.getpid()})".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(handle, 0)
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        os.close(handle)
