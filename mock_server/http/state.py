"""What one Flask app of the mock holds: its config, repository and CSRF sessions."""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from flask import Flask, current_app

from ..config import MockConfig
from ..core.clock import Clock
from ..core.repository import Repository

__all__ = ["CsrfSessions", "MockState", "state"]

EXTENSION = "windchill_mock"


#: What a session the mock issued looks like; any other cookie value is not a session.
SESSION_FORMAT = re.compile(r"[0-9A-F]{32}")
#: Sessions kept at once; the least recently used is forgotten first (its nonce then fails
#: with 403, and the client fetches a new one, as after a real session timeout).
MAX_SESSIONS = 10_000


@dataclass
class CsrfSessions:
    """Session cookie → nonce. Values are derived from the seed, so runs are repeatable.

    Bounded: only cookie values of the mock's own format are kept, at most
    :data:`MAX_SESSIONS` of them.
    """

    seed: int
    _nonces: OrderedDict[str, str] = field(default_factory=OrderedDict)
    _counter: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _token(self, kind: str) -> str:
        self._counter += 1
        digest = hashlib.sha256(f"{self.seed}/{kind}/{self._counter}".encode()).hexdigest()
        return digest[:32].upper() if kind == "session" else digest[:40]

    def new_session(self) -> str:
        with self._lock:
            return self._token("session")

    def is_session(self, cookie: str | None) -> bool:
        """Whether ``cookie`` could be a session this mock issued (its format)."""
        return cookie is not None and SESSION_FORMAT.fullmatch(cookie) is not None

    def nonce_for(self, session: str) -> str:
        if not self.is_session(session):
            raise ValueError("not a session of this mock")
        with self._lock:
            nonce = self._nonces.get(session)
            if nonce is None:
                nonce = self._nonces[session] = self._token("nonce")
                while len(self._nonces) > MAX_SESSIONS:
                    self._nonces.popitem(last=False)
            self._nonces.move_to_end(session)
            return nonce

    def valid(self, session: str | None, nonce: str | None) -> bool:
        with self._lock:
            if session is None or nonce is None or self._nonces.get(session) != nonce:
                return False
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
            utc_offset_minutes=config.utc_offset_minutes,
        )
        self.csrf = CsrfSessions(config.seed)
        self.repository.seed_demo_documents(config.documents)

    def reset(self) -> None:
        with self.lock:
            self.repository.reset(
                seed=self.config.seed,
                background=self.config.background(),
                journal_limit=self.config.journal_limit,
                documents=self.config.documents,
            )
            self.csrf = CsrfSessions(self.config.seed)

    def reconfigure(self, config: MockConfig) -> None:
        """Apply a new config: profile, rates, attributes, limits at once; seed, documents and
        journal_limit on reset."""
        with self.lock:
            self.config = config
            self.repository.configure(
                profile=config.resolved_profile(),
                background=config.background(),
                soft_attributes=config.soft_attributes,
                utc_offset_minutes=config.utc_offset_minutes,
            )


def state(app: Flask | None = None) -> MockState:
    target = app if app is not None else current_app
    mock: MockState = target.extensions[EXTENSION]
    return mock
