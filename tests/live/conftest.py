"""Live layer: the mock on real loopback sockets, driven with ``requests``.

Every server a test starts is stopped by the fixture that started it: ``LiveServer`` in a
thread, or ``windchill-mock serve`` as a subprocess (see ``live_support.serve``). Ports are
always 0 and read back, so the tests run in parallel under pytest-xdist.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from live_support import AUTH, ROOT, TIMEOUT, SessionFactory

from mock_server import LiveServer, MockConfig, create_app
from mock_server.core.clock import VirtualClock


@pytest.fixture
def open_session() -> Iterator[SessionFactory]:
    """``open_session(base_url, csrf=True)``: a Basic-auth session, with the CSRF nonce header
    already fetched when ``csrf``. Every session is closed at teardown."""
    opened: list[requests.Session] = []

    def factory(base_url: str, *, csrf: bool = True) -> requests.Session:
        session = requests.Session()
        opened.append(session)
        session.auth = AUTH
        if csrf:
            response = session.get(f"{base_url}{ROOT}/PTC/GetCSRFToken()", timeout=TIMEOUT)
            assert response.status_code == 200, response.text
            body = response.json()
            session.headers[body["NonceKey"]] = body["NonceValue"]
        return session

    yield factory
    for session in opened:
        session.close()


@pytest.fixture
def live_server() -> Iterator[LiveServer]:
    """A ``LiveServer`` on a virtual clock with three documents (CSRF and auth on)."""
    app = create_app(MockConfig(documents=3), clock=VirtualClock())
    with LiveServer(app) as server:
        yield server
