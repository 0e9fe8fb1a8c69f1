"""The catalogue: every classic update bug is caught by a generated conflict schedule.

For each buggy client of ``buggy_clients.py``, Hypothesis generates conflict schedules — at
most 200 — and the checker judges the client's update in each. The test proves the checker
raises, names the property the bug breaks, and that Hypothesis shrinks the schedule to at
most three interventions, which the message shows as Python.

The schedules are generated, not written by hand. A bug's ``actions`` and ``max_request``
leave out interference its client was never meant to handle (a client that does not catch a
dropped connection meets no lost responses) or narrow the search to where the bug lives (a
bug that only another user's version reveals meets edits, early). Its ``changes`` put the
client's field where the simplest concurrent edit lands (``Description``) or, for a bug that
is not about clobbering that field, away from it (``Title``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from buggy_clients import (
    UpdateFunction,
    applies_again_after_a_lost_response,
    correct_update,
    drops_if_match_on_retry,
    keeps_writing_a_stale_or,
    leaves_the_document_checked_out,
    merges_against_the_current_state,
    never_sends_if_match,
    patches_the_whole_entity,
    reports_a_lost_response_as_failed,
    reports_success_on_409,
    retries_blindly_after_412,
    retries_until_it_succeeds,
    retries_with_the_stale_etag,
    retries_without_backoff,
    waits_only_after_409,
)
from hypothesis import HealthCheck, Phase, given, settings

from pytest_windchill.checks import ConcurrencyViolation
from pytest_windchill.scenarios import WindchillFactory
from pytest_windchill.schedules import ConflictSchedule
from pytest_windchill.strategies import ACTION_KINDS, conflict_schedules

TITLE = {"Title": "Pump housing"}
DESCRIPTION = {"Description": "Updated text"}
#: Everything but lost responses, which these clients do not catch, and check-outs by others,
#: which they merely retry (a check-out explanation of their bug is longer to read).
NO_LOSS = ("micro_update", "lifecycle_change", "concurrent_edit", "fault", "latency")
#: Background work and other users' edits: for bugs that only another version reveals.
EDITS = ("micro_update", "concurrent_edit")

SEARCH = settings(
    max_examples=200,
    database=None,
    derandomize=True,
    deadline=None,
    phases=[Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Bug:
    client: UpdateFunction
    #: The property the checker must name.
    property: str
    changes: Mapping[str, Any] = field(default_factory=lambda: TITLE)
    actions: tuple[str, ...] = ACTION_KINDS
    #: The latest request an intervention may precede.
    max_request: int = 8
    #: Profile knobs of the server it meets.
    overrides: Mapping[str, Any] = field(default_factory=dict)


CATALOGUE = [
    Bug(retries_with_the_stale_etag, "stale-retry", actions=NO_LOSS),
    # Where each iteration has its own OR:, its blind retry goes to a past iteration and shows
    # as stale-iteration; on a server with one ID for every iteration, as what it is.
    Bug(
        retries_blindly_after_412,
        "blind-retry-after-412",
        actions=EDITS,
        max_request=4,
        overrides={"per_iteration_ids": False},
    ),
    Bug(keeps_writing_a_stale_or, "stale-iteration", actions=EDITS, max_request=4),
    Bug(retries_without_backoff, "backoff", actions=NO_LOSS),
    # Only a long background job outlasts the backoff of three retries.
    Bug(retries_until_it_succeeds, "bounded-effort", actions=("micro_update",), max_request=4),
    Bug(drops_if_match_on_retry, "unconditional-write", actions=NO_LOSS),
    Bug(patches_the_whole_entity, "lost-update", actions=EDITS, max_request=4),
    Bug(
        merges_against_the_current_state,
        "lost-update",
        DESCRIPTION,
        actions=EDITS,
        max_request=4,
    ),
    # It gives up on a 412 or another user's check-out: show it only what it claims to handle.
    Bug(
        leaves_the_document_checked_out,
        "lock-hygiene",
        actions=("micro_update", "lifecycle_change", "fault", "latency"),
    ),
    Bug(reports_success_on_409, "truthful-outcome", actions=NO_LOSS),
    Bug(
        reports_a_lost_response_as_failed,
        "truthful-outcome",
        actions=("micro_update", "fault", "lose_response"),
        max_request=4,
    ),
    Bug(
        applies_again_after_a_lost_response,
        "lost-update",
        DESCRIPTION | TITLE,
        # With the other kinds it is caught sooner, as an untruthful "failed" after its
        # retries run out; these two show the harm of writing again.
        actions=("concurrent_edit", "lose_response"),
        max_request=3,
    ),
]


@dataclass
class Search:
    """What one generated-schedule search saw."""

    tried: list[ConflictSchedule] = field(default_factory=list)
    first_failure: int | None = None


def search(
    factory: WindchillFactory,
    client: UpdateFunction,
    changes: Mapping[str, Any],
    seen: Search,
    *,
    actions: tuple[str, ...] = ACTION_KINDS,
    max_request: int = 8,
    profile: str = "thread",
    overrides: Mapping[str, Any] | None = None,
) -> None:
    """Run ``client`` under up to 200 generated schedules; the checker judges each update.

    ``seen`` records every schedule tried (filled in place: a search that finds a violation
    raises it).
    """

    @SEARCH
    @given(schedule=conflict_schedules(actions=actions, max_request=max_request))
    def judge(schedule: ConflictSchedule) -> None:
        seen.tried.append(schedule)
        with factory.scenario(schedule, profile=profile, overrides=dict(overrides or {})) as mock:
            outcome = client(mock.session, mock.service_root, mock.doc, changes, mock.sleep)
            try:
                mock.check_update(mock.doc, changes, outcome)
            except ConcurrencyViolation:
                if seen.first_failure is None:
                    seen.first_failure = len(seen.tried)
                raise

    judge()


@pytest.mark.parametrize("bug", CATALOGUE, ids=lambda bug: bug.client.__name__)
def test_the_checker_catches_the_bug_with_a_short_schedule(
    windchill_factory: WindchillFactory, bug: Bug
) -> None:
    seen = Search()
    with pytest.raises(ConcurrencyViolation) as caught:
        search(
            windchill_factory,
            bug.client,
            bug.changes,
            seen,
            actions=bug.actions,
            max_request=bug.max_request,
            overrides=bug.overrides,
        )

    violation = caught.value
    shrunk = seen.tried[-1]  # Hypothesis replays the shrunk example last
    assert violation.property == bug.property, str(violation)
    assert seen.first_failure is not None
    assert seen.first_failure <= 200
    assert 1 <= len(shrunk) <= 3, repr(shrunk)
    assert repr(shrunk) in str(violation)


@pytest.mark.parametrize("bug", CATALOGUE, ids=lambda bug: bug.client.__name__)
def test_the_buggy_client_works_in_the_happy_path(
    windchill_factory: WindchillFactory, bug: Bug
) -> None:
    with windchill_factory.scenario(profile="thread") as mock:
        outcome = bug.client(mock.session, mock.service_root, mock.doc, bug.changes, mock.sleep)

        mock.check_update(mock.doc, bug.changes, outcome)
        assert outcome == "applied"
        assert mock.document(mock.doc)[next(iter(bug.changes))] == next(iter(bug.changes.values()))


@pytest.mark.parametrize("profile", ["thread", "odata"])
@pytest.mark.parametrize("changes", [TITLE, DESCRIPTION], ids=["title", "description"])
def test_the_correct_baseline_passes_the_same_search(
    windchill_factory: WindchillFactory, profile: str, changes: Mapping[str, Any]
) -> None:
    seen = Search()
    search(windchill_factory, correct_update, changes, seen, profile=profile)

    assert seen.first_failure is None
    assert len(seen.tried) >= 100  # it really was searched


# ------------------------------------------ bugs caught only because the checker reads knobs


@dataclass(frozen=True)
class KnobBug:
    """A client right under one set of knobs and wrong under another: only a checker that
    judges by the knobs in force (not by the profile's name) tells the two apart."""

    client: UpdateFunction
    property: str
    profile: str
    #: Knobs under which the client is right...
    right: Mapping[str, Any]
    #: ...and knobs under which the same client is wrong.
    wrong: Mapping[str, Any]
    actions: tuple[str, ...]
    changes: Mapping[str, Any] = field(default_factory=lambda: TITLE)
    max_request: int = 4


KNOB_BUGS = [
    # wrs overridden to send ETags and refuse stale ones: a PATCH without If-Match is now a
    # choice, and the checker must flag it although the profile is called "wrs". (Under plain
    # wrs no PATCH protects against another user's edit — that calls for a check-out — so
    # both searches leave edits out.)
    KnobBug(
        never_sends_if_match,
        "unconditional-write",
        "wrs",
        right={},
        wrong={
            "emit_etags": True,
            "stale_same_iteration_status": 409,
            "stale_new_iteration_status": 412,
        },
        actions=("micro_update", "lifecycle_change", "fault", "latency"),
    ),
    # A busy window answered with 423: the checker must ask for backoff after the profile's
    # busy status, whatever its number.
    KnobBug(
        waits_only_after_409,
        "backoff",
        "thread",
        right={},
        wrong={"busy_status": 423},
        actions=("micro_update",),
    ),
]


@pytest.mark.parametrize("bug", KNOB_BUGS, ids=lambda bug: bug.client.__name__)
def test_a_client_right_under_some_knobs_is_caught_under_others(
    windchill_factory: WindchillFactory, bug: KnobBug
) -> None:
    right = Search()
    search(
        windchill_factory,
        bug.client,
        bug.changes,
        right,
        actions=bug.actions,
        max_request=bug.max_request,
        profile=bug.profile,
        overrides=bug.right,
    )
    assert right.first_failure is None
    assert len(right.tried) >= 100  # it really was searched

    wrong = Search()
    with pytest.raises(ConcurrencyViolation) as caught:
        search(
            windchill_factory,
            bug.client,
            bug.changes,
            wrong,
            actions=bug.actions,
            max_request=bug.max_request,
            profile=bug.profile,
            overrides=bug.wrong,
        )
    assert caught.value.property == bug.property, str(caught.value)
    assert len(wrong.tried[-1]) <= 3
