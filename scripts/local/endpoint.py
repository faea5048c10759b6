"""``webstack local up | down | status``: a moto server on 127.0.0.1 that outlives one command.

The server keeps its state in memory until ``down``, so ``webstack outputs --local`` sees what
``webstack deploy --local`` made. Its pid and port live in ``.webstack/local.json`` under the
repository (or ``$WEBSTACK_STATE_DIR/local.json``); ``down`` stops that pid only, and only after
its command line shows it is our server, because a pid in a stale file may belong to anything.
"""

from __future__ import annotations

import fcntl
import importlib.util
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from scripts.deploy.aws import LOCAL_HOSTS
from scripts.deploy.waiting import Waiter
from scripts.errors import Exit, UsageError, WebstackError
from scripts.paths import REPO_ROOT, state_dir

HOST = "127.0.0.1"  # the only address the server listens on: it has no authentication
DEFAULT_PORT = 5000
PORT_ENV = "WEBSTACK_LOCAL_PORT"
SERVER_MODULE = "scripts.local.moto_shim"
HEALTH_PATH = "/moto-api/config"  # cheap, and only moto answers it with its JSON config
START_TIMEOUT = 30.0  # a loaded machine (a test suite on every core) takes its time to import moto
STOP_TIMEOUT = 5.0
POLL_INTERVAL = 0.1

# TemplateURL forms moto 5.2.5 resolves for a nested stack (cloudformation/utils.py,
# get_stack_from_s3_url). It never fetches the URL: it parses bucket and key out of it and reads
# the object from its own S3 backend, in the stack's account. Any URL that contains "localhost"
# is read path-style; an s3*.amazonaws.com host is read path-style; any other host is read
# virtual-hosted (bucket = first label). The key is used as written, not URL-decoded.
# tests/test_local.py checks every line of this table against the pinned moto.
TEMPLATE_URL_FORMS: dict[str, bool] = {
    "http://localhost:5000/{bucket}/{key}": True,  # what template_url() builds
    "https://s3.amazonaws.com/{bucket}/{key}": True,
    "https://s3.us-east-1.amazonaws.com/{bucket}/{key}": True,
    "https://{bucket}.s3.amazonaws.com/{key}": True,
    "https://{bucket}.s3.us-east-1.amazonaws.com/{key}": True,
    "http://127.0.0.1:5000/{bucket}/{key}": False,  # read as bucket "127": NoSuchBucket
    "http://{bucket}.localhost:5000/{key}": False,  # "localhost" wins: read path-style
}
_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_KEY = re.compile(r"[A-Za-z0-9._-][A-Za-z0-9._/-]*")

# Servers this process started, so waiting on them reaps them instead of seeing a zombie.
_children: dict[int, subprocess.Popen[bytes]] = {}


class LocalError(WebstackError):
    exit_code = Exit.AWS


@dataclass(frozen=True)
class Server:
    """One running local endpoint, as recorded in the state file."""

    pid: int
    port: int
    url: str
    started: str


def template_url(endpoint_url: str, bucket: str, key: str) -> str:
    """The TemplateURL of an object on the local endpoint, in the form moto's CloudFormation reads.

    Always ``localhost``: moto reads ``http://127.0.0.1:PORT/bucket/key`` as bucket "127".
    """
    parsed = urlparse(endpoint_url)
    if parsed.hostname not in LOCAL_HOSTS or parsed.port is None:
        raise UsageError(f"{endpoint_url} is not a local endpoint such as http://localhost:5000; "
                         "on AWS use the bucket's https://BUCKET.s3.REGION.amazonaws.com/KEY")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise UsageError(f"bucket {bucket!r} is not a plain S3 bucket name (a-z, 0-9, '-')")
    if not _KEY.fullmatch(key):
        raise UsageError(f"S3 key {key!r}: moto does not URL-decode a TemplateURL, so keep keys "
                         "to letters, digits, '.', '_', '-' and '/'")
    return f"http://localhost:{parsed.port}/{bucket}/{key}"


def state_file() -> Path:
    return state_dir() / "local.json"


def log_file() -> Path:
    return state_dir() / "local.log"


def failures_file() -> Path:
    """Failures the running endpoint injects (scripts/local/moto_shim/failures.py)."""
    return state_dir() / "failures.json"


def read_failures() -> list[dict[str, str]]:
    try:
        found = json.loads(failures_file().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as err:
        raise LocalError(f"{failures_file()} is unreadable ({err}); run webstack local fail "
                         "--clear", Exit.USAGE) from err
    return [dict(entry) for entry in found] if isinstance(found, list) else []


def inject_failure(resource: str, on: str, reason: str, stack: str | None = None
                   ) -> list[dict[str, str]]:
    """Make ``resource`` (a logical id) fail on ``on`` (create or update) with ``reason`` in
    every stack (or those whose name contains ``stack``) until cleared; the entries now."""
    if on not in ("create", "update"):
        raise UsageError(f"--on {on}: use create or update")
    if not resource.isalnum():
        raise UsageError(f"--resource {resource!r}: give a logical id (letters and digits)")
    if not reason.strip():
        raise UsageError("--reason is empty; say why the resource fails, as AWS would")
    entry = {"resource": resource, "on": on, "reason": reason.strip(), "stack": stack or ""}
    entries = [e for e in read_failures()
               if (e.get("resource"), e.get("on"), e.get("stack", "")) !=
               (resource, on, stack or "")] + [entry]
    _write_failures(entries)
    return entries


def clear_failures() -> None:
    failures_file().unlink(missing_ok=True)


def _write_failures(entries: list[dict[str, str]]) -> None:
    path = failures_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    partial.replace(path)


def read_state() -> Server | None:
    path = state_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Server(pid=int(data["pid"]), port=int(data["port"]), url=str(data["url"]),
                      started=str(data["started"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise LocalError(f"{path} is unreadable ({type(err).__name__}: {err}); make sure no "
                         "local endpoint is running, delete the file and retry", Exit.USAGE
                         ) from err


def _write_state(server: Server) -> None:
    path = state_file()
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(asdict(server), indent=2, sort_keys=True) + "\n",
                       encoding="utf-8")
    partial.replace(path)


def _command_line(pid: int) -> list[str]:
    """The argv of ``pid``; /proc on Linux, ps where there is no /proc (macOS)."""
    if Path("/proc/self/cmdline").exists():
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return []
        return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]
    try:
        ps = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True,
                            text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return ps.stdout.split() if ps.returncode == 0 else []


def is_ours(pid: int, port: int) -> bool:
    """True when ``pid`` runs ``-m scripts.local.moto_shim ... --port PORT``."""
    args = _command_line(pid)
    if SERVER_MODULE not in args:
        return False
    options = args[args.index(SERVER_MODULE) + 1:]
    pairs = itertools.pairwise(options)
    return any(flag == "--port" and value == str(port) for flag, value in pairs)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie waiting for init to reap it counts as gone."""
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def healthy(url: str, timeout: float = 5.0) -> bool:
    """True when moto answers at ``url`` (directly: a proxy from the environment must not)."""
    import urllib.error  # here: every command's parser imports this module
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url.rstrip("/") + HEALTH_PATH, timeout=timeout) as response:
            return isinstance(json.loads(response.read()), dict)
    except (OSError, ValueError, urllib.error.URLError):
        return False


def running() -> Server | None:
    """The recorded server if it is alive, ours and answering; None otherwise."""
    server = read_state()
    if server and _alive(server.pid) and is_ours(server.pid, server.port) and healthy(server.url):
        return server
    return None


def runs_at(url: str) -> bool:
    """'webstack local up' runs the endpoint at ``url`` (its recorded server, alive)."""
    try:
        server = running()
    except WebstackError:
        return False
    return server is not None and urlparse(server.url).port == urlparse(url).port


def endpoint_if_running() -> str | None:
    server = running()
    return server.url if server else None


def ensure_running() -> str:
    """The local endpoint URL, starting a server first if none is up (for ``--local``)."""
    url = endpoint_if_running()
    if url:
        return url
    server, started = up()
    if started:
        print(f"started the local endpoint {server.url} (pid {server.pid}); "
              "stop it with 'webstack local down'", file=sys.stderr)
    return server.url


@contextmanager
def _locked() -> Iterator[None]:
    """One up/down at a time per state directory (two --local commands may race to start)."""
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "local.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _port_busy(port: int) -> bool:
    """Whether ``port`` is taken on 127.0.0.1, or on ::1 where ``localhost`` may resolve first
    (macOS's AirPlay receiver holds port 5000)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind((HOST, port))
        except OSError:
            return True
    if socket.has_ipv6:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.2)
            try:
                probe.connect(("::1", port))
            except OSError:
                return False
            return True
    return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _wanted_port(port: int | None) -> int:
    if port is None:
        raw = os.environ.get(PORT_ENV, str(DEFAULT_PORT))
        try:
            port = int(raw)
        except ValueError:
            raise UsageError(f"{PORT_ENV}={raw!r} is not a port; set 1-65535 or unset it"
                             ) from None
    if not 0 < port < 65536:
        raise UsageError(f"port {port} is out of range; use 1-65535")
    return port


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1].strip() if lines else "empty log"


def up(port: int | None = None, resource_seconds: float = 0.0) -> tuple[Server, bool]:
    """Start the server unless ours is already up; (server, whether this call started it).

    ``resource_seconds`` > 0 starts it in timed mode: each resource takes that long and stack
    operations run in the background (scripts/local/moto_shim/failures.py)."""
    if not 0 <= resource_seconds <= 60:
        raise UsageError(f"--timed {resource_seconds}: give 0 to 60 seconds per resource")
    with _locked():
        current = running()
        if current:
            return current, False
        stale = read_state()
        if stale and _alive(stale.pid) and is_ours(stale.pid, stale.port):
            print(f"the local endpoint (pid {stale.pid}) is not answering; restarting it, "
                  "its state is lost", file=sys.stderr)
            _terminate(stale.pid)
        state_file().unlink(missing_ok=True)
        if importlib.util.find_spec("moto") is None:
            raise LocalError("moto is not installed; run pip install -e '.[local]'", Exit.USAGE)

        wanted = _wanted_port(port)
        chosen = wanted
        if _port_busy(wanted):
            chosen = free_port()
            print(f"port {wanted} is taken by something else; using {chosen}", file=sys.stderr)
        log = log_file()
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", SERVER_MODULE, "--host", HOST, "--port", str(chosen),
                 "--failures", str(failures_file()),
                 "--resource-seconds", str(resource_seconds)],
                cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        _children[process.pid] = process
        server = Server(pid=process.pid, port=chosen, url=f"http://localhost:{chosen}",
                        started=datetime.now(UTC).isoformat(timespec="seconds"))
        _write_state(server)

        def answering() -> tuple[bool, bool]:
            if process.poll() is not None:
                return True, False  # it exited: no point waiting
            return (True, True) if healthy(server.url, timeout=1.0) else (False, False)

        try:
            _, ready = Waiter().poll(answering, timeout=START_TIMEOUT, first=POLL_INTERVAL,
                                     maximum=POLL_INTERVAL)
        except BaseException:  # Ctrl-C while it starts: leave no server behind
            _terminate(process.pid)
            state_file().unlink(missing_ok=True)
            raise
        if ready:
            return server, True
        _terminate(process.pid)
        state_file().unlink(missing_ok=True)
        raise LocalError(f"the local endpoint did not answer on port {chosen} within "
                         f"{START_TIMEOUT:.0f} s ({_last_line(log)}); see {log}")


def _gone(pid: int, timeout: float) -> bool:
    gone, _ = Waiter().poll(lambda: (not _alive(pid), None), timeout=timeout,
                            first=POLL_INTERVAL, maximum=POLL_INTERVAL)
    return gone


def _terminate(pid: int) -> None:
    """SIGTERM, a bounded wait, then SIGKILL; only ever called on a pid checked to be ours."""
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 2.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        if _gone(pid, wait):
            break
    else:
        raise LocalError(f"pid {pid} is still running after SIGKILL; stop it by hand")
    _children.pop(pid, None)


def down() -> str:
    """Stop the recorded server; refuses a pid that is not our server. Returns what happened."""
    with _locked():
        server = read_state()
        path = state_file()
        if server is None:
            return "local endpoint is not running"
        if not _alive(server.pid):
            path.unlink()
            return f"local endpoint was not running (removed the stale {path})"
        if not is_ours(server.pid, server.port):
            path.unlink()
            raise LocalError(f"not stopping pid {server.pid}: it is not a webstack local "
                             f"endpoint on port {server.port}; removed the stale {path}",
                             Exit.USAGE)
        _terminate(server.pid)
        path.unlink(missing_ok=True)
        return f"local endpoint down: stopped pid {server.pid} ({server.url})"
