"""conftest.py's grouping under ``--dist loadgroup``: a test that shares a module fixture is sent
with its module, one that shares nothing is not. (With pytest 9.2 and xdist 3.8 no test was
grouped: every module-scoped deploy ran once on each worker.)"""

from __future__ import annotations

import pytest

MODULE = "tests/test_xdist_groups.py"


@pytest.fixture(scope="module")
def shared() -> object:
    return object()


def test_a_test_that_shares_a_module_fixture_is_sent_with_its_module(
        shared: object, request: pytest.FixtureRequest) -> None:
    grouped = request.node.nodeid.endswith(f"@{MODULE}")
    # On an xdist worker of --dist loadgroup (tox.ini) the group is in the test's name.
    assert grouped == bool(getattr(request.config.option, "loadgroup", False))


def test_a_test_that_shares_nothing_goes_to_whichever_worker_is_free(
        request: pytest.FixtureRequest) -> None:
    assert "@" not in request.node.nodeid
