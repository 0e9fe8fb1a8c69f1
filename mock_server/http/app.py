"""The Flask application factory."""

from __future__ import annotations

from flask import Flask, Response, request

from ..config import MockConfig
from ..core.clock import Clock, SystemClock
from . import admin, odata
from .errors import register_error_handlers
from .state import EXTENSION, MockState, state

__all__ = ["create_app"]


def create_app(config: MockConfig | None = None, *, clock: Clock | None = None) -> Flask:
    """A fresh mock: its own state, journal and CSRF sessions.

    ``clock`` defaults to the system clock (follows ``freezegun``); pass a
    :class:`~mock_server.core.clock.VirtualClock` for deterministic time.
    """
    config = config if config is not None else MockConfig()
    app = Flask("mock_server")
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = MockState(config, clock if clock is not None else SystemClock())
    odata.register_converters(app)
    register_error_handlers(app)
    app.register_blueprint(odata.blueprint)
    app.register_blueprint(admin.blueprint)

    @app.before_request
    def _count_request() -> None:
        if not request.path.startswith(admin.ADMIN_PREFIX):
            state().repository.metrics.count_request()

    @app.after_request
    def _count_response(response: Response) -> Response:
        if not request.path.startswith(admin.ADMIN_PREFIX):
            state().repository.metrics.count_response(response.status_code)
        return response

    return app
