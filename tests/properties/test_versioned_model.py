"""The versioned model under generated schedules: stale OR:s, parts, and change sets.

* Another user's check-in (or edit) between the client's read and its write leaves the
  client holding the OR: of a past iteration: the reference client recovers through the
  VersionID, and the strategies really produce that situation.
* Parts: the reference client and the checker work on a part as on a document.
* Batches: the reference client's change sets are all or nothing, also when a micro-update
  fires between two requests of one change set (which the strategies produce); a client that
  reads a failed change set as partly applied is caught.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from buggy_clients import batch_reports_the_first_request_applied
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pytest_windchill.checks import ConcurrencyViolation
from pytest_windchill.client.policy import RetryPolicy
from pytest_windchill.scenarios import WindchillFactory
from pytest_windchill.schedules import ConflictSchedule
from pytest_windchill.strategies import changes, conflict_schedules, documents

THOROUGH = settings().max_examples >= 300
EXAMPLES = 400 if THOROUGH else 60
#: Profiles where each iteration has its own OR: (thread sends ETags, wrs does not).
PER_ITERATION = st.sampled_from(("thread", "wrs"))
#: Another user's new iterations, and background work.
NEW_ITERATIONS = ("micro_update", "concurrent_edit", "new_iteration", "check_out")
NO_RETRIES = RetryPolicy(max_retries=0)


def _met(mock: Any, addressed: str) -> bool:
    return any(e.type == "invoke" and e.addressed == addressed for e in mock.journal)


def test_the_reference_client_recovers_from_a_stale_or(
    windchill_factory: WindchillFactory,
) -> None:
    met = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None)
    @given(
        schedule=conflict_schedules(actions=NEW_ITERATIONS, max_interventions=3, max_request=3),
        update=changes(max_size=2),
        profile=PER_ITERATION,
    )
    def check(schedule: ConflictSchedule, update: dict[str, Any], profile: str) -> None:
        with windchill_factory.scenario(schedule, profile=profile) as mock:
            result = mock.updater().update(mock.doc, update)

            mock.check_update(mock.doc, update, result)
            met.append(_met(mock, "past_iteration"))
            if result.status in ("applied", "merged"):
                latest = mock.document(mock.doc)  # follows to the latest iteration
                assert all(latest[k] == v for k, v in update.items())

    check()
    # The strategies put another user's new iteration between the client's read and write.
    assert sum(met) >= max(1, len(met) // 20), f"a stale OR: was met in {sum(met)} of {len(met)}"


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    schedule=conflict_schedules(max_interventions=3, kind="part"),
    update=changes(max_size=2, kind="part"),
    part=documents(kind="part"),
    profile=st.sampled_from(("thread", "odata")),  # as for documents (test_reference_client)
)
def test_the_reference_client_updates_parts_under_generated_schedules(
    windchill_factory: WindchillFactory,
    schedule: ConflictSchedule,
    update: dict[str, Any],
    part: dict[str, Any],
    profile: str,
) -> None:
    with windchill_factory.scenario(schedule, profile=profile, documents=part, kind="part") as mock:
        assert mock.doc.startswith("OR:wt.part.WTPart:")
        result = mock.updater().update(mock.doc, update)

        mock.check_update(mock.doc, update, result)


def test_the_reference_client_s_change_sets_are_all_or_nothing(
    windchill_factory: WindchillFactory,
) -> None:
    rolled_back = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None)
    @given(
        schedule=conflict_schedules(max_interventions=3, documents=2, max_request=3),
        first=changes(max_size=2),
        second=changes(max_size=2),
        profile=st.sampled_from(("thread", "odata")),
    )
    def check(
        schedule: ConflictSchedule, first: dict[str, Any], second: dict[str, Any], profile: str
    ) -> None:
        with windchill_factory.scenario(schedule, profile=profile, documents=2) as mock:
            a, b = mock.documents
            results = mock.updater().update_batch({a: first, b: second})

            mock.check_update(a, first, results[a])
            mock.check_update(b, second, results[b])
            rolled_back.append(any(e.type == "rollback" for e in mock.journal))
            both = [results[a].ok, results[b].ok]
            assert both in ([True, True], [False, False]), results

    check()
    # Interference between two requests of one change set (a micro-update on the second
    # document before its PATCH) really happens, and really rolls the first PATCH back.
    assert sum(rolled_back) >= len(rolled_back) // 20, f"{sum(rolled_back)} of {len(rolled_back)}"


def test_a_client_that_reads_a_failed_change_set_as_partly_applied_is_caught(
    windchill_factory: WindchillFactory,
) -> None:
    tried: list[ConflictSchedule] = []

    @settings(
        max_examples=200,
        database=None,
        derandomize=True,
        deadline=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        schedule=conflict_schedules(
            actions=("micro_update",), documents=2, max_request=2, max_interventions=2
        )
    )
    def judge(schedule: ConflictSchedule) -> None:
        tried.append(schedule)
        with windchill_factory.scenario(schedule, documents=2) as mock:
            a, b = mock.documents
            updates: Mapping[str, Mapping[str, Any]] = {a: {"Title": "A"}, b: {"Title": "B"}}
            outcomes = batch_reports_the_first_request_applied(
                mock.session, mock.service_root, updates, mock.sleep
            )
            for doc_id, update in updates.items():
                # It sends the change set once and never retries: judged by that policy.
                mock.check_update(
                    doc_id, update, outcomes[doc_id], policy=NO_RETRIES, batch=list(updates)
                )

    with pytest.raises(ConcurrencyViolation) as caught:
        judge()

    assert caught.value.property == "truthful-outcome", str(caught.value)
    assert "rolled back" in str(caught.value)  # the timeline shows the rollback
    assert 1 <= len(tried[-1]) <= 2, repr(tried[-1])
