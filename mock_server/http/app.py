"""The Flask application factory."""

from __future__ import annotations

import threading

from flask import Flask, Response, current_app, request

from ..config import MockConfig
from ..core.clock import Clock, SystemClock
from . import admin, odata, ui
from . import batch as _batch  # noqa: F401  (adds the $batch route to odata's blueprint)
from .errors import register_error_handlers
from .state import EXTENSION, TENANT_STATE_ENVIRON, MockState, state
from .tenants import TENANT_ENVIRON, TENANTS_EXTENSION, TenantRouting, Tenants

__all__ = ["AppPool", "create_app", "install_state"]


def install_state(
    app: Flask, config: MockConfig | None = None, *, clock: Clock | None = None
) -> MockState:
    """Give ``app`` brand-new state: repository, journal, CSRF sessions, clock.

    Building an app's routes costs tens of milliseconds; swapping its state costs next to
    nothing, so fixtures and scenarios reuse apps and call this instead of ``create_app``.
    """
    config = config if config is not None else MockConfig()
    mock = MockState(config, clock if clock is not None else SystemClock())
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.extensions[EXTENSION] = mock
    app.extensions[TENANTS_EXTENSION] = Tenants(
        seed=config.seed, limit=lambda: app.extensions[EXTENSION].config
    )
    return mock


def create_app(config: MockConfig | None = None, *, clock: Clock | None = None) -> Flask:
    """A fresh mock: its own state, journal and CSRF sessions.

    ``clock`` defaults to the system clock (follows ``freezegun``); pass a
    :class:`~mock_server.core.clock.VirtualClock` for deterministic time.
    """
    app = Flask("mock_server")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    install_state(app, config, clock=clock)
    odata.register_converters(app)
    register_error_handlers(app)
    app.register_blueprint(odata.blueprint)
    app.register_blueprint(admin.blueprint)
    app.register_blueprint(ui.blueprint)  # /__mock/ui: the journal as a timeline page
    # ``/(S(<id>))/...`` reaches tenant <id>: the prefix moves to SCRIPT_NAME.
    app.wsgi_app = TenantRouting(app.wsgi_app)  # type: ignore[method-assign]

    @app.before_request
    def _reach_tenant() -> None:
        tenant_id = request.environ.get(TENANT_ENVIRON)
        if tenant_id is not None:
            tenants: Tenants = current_app.extensions[TENANTS_EXTENSION]
            request.environ[TENANT_STATE_ENVIRON] = tenants.get(tenant_id).state

    @app.before_request
    def _count_request() -> None:
        # The body limit follows the live config (PUT /__mock/config, handle resets) of the
        # mock this request reached: per request, never app-wide, so tenants cannot mix.
        request.max_content_length = state().config.max_body_bytes
        if not request.path.startswith(admin.ADMIN_PREFIX):
            state().repository.metrics.count_request()

    @app.after_request
    def _no_body_headers(response: Response) -> Response:
        # 204 and 304 carry no body (RFC 9110 §6.4.1): no Content-Type, no Content-Length.
        if response.status_code in (204, 304):
            response.headers.pop("Content-Type", None)
            response.headers.pop("Content-Length", None)
        return response

    @app.after_request
    def _count_response(response: Response) -> Response:
        unreached = (
            request.environ.get(TENANT_ENVIRON) is not None
            and request.environ.get(TENANT_STATE_ENVIRON) is None
        )  # an unknown tenant's 404 is nobody's traffic
        if not unreached and not request.path.startswith(admin.ADMIN_PREFIX):
            state().repository.metrics.count_response(response.status_code)
        return response

    return app


class AppPool:
    """Apps to reuse, each with brand-new state when taken: many short-lived mocks (one per
    scenario, one per HTTP test) then cost a state swap, not a route build. Thread-safe."""

    def __init__(self) -> None:
        self._idle: list[Flask] = []
        self._lock = threading.Lock()

    def acquire(self, config: MockConfig, *, clock: Clock) -> Flask:
        """An app with fresh state for ``config`` on ``clock``; :meth:`release` it after."""
        with self._lock:
            app = self._idle.pop() if self._idle else None
        if app is None:
            return create_app(config, clock=clock)
        install_state(app, config, clock=clock)
        return app

    def release(self, app: Flask) -> None:
        """Give ``app`` back; releasing one twice would hand it to two users at once."""
        with self._lock:
            if any(idle is app for idle in self._idle):
                raise ValueError("this app was released already")
            self._idle.append(app)
