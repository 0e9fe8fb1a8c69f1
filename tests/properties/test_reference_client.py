"""The reference ``DocumentUpdater`` passes the history checker under generated schedules.

Every action kind, both profiles that issue ETags, generated retry policies, documents and
changes. Under the ``ci`` Hypothesis profile (``HYPOTHESIS_PROFILE=ci`` or ``CI=true``) the
main property runs 2,000 examples — about 15 s on a laptop-class machine; locally, 100.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_windchill.client.policy import RetryPolicy
from pytest_windchill.scenarios import WindchillFactory
from pytest_windchill.schedules import ConflictSchedule
from pytest_windchill.strategies import (
    changes,
    conflict_schedules,
    documents,
    retry_policies,
)

#: The ``ci`` profile asks for at least 300 examples per test; this property asks for more.
THOROUGH = settings().max_examples >= 300
EXAMPLES = 2000 if THOROUGH else 100

PROFILES = st.sampled_from(("thread", "odata"))


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    schedule=conflict_schedules(max_interventions=4),
    update=changes(max_size=3),
    profile=PROFILES,
    document=documents(),
    policy=st.none() | retry_policies(),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_the_reference_client_passes_the_checker(
    windchill_factory: WindchillFactory,
    schedule: ConflictSchedule,
    update: dict[str, Any],
    profile: str,
    document: dict[str, Any],
    policy: RetryPolicy | None,
    seed: int,
) -> None:
    with windchill_factory.scenario(
        schedule, profile=profile, seed=seed, documents=document
    ) as mock:
        result = mock.updater(policy).update(mock.doc, update)

        mock.check_update(mock.doc, update, result, policy=policy)


@settings(max_examples=EXAMPLES // 4, deadline=None)
@given(
    schedule=conflict_schedules(max_interventions=3, quiet_after=4),
    update=changes(max_size=2),
    profile=PROFILES,
)
def test_the_reference_client_without_check_out_fallback_passes_the_checker(
    windchill_factory: WindchillFactory,
    schedule: ConflictSchedule,
    update: dict[str, Any],
    profile: str,
) -> None:
    with windchill_factory.scenario(schedule, profile=profile) as mock:
        result = mock.updater(check_out_fallback=False).update(mock.doc, update)

        mock.check_update(mock.doc, update, result)


@settings(max_examples=EXAMPLES // 4, deadline=None)
@given(
    schedule=conflict_schedules(max_interventions=3, quiet_after=2),
    update=changes(max_size=2),
    profile=PROFILES,
)
def test_once_interference_stops_the_reference_client_succeeds(
    windchill_factory: WindchillFactory,
    schedule: ConflictSchedule,
    update: dict[str, Any],
    profile: str,
) -> None:
    with windchill_factory.scenario(schedule, profile=profile) as mock:
        result = mock.updater().update(mock.doc, update)

        mock.check_update(mock.doc, update, result)
        if not _blocked(schedule):
            assert result.status in ("applied", "merged", "review"), result


def _blocked(schedule: ConflictSchedule) -> bool:
    """Whether the schedule can end the update for good: another user's check-out, or a
    plain 500 (an error, not a "try again later")."""
    return any(
        step.action.kind == "check_out"
        or (step.action.kind == "fault" and getattr(step.action, "status", None) == 500)
        for step in schedule
    )
