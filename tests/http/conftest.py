"""Fixtures for the HTTP layer: a fresh mock per test on a virtual clock, driven through
Flask's test client with Basic auth and the session's CSRF nonce already in place."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from wrs_session import PROFILES, MakeMock, Session

from mock_server import MockConfig, create_app
from mock_server.core import VirtualClock
from mock_server.http.state import EXTENSION, MockState


@pytest.fixture(scope="session")
def idle_apps() -> list[Flask]:
    """Apps to reuse: building the routes costs tens of milliseconds, a fresh state almost
    nothing. The app holds no state of its own besides ``app.extensions[EXTENSION]``."""
    return []


@pytest.fixture
def make_mock(idle_apps: list[Flask]) -> Iterator[MakeMock]:
    """Build a fresh mock from ``MockConfig`` keywords; returns a session of ``wcadmin``."""
    taken: list[Flask] = []

    def make(**config: Any) -> Session:
        settings = MockConfig(**config)
        clock = VirtualClock()
        if idle_apps:
            app = idle_apps.pop()
            app.extensions[EXTENSION] = MockState(settings, clock)
        else:
            app = create_app(settings, clock=clock)
        taken.append(app)
        return Session(app, clock)

    yield make
    idle_apps.extend(taken)


@pytest.fixture
def mock(make_mock: MakeMock) -> Session:
    """A mock in the default ``thread`` profile."""
    return make_mock()


@pytest.fixture(params=PROFILES)
def any_mock(request: pytest.FixtureRequest, make_mock: MakeMock) -> Session:
    """The same test once per profile (``thread``, ``odata``, ``wrs``)."""
    return make_mock(profile=request.param)
