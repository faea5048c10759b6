"""Run moto's server on a loopback address with the shim applied."""

from __future__ import annotations

import argparse
import functools
import ipaddress
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scripts.errors import Exit, UsageError, WebstackError
from scripts.local.moto_shim import failures, registry


def _check_loopback(host: str) -> None:
    try:
        loopback = ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UsageError(f"--host {host}: the local endpoint has no authentication, so it only "
                         "listens on an IPv4 loopback address; use 127.0.0.1")


def _exit_now(_signum: int, _frame: object) -> None:
    """Exit at once on SIGTERM: the state is in memory by design, and tearing down moto's
    modules at interpreter exit takes most of a second."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _fast_dispatch() -> type:
    """moto's request dispatcher without its per-request waste, answering exactly as stock.

    Stock moto 5.2.5 decides which backend serves a request by listing its own package folder
    (one stat per service, ~170) twice per request under a global lock, and lists the methods of
    the responding class with ``inspect.getmembers`` on every call: together most of a
    request's CPU. Both answers are fixed while the server runs (the shim is applied before it
    starts), so they are computed once per host and per class.
    """
    from moto.core import responses, utils
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    cached = functools.cache(utils.method_names_from_class)
    responses.method_names_from_class = cached  # type: ignore[attr-defined]

    class Dispatcher(DomainDispatcherApplication):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._backend_for: dict[str | None, Any] = {}

        def get_backend_for_host(self, host: str | None) -> Any:
            try:
                return self._backend_for[host]
            except KeyError:
                found = self._backend_for[host] = super().get_backend_for_host(host)
                return found

    return Dispatcher


def libyaml_loader() -> type | None:
    """``yaml.Loader`` with libyaml's parser (None without libyaml): the same constructors,
    multi-constructors (moto's and the shim's tags) and resolvers, read from ``yaml.Loader``
    at parse time, so it builds the same documents; parse errors are the same ScannerError and
    ParserError."""
    import yaml

    if not getattr(yaml, "__with_libyaml__", False):
        return None

    class Fast(yaml.CLoader):
        def __init__(self, stream: Any) -> None:
            super().__init__(stream)
            # yaml.Loader's registries, read at parse time: moto adds to them as it goes
            self.yaml_constructors = yaml.Loader.yaml_constructors  # type: ignore[misc]
            self.yaml_multi_constructors = yaml.Loader.yaml_multi_constructors  # type: ignore[misc]
            self.yaml_implicit_resolvers = yaml.Loader.yaml_implicit_resolvers

    return Fast


def _fast_yaml() -> None:
    """In the server process, parse with libyaml where moto asks for ``yaml.Loader``.

    moto parses every template (root and each child, on every create, change set and update)
    with PyYAML's pure-Python ``yaml.Loader``: the bulk of a local deploy's server CPU (build/
    parses in 0.31 s that way, 0.04 s with libyaml). tests/test_local.py checks that both
    loaders build the same documents from build/.
    """
    import yaml

    fast = libyaml_loader()
    if fast is None:
        return
    stock_load = yaml.load

    def load(stream: Any, Loader: Any) -> Any:
        return stock_load(stream, Loader=fast if Loader is yaml.Loader else Loader)

    yaml.load = load


def _shared_region_lists() -> None:
    """moto builds each backend's region list with ``boto3.Session().get_available_regions``,
    a new session (and a new parse of botocore's endpoint data) every time: about a fifth of
    the server's start. One botocore session answers them all, from the same data files."""
    import boto3.session
    import botocore.session

    shared = botocore.session.get_session()

    def get_available_regions(self: Any, service_name: str, partition_name: str = "aws",
                              allow_non_regional: bool = False) -> list[str]:
        regions: list[str] = shared.get_available_regions(service_name, partition_name,
                                                          allow_non_regional)
        return regions

    boto3.session.Session.get_available_regions = get_available_regions


def _lazy_kms_private_keys() -> None:
    """moto 5.2.5 makes an RSA-2048 private key for every KMS key it creates (a template's
    symmetric key, EBS's default key for an instance's volume), though only Sign, Verify and
    GetPublicKey of an asymmetric key ever read it: a quarter of a repeated local deploy's
    server CPU (0.27 s; 0.21 s without it). Each key's private key is made, as stock makes
    it, the first time one of them asks (tests/test_local.py signs and verifies with one)."""
    import threading

    from moto.kms import models
    from moto.kms.utils import AbstractPrivateKey
    from moto.kms.utils import generate_private_key as stock

    lock = threading.Lock()

    class LazyPrivateKey(AbstractPrivateKey):
        def __init__(self, key_spec: str) -> None:
            self._key_spec = key_spec
            self._made: AbstractPrivateKey | None = None

        def _key(self) -> AbstractPrivateKey:
            with lock:
                if self._made is None:
                    self._made = stock(self._key_spec)
                return self._made

        def sign(self, message: bytes, signing_algorithm: str) -> bytes:
            return self._key().sign(message, signing_algorithm)

        def verify(self, message: bytes, signature: bytes, signing_algorithm: str) -> bool:
            return self._key().verify(message, signature, signing_algorithm)

        def public_key(self) -> bytes:
            return self._key().public_key()

    models.generate_private_key = LazyPrivateKey  # type: ignore[attr-defined]


def serve(host: str, port: int, failures_file: Path | None = None,
          resource_seconds: float = 0.0) -> None:
    """Apply the shim and run moto's server in the foreground until SIGTERM or Ctrl-C."""
    _check_loopback(host)
    _shared_region_lists()  # before moto is imported: its backends ask at import time
    registry.apply()
    _fast_yaml()
    _lazy_kms_private_keys()
    failures.configure(failures_file, resource_seconds)
    from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    os.environ.setdefault("MOTO_PORT", str(port))  # moto builds some URLs from it
    from moto import settings

    # No DNS to validate against here: a DNS-validated certificate is ISSUED when next read
    # (moto waits 60 s), as 'webstack local certificate' promises (see CONFORMANCE.md).
    settings.ACM_VALIDATION_WAIT = 0
    signal.signal(signal.SIGTERM, _exit_now)
    run_simple(host, port, _fast_dispatch()(create_backend_app), threaded=True,
               request_handler=MotoRequestHandler)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.local.moto_shim",
                                     description=registry.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    parser.add_argument("--failures", type=Path, default=None,
                        help="JSON file of failures to inject (see failures.py)")
    parser.add_argument("--resource-seconds", type=float, default=0.0,
                        help="timed mode: each resource takes this long (default 0: instant)")
    args = parser.parse_args(argv)
    try:
        serve(args.host, args.port, args.failures, args.resource_seconds)
    except WebstackError as err:
        print(f"moto_shim: {err}", file=sys.stderr)
        return int(err.exit_code)
    except KeyboardInterrupt:
        return int(Exit.OK)
    return int(Exit.OK)

