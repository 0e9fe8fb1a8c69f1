"""Serving the mock with waitress (the standalone server).

waitress drops every header whose name contains ``_`` (a request-smuggling defence), which
would silently drop Windchill's ``CSRF_NONCE``. The parser below renames that one header to
``CSRF-NONCE`` before waitress sees it; WSGI maps both spellings to ``HTTP_CSRF_NONCE``.
"""

from __future__ import annotations

from typing import Any

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import create_server

from .server import KEPT_UNDERSCORE_HEADERS

__all__ = ["make_waitress_server", "rename_kept_headers"]

_KEPT = {
    name.encode("ascii"): name.replace("_", "-").encode("ascii") for name in KEPT_UNDERSCORE_HEADERS
}


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


class _Channel(HTTPChannel):
    parser_class = _Parser


def make_waitress_server(app: Any, host: str, port: int, *, threads: int = 8) -> Any:
    """A waitress server bound to ``host:port`` (not yet running): call ``.run()``."""
    server = create_server(app, host=host, port=port, threads=threads, ident="windchill-mock")
    server.channel_class = _Channel  # type: ignore[union-attr]
    return server
