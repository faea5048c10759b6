"""Shared fixtures: the rendered set, resolved per environment, and one reusable gate."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from scripts.build.render import render_dicts
from scripts.build.resolve import resolve

pytest_plugins = ["local_endpoint"]

Template = dict[str, Any]


@cache
def _rendered() -> dict[str, Template]:
    return render_dicts()


@cache
def _resolved(stack: str, environment: str, region: str) -> Template:
    return resolve(_rendered()[stack], environment, region)


class Resolved:
    """One environment's resolved set, with the queries tests ask of it."""

    def __init__(self, environment: str, region: str = "us-east-1") -> None:
        self.environment = environment
        self.region = region

    def template(self, stack: str) -> Template:
        return _resolved(stack, self.environment, self.region)

    def resources(self, stack: str, type_: str | None = None) -> dict[str, Template]:
        found = self.template(stack)["Resources"]
        return {k: v for k, v in found.items() if type_ is None or v["Type"] == type_}

    def resource(self, stack: str, logical_id: str) -> Template:
        return self.template(stack)["Resources"][logical_id]

    def props(self, stack: str, logical_id: str) -> Template:
        return self.resource(stack, logical_id).get("Properties", {})


@pytest.fixture(scope="session")
def rendered() -> dict[str, Template]:
    return _rendered()


@pytest.fixture(scope="session")
def dev() -> Resolved:
    return Resolved("dev")


@pytest.fixture(scope="session")
def staging() -> Resolved:
    return Resolved("staging")


@pytest.fixture(scope="session")
def prod() -> Resolved:
    return Resolved("prod", "eu-west-1")


@pytest.fixture(scope="session", params=["dev", "staging", "prod"])
def each_env(request: pytest.FixtureRequest) -> Resolved:
    return Resolved(request.param)


@pytest.fixture(scope="session")
def resolved_for() -> Callable[[str, str], Resolved]:
    return Resolved


@pytest.fixture(scope="session")
def gate() -> Any:
    from scripts.build.gate import Gate

    return Gate()


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``pytest -n N --dist loadgroup`` (tox.ini), the tests of a module that share a
    fixture set up once for more than one test (a module-scoped deploy, a clone, a session
    fixture the module defines for itself) go to one worker together, so it is set up once;
    every other test goes to whichever worker is free. xdist sends the largest groups first,
    then the single tests in file order. The fixtures of conftest.py and local_endpoint.py are
    set up once per worker. (On a worker xdist has already set ``dist`` to "no" and says
    loadgroup in its own ``loadgroup`` option: reading ``dist`` alone grouped nothing, and
    every module's deploy ran on both workers.)"""
    if not (config.getoption("dist", None) == "loadgroup"
            or getattr(config.option, "loadgroup", False)):
        return
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        if _shares_a_fixture_of(module, item):
            item.add_marker(pytest.mark.xdist_group(module))


class _GroupedNodeIds:
    """xdist 3.8 puts a test in its group by renaming it ``<nodeid>@<group>`` through
    ``item._nodeid``, which pytest 9.2 no longer reads (a node's id is ``item._id`` now): every
    test was sent as a unit of its own, grouped or not. This hook runs after xdist's and gives
    the test the name xdist gave it."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            grouped = item.__dict__.get("_nodeid")
            if isinstance(grouped, str) and grouped != item.nodeid:
                item._id = type(item.id).parse(grouped)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_GroupedNodeIds(), "webstack-grouped-nodeids")


def _shares_a_fixture_of(module: str, item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)  # pytest's own record of the item's fixtures
    if info is None:
        return True  # not a plain test function: keep it with its module
    for defs in info.name2fixturedefs.values():
        used = defs[-1] if defs else None
        if used is not None and used.scope != "function" and \
                (used.scope != "session" or used.baseid == module):
            return True
    return False


@pytest.fixture(scope="session", autouse=True)
def private_state_folder(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Deploy locks and any endpoint state of code under test go to this session's own folder
    (one per xdist worker), never to ``.webstack/`` in the checkout: two workers deploying the
    same stack name would otherwise meet on one lock file and one would be refused as busy."""
    from scripts.paths import STATE_DIR_ENV

    with pytest.MonkeyPatch.context() as env:
        env.setenv(STATE_DIR_ENV, str(tmp_path_factory.mktemp("webstack-state")))
        yield


@pytest.fixture(autouse=True)
def fresh_aws_sessions() -> Any:
    """A test that changes the AWS environment (credentials, profiles) never leaves a session
    cached with it for the next test."""
    yield
    from scripts.deploy.aws import reset_sessions

    reset_sessions()
