"""Health checks: a windchill test that exercised nothing fails loudly instead of passing.

Modelled on Hypothesis's health checks. A green run must mean something, so the plugin keeps,
per test, a :class:`TestHealth` record of what its mocks saw, and when the test ends:

* ``unfired_interventions`` (a failure): examples (mocks) ran with interventions injected, yet
  in fewer than :data:`MIN_FIRED_FRACTION` of them (or in none) did an intervention interfere
  with the update judged — the triggers came too late (``before_request=5`` for a client that
  makes 2 requests, ``at=30`` when time never got there), too early (a change before the
  client's first read, which it simply reads), or hit another document;
* ``idle_background`` (a warning): the test set background rates (marker or scenario) on a
  virtual clock, and virtual time moved in none of its mocks, so no background operation could
  happen.

Suppress one for a test, as Hypothesis does::

    @pytest.mark.windchill(suppress_health_check=[HealthCheck.unfired_interventions])
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mock_server.core.interventions import Intervention
from mock_server.core.journal import SKIPPED_PREFIX, Event

from .rules import ServerRules

__all__ = [
    "MIN_FIRED_FRACTION",
    "FailedHealthCheck",
    "Firing",
    "HealthCheck",
    "TestHealth",
    "WindchillUsageError",
    "WindchillWarning",
    "describe_pending",
    "interference",
    "parse_suppressed",
]

#: The share of judged updates (among those with interventions injected) in which at least
#: one intervention must fire on the judged document. Below it, most of the search met no
#: interference: the schedule targets the wrong document or triggers later than the client
#: gets. One in ten leaves room for generated triggers past a short client's last request.
MIN_FIRED_FRACTION = 0.1
_EXAMPLES_SHOWN = 3


class HealthCheck(enum.Enum):
    """The checks a windchill test can fail (or be warned about) when it exercised nothing."""

    #: Interventions were injected but (almost) never fired on the judged document.
    unfired_interventions = "unfired_interventions"
    #: Background rates were set on a virtual clock that never moved.
    idle_background = "idle_background"


class WindchillUsageError(ValueError):
    """The harness was used in a way that would make the test prove nothing; the message says
    what to do instead."""


class FailedHealthCheck(WindchillUsageError):
    """A test ran, but what it exercised was too little for its verdict to mean anything."""

    def __init__(self, check: HealthCheck, message: str) -> None:
        suppress = f"@pytest.mark.windchill(suppress_health_check=[HealthCheck.{check.name}])"
        super().__init__(
            f"[windchill health check: {check.name}] {message}\n\n"
            f"If this is intended, suppress the check for this test with {suppress} "
            "(from pytest_windchill import HealthCheck)."
        )
        self.check = check


class WindchillWarning(UserWarning):
    """A windchill setting that has no effect in this test."""


@dataclass(frozen=True)
class Firing:
    """What became of the interventions injected before one judged update."""

    #: Interventions the test injected into the mock (on any document).
    injected: int
    #: Of those, how many fired on the judged document (skipped ones excluded).
    fired: int
    #: Each injected intervention that did not fire on the judged document, and why.
    unfired: tuple[str, ...] = ()


def parse_suppressed(value: Any) -> frozenset[HealthCheck]:
    """The marker's ``suppress_health_check``: a list of :class:`HealthCheck` or their names."""
    if isinstance(value, HealthCheck | str):
        value = [value]
    if not isinstance(value, Iterable):
        raise ValueError(f"suppress_health_check must be a list of HealthCheck, got {value!r}")
    checks = set()
    for item in value:
        if isinstance(item, HealthCheck):
            checks.add(item)
        elif isinstance(item, str) and item in HealthCheck.__members__:
            checks.add(HealthCheck[item])
        else:
            known = ", ".join(f"HealthCheck.{c.name}" for c in HealthCheck)
            raise ValueError(f"unknown health check {item!r}; known: {known}")
    return frozenset(checks)


@dataclass
class TestHealth:
    """What one test's mocks saw, for the health checks at its end.

    An *example* is one mock: a ``windchill_factory.scenario()`` block (one Hypothesis
    example) or a ``windchill``/``windchill_server`` fixture.
    """

    __test__ = False  # not a pytest test class

    suppressed: frozenset[HealthCheck] = frozenset()
    #: Examples whose mock had interventions injected.
    with_interventions: int = 0
    #: Of those, examples in which an intervention interfered with a judged update (or, where
    #: nothing was judged, fired at all).
    fired: int = 0
    #: A few interventions that never interfered, with the reason, for the message.
    examples: list[str] = field(default_factory=list)
    #: Mocks with background rates set for this test (marker or scenario), and how many of
    #: them saw virtual time move.
    background_mocks: int = 0
    background_moved: int = 0
    background_rates: dict[str, float] = field(default_factory=dict)
    #: Whether a windchill fixture read the test's marker.
    marker_read: bool = False

    def record_example(self, fired: bool, unfired: Iterable[str] = ()) -> None:
        """One mock with interventions: did one of them interfere?"""
        self.with_interventions += 1
        if fired:
            self.fired += 1
            return
        for line in unfired:
            if len(self.examples) < _EXAMPLES_SHOWN and line not in self.examples:
                self.examples.append(line)

    def record_background(self, rates: Mapping[str, float], *, moved: bool) -> None:
        """One mock with background rates set for this test on a virtual clock."""
        self.background_mocks += 1
        self.background_moved += int(moved)
        self.background_rates.update(rates)

    @property
    def required(self) -> int:
        """How many examples must have met an intervention."""
        return max(1, math.ceil(MIN_FIRED_FRACTION * self.with_interventions))

    def failure(self) -> FailedHealthCheck | None:
        """The health check this test fails, if any (suppressed ones never)."""
        check = HealthCheck.unfired_interventions
        if check in self.suppressed or not self.with_interventions:
            return None
        if self.fired >= self.required:
            return None
        examples = "".join(f"\n  - {line}" for line in self.examples)
        return FailedHealthCheck(
            check,
            f"{self.with_interventions} example(s) ran with interventions injected, but in "
            f"only {self.fired} did one interfere with the update judged (at least "
            f"{self.required} needed: {MIN_FIRED_FRACTION:.0%}). The other updates met no "
            f"interference, so their verdicts prove little. Interventions that never "
            f"interfered:{examples}\n"
            "To fix it: trigger within the requests your client makes (a GET and a PATCH are "
            "requests 1 and 2: before_request=2 lands between them); use at= times the test "
            "reaches (virtual time moves only when the client sleeps or the test advances the "
            "clock); and judge the document the interventions target "
            "(scenario(schedule, documents={...}) makes scenario document 0, or give a step "
            "document=i).",
        )

    def warnings(self) -> list[str]:
        """Warnings for settings that had no effect in this test."""
        check = HealthCheck.idle_background
        if check in self.suppressed or not self.background_mocks or self.background_moved:
            return []
        rates = ", ".join(f"{k}={v:g}/s" for k, v in sorted(self.background_rates.items()))
        return [
            f"[windchill health check: idle_background] background rates ({rates}) were set "
            f"for this test, but virtual time never moved in its {self.background_mocks} "
            "mock(s), so no background operation could happen. Virtual time moves when the "
            "client sleeps (time.sleep is virtual under the fixtures) or the test calls "
            "mock.clock.advance(seconds). Suppress with "
            "@pytest.mark.windchill(suppress_health_check=[HealthCheck.idle_background]) "
            "(from pytest_windchill import HealthCheck)."
        ]


def interference(
    injected: Sequence[Intervention],
    pending: Sequence[Intervention],
    events: Sequence[Event],
    doc_id: str,
    user: str,
    rules: ServerRules,
    reached: float,
) -> Firing:
    """Whether the interventions ``injected`` interfered with ``user``'s update of ``doc_id``,
    and why the others did not; ``pending`` are those still waiting, ``reached`` the virtual
    time the mock got to.

    An intervention interferes when the client meets it: a state change after the client's
    first request on the document, a request action (fault, lost response, latency) that hit
    a request, or a refusal the client got (a check-out or busy window set up before it started
    still counts). A change made before the client's first read does not: the client reads its
    result and meets no conflict.
    """
    pending = [i for i in pending if i.document == doc_id]
    mine = [e for e in events if e.document == doc_id and (not user or e.process == user)]
    first = min((e.seq for e in mine if e.type == "invoke"), default=None)
    # State changes: interventions, and micro-updates (journalled as background work).
    state_events = [
        e
        for e in events
        if e.document == doc_id
        and e.type in ("intervention", "background")
        and e.process != "setup"
    ]
    skipped = [e for e in state_events if (e.message or "").startswith(SKIPPED_PREFIX)]
    applied = [e for e in state_events if e not in skipped]
    early = [e for e in applied if first is None or e.seq < first]
    met = len(applied) - len(early)
    on_doc_requests = [i for i in injected if i.document == doc_id and i.action.request_action]
    met += len(on_doc_requests) - sum(1 for i in pending if i.action.request_action)
    refused = [
        e
        for e in mine
        if e.type == "info"
        or (
            e.type == "fail"
            and e.status is not None
            and (e.status == 409 or rules.rides_out(e.status) or e.status >= 500)
        )
    ]
    if early and refused:
        met += 1  # a check-out or busy window set up before the client came
    unfired = [describe_pending(i, events, reached) for i in pending]
    unfired += [f"{e.op} on {doc_id} at t={e.t:g}s: {e.message}" for e in skipped]
    if not refused:
        unfired += [
            f"{e.op} on {doc_id} at t={e.t:g}s: applied before the client's first request "
            "on the document, so the client read its result and met no conflict"
            for e in early
        ]
    unfired += [
        f"{_describe(i)}: it targets {i.document}, not the judged document {doc_id}"
        for i in injected
        if i.document != doc_id
    ]
    return Firing(len(injected), max(0, met), tuple(unfired))


def _describe(intervention: Intervention) -> str:
    trigger = (
        f"before_request={intervention.before_request}"
        if intervention.before_request is not None
        else f"at={intervention.at:g}"
        if intervention.at is not None
        else "at once"
    )
    return f"{intervention.action.kind}({trigger}) on {intervention.document}"


def describe_pending(intervention: Intervention, events: Sequence[Event], reached: float) -> str:
    """An intervention still pending, and why: the request or time it waits for never came."""
    what = _describe(intervention)
    requests = max(
        (e.request or 0 for e in events if e.document == intervention.document), default=0
    )
    if intervention.before_request is not None:
        return (
            f"{what}: still pending: the document got only {requests} client request(s), so "
            f"request {intervention.before_request} never came"
        )
    if intervention.at is not None and reached < intervention.at:
        return f"{what}: still pending: virtual time reached only t={reached:g}s"
    return f"{what}: still pending: no client request came after it was due"
