"""Serving the mock with waitress (the standalone server and :class:`~mock_server.LiveServer`).

waitress drops every header whose name contains ``_`` (a request-smuggling defence), which
would silently drop Windchill's ``CSRF_NONCE``. The parser below renames that one header to
``CSRF-NONCE`` before waitress sees it; WSGI maps both spellings to ``HTTP_CSRF_NONCE``.

A ``lose_response`` intervention marks the environ with ``windchill.lost_response`` after the
operation was applied; the server then shuts the connection down before any byte of the
response is sent, so a client sees a dropped connection (``requests.ConnectionError``), as
with the in-process transport.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterable
from typing import Any

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import create_server
from waitress.task import WSGITask

from .core.journal import LOST_RESPONSE_ENVIRON

__all__ = ["KEPT_UNDERSCORE_HEADERS", "make_waitress_server", "rename_kept_headers"]

#: Header names with an underscore that the mock's servers pass to the app.
KEPT_UNDERSCORE_HEADERS = ("CSRF_NONCE",)

_KEPT = {
    name.encode("ascii"): name.replace("_", "-").encode("ascii") for name in KEPT_UNDERSCORE_HEADERS
}
_SOCKET_KEY = "mock_server.socket"


def rename_kept_headers(header_plus: bytes) -> bytes:
    """Rewrite ``CSRF_NONCE:`` header lines as ``CSRF-NONCE:``; leave everything else alone."""
    lines = header_plus.split(b"\r\n")
    for index in range(1, len(lines)):
        name, sep, rest = lines[index].partition(b":")
        renamed = _KEPT.get(name.upper())
        if sep and renamed is not None:
            lines[index] = renamed + b":" + rest
    return b"\r\n".join(lines)


class _Parser(HTTPRequestParser):
    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(rename_kept_headers(header_plus))


class _Task(WSGITask):
    _bodyless_keep_alive = False

    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environment()
        environ[_SOCKET_KEY] = self.channel.socket
        return environ

    def build_response_header(self) -> bytes:
        # waitress closes an HTTP/1.1 connection after any response without Content-Length,
        # bodyless ones included; a 204 or 304 has no body to delimit, so keep it open.
        request: Any = self.request
        asked_to_close = request.headers.get("CONNECTION", "").lower() == "close"
        self._bodyless_keep_alive = (
            not self.has_body and self.version == "1.1" and not asked_to_close
        )
        try:
            header: bytes = super().build_response_header()
        finally:
            self._bodyless_keep_alive = False
        return header

    def set_close_on_finish(self) -> None:
        if not self._bodyless_keep_alive:
            super().set_close_on_finish()


class _Channel(HTTPChannel):
    parser_class = _Parser
    task_class = _Task


def _drop_lost_responses(app: Any) -> Callable[..., Iterable[bytes]]:
    """Shut the connection down, before any byte is sent, when the app lost the response."""

    def application(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        # Hold the status line back until the app has returned: only then is it known whether
        # the response is lost (waitress would otherwise log the short body as an app error).
        held: list[tuple[Any, ...]] = []
        forwarding = False

        def hold_start_response(*args: Any) -> Any:
            if forwarding:  # an app that starts its response lazily, from its iterator
                return start_response(*args)
            held.append(args)
            return _no_write

        result: Iterable[bytes] = app(environ, hold_start_response)
        if environ.get(LOST_RESPONSE_ENVIRON):
            close = getattr(result, "close", None)
            if close is not None:
                close()
            sock = environ.get(_SOCKET_KEY)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            start_response("200 OK", [("Content-Length", "0")])
            return []
        forwarding = True
        for args in held:
            start_response(*args)
        return result

    return application


def _no_write(data: bytes) -> None:
    raise RuntimeError("the legacy WSGI write() is not supported before the app has returned")


def make_waitress_server(
    app: Any,
    host: str,
    port: int,
    *,
    threads: int = 8,
    connection_limit: int = 1000,
    channel_timeout: int = 60,
) -> Any:
    """A waitress server bound to ``host:port`` (not yet running): call ``.run()``.

    ``connection_limit`` and ``channel_timeout`` are waitress's (its defaults, 100 and 120 s,
    let a test suite's idle pooled connections lock everyone else out).
    """
    server = create_server(
        _drop_lost_responses(app),
        host=host,
        port=port,
        threads=threads,
        connection_limit=connection_limit,
        channel_timeout=channel_timeout,
        ident="windchill-mock",
    )
    server.channel_class = _Channel  # type: ignore[union-attr]
    return server
