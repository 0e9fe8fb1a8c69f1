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
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mock_server.config import MockConfig
from mock_server.core.clock import VirtualClock
from mock_server.core.kinds import kind_named
from mock_server.http import AppPool

from .client.policy import RetryPolicy
from .client.review import InMemoryReviewQueue
from .client.updater import DocumentUpdater
from .handle import WindchillMock
from .health import TestHealth, WindchillUsageError
from .outcomes import Outcome, UpdateResult
from .schedules import ConflictSchedule, Step
from .transport import DEFAULT_BASE_URL, in_process_session

__all__ = ["RunStats", "Scenario", "WindchillFactory", "virtual_sleep"]


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
        """Count a mock's client requests, conflicts and retries from its journal.

        A retry is a repeated attempt within one update: a PATCH of a document right after
        the same user's PATCH of it was refused or lost its response. A PATCH after a
        successful one starts a new update, so twenty quick updates count no retry.
        """
        events = mock.journal
        user = mock.session.auth[0] if isinstance(mock.session.auth, tuple) else "wcadmin"
        conflict_statuses = mock.rules.conflict_statuses
        last_patch_failed: dict[str, bool] = {}
        requests = conflicts = retries = 0
        for event in events:
            if event.process != user:
                continue
            document = event.document or ""
            if event.type == "invoke":
                requests += 1
                if event.op == "update" and last_patch_failed.get(document, False):
                    retries += 1
            elif event.op == "update":
                last_patch_failed[document] = event.type != "ok"
            if event.type == "fail" and event.status in conflict_statuses:
                conflicts += 1
        with self._lock:
            self.mocks += 1
            self.client_requests += requests
            self.conflicts += conflicts
            self.retries += retries

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
    """A mock for one example: its documents, its schedule and its seed.

    A step of the schedule hits scenario document ``step.document``: the documents the
    scenario created (``documents=``), then the ones the test creates with
    :meth:`create_document`, in order. A step whose document does not exist yet waits for it,
    so with ``documents=0`` the schedule follows the first document the test creates.
    """

    documents: list[str]
    schedule: ConflictSchedule
    seed: int
    #: What the scenario creates: ``"document"`` or ``"part"`` (``scenario(kind=...)``).
    kind: str
    _waiting: list[Step]
    #: How many of ``documents`` the scenario created itself (``documents=``).
    _own: int

    @property
    def doc(self) -> str:
        """The first scenario document."""
        if not self.documents:
            raise WindchillUsageError(
                "this scenario has no document yet (documents=0): create one with "
                "mock.create_document(...) first, or let the scenario create it "
                "(documents=1, the default, or documents={...properties...})"
            )
        return self.documents[0]

    def create_document(self, kind: str | None = None, **properties: Any) -> str:
        """Create a scenario document (the next index; of the scenario's kind unless
        ``kind`` says otherwise); steps waiting for it are injected."""
        doc_id = super().create_document(kind or self.kind, **properties)
        self.documents.append(doc_id)
        self._inject_ready()
        return doc_id

    def _inject_ready(self) -> None:
        ready = [s for s in self._waiting if s.document < len(self.documents)]
        self._waiting = [s for s in self._waiting if s.document >= len(self.documents)]
        if ready:
            ConflictSchedule(ready).apply(self, self.documents)

    def targets(self) -> set[str]:
        """The documents the schedule's injected steps hit."""
        return {
            self.documents[s.document] for s in self.schedule if s.document < len(self.documents)
        }

    def check_update(
        self,
        doc_id: str,
        changes: Mapping[str, Any],
        outcome: UpdateResult | Outcome,
        **kwargs: Any,
    ) -> None:
        """As :meth:`WindchillMock.check_update`; refuses to judge a document the test created
        itself that a non-empty schedule never targets (the verdict would say nothing about
        interference). A scenario document (``documents=``) that this example's steps happen
        to miss is left to the ``unfired_interventions`` health check: with generated
        multi-document schedules that is normal for one example, not for a whole test."""
        targets = self.targets()
        if self.schedule and doc_id not in targets and doc_id not in self.documents[: self._own]:
            hits = sorted(targets) or "no document yet"
            raise WindchillUsageError(
                f"check_update({doc_id!r}): the scenario's schedule never targets this "
                f"document (its {len(self.schedule)} step(s) hit {hits}), so the update met "
                "none of the interference the test generated. Judge the document the schedule "
                "targets (mock.doc), let the scenario create yours "
                "(scenario(schedule, documents={...properties...}); steps hit scenario "
                "document 0 unless they say document=i), or use documents=0 and create it "
                "first with mock.create_document(...): the schedule then follows it."
            )
        super().check_update(doc_id, changes, outcome, **kwargs)

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
        health: Callable[[], TestHealth | None] | None = None,
    ) -> None:
        self._base = base
        #: Background rates of the whole session (options): not this test's own choice.
        self.session_rates: Mapping[str, float] = {}
        self.stats = stats if stats is not None else RunStats()
        #: The running test's health record (the plugin provides it).
        self._health = health if health is not None else (lambda: None)
        self._apps = AppPool()

    @contextmanager
    def scenario(
        self,
        schedule: ConflictSchedule | Iterable[Step] | None = None,
        *,
        profile: str | None = None,
        seed: int | None = None,
        documents: int | Mapping[str, Any] | list[Mapping[str, Any]] = 1,
        kind: str = "document",
        **config: Any,
    ) -> Iterator[Scenario]:
        """A fresh in-process mock with ``documents`` created and ``schedule`` injected.

        ``schedule`` is a ``ConflictSchedule`` or a plain list of steps. ``documents`` is a
        count, or the properties of one or several documents; with ``0`` the schedule waits
        for the documents the test creates. ``kind="part"`` makes them parts (``ProdMgmt``):
        everything else works the same. Other keywords are ``MockConfig`` keys
        (``csrf=False``, ``rates={...}``, ...).
        """
        kind_named(kind)  # an unknown kind fails here, naming the known ones
        schedule = _as_schedule(schedule)
        changes = dict(config)
        if profile is not None:
            changes["profile"] = profile
        if seed is not None:
            changes["seed"] = seed
        mock_config = self._base().updated(changes)
        app = self._apps.acquire(mock_config, clock=VirtualClock())
        session = in_process_session(
            app, auth=("wcadmin", mock_config.users.get("wcadmin", "wcadmin"))
        )
        mock = Scenario.in_process(app, session, DEFAULT_BASE_URL, mock_config)
        mock.health = self._health()
        specs: list[Mapping[str, Any]]
        if isinstance(documents, int):
            specs = [{"Name": f"Scenario {kind} {i + 1}"} for i in range(documents)]
        elif isinstance(documents, Mapping):
            specs = [documents]
        else:
            specs = list(documents)
        mock.schedule = schedule
        mock.kind = kind
        mock.seed = mock_config.seed
        mock.documents = []
        mock._waiting = []
        mock._own = 0
        try:  # set-up inside: a refused schedule still returns the app and closes the session
            for spec in specs:
                mock.create_document(**dict(spec))
            mock._own = len(mock.documents)
            mock._waiting = list(mock.schedule)
            mock._inject_ready()
            mock.on_outcome = self.stats.record_outcome
            with virtual_sleep(mock):
                yield mock
            if mock._waiting:
                raise WindchillUsageError(
                    f"{len(mock._waiting)} step(s) of the schedule never found their document: "
                    f"{mock._waiting!r} target scenario document(s) "
                    f"{sorted({s.document for s in mock._waiting})}, but the scenario had "
                    f"{len(mock.documents)}. Create them (documents=N, or "
                    "mock.create_document(...) inside the block) or target existing ones."
                )
            mock.finish(self.session_rates)
        finally:
            self.stats.record_mock(mock)
            mock.close()
            self._apps.release(app)


def _as_schedule(schedule: ConflictSchedule | Iterable[Step] | None) -> ConflictSchedule:
    """A schedule from a ``ConflictSchedule``, a plain list of steps, or ``None`` (empty)."""
    if schedule is None:
        return ConflictSchedule()
    if isinstance(schedule, ConflictSchedule):
        return schedule
    if isinstance(schedule, Step):
        schedule = [schedule]
    steps = list(schedule)
    wrong = [s for s in steps if not isinstance(s, Step)]
    if wrong:
        raise TypeError(
            f"a schedule is a list of steps (micro_update(...), concurrent_edit(...), ... from "
            f"pytest_windchill.schedules), got {wrong[0]!r}"
        )
    return ConflictSchedule(steps)
