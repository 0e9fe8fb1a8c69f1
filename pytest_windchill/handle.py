"""The test-facing handle on a mock: session, clock, set-up, injections, journal.

The same handle serves three back-ends: an in-process app (no sockets), an app on a
loopback socket, and an external server given by URL (a standalone ``windchill-mock`` or a
real Windchill). Against an external server everything goes through HTTP; injections and
the clock need the mock's admin API, and a test that needs them is skipped with a clear
reason when the server has none (a real Windchill).
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self, TypeVar

import pytest
import requests
from flask import Flask

from mock_server.config import MockConfig
from mock_server.core.interventions import (
    ACTIONS,
    Action,
    Intervention,
    check_fields,
    field_defaults,
)
from mock_server.core.journal import Event, events_to_jsonl
from mock_server.core.kinds import DOCUMENT, kind_named, kind_of_key
from mock_server.core.repository import Repository
from mock_server.http.odata import ROOT
from mock_server.timeline import write_timeline_page

from .backends import AdminAPIUnavailable, Backend, InProcess, MockClock, Remote
from .client.policy import RetryPolicy
from .health import Firing, TestHealth, describe_pending, interference
from .outcomes import OUTCOMES, Outcome, UpdateResult
from .rules import ServerRules
from .schedules import ConflictSchedule

__all__ = ["AdminAPIUnavailable", "MockClock", "WindchillMock"]

_T = TypeVar("_T")
_real_sleep = time.sleep  # captured before any test patches time.sleep


class WindchillMock:
    """What a test holds: ``session`` for the code under test, and levers on the mock.

    Every injection takes an optional trigger: ``before_request=n`` (right before the n-th
    client request on that document, counting from 1) or ``at=t`` (virtual seconds since the
    mock started or was reset); without one a state change happens at once and a request
    action (fault, lost response, latency) hits the next request.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        service_root: str,
        session: requests.Session,
        config: MockConfig,
        app: Flask | None = None,
    ) -> None:
        self._backend = backend
        self.service_root = service_root.rstrip("/")
        self.session = session
        self.config = config
        #: The Flask app, when the mock runs in this process (``None`` for ``--windchill-url``).
        self.app = app
        self._counted: list[UpdateResult] = []
        #: Every intervention injected through this handle since the last reset.
        self._injected: list[Intervention] = []
        #: The running test's health record (the plugin sets it; ``None`` outside pytest).
        self.health: TestHealth | None = None
        self._judged = 0
        self._met = False
        self._finished = False
        self._unfired: list[str] = []
        #: The server's admin API and this mock's tenant id, when it is a tenant.
        self._tenant: tuple[Remote, str] | None = None

    @classmethod
    def in_process(
        cls, app: Flask, session: requests.Session, base_url: str, config: MockConfig
    ) -> Self:
        return cls(
            InProcess(app),
            service_root=f"{base_url.rstrip('/')}{ROOT}",
            session=session,
            config=config,
            app=app,
        )

    @classmethod
    def remote(cls, base_url: str, session: requests.Session, config: MockConfig) -> Self:
        base = base_url.rstrip("/")
        if base.endswith(ROOT):
            base = base[: -len(ROOT)]
        return cls(
            Remote(base, requests.Session()),
            service_root=f"{base}{ROOT}",
            session=session,
            config=config,
        )

    @classmethod
    def tenant(
        cls,
        base_url: str,
        session: requests.Session,
        config: MockConfig,
        *,
        clock: str,
        time_scale: float | None = None,
    ) -> Self | None:
        """A fresh tenant of the ``windchill-mock`` server at ``base_url``, configured as
        ``config``; :meth:`close` deletes it. ``None`` when the server has no tenants (a
        real Windchill, which has no admin API)."""
        base = base_url.rstrip("/")
        if base.endswith(ROOT):
            base = base[: -len(ROOT)]
        server = Remote(base, requests.Session())
        try:
            created = server.create_tenant(config, clock=clock, time_scale=time_scale)
        except AdminAPIUnavailable as error:
            server.close()
            if error.absent:  # a real Windchill: no tenants to isolate tests with
                return None
            # A mock that refuses (a token missing) or cannot be reached: never fall back to
            # its own, shared mock, which tests running at once would reset under each other.
            raise
        except BaseException:
            server.close()
            raise
        handle = cls.remote(created["url"], session, config)
        handle._tenant = (server, str(created["id"]))
        return handle

    @property
    def tenant_id(self) -> str | None:
        """The id of this mock's tenant on a shared server (``None``: not a tenant)."""
        return None if self._tenant is None else self._tenant[1]

    @property
    def repository(self) -> Repository:
        """The mock's repository, for a mock in this process (``windchill``,
        ``windchill_server``, scenarios); a ``TypeError`` for a server reached by URL."""
        if not isinstance(self._backend, InProcess):
            raise TypeError("the repository is in another process: use the admin API")
        return self._backend.repository

    # -------------------------------------------------------------- time

    @property
    def clock(self) -> MockClock:
        """``now()`` and ``advance(seconds)`` of the mock's clock."""
        return self._guard(lambda: self._backend.clock)

    @property
    def virtual_time(self) -> bool:
        """Whether the mock runs on a virtual clock (False for a real Windchill)."""
        try:
            return self._backend.virtual
        except AdminAPIUnavailable:
            return False

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass: virtual time on a virtual clock, real waiting otherwise."""
        if seconds <= 0:
            return
        if self.virtual_time:
            self._backend.clock.advance(seconds)
        else:
            _real_sleep(seconds)

    def try_reset(self, config: MockConfig | None = None) -> bool:
        """Reset if the server has the admin API; False (and nothing done) if not."""
        try:
            self._backend.reset(config)
        except AdminAPIUnavailable:
            return False
        self._injected.clear()
        if config is not None:
            self.config = config
        return True

    @property
    def elapsed(self) -> float:
        """Virtual seconds since the mock started or was reset."""
        return self._guard(self._backend.elapsed)

    # -------------------------------------------------------------- documents

    def create_document(self, kind: str = "document", **properties: Any) -> str:
        """Create a document (or a part: ``kind="part"``) as set-up; returns its ID. No
        client request is counted; the journal records one ``setup`` event with the starting
        values.

        ``Name`` defaults to ``"Test document"`` (``"Test part"``); any writable property of
        the kind may be given (a part has ``Description`` and ``Source``, no ``Title``).
        """
        kind_named(kind)  # an unknown kind is refused here, with the known ones
        properties.setdefault("Name", f"Test {kind}")
        return self._guard(lambda: self._backend.add_document(properties, kind))

    def document(self, doc_id: str) -> dict[str, Any]:
        """The server's truth about ``doc_id``: no side effects, no journal entry."""
        return self._guard(lambda: self._backend.peek(doc_id))[0]

    def etag(self, doc_id: str) -> str:
        """The document's current ETag (also in profiles that do not send ETags)."""
        return self._guard(lambda: self._backend.peek(doc_id))[1]

    # -------------------------------------------------------------- injections

    def inject(self, intervention: Intervention) -> Intervention:
        self._guard(lambda: self._backend.inject(intervention))
        self._injected.append(intervention)
        return intervention

    # One method per intervention action (``micro_update``, ``concurrent_edit``, ``fault``,
    # ``check_out_as``, ...), derived from the action classes below the class: the document
    # first, then the action's fields (positionally or by name), then the trigger.

    if TYPE_CHECKING:
        # What a type checker sees of those methods; tests/test_actions.py checks that these
        # match the action classes.

        def micro_update(
            self,
            doc_id: str,
            source: str = "indexer",
            duration: float = 0.0,
            *,
            before_request: int | None = None,
            at: float | None = None,
        ) -> Intervention:
            """A background operation: new ETag, same version; busy for ``duration``."""

        def lifecycle_change(
            self,
            doc_id: str,
            state: str = "RELEASED",
            *,
            before_request: int | None = None,
            at: float | None = None,
        ) -> Intervention:
            """``State`` changes without a new iteration."""

        def concurrent_edit(
            self,
            doc_id: str,
            changes: Mapping[str, Any],
            user: str = "other",
            *,
            before_request: int | None = None,
            at: float | None = None,
        ) -> Intervention:
            """Another user edits the document: a new iteration."""

        def new_iteration(
            self,
            doc_id: str,
            user: str = "other",
            *,
            before_request: int | None = None,
            at: float | None = None,
        ) -> Intervention:
            """Another user checks the document out and in: a new iteration, no change."""

        def check_out_as(
            self,
            doc_id: str,
            user: str = "other",
            note: str | None = None,
            *,
            before_request: int | None = None,
            at: float | None = None,
        ) -> Intervention:
            """Another user checks the document out and keeps it."""

        def check_in_as(
            self,
            doc_id: str,
            user: str = "other",
            changes: Mapping[str, Any] | None = None,
            *,
            before_request: int | None = None,
            at: float | None = None,
        ) -> Intervention:
            """The user holding the check-out checks in (with ``changes``)."""

        def undo_check_out_as(
            self,
            doc_id: str,
            user: str = "other",
            *,
            before_request: int | None = None,
            at: float | None = None,
        ) -> Intervention:
            """The user holding the check-out abandons it."""

        def fault(
            self,
            doc_id: str,
            status: int = 503,
            retry_after: float | None = None,
            message: str | None = None,
            *,
            before_request: int | None = None,
            at: float | None = None,
        ) -> Intervention:
            """Answer one request with ``status``; nothing changes."""

        def lose_response(
            self, doc_id: str, *, before_request: int | None = None, at: float | None = None
        ) -> Intervention:
            """Handle one request (a write is applied), then drop the connection."""

        def latency(
            self,
            doc_id: str,
            seconds: float = 1.0,
            *,
            before_request: int | None = None,
            at: float | None = None,
        ) -> Intervention:
            """Delay one request by ``seconds`` of (virtual) time."""

    # -------------------------------------------------------------- history

    @property
    def journal(self) -> list[Event]:
        """The history so far, in order (see docs/concurrency-model.md)."""
        return self._guard(self._backend.events)

    def journal_jsonl(self) -> str:
        """The history as JSON lines, as ``GET /__mock/journal`` serves it."""
        return events_to_jsonl(self.journal)

    @property
    def rules(self) -> ServerRules:
        """The conditional-write rules in force: the profile's knobs, overrides included."""
        return ServerRules.of(self.config.resolved_profile())

    @property
    def metrics(self) -> dict[str, Any]:
        return self._guard(self._backend.metrics)

    def reset(self, config: MockConfig | None = None) -> None:
        """Forget every document, intervention and event (optionally with a new config)."""
        self._guard(lambda: self._backend.reset(config))
        self._injected.clear()
        if config is not None:
            self.config = config

    def close(self) -> None:
        """Close ``session`` and the admin API's own connections (the fixtures do this); a
        tenant is deleted."""
        self.session.close()
        self._backend.close()
        if self._tenant is not None:
            server, tenant_id = self._tenant
            self._tenant = None
            try:
                server.delete_tenant(tenant_id)
            finally:
                server.close()

    # -------------------------------------------------------------- judging

    #: Called with each outcome judged by :meth:`check_update` (the terminal summary).
    on_outcome: Callable[[str], None] | None = None
    #: The schedule injected by a scenario, shown in violation messages.
    schedule: ConflictSchedule | None = None
    #: Names the page a violation writes (``windchill-mock check``: one per run); default:
    #: the running pytest test, else a fresh name per violation.
    timeline_stem: str | None = None

    def check_update(
        self,
        doc_id: str,
        changes: Mapping[str, Any],
        outcome: UpdateResult | Outcome,
        *,
        policy: RetryPolicy | None = None,
        user: str | None = None,
        since: int = 0,
        batch: Sequence[str] = (),
    ) -> None:
        """Judge a client's update of ``doc_id`` from the journal.

        ``outcome`` is an ``UpdateResult`` or one of ``"applied"``, ``"merged"``,
        ``"review"``, ``"failed"``; ``policy`` is the client's retry policy (default
        ``RetryPolicy()``). ``batch``: the other objects the client updated in the same
        ``$batch`` change set (an ``UpdateResult`` of ``update_batch`` says so itself).
        Raises ``ConcurrencyViolation`` naming the property broken; its message ends with
        ``Timeline page: <path>``, the document's timeline as an HTML file written to
        ``$WINDCHILL_TIMELINE_DIR`` (default: ``windchill-timelines`` in the working directory).
        """
        from .checks import ConcurrencyViolation, check_update

        if user is None:
            auth = self.session.auth
            user = auth[0] if isinstance(auth, tuple) else "wcadmin"
        events = self.journal
        firing = self.firing(doc_id, events, user)
        notes = []
        if firing.injected and not firing.fired:
            notes.append(
                f"none of the {firing.injected} intervention(s) injected interfered with this "
                f"update of {doc_id}:" + "".join(f"\n  - {line}" for line in firing.unfired)
            )
        self._judged += 1
        if firing.fired:
            self._met = True
        else:
            self._unfired.extend(line for line in firing.unfired if line not in self._unfired)
        try:
            check_update(
                events,
                doc_id,
                changes,
                outcome,
                user=user,
                profile=self.config.resolved_profile(),
                policy=policy,
                schedule=self.schedule,
                seed=self.config.seed,
                since=since,
                notes=notes,
                batch=batch,
            )
        except ConcurrencyViolation as violation:
            # The same timeline as a page beside the test report. Writing it must never turn
            # the violation into another error: a failure to write is said in the message.
            directory = os.environ.get("WINDCHILL_TIMELINE_DIR") or os.path.join(
                os.getcwd(), "windchill-timelines"
            )
            try:
                # One page per test and document: shrinking overwrites it, and the minimal
                # example, which Hypothesis runs last, is the one left.
                test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
                page = write_timeline_page(
                    directory,
                    events,
                    document=doc_id,
                    title=f"[{violation.property}] Timeline of {doc_id}",
                    intro=violation.explanation,
                    stem=self.timeline_stem or test or None,
                )
                line = f"Timeline page: {page}"
            except Exception as error:  # anything, so that the violation stays what is raised
                line = f"Timeline page: not written ({type(error).__name__}: {error})"
            violation.args = (f"{violation}\n\n{line}",)
            raise
        finally:
            self.record_outcome(outcome)

    def firing(self, doc_id: str, events: list[Event] | None = None, user: str = "") -> Firing:
        """Whether the interventions injected so far interfered with ``user``'s update of
        ``doc_id`` (see :func:`pytest_windchill.health.interference`)."""
        if not self._injected:
            return Firing(0, 0)
        return interference(
            self._injected,
            self._guard(self._backend.pending),
            self.journal if events is None else events,
            doc_id,
            user,
            self.rules,
            self.elapsed,
        )

    def finish(self, session_rates: Mapping[str, float] | None = None) -> None:
        """Report this mock to the running test's health record (the fixtures call this when
        the mock's life ends): whether its interventions interfered with a judged update (or,
        with none judged, fired at all), and whether background rates set for this test had
        virtual time to act in."""
        health = self.health
        if health is None or self._finished:
            return
        self._finished = True
        if self._injected:
            if self._judged:
                health.record_example(self._met, self._unfired)
            else:
                pending = self._guard(self._backend.pending)
                events, reached = self.journal, self.elapsed
                health.record_example(
                    len(self._injected) > len(pending),
                    [describe_pending(i, events, reached) for i in pending],
                )
        base = dict(session_rates or {})
        rates = {k: v for k, v in self.config.rates.items() if v > 0 and base.get(k) != v}
        if rates and self.virtual_time:
            try:
                moved = self._backend.elapsed() > 0
            except (AdminAPIUnavailable, requests.RequestException):
                return
            health.record_background(rates, moved=moved)

    def record_outcome(self, outcome: UpdateResult | str) -> None:
        """Count an update's outcome for the terminal summary, once per ``UpdateResult``."""
        status = outcome.status if isinstance(outcome, UpdateResult) else outcome
        if self.on_outcome is None or status not in OUTCOMES:
            return
        if isinstance(outcome, UpdateResult):
            if any(seen is outcome for seen in self._counted):
                return
            self._counted.append(outcome)
        self.on_outcome(status)

    # -------------------------------------------------------------- helpers

    def url(self, doc_id: str) -> str:
        """The entity URL of ``doc_id``, in its kind's entity set (``…/ProdMgmt/Parts('…')``
        for a part's key)."""
        kind = kind_of_key(doc_id) or DOCUMENT
        return f"{self.service_root}/{kind.domain}/{kind.entity_set}('{doc_id}')"

    @staticmethod
    def _guard(call: Callable[[], _T]) -> _T:
        try:
            return call()
        except AdminAPIUnavailable as error:
            pytest.skip(f"needs the mock's admin API: {error}")


def _intervention_method(action_class: type[Action]) -> Callable[..., Intervention]:
    def method(
        self: WindchillMock,
        doc_id: str,
        *values: Any,
        before_request: int | None = None,
        at: float | None = None,
        **named: Any,
    ) -> Intervention:
        check_fields(action_class, values, named)
        action = action_class(*values, **named)
        return self.inject(Intervention(doc_id, action, before_request=before_request, at=at))

    method.__name__ = action_class.helper
    method.__qualname__ = f"WindchillMock.{action_class.helper}"
    method.__doc__ = action_class.__doc__
    parameters = [
        inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("doc_id", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str),
    ]
    parameters += [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default)
        for name, default in field_defaults(action_class)
    ]
    parameters += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None)
        for name in ("before_request", "at")
    ]
    method.__signature__ = inspect.Signature(parameters, return_annotation=Intervention)  # type: ignore[attr-defined]
    return method


for _action_class in ACTIONS.values():
    setattr(WindchillMock, _action_class.helper, _intervention_method(_action_class))
