"""The ``local_endpoint`` fixture: one shimmed moto server on 127.0.0.1 for the whole session.

A plugin module rather than conftest code, so test modules can require it by name with
``pytest_plugins = ["local_endpoint"]`` (``tests/`` is on sys.path under pytest's default
import mode; it is not a package, so ``tests.local_endpoint`` does not import).

WEBSTACK_STATE_DIR points at a temporary directory for the session, so code under test that
calls ``scripts.local.endpoint.ensure_running()`` finds this server instead of starting its
own, and a developer's own ``webstack local up`` in ``.webstack/`` is never touched.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scripts import paths
from scripts.local import endpoint as local


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A stock (unshimmed) moto server in this process, for tests of what moto itself does:
    ``http://localhost:PORT``; it listens on 127.0.0.1 only and stops with the session."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    try:
        yield f"http://localhost:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def local_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The endpoint URL (``http://localhost:PORT``); the server is stopped by its pid at the end."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv(paths.STATE_DIR_ENV, str(tmp_path_factory.mktemp("webstack-state")))
        server, _started = local.up(port=local.free_port())
        try:
            yield server.url
        finally:
            local.down()
