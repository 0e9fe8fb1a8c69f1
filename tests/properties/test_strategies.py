"""The public strategies: what they generate, and what they shrink to."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import requests
from hypothesis import find, given, settings
from hypothesis import strategies as st

from mock_server.core.documents import (
    DEFAULT_SOFT_ATTRIBUTES,
    WRITABLE,
    validate_changes,
)
from mock_server.core.etag import parse_etag
from pytest_windchill.client.policy import RetryPolicy
from pytest_windchill.scenarios import WindchillFactory
from pytest_windchill.schedules import (
    ConflictSchedule,
    Step,
    check_in_as,
    check_out_as,
    concurrent_edit,
    fault,
    latency,
    lifecycle_change,
    lose_response,
    micro_update,
)
from pytest_windchill.strategies import (
    ACTION_KINDS,
    changes,
    conflict_schedules,
    documents,
    etags,
    retry_policies,
    steps,
)

FIELDS = (*WRITABLE, *DEFAULT_SOFT_ATTRIBUTES)
#: ``find`` is deterministic and quick with these.
SHRINK = settings(database=None, derandomize=True, max_examples=2000)


def shrunk(strategy: st.SearchStrategy[Any], condition: Any) -> Any:
    return find(strategy, condition, settings=SHRINK)


def kinds(schedule: ConflictSchedule) -> list[str]:
    return [step.action.kind for step in schedule]


# ------------------------------------------------------------------ what they generate


@given(
    schedule=conflict_schedules(max_interventions=4, max_request=6, documents=3),
)
def test_schedules_respect_their_bounds(schedule: ConflictSchedule) -> None:
    drawn = [step for step in schedule if step.action.kind != "check_in"]
    assert len(drawn) <= 4
    for step in schedule:
        assert step.at is None
        assert step.before_request is not None
        assert 0 <= step.document < 3
    for step in drawn:
        assert step.before_request is not None
        assert 1 <= step.before_request <= 6
    triggers = [step.before_request or 0 for step in schedule]
    assert triggers == sorted(triggers)


@given(schedule=conflict_schedules(actions=("fault", "lose_response"), quiet_after=3))
def test_schedules_use_only_the_actions_asked_for_and_fall_quiet(
    schedule: ConflictSchedule,
) -> None:
    assert set(kinds(schedule)) <= {"fault", "lose_response"}
    assert schedule.last_trigger <= 3


@given(schedule=conflict_schedules(actions=("check_out",), max_interventions=2))
def test_another_users_check_out_is_released_two_requests_later(
    schedule: ConflictSchedule,
) -> None:
    check_outs = [s for s in schedule if s.action.kind == "check_out"]
    check_ins = [s for s in schedule if s.action.kind == "check_in"]
    assert sorted((s.before_request or 0) + 2 for s in check_outs) == sorted(
        s.before_request or 0 for s in check_ins
    )


@given(schedule=conflict_schedules(actions=("check_out",), release_check_outs=False))
def test_check_outs_can_be_left_unreleased(schedule: ConflictSchedule) -> None:
    assert set(kinds(schedule)) <= {"check_out"}


@given(step=steps(fields=("Title",)))
def test_steps_are_valid_interventions(step: Step) -> None:
    assert step.action.kind in ACTION_KINDS
    assert step.before_request is not None
    assert 1 <= step.before_request <= 8
    if step.action.kind == "concurrent_edit":
        assert set(step.action.changes) == {"Title"}  # type: ignore[union-attr]


def test_steps_reject_unknown_action_kinds() -> None:
    with pytest.raises(ValueError, match="unknown action kind"):
        steps(actions=("micro_update", "earthquake"))
    with pytest.raises(ValueError, match="at least one"):
        steps(actions=())


@settings(max_examples=25)
@given(schedule=conflict_schedules(documents=2))
def test_generated_schedules_apply_to_a_scenario(
    windchill_factory: WindchillFactory, schedule: ConflictSchedule
) -> None:
    with windchill_factory.scenario(schedule, documents=2) as mock:
        for doc in mock.documents:
            for _ in range(10):
                with contextlib.suppress(requests.ConnectionError):  # a lost response
                    mock.session.get(mock.url(doc))
        # A micro-update is journalled as background work, the others as interventions.
        fired = [
            e
            for e in mock.journal
            if e.type in ("intervention", "background") and e.process != "setup"
        ]
    shaping = ("fault", "lose_response", "latency")  # these shape a response, not the state
    assert len(fired) == len([s for s in schedule if s.action.kind not in shaping])


@given(update=changes())
def test_changes_are_partial_updates_the_mock_accepts(update: dict[str, Any]) -> None:
    assert update
    assert set(update) <= set(FIELDS)
    assert validate_changes(update, soft_attributes=DEFAULT_SOFT_ATTRIBUTES) == update


@given(properties=documents())
def test_documents_are_valid_creations(properties: dict[str, Any]) -> None:
    assert properties["Name"].strip()
    validate_changes(properties, soft_attributes=DEFAULT_SOFT_ATTRIBUTES, creating=True)


@given(tag=etags(profile="thread"))
def test_thread_etags_are_strong_composite_tags(tag: str) -> None:
    parsed = parse_etag(tag)
    assert not parsed.weak
    assert str(parsed) == tag


@given(tag=etags(profile="odata"))
def test_odata_etags_are_weak(tag: str) -> None:
    assert tag.startswith('W/"v')
    assert parse_etag(tag).weak


@given(policy=retry_policies(max_retries=2))
def test_retry_policies_are_valid_and_bounded(policy: RetryPolicy) -> None:
    assert 0 <= policy.max_retries <= 2
    assert policy.deadline is None
    assert 0 <= policy.min_delay(1) <= policy.max_delay_for(1)


# ------------------------------------------------------------------ what they shrink to


def test_a_schedule_shrinks_to_one_micro_update_before_the_first_request() -> None:
    assert shrunk(conflict_schedules(), lambda s: len(s) >= 1) == ConflictSchedule(
        [micro_update(before_request=1)]
    )


@pytest.mark.parametrize(
    ("kind", "simplest"),
    [
        ("micro_update", [micro_update(before_request=1)]),
        ("lifecycle_change", [lifecycle_change(before_request=1, state="INWORK")]),
        ("concurrent_edit", [concurrent_edit(before_request=1, changes={"Description": "a"})]),
        ("fault", [fault(before_request=1)]),
        ("lose_response", [lose_response(before_request=1)]),
        ("latency", [latency(before_request=1, seconds=0.1)]),
        ("check_out", [check_out_as(before_request=1), check_in_as(before_request=3)]),
    ],
)
def test_each_kind_shrinks_to_its_simplest_form(kind: str, simplest: list[Step]) -> None:
    assert shrunk(conflict_schedules(), lambda s: kind in kinds(s)) == ConflictSchedule(simplest)


def test_micro_updates_come_before_every_other_kind() -> None:
    # Any ETag-changing interference will do: a micro-update is the simplest.
    assert shrunk(
        conflict_schedules(actions=tuple(reversed(ACTION_KINDS))),
        lambda s: bool(set(kinds(s)) & {"micro_update", "lifecycle_change", "concurrent_edit"}),
    ) == ConflictSchedule([micro_update(before_request=1)])
    assert shrunk(
        conflict_schedules(), lambda s: bool(set(kinds(s)) - {"micro_update"})
    ) == ConflictSchedule([lifecycle_change(before_request=1, state="INWORK")])


def test_durations_shrink_to_the_shortest_that_fails() -> None:
    def long_enough(s: ConflictSchedule) -> bool:
        return any(getattr(step.action, "duration", 0) >= 1.0 for step in s)

    assert shrunk(conflict_schedules(), long_enough) == ConflictSchedule(
        [micro_update(before_request=1, duration=1.0)]
    )


def test_triggers_shrink_to_the_earliest_that_fails() -> None:
    assert shrunk(conflict_schedules(), lambda s: s.last_trigger >= 3) == ConflictSchedule(
        [micro_update(before_request=3)]
    )


def test_needless_interventions_are_dropped() -> None:
    # The failure needs a lost response and a later edit; nothing else survives shrinking.
    def needs_both(s: ConflictSchedule) -> bool:
        lost = [x.before_request or 0 for x in s if x.action.kind == "lose_response"]
        edits = [x.before_request or 0 for x in s if x.action.kind == "concurrent_edit"]
        return any(e > lost_at for lost_at in lost for e in edits)

    assert shrunk(conflict_schedules(), needs_both) == ConflictSchedule(
        [
            lose_response(before_request=1),
            concurrent_edit(before_request=2, changes={"Description": "a"}),
        ]
    )


def test_changes_shrink_to_one_field_with_one_letter() -> None:
    assert shrunk(changes(), lambda c: True) == {"Description": "a"}
    assert shrunk(changes(fields=("Title", "Department")), lambda c: len(c) >= 2) == {
        "Title": "a",
        "Department": "a",
    }


def test_documents_shrink_to_a_name() -> None:
    assert shrunk(documents(), lambda d: True) == {"Name": "a"}


def test_etags_shrink_to_the_first_iteration() -> None:
    assert shrunk(etags(), lambda t: True) == '"v1.0"'
    assert shrunk(etags(profile="odata"), lambda t: True) == 'W/"v1.0"'


def test_retry_policies_shrink_to_no_retries_no_delay_no_jitter() -> None:
    policy = shrunk(retry_policies(), lambda p: True)

    assert (policy.max_retries, policy.base_delay, policy.jitter) == (0, 0.0, 0.0)


def test_retry_policies_reach_a_constant_delay_and_a_low_cap() -> None:
    # factor 1 (no growth) and a 2 s cap are the edges a client's backoff is most often
    # wrong at; the strategy must be able to produce them.
    assert shrunk(retry_policies(), lambda p: p.factor < 1.5).factor == 1.0
    assert shrunk(retry_policies(), lambda p: p.max_delay < 2.5).max_delay == 2.0
