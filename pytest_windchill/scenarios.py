"""Per-example scenarios for property tests, and the counters behind the terminal summary.

Hypothesis runs a test body many times inside one test, so a function-scoped fixture would be
shared between examples. ``windchill_factory.scenario()`` instead gives every example its own
mock — state, virtual clock, journal, schedule — for the length of a ``with`` block::

    @given(schedule=conflict_schedules())
    def test_my_client(windchill_factory, schedule):
        with windchill_factory.scenario(schedule) as mock:
            outcome = my_update(mock.session, mock.service_root, mock.doc, {"Title": "x"})
            mock.check_update(mock.doc, {"Title": "x"}, outcome)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from mock_server.config import MockConfig
from mock_server.core.clock import VirtualClock
from mock_server.http import create_app, install_state

from .client.policy import RetryPolicy
from .client.review import InMemoryReviewQueue
from .client.updater import DocumentUpdater
from .handle import WindchillMock
from .schedules import ConflictSchedule
from .transport import DEFAULT_BASE_URL, in_process_session

__all__ = ["RunStats", "Scenario", "WindchillFactory", "virtual_sleep"]

_OUTCOMES = ("applied", "merged", "review", "failed")


@dataclass
class RunStats:
    """What the fixtures saw in this session, for the terminal summary."""

    mocks: int = 0
    updates: int = 0
    client_requests: int = 0
    conflicts: int = 0
    retries: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_outcome(self, status: str) -> None:
        with self._lock:
            self.updates += 1
            self.outcomes[status] = self.outcomes.get(status, 0) + 1

    def record_mock(self, mock: WindchillMock) -> None:
        events = mock.journal
        user = mock.session.auth[0] if isinstance(mock.session.auth, tuple) else "wcadmin"
        patches: dict[str, int] = {}
        with self._lock:
            self.mocks += 1
            for event in events:
                if event.process != user:
                    continue
                if event.type == "invoke":
                    self.client_requests += 1
                    if event.op == "update" and event.document is not None:
                        patches[event.document] = patches.get(event.document, 0) + 1
                elif event.type == "fail" and event.status in (409, 412):
                    self.conflicts += 1
            self.retries += sum(max(0, n - 1) for n in patches.values())

    @property
    def used(self) -> bool:
        return self.mocks > 0

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "mocks": self.mocks,
                "updates": self.updates,
                "client_requests": self.client_requests,
                "conflicts": self.conflicts,
                "retries": self.retries,
                "outcomes": dict(self.outcomes),
            }

    def merge(self, data: Mapping[str, Any]) -> None:
        """Add another process's counts (a pytest-xdist worker's)."""
        with self._lock:
            for name in ("mocks", "updates", "client_requests", "conflicts", "retries"):
                setattr(self, name, getattr(self, name) + int(data.get(name, 0)))
            for status, count in dict(data.get("outcomes", {})).items():
                self.outcomes[status] = self.outcomes.get(status, 0) + int(count)

    def lines(self) -> list[str]:
        rate = self.conflicts / self.client_requests if self.client_requests else 0.0
        outcome = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items())) or "none judged"
        return [
            f"mocks: {self.mocks}, client requests: {self.client_requests}, "
            f"conflicts (409/412): {self.conflicts} ({rate:.1%} of requests), "
            f"PATCH retries: {self.retries}",
            f"update outcomes: {outcome} (merges {self.outcomes.get('merged', 0)}, "
            f"reviews {self.outcomes.get('review', 0)}, failures {self.outcomes.get('failed', 0)})",
        ]


@contextmanager
def virtual_sleep(mock: WindchillMock) -> Iterator[None]:
    """While active, ``time.sleep`` on this thread advances the mock's virtual clock."""
    if not mock.virtual_time:
        yield
        return
    real_sleep = time.sleep
    owner = threading.get_ident()

    def sleep(seconds: float) -> None:
        if threading.get_ident() == owner:
            mock.sleep(seconds)
        else:
            real_sleep(seconds)

    time.sleep = sleep  # type: ignore[assignment]
    try:
        yield
    finally:
        time.sleep = real_sleep


class Scenario(WindchillMock):
    """A mock for one example: its documents, its schedule and its seed."""

    documents: list[str]
    schedule: ConflictSchedule
    seed: int

    @property
    def doc(self) -> str:
        """The first scenario document."""
        return self.documents[0]

    def updater(self, policy: RetryPolicy | None = None, **kwargs: Any) -> DocumentUpdater:
        """The reference client on this scenario, sleeping in virtual time."""
        kwargs.setdefault("review_queue", InMemoryReviewQueue())
        kwargs.setdefault("on_result", self.record_outcome)
        kwargs.setdefault("now", self.clock.now)
        kwargs.setdefault("seed", self.seed)
        return DocumentUpdater(
            self.session, self.service_root, policy=policy, sleep=self.sleep, **kwargs
        )


class WindchillFactory:
    """Makes fresh, isolated mocks: ``with factory.scenario(schedule) as mock: ...``."""

    def __init__(
        self,
        base: Callable[[], MockConfig],
        stats: RunStats | None = None,
    ) -> None:
        self._base = base
        self.stats = stats if stats is not None else RunStats()
        self._idle: list[Flask] = []
        self._lock = threading.Lock()

    @contextmanager
    def scenario(
        self,
        schedule: ConflictSchedule | None = None,
        *,
        profile: str | None = None,
        seed: int | None = None,
        documents: int | Mapping[str, Any] | list[Mapping[str, Any]] = 1,
        **config: Any,
    ) -> Iterator[Scenario]:
        """A fresh in-process mock with ``documents`` created and ``schedule`` injected.

        ``documents`` is a count, or the properties of one or several documents.
        Other keywords are ``MockConfig`` keys (``csrf=False``, ``rates={...}``, ...).
        """
        changes = dict(config)
        if profile is not None:
            changes["profile"] = profile
        if seed is not None:
            changes["seed"] = seed
        mock_config = self._base().updated(changes)
        app = self._acquire(mock_config)
        session = in_process_session(
            app, auth=("wcadmin", mock_config.users.get("wcadmin", "wcadmin"))
        )
        mock = Scenario.in_process(app, session, DEFAULT_BASE_URL, mock_config)
        assert isinstance(mock, Scenario)
        specs: list[Mapping[str, Any]]
        if isinstance(documents, int):
            specs = [{"Name": f"Scenario document {i + 1}"} for i in range(documents)]
        elif isinstance(documents, Mapping):
            specs = [documents]
        else:
            specs = list(documents)
        mock.schedule = schedule if schedule is not None else ConflictSchedule()
        mock.seed = mock_config.seed
        mock.documents = []
        try:  # set-up inside: a refused schedule still returns the app and closes the session
            mock.documents = [mock.create_document(**dict(spec)) for spec in specs]
            mock.schedule.apply(mock, mock.documents)
            mock.on_outcome = self.stats.record_outcome
            with virtual_sleep(mock):
                yield mock
        finally:
            self.stats.record_mock(mock)
            mock.close()
            with self._lock:
                self._idle.append(app)

    def _acquire(self, config: MockConfig) -> Flask:
        """An app with fresh state. Building the routes costs ~30 ms, so apps are reused:
        only the state (repository, clock, CSRF sessions) is new for every scenario."""
        with self._lock:
            app = self._idle.pop() if self._idle else None
        if app is None:
            return create_app(config, clock=VirtualClock())
        install_state(app, config, clock=VirtualClock())
        return app
