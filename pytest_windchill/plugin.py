"""The pytest11 entry point of pytest-windchill: hooks and fixtures only.

Fixtures (see docs/fixtures.md):

* ``windchill`` — a fresh in-process mock per test (no sockets), on a virtual clock;
* ``windchill_server`` — the same handle, the mock on a real loopback socket (one server per
  session, reset for every test);
* ``windchill_client`` — the reference ``DocumentUpdater`` wired to ``windchill``;
* ``windchill_config`` — the ``MockConfig`` of the test: override it to customise;
* ``windchill_live_server`` — the session's ``LiveServer`` behind ``windchill_server``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from mock_server.config import MockConfig
from mock_server.core.clock import Clock, SystemClock, VirtualClock
from mock_server.http import create_app, install_state
from mock_server.server import LiveServer

from .client import InMemoryReviewQueue
from .client.updater import DocumentUpdater
from .handle import WindchillMock
from .scenarios import RunStats, WindchillFactory, virtual_sleep
from .settings import WindchillSettings, add_options, resolve_settings
from .transport import DEFAULT_BASE_URL, in_process_session

__all__ = [
    "windchill",
    "windchill_client",
    "windchill_config",
    "windchill_factory",
    "windchill_live_server",
    "windchill_server",
]

_SETTINGS = pytest.StashKey[WindchillSettings]()
_CLOCKS = ("virtual", "system")


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "windchill(profile=None, seed=None, rates=None, clock='virtual', **config): configure "
        "the Windchill mock of this test (any MockConfig key, e.g. csrf=False).",
    )
    config.stash[_SETTINGS] = resolve_settings(config)


def pytest_report_header(config: pytest.Config) -> str:
    return config.stash[_SETTINGS].header()


def _settings(request: pytest.FixtureRequest) -> WindchillSettings:
    return request.config.stash[_SETTINGS]


def _marker(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("windchill")
    if marker is None:
        return {}
    if marker.args:
        raise pytest.UsageError("@pytest.mark.windchill takes keyword arguments only")
    return dict(marker.kwargs)


def _clock_kind(request: pytest.FixtureRequest) -> str:
    kind = _marker(request).get("clock", "virtual")
    if kind not in _CLOCKS:
        raise pytest.UsageError(f"@pytest.mark.windchill(clock=...) must be one of {_CLOCKS}")
    return str(kind)


def _new_clock(request: pytest.FixtureRequest) -> Clock:
    """The clock the marker asks for: virtual (default) or the system's (freezegun)."""
    return SystemClock() if _clock_kind(request) == "system" else VirtualClock()


def _credentials(config: MockConfig) -> tuple[str, str]:
    user = os.environ.get("WINDCHILL_USER", "wcadmin")
    password = os.environ.get("WINDCHILL_PASSWORD", config.users.get(user, user))
    return user, password


def _remote(url: str, config: MockConfig) -> WindchillMock:
    session = requests.Session()
    session.auth = _credentials(config)
    handle = WindchillMock.remote(url, session, config)
    try:
        handle.try_reset(config)
    except BaseException:
        handle.close()
        raise
    return handle


@pytest.fixture
def windchill_config(request: pytest.FixtureRequest) -> MockConfig:
    """The ``MockConfig`` of this test: options, then ``@pytest.mark.windchill`` on top.

    Override this fixture in a ``conftest.py`` to change the defaults for a directory.
    """
    return _settings(request).config(_marker(request))


@pytest.fixture
def windchill(
    request: pytest.FixtureRequest, windchill_config: MockConfig
) -> Iterator[WindchillMock]:
    """A fresh mock for this test, in-process (no sockets), on a virtual clock."""
    url = _settings(request).url
    if url is not None:
        handle = _remote(url, windchill_config)
    else:
        app = create_app(windchill_config, clock=_new_clock(request))
        session = in_process_session(app, auth=_credentials(windchill_config))
        handle = WindchillMock.in_process(app, session, DEFAULT_BASE_URL, windchill_config)
    yield from _serve(request, handle)


@pytest.fixture(scope="session")
def windchill_live_server() -> Iterator[LiveServer]:
    """One mock on a loopback socket for the whole session (per xdist worker)."""
    with LiveServer(create_app(MockConfig(), clock=VirtualClock())) as server:
        yield server


@pytest.fixture
def windchill_server(
    request: pytest.FixtureRequest, windchill_config: MockConfig
) -> Iterator[WindchillMock]:
    """Like ``windchill``, but requests go over a real socket to ``windchill_live_server``."""
    url = _settings(request).url
    if url is not None:
        handle = _remote(url, windchill_config)
    else:
        server: LiveServer = request.getfixturevalue("windchill_live_server")
        install_state(server.app, windchill_config, clock=_new_clock(request))
        session = requests.Session()
        session.auth = _credentials(windchill_config)
        handle = WindchillMock.in_process(server.app, session, server.url, windchill_config)
    yield from _serve(request, handle)


def _serve(request: pytest.FixtureRequest, handle: WindchillMock) -> Iterator[WindchillMock]:
    """Hand ``handle`` to the test: virtual sleep on, counted for the terminal summary."""
    stats = _stats(request.config)
    handle.on_outcome = stats.record_outcome
    try:
        with virtual_sleep(handle):
            yield handle
    finally:
        if handle.app is not None:  # an external server's journal may not be reachable
            stats.record_mock(handle)
        handle.close()


@pytest.fixture
def windchill_client(windchill: WindchillMock) -> DocumentUpdater:
    """The reference ``DocumentUpdater`` on ``windchill``, sleeping in virtual time."""
    return DocumentUpdater(
        windchill.session,
        windchill.service_root,
        sleep=windchill.sleep,
        review_queue=InMemoryReviewQueue(),
        seed=windchill.config.seed,
        on_result=windchill.record_outcome,
        now=windchill.clock.now if windchill.virtual_time else None,
    )


_STATS = pytest.StashKey[RunStats]()


def _stats(config: pytest.Config) -> RunStats:
    if _STATS not in config.stash:
        config.stash[_STATS] = RunStats()
    return config.stash[_STATS]


@pytest.fixture(scope="session")
def windchill_factory(request: pytest.FixtureRequest) -> WindchillFactory:
    """Fresh, isolated mocks for property tests: ``with windchill_factory.scenario(...)``.

    Session-scoped, so ``@given`` tests need no health-check suppression; every
    ``scenario()`` has its own state, virtual clock, journal and schedule.
    """
    settings = _settings(request)
    return WindchillFactory(settings.config, _stats(request.config))


def pytest_sessionfinish(session: pytest.Session) -> None:
    # On a pytest-xdist worker: hand the counts to the controller, which prints the summary.
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["windchill_stats"] = _stats(session.config).to_json()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist: a worker finished; add its counts to the controller's."""
    data = getattr(node, "workeroutput", {}).get("windchill_stats")
    if data:
        _stats(node.config).merge(data)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    stats = config.stash.get(_STATS, None)
    if stats is None or not stats.used:
        return
    terminalreporter.write_sep("-", "windchill")
    for line in stats.lines():
        terminalreporter.write_line(line)
