"""What one Flask app of the mock holds: its config, repository and CSRF sessions."""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict

from flask import Flask, current_app, has_request_context, request

from ..config import MockConfig
from ..core.clock import Clock
from ..core.repository import Repository

__all__ = ["TENANT_STATE_ENVIRON", "CsrfSessions", "MockState", "server_state", "state"]

EXTENSION = "windchill_mock"
#: The environ key holding the state of the tenant a request reached (see ``tenants.py``).
TENANT_STATE_ENVIRON = "windchill_mock.tenant_state"


#: What a session the mock issued looks like; any other cookie value is not a session.
SESSION_FORMAT = re.compile(r"[0-9A-F]{32}")
#: Sessions kept at once; the least recently used is forgotten first (its nonce then fails
#: with 403, and the client fetches a new one, as after a real session timeout).
MAX_SESSIONS = 10_000


class CsrfSessions:
    """Session cookie → nonce. Values are derived from the seed, so runs are repeatable.

    Bounded: only cookie values of the mock's own format are kept, at most
    :data:`MAX_SESSIONS` of them, and a session unused for ``idle_timeout`` seconds of the
    mock's clock expires, as an HTTP session on the real server does (its nonce then fails
    with 403 and ``GetCSRFToken()`` starts a new session).
    """

    def __init__(self, seed: int, clock: Clock, idle_timeout: float) -> None:
        self.seed = seed
        self._clock = clock
        self._idle_timeout = idle_timeout
        #: session → (nonce, when last used); least recently used first.
        self._nonces: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._counter = 0
        self._lock = threading.Lock()

    def _token(self, kind: str) -> str:
        self._counter += 1
        digest = hashlib.sha256(f"{self.seed}/{kind}/{self._counter}".encode()).hexdigest()
        return digest[:32].upper() if kind == "session" else digest[:40]

    @property
    def idle_timeout(self) -> float:
        return self._idle_timeout

    @idle_timeout.setter
    def idle_timeout(self, seconds: float) -> None:
        with self._lock:
            self._idle_timeout = seconds

    def _expire(self, now: float) -> None:
        """Forget the sessions idle for too long (they are first in line) and the excess."""
        while self._nonces:
            _, (_, used) = next(iter(self._nonces.items()))
            if now - used < self._idle_timeout and len(self._nonces) <= MAX_SESSIONS:
                return
            self._nonces.popitem(last=False)

    def new_session(self) -> str:
        with self._lock:
            return self._token("session")

    def is_session(self, cookie: str | None) -> bool:
        """Whether ``cookie`` could be a session this mock issued (its format)."""
        return cookie is not None and SESSION_FORMAT.fullmatch(cookie) is not None

    def is_live(self, cookie: str | None) -> bool:
        """Whether ``cookie`` names a session that exists now (not expired, not forgotten)."""
        with self._lock:
            self._expire(self._clock.now())
            return cookie is not None and cookie in self._nonces

    def nonce_for(self, session: str) -> str:
        if not self.is_session(session):
            raise ValueError("not a session of this mock")
        with self._lock:
            now = self._clock.now()
            self._expire(now)
            kept = self._nonces.get(session)
            nonce = kept[0] if kept is not None else self._token("nonce")
            self._nonces[session] = (nonce, now)
            self._nonces.move_to_end(session)
            self._expire(now)
            return nonce

    def touch(self, session: str | None) -> None:
        """A request came with this session's cookie: it is in use (any request keeps an HTTP
        session alive, reads included)."""
        if session is None:
            return
        with self._lock:
            now = self._clock.now()
            self._expire(now)
            kept = self._nonces.get(session)
            if kept is not None:
                self._nonces[session] = (kept[0], now)
                self._nonces.move_to_end(session)

    def valid(self, session: str | None, nonce: str | None) -> bool:
        with self._lock:
            now = self._clock.now()
            self._expire(now)
            kept = None if session is None else self._nonces.get(session)
            if session is None or nonce is None or kept is None or kept[0] != nonce:
                return False
            self._nonces[session] = (nonce, now)
            self._nonces.move_to_end(session)
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._nonces)

    def expire_all(self) -> int:
        with self._lock:
            count = len(self._nonces)
            self._nonces.clear()
            return count


class MockState:
    """The mutable heart of one app: swapped config, one repository, CSRF sessions."""

    def __init__(self, config: MockConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        self.repository = Repository(
            clock=clock,
            profile=config.resolved_profile(),
            seed=config.seed,
            background=config.background(),
            soft_attributes=config.soft_attributes,
            journal_limit=config.journal_limit,
            journal_limit_bytes=config.journal_limit_bytes,
            utc_offset_minutes=config.utc_offset_minutes,
        )
        self.csrf = self._csrf_sessions()
        self.repository.seed_demo_documents(config.documents)

    def _csrf_sessions(self) -> CsrfSessions:
        return CsrfSessions(self.config.seed, self.clock, self.config.csrf_session_timeout)

    def reset(self) -> None:
        with self.lock:
            self.repository.reset(
                seed=self.config.seed,
                background=self.config.background(),
                journal_limit=self.config.journal_limit,
                journal_limit_bytes=self.config.journal_limit_bytes,
                documents=self.config.documents,
            )
            self.csrf = self._csrf_sessions()

    def reconfigure(self, config: MockConfig) -> None:
        """Apply a new config: profile, rates, attributes, limits, session timeout at once;
        seed, documents and the journal's limits on reset."""
        with self.lock:
            self.config = config
            self.csrf.idle_timeout = config.csrf_session_timeout
            self.repository.configure(
                profile=config.resolved_profile(),
                background=config.background(),
                soft_attributes=config.soft_attributes,
                utc_offset_minutes=config.utc_offset_minutes,
            )


def state(app: Flask | None = None) -> MockState:
    """The mock the current request reached: its tenant's, or the server's own; with
    ``app``, that app's own mock."""
    if app is None and has_request_context():
        tenant: MockState | None = request.environ.get(TENANT_STATE_ENVIRON)
        if tenant is not None:
            return tenant
    return server_state(app)


def server_state(app: Flask | None = None) -> MockState:
    """The server's own mock (the one without a tenant prefix)."""
    target = app if app is not None else current_app
    mock: MockState = target.extensions[EXTENSION]
    return mock
