"""Basic authentication and the CSRF nonce, as PTC documents them.

* Every OData request needs HTTP Basic credentials (401 + ``WWW-Authenticate`` otherwise).
* ``GET …/PTC/GetCSRFToken()`` returns a nonce tied to the session cookie ``JSESSIONID``;
  every POST, PUT, PATCH and DELETE must send it in the header ``CSRF_NONCE`` (403 otherwise,
  with PTC's message). Both checks can be switched off in the config.
"""

from __future__ import annotations

from flask import g, request
from werkzeug.datastructures import Authorization

from ..core.errors import Forbidden, Unauthorized
from .state import state

__all__ = ["CSRF_MESSAGE", "SESSION_COOKIE", "authenticate", "check_csrf", "current_user"]

SESSION_COOKIE = "JSESSIONID"
CSRF_MESSAGE = (
    "A potential security problem was detected. Refresh the page and try again. "
    "If the problem persists, contact your administrator."
)
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _authorization() -> Authorization | None:
    """The request's credentials; ``None`` when there are none or they cannot be read (a
    header that is not base64 of ASCII, say): Werkzeug raises on those."""
    try:
        return request.authorization
    except ValueError:
        return None


def authenticate() -> None:
    """Set ``g.user`` from Basic auth, or refuse with 401."""
    config = state().config
    auth = _authorization()
    if not config.auth:
        g.user = auth.username if auth is not None and auth.username else "wcadmin"
        return
    if auth is None or auth.type != "basic" or not auth.username:
        raise Unauthorized(
            "Authentication required: send HTTP Basic credentials",
            headers={"WWW-Authenticate": 'Basic realm="Windchill"'},
        )
    if config.users.get(auth.username) != auth.password:
        raise Unauthorized(
            f"Invalid user name or password for {auth.username!r}",
            headers={"WWW-Authenticate": 'Basic realm="Windchill"'},
        )
    g.user = auth.username


def current_user() -> str:
    user: str = g.user
    return user


def check_csrf() -> None:
    """Refuse an unsafe request whose ``CSRF_NONCE`` does not belong to its session."""
    mock = state()
    if not mock.config.csrf or request.method not in _UNSAFE:
        return
    # WSGI maps both CSRF_NONCE and CSRF-NONCE to HTTP_CSRF_NONCE.
    nonce = request.headers.get("CSRF_NONCE")
    session = request.cookies.get(SESSION_COOKIE)
    if not mock.csrf.valid(session, nonce):
        reason = (
            "no CSRF_NONCE header"
            if nonce is None
            else f"no {SESSION_COOKIE} session cookie"
            if session is None
            else "the nonce does not belong to this session or has expired"
        )
        raise Forbidden(
            CSRF_MESSAGE,
            code="CSRFValidationFailed",
            detail=f"{reason}; get one from GET /Windchill/servlet/odata/PTC/GetCSRFToken() "
            "and send it as header CSRF_NONCE with the session cookie",
        )
