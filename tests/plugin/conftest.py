"""Shared set-up for the plugin's pytester tests.

Every test here runs an inner pytest session in this process, so the outer environment would
leak into it: a developer's ``WINDCHILL_URL`` must not turn these runs into remote ones, and
when the outer run uses ``-n``, an inner run must not believe it is an xdist worker.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator

import pytest

WINDCHILL_ENV = (
    "WINDCHILL_PROFILE",
    "WINDCHILL_SEED",
    "WINDCHILL_RATES",
    "WINDCHILL_URL",
    "WINDCHILL_USER",
    "WINDCHILL_PASSWORD",
)
XDIST_ENV = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")


@pytest.fixture(autouse=True)
def _clean_windchill_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in WINDCHILL_ENV + XDIST_ENV:
        monkeypatch.delenv(name, raising=False)


class _NoAdminHandler(http.server.BaseHTTPRequestHandler):
    """Answers OData's service document and 404 (plain text) for everything else."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        found = self.path.rstrip("/") == "/Windchill/servlet/odata"
        body = b'{"value": []}' if found else b"Not Found"
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json" if found else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


ServeHandler = Callable[[type[http.server.BaseHTTPRequestHandler]], str]


@pytest.fixture
def serve_handler() -> Iterator[ServeHandler]:
    """Start a plain HTTP server on loopback with a handler class; returns its base URL.

    Every server started is shut down when the test ends.
    """
    servers: list[tuple[http.server.ThreadingHTTPServer, threading.Thread]] = []

    def serve(handler: type[http.server.BaseHTTPRequestHandler]) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}"

    try:
        yield serve
    finally:
        for server, thread in servers:
            server.shutdown()
            server.server_close()
            thread.join()


@pytest.fixture
def server_without_admin_api(serve_handler: ServeHandler) -> str:
    return serve_handler(_NoAdminHandler)
