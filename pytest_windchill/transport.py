"""An in-process transport for ``requests``: a ``Session`` that calls the WSGI app directly.

No socket, no thread, no port: a request becomes a WSGI environ (built by Werkzeug), the app
answers, and the answer becomes a ``requests.Response`` — cookies included, so the CSRF
session works as over HTTP. When the mock drops a response (``lose_response``), the adapter
raises :class:`requests.ConnectionError`, as a real dropped connection would.

``requests-wsgi-adapter`` does the same job but has not been released since 2019 and knows
nothing of dropped responses, so this small adapter is our own. httpx users need none of
this: ``httpx.Client(transport=httpx.WSGITransport(app=app))``.
"""

from __future__ import annotations

import http.client
import io
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3 import HTTPHeaderDict, HTTPResponse
from werkzeug.test import EnvironBuilder

from mock_server.core.journal import IN_PROCESS_ENVIRON, LOST_RESPONSE_ENVIRON

__all__ = ["DEFAULT_BASE_URL", "WSGIAdapter", "in_process_session"]

#: Where in-process mocks pretend to live (``.test`` is reserved for testing, RFC 2606).
DEFAULT_BASE_URL = "http://windchill.test"


class _OriginalResponse:
    """What ``requests`` reads cookies from: an object with an ``http.client`` message."""

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self.msg = http.client.HTTPMessage()
        for name, value in headers:
            self.msg[name] = value

    def isclosed(self) -> bool:
        return True


class WSGIAdapter(BaseAdapter):
    """Send ``requests`` to a WSGI application in the same process."""

    def __init__(self, app: Any, *, remote_addr: str = "127.0.0.1") -> None:
        super().__init__()
        self.app = app
        self.remote_addr = remote_addr

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        url = urlsplit(request.url or "")
        body = request.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        builder = EnvironBuilder(
            path=url.path or "/",
            base_url=f"{url.scheme}://{url.netloc}",
            query_string=url.query,
            method=request.method or "GET",
            headers=list(request.headers.items()),
            data=body or b"",
            environ_overrides={"REMOTE_ADDR": self.remote_addr, IN_PROCESS_ENVIRON: True},
        )
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        status, header_list, content = _call(self.app, environ)
        if environ.get(LOST_RESPONSE_ENVIRON):
            raise requests.ConnectionError(
                "Connection aborted: the mock dropped the response after handling the request "
                "(lose_response intervention)",
                request=request,
            )
        response = requests.Response()
        response.status_code = int(status.split(" ", 1)[0])
        response.reason = status.split(" ", 1)[1] if " " in status else ""
        response.headers = CaseInsensitiveDict(header_list)
        response._content = content
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        response.url = request.url or ""
        response.request = request
        response.connection = self  # type: ignore[assignment]
        response.raw = HTTPResponse(
            body=io.BytesIO(content),
            headers=HTTPHeaderDict(header_list),
            status=response.status_code,
            preload_content=False,
            original_response=_OriginalResponse(header_list),  # type: ignore[arg-type]
        )
        return response

    def close(self) -> None:
        pass


def _call(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run one WSGI request; the app sees (and may mark) this very ``environ``."""
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info is not None and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started[:] = [(status, headers)]
        return lambda data: None  # the legacy write() callable, unused by Flask

    app_iter = app(environ, start_response)
    try:
        # A lost response's body is a deliberately truncated stand-in: never read it.
        lost = environ.get(LOST_RESPONSE_ENVIRON)
        content = b"" if lost else b"".join(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
    status, headers = started[0]
    return status, list(headers), content


def in_process_session(
    app: Any,
    *,
    base_url: str = DEFAULT_BASE_URL,
    auth: tuple[str, str] | None = None,
) -> requests.Session:
    """A ``requests.Session`` whose requests to ``base_url`` go straight to ``app``."""
    session = requests.Session()
    session.trust_env = False  # no proxy or .netrc look-ups: nothing leaves the process
    session.mount(base_url.rstrip("/") + "/", WSGIAdapter(app))
    if auth is not None:
        session.auth = auth
    return session
