"""Fixtures for the HTTP layer: a fresh mock per test on a virtual clock, driven through
Flask's test client with Basic auth and the session's CSRF nonce already in place."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from wrs_session import PROFILES, MakeMock, Session

from mock_server import MockConfig
from mock_server.core import VirtualClock
from mock_server.http import AppPool


@pytest.fixture(scope="session")
def app_pool() -> AppPool:
    """Apps to reuse across the session's HTTP tests, each with fresh state when taken."""
    return AppPool()


@pytest.fixture
def make_mock(app_pool: AppPool) -> Iterator[MakeMock]:
    """Build a fresh mock from ``MockConfig`` keywords; returns a session of ``wcadmin``."""
    taken: list[Flask] = []

    def make(**config: Any) -> Session:
        clock = VirtualClock()
        app = app_pool.acquire(MockConfig(**config), clock=clock)
        taken.append(app)
        return Session(app, clock)

    yield make
    for app in taken:
        app_pool.release(app)


@pytest.fixture
def mock(make_mock: MakeMock) -> Session:
    """A mock in the default ``thread`` profile."""
    return make_mock()


@pytest.fixture(params=PROFILES)
def any_mock(request: pytest.FixtureRequest, make_mock: MakeMock) -> Session:
    """The same test once per profile (``thread``, ``odata``, ``wrs``)."""
    return make_mock(profile=request.param)
