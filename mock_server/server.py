"""``LiveServer``: the app on a real loopback socket, in a thread.

The same waitress server as ``windchill-mock serve`` (:mod:`.serving`) handles the requests:
HTTP/1.1 keep-alive (Werkzeug's development server answers every request with
``Connection: close``), a pool of worker threads, and the ``CSRF_NONCE`` header kept although
its name has an underscore.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from waitress import wasyncore

from .config import MockConfig
from .http.state import EXTENSION
from .serving import KEPT_UNDERSCORE_HEADERS, make_waitress_server

__all__ = ["KEPT_UNDERSCORE_HEADERS", "LiveServer"]


class LiveServer:
    """Serve ``app`` on ``host:port`` (port 0: any free port) until :meth:`stop`.

    >>> with LiveServer(create_app()) as server:  # doctest: +SKIP
    ...     requests.get(server.url + "/Windchill/servlet/odata/")

    :meth:`stop` closes the listening socket and every open connection, and joins the
    server's threads.
    """

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int = 0, *, threads: int = 8
    ) -> None:
        self.app = app
        # The mock's own settings when ``app`` is the mock's Flask app (not a wrapped one).
        mock = getattr(app, "extensions", {}).get(EXTENSION)
        config = mock.config if mock is not None else MockConfig()
        self._server: Any = make_waitress_server(
            app,
            host,
            port,
            threads=threads,
            connection_limit=config.connection_limit,
            channel_timeout=config.channel_timeout,
        )
        self.host = host
        self.port: int = int(self._server.effective_port)
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> LiveServer:
        if self._stopped:
            raise RuntimeError("a stopped LiveServer cannot be started again; make a new one")
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.run, name=f"windchill-mock-{self.port}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listening socket and every connection; wait for the threads to end."""
        if self._stopped:
            return
        self._stopped = True
        # Workers first: a finishing request wakes the event loop through its trigger.
        self._server.task_dispatcher.shutdown()
        if self._thread is not None:
            # The event loop owns its sockets: close them from inside it, then it ends.
            self._server.trigger.pull_trigger(self._close_sockets)
            self._thread.join()
            self._thread = None
        else:
            self._close_sockets()

    def _close_sockets(self) -> None:
        wasyncore.close_all(self._server._map)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
