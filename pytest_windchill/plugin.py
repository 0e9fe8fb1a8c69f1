"""The pytest11 entry point of pytest-windchill: hooks and fixtures only.

Fixtures (see docs/fixtures.md):

* ``windchill`` — a fresh in-process mock per test (no sockets), on a virtual clock;
* ``windchill_server`` — the same handle, the mock on a real loopback socket (one server per
  session, reset for every test);
* ``windchill_client`` — the reference ``DocumentUpdater`` wired to ``windchill``;
* ``windchill_config`` — the ``MockConfig`` of the test: override it to customise;
* ``windchill_live_server`` — the session's ``LiveServer`` behind ``windchill_server``.

Slightly over 400 lines: pytest's hooks for one test's life (health, usage errors, the summary)
must sit in the module pytest loads as the plugin; the logic they call lives in
:mod:`.health`, :mod:`.settings`, :mod:`.scenarios` and :mod:`.handle`.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from mock_server.config import MockConfig
from mock_server.core.clock import Clock, SystemClock, VirtualClock
from mock_server.http import create_app, install_state
from mock_server.http.odata import ROOT
from mock_server.server import LiveServer

from .backends import AdminAPIUnavailable
from .client import InMemoryReviewQueue
from .client.updater import DocumentUpdater
from .handle import WindchillMock
from .health import FailedHealthCheck, TestHealth, WindchillWarning, parse_suppressed
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
#: The fixtures that read ``@pytest.mark.windchill``.
MARKER_FIXTURES = frozenset(
    {"windchill", "windchill_server", "windchill_client", "windchill_config", "windchill_factory"}
)
#: Seconds to connect, and to wait for each read, when the session probes ``--windchill-url``.
_PROBE_TIMEOUT = (5.0, 10.0)


@dataclass
class _TestContext:
    """The running test's marker and health record."""

    marker: dict[str, Any] = field(default_factory=dict)
    health: TestHealth = field(default_factory=TestHealth)
    #: The fixture mocks of this test, to report to ``health`` when the body ends.
    mocks: list[WindchillMock] = field(default_factory=list)


_CONTEXT = pytest.StashKey[_TestContext]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "windchill(profile=None, seed=None, rates=None, clock='virtual', "
        "suppress_health_check=(), **config): configure the Windchill mock of this test (any "
        "MockConfig key, e.g. csrf=False); windchill_factory scenarios read it too.",
    )
    settings = resolve_settings(config)
    config.stash[_SETTINGS] = settings
    # With --windchill-url and pytest-xdist, every test gets a tenant of its own on the
    # shared server (WindchillMock.tenant): workers never reset each other's state.


def pytest_sessionstart(session: pytest.Session) -> None:
    """An explicitly requested server that cannot be reached is an error, not a skip."""
    settings = session.config.stash[_SETTINGS]
    if settings.url is None:
        return
    root = settings.url.rstrip("/")
    if not root.endswith(ROOT):
        root += ROOT
    user, password = _credentials(settings.config())
    try:
        # stream=True: read the status line and headers only, never a (slow) body.
        with requests.get(
            root, auth=(user, password), timeout=_PROBE_TIMEOUT, stream=True
        ) as response:
            status = response.status_code
    except requests.RequestException as error:
        raise pytest.UsageError(
            f"windchill url from {settings.sources['url']}: cannot reach {settings.url}: "
            f"{error}. Start the server (windchill-mock serve prints its URL), fix the URL, "
            "or drop the option to use the in-process mock."
        ) from None
    if status == 401:
        raise pytest.UsageError(
            f"windchill url from {settings.sources['url']}: {root} refused the credentials of "
            f"user {user!r} (HTTP 401). Set WINDCHILL_USER and WINDCHILL_PASSWORD to an "
            "account of that server."
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Any:
    """Give every test a fresh context: its marker and its health record."""
    marker = item.get_closest_marker("windchill")
    kwargs = dict(marker.kwargs) if marker is not None else {}
    try:
        suppressed = parse_suppressed(kwargs.get("suppress_health_check", ()))
    except ValueError as error:
        suppressed = frozenset()
        kwargs["__error__"] = f"@pytest.mark.windchill(suppress_health_check=...): {error}"
    item.config.stash[_CONTEXT] = _TestContext(kwargs, TestHealth(suppressed))
    try:
        return (yield)
    finally:
        del item.config.stash[_CONTEXT]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """After a test body that passed: fail it if it exercised nothing (health checks)."""
    result = yield
    context = item.config.stash.get(_CONTEXT, None)
    if context is not None:
        session_rates = item.config.stash[_SETTINGS].rates
        for mock in context.mocks:  # the fixtures' mocks live on until teardown
            mock.finish(session_rates)
        failure = context.health.failure()
        if failure is not None:
            raise failure
    return result


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed health check is a failure even under ``xfail``: the test proved nothing, so
    it cannot count as the expected failure either."""
    report: pytest.TestReport = yield
    if call.excinfo is not None and isinstance(call.excinfo.value, FailedHealthCheck):
        report.outcome = "failed"
        if hasattr(report, "wasxfail"):
            del report.wasxfail
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Any:
    """After the fixtures are torn down: warn about settings that had no effect.

    A marker on the test function itself that no windchill fixture read did nothing (a marker
    on a class or module is shared by tests that may not need the mock, so it is not warned
    about). Warned inside the test's own warning capture, so that a strict filter fails this
    test with the message rather than the collection.
    """
    result = yield
    context = item.config.stash.get(_CONTEXT, None)
    if context is not None:
        for message in context.health.warnings():
            warnings.warn(WindchillWarning(message), stacklevel=1)
        own = any(m.name == "windchill" for m in getattr(item, "own_markers", ()))
        if own and not context.health.marker_read:
            warnings.warn(
                WindchillWarning(
                    f"@pytest.mark.windchill on {item.name} had no effect: no mock of this "
                    f"test read it (the fixtures that do: {', '.join(sorted(MARKER_FIXTURES))}; "
                    "windchill_factory reads it when the test opens a scenario). Use one of "
                    "them, or remove the marker."
                ),
                stacklevel=1,
            )
    return result


def _context(config: pytest.Config) -> _TestContext | None:
    return config.stash.get(_CONTEXT, None)


def pytest_report_header(config: pytest.Config) -> str:
    return config.stash[_SETTINGS].header()


def _settings(request: pytest.FixtureRequest) -> WindchillSettings:
    return request.config.stash[_SETTINGS]


def _marker(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("windchill")
    if marker is None:
        return {}
    context = _context(request.config)
    if context is not None:
        context.health.marker_read = True
    if marker.args:
        raise pytest.UsageError("@pytest.mark.windchill takes keyword arguments only")
    if context is not None and "__error__" in context.marker:
        raise pytest.UsageError(context.marker["__error__"])
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


def _session(config: MockConfig) -> requests.Session:
    session = requests.Session()
    session.auth = _credentials(config)
    return session


def _remote(request: pytest.FixtureRequest, url: str, config: MockConfig) -> WindchillMock:
    """A tenant of its own on the server at ``url`` (a ``windchill-mock``): tests and xdist
    workers sharing one server never see each other's state. A server without tenants (a
    real Windchill) is used as it is."""
    tenant = WindchillMock.tenant(url, _session(config), config, clock=_clock_kind(request))
    if tenant is not None:
        return tenant
    handle = WindchillMock.remote(url, _session(config), config)
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
    yield from _serve(request, _mock(request, windchill_config, over_a_socket=False))


@pytest.fixture(scope="session")
def windchill_live_server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """One mock on a loopback socket for the whole session (per xdist worker).

    Refused under ``--windchill-url``: the fixtures then talk to that server, and a local one
    beside it would hold different state without saying so.
    """
    settings = _settings(request)
    if settings.url is not None:
        raise pytest.UsageError(
            f"windchill_live_server starts a local mock, but the windchill url from "
            f"{settings.sources['url']} ({settings.url}) points the windchill fixtures at "
            "another server: the two would hold different state. Use windchill_server (it "
            "follows the URL) or drop the URL."
        )
    with LiveServer(create_app(MockConfig(), clock=VirtualClock())) as server:
        yield server


@pytest.fixture
def windchill_server(
    request: pytest.FixtureRequest, windchill_config: MockConfig
) -> Iterator[WindchillMock]:
    """Like ``windchill``, but requests go over a real socket to ``windchill_live_server``."""
    yield from _serve(request, _mock(request, windchill_config, over_a_socket=True))


def _mock(
    request: pytest.FixtureRequest, config: MockConfig, *, over_a_socket: bool
) -> WindchillMock:
    """The mock a fixture hands out: the server of ``--windchill-url`` (reset to ``config``)
    when one is given, else fresh state in-process or on the session's loopback server."""
    url = _settings(request).url
    if url is not None:
        return _remote(request, url, config)
    if over_a_socket:
        server: LiveServer = request.getfixturevalue("windchill_live_server")
        install_state(server.app, config, clock=_new_clock(request))
        return WindchillMock.in_process(server.app, _session(config), server.url, config)
    app = create_app(config, clock=_new_clock(request))
    session = in_process_session(app, auth=_credentials(config))
    return WindchillMock.in_process(app, session, DEFAULT_BASE_URL, config)


def _serve(request: pytest.FixtureRequest, handle: WindchillMock) -> Iterator[WindchillMock]:
    """Hand ``handle`` to the test: virtual sleep on, counted for the terminal summary."""
    stats = _stats(request.config)
    handle.on_outcome = stats.record_outcome
    context = _context(request.config)
    handle.health = context.health if context is not None else None
    if context is not None:
        context.mocks.append(handle)  # reported to the health record when the body ends
    try:
        with virtual_sleep(handle):
            yield handle
    finally:
        # A server without the admin API (a real Windchill) has no journal to count.
        with contextlib.suppress(
            AdminAPIUnavailable, requests.RequestException, pytest.skip.Exception
        ):
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
    config = request.config
    if settings.url is not None:
        raise pytest.UsageError(
            f"windchill_factory runs its scenarios in this process, but the windchill url from "
            f"{settings.sources['url']} ({settings.url}) points the tests at another server: "
            "the property tests would not run against it. Run them without the URL (select "
            "them with -k or -m), or use windchill / windchill_server, which follow it."
        )

    def base() -> MockConfig:
        context = _context(config)
        marker = context.marker if context is not None else {}
        if context is not None and marker:
            context.health.marker_read = True
        if "__error__" in marker:
            raise pytest.UsageError(marker["__error__"])
        if marker.get("clock", "virtual") != "virtual":
            raise pytest.UsageError(
                "windchill_factory scenarios always run on a virtual clock; "
                "@pytest.mark.windchill(clock=...) applies to the windchill and "
                "windchill_server fixtures"
            )
        return settings.config(marker)

    def health() -> TestHealth | None:
        context = _context(config)
        return context.health if context is not None else None

    factory = WindchillFactory(base, _stats(config), health)
    factory.session_rates = settings.rates
    return factory


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
