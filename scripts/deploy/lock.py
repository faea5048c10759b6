"""One deploy, plan or destroy of a stack at a time on this machine.

The lock is a file in the state folder (``.webstack/locks/``, or ``$WEBSTACK_STATE_DIR``) held
with ``flock``, keyed on the stack however it is reached (``lock_path``: the normalized
endpoint, the account, the region, the name). The kernel releases it when the process ends,
however it ends, so a crashed or killed run never leaves a stale lock behind. The file names
the holder (pid, command) for the message the second run prints. Across machines
CloudFormation itself refuses a second operation on a busy stack; scripts/deploy/changeset.py
turns that refusal into one line.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from scripts.deploy.aws import Target, aws_errors, endpoint_of, is_local
from scripts.deploy.stacks import reattach_command
from scripts.errors import UsageError
from scripts.paths import state_dir


def endpoint_key(endpoint_url: str | None) -> str:
    """The endpoint however it is spelled: scheme, host (any loopback name or address is
    ``loopback``: ``--local``'s localhost and ``http://127.0.0.1:PORT`` are one endpoint) and
    port (the scheme's default when none is given); AWS's own endpoints are ``aws``."""
    url = endpoint_of(endpoint_url)
    if url is None:
        return "aws"
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    host = "loopback" if is_local(url) else host
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme, 0)
    except ValueError:  # inputs.endpoint refused such a URL already
        port = 0
    return f"{scheme}://{host}:{port}"


_ACCOUNTS: dict[tuple[str | None, str], str] = {}


def account_of(target: Target) -> str:
    """The account the target's credentials act in (STS GetCallerIdentity, once per profile
    and endpoint in a process)."""
    key = (target.profile, endpoint_key(target.endpoint_url))
    if key not in _ACCOUNTS:
        with aws_errors(f"identify the account in {target.region}"):
            _ACCOUNTS[key] = str(target.client("sts").get_caller_identity()["Account"])
    return _ACCOUNTS[key]


def lock_path(target: Target) -> Path:
    """Where the lock of this stack lives: one per stack, however it is reached: the
    normalized endpoint, the account (not the profile that leads to it), region and name."""
    where = f"{endpoint_key(target.endpoint_url)}|{account_of(target)}|{target.region}"
    digest = hashlib.sha256(where.encode("utf-8")).hexdigest()[:12]
    return state_dir() / "locks" / f"{target.stack_name}-{target.region}-{digest}.lock"


@contextmanager
def target_lock(target: Target, command: str) -> Iterator[None]:
    """Hold the target's lock while the block runs; refuse (exit 2) if another run holds it."""
    path = lock_path(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Never through a symlink, never anything but a regular file: the lock is truncated.
        handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as err:
        raise UsageError(f"cannot create the deploy lock {path}: {err.strerror}; make the "
                         "state folder writable or set WEBSTACK_STATE_DIR") from err
    if not stat.S_ISREG(os.fstat(handle).st_mode):
        os.close(handle)
        raise UsageError(f"the deploy lock {path} is not a regular file; remove it, then retry")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 200, 0).decode("utf-8", "replace").strip() or "another run"
            watch = reattach_command(target.environment, target.region, target.stack_name,
                                     profile=target.profile, endpoint_url=target.endpoint_url)
            raise UsageError(
                f"{target.stack_name} in {target.region} is busy: {holder} holds its lock "
                f"({path}); wait for it to finish, or attach with '{watch}'"
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
