"""``LiveServer``: the app on a real loopback socket, in a thread.

Werkzeug's threaded server handles the requests (HTTP/1.1 keep-alive). WSGI servers drop
header names containing ``_`` as a request-smuggling defence; the handler here keeps the one
such header Windchill defines, ``CSRF_NONCE``.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

__all__ = ["KEPT_UNDERSCORE_HEADERS", "LiveServer"]

#: Header names with an underscore that the mock's servers pass to the app.
KEPT_UNDERSCORE_HEADERS = ("CSRF_NONCE",)


class _Handler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        for name, value in self.headers.items():
            if name.upper() in KEPT_UNDERSCORE_HEADERS:
                environ.setdefault(f"HTTP_{name.upper()}", value)
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # tests do not want an access log on stderr


class LiveServer:
    """Serve ``app`` on ``host:port`` (port 0: any free port) until :meth:`stop`.

    >>> with LiveServer(create_app()) as server:  # doctest: +SKIP
    ...     requests.get(server.url + "/Windchill/servlet/odata/")
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=_Handler
        )
        self._server.daemon_threads = True  # type: ignore[attr-defined]
        self.host = host
        self.port: int = self._server.server_port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> LiveServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"windchill-mock-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
