"""``GET /__mock/ui``: the journal drawn as a timeline per document, for a browser.

Behind the admin API's guard (loopback clients, this machine's host names, no foreign
``Origin``; see ``admin.py``), at the server's own ``/__mock/ui`` and at a tenant's
``/(S(<id>))/__mock/ui``. Query parameters: ``document``, ``from`` and ``to`` (seconds of the
mock's time), ``refresh`` (seconds between reloads, default 5; ``0``: off). The page is plain
HTML and inline SVG with no script; its Content-Security-Policy allows its own inline style
and nothing else. With ``admin_token`` set, the guard wants the ``X-Mock-Admin-Token`` header,
which a browser does not send by itself (a header-setting extension or a proxy can).
"""

from __future__ import annotations

import math

from flask import Blueprint, Response, request

from ..core.errors import BadRequest
from ..timeline import CONTENT_SECURITY_POLICY, render_timeline
from .admin import ADMIN_PREFIX
from .admin import _guard as admin_guard
from .state import state
from .tenants import TENANT_ENVIRON, tenant_prefix

__all__ = ["DEFAULT_REFRESH_SECONDS", "blueprint"]

blueprint = Blueprint("ui", __name__, url_prefix=ADMIN_PREFIX)
blueprint.before_request(admin_guard)

DEFAULT_REFRESH_SECONDS = 5
_MAX_REFRESH_SECONDS = 3_600


def _seconds(name: str) -> float | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise BadRequest(f"{name} must be a number of seconds of the mock's time, got {text!r}")
    return value


def _refresh() -> int:
    text = request.args.get("refresh", "").strip()
    if not text:
        return DEFAULT_REFRESH_SECONDS
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= _MAX_REFRESH_SECONDS:
        raise BadRequest(
            f"refresh must be whole seconds from 0 (off) to {_MAX_REFRESH_SECONDS}, got {text!r}"
        )
    return value


@blueprint.get("/ui")
def timeline() -> Response:
    since, until, refresh = _seconds("from"), _seconds("to"), _refresh()
    journal = state().repository.journal
    tenant = request.environ.get(TENANT_ENVIRON)
    where = f" of tenant {tenant_prefix(tenant)}" if tenant is not None else ""
    page = render_timeline(
        journal.events(),
        document=request.args.get("document") or None,
        since=since,
        until=until,
        refresh_seconds=refresh or None,
        title=f"The mock's journal{where}",
        base_url=request.script_root + request.path,
        dropped=journal.dropped,
    )
    response = Response(page, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
