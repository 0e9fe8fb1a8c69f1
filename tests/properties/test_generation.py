"""What the strategies generate: every draw stays inside the documented bounds, and every
documented case is reachable. A strategy that silently stopped generating a case (a fault
with ``Retry-After``, a step on the second document, a check-out's release) would let a
property test pass without ever trying it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from pytest_windchill.schedules import ConflictSchedule, Step
from pytest_windchill.strategies import (
    ACTION_KINDS,
    changes,
    conflict_schedules,
    documents,
    etags,
    retry_policies,
    steps,
)

T = TypeVar("T")
FIND = settings(
    database=None, max_examples=2000, phases=[Phase.generate], derandomize=True, deadline=None
)


def draws(strategy: st.SearchStrategy[T], count: int = 300) -> list[T]:
    """``count`` examples of ``strategy``, the same on every run."""
    seen: list[T] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: T) -> None:
        seen.append(value)

    collect()
    return seen


def reachable(strategy: st.SearchStrategy[T], condition: Callable[[T], bool]) -> T:
    """An example that meets ``condition`` (``NoSuchExample`` when none can be generated)."""
    return find(strategy, condition, settings=FIND)


# ------------------------------------------------------------------ steps


@pytest.mark.parametrize("kind", ACTION_KINDS)
def test_every_kind_of_step_can_land_on_every_scenario_document(kind: str) -> None:
    strategy = steps(actions=(kind,), documents=3)

    assert {s.document for s in draws(strategy, 100)} <= {0, 1, 2}
    assert reachable(strategy, lambda s: s.document == 2).action.kind == kind


def test_steps_draw_every_detail_the_actions_have() -> None:
    assert reachable(steps(actions=("micro_update",)), lambda s: s.action.source != "indexer")
    assert reachable(steps(actions=("lifecycle_change",)), lambda s: s.action.state != "RELEASED")
    faults = steps(actions=("fault",))
    assert reachable(faults, lambda s: s.action.retry_after is not None)
    assert reachable(faults, lambda s: s.action.status != 503)
    assert reachable(steps(actions=("latency",)), lambda s: s.action.seconds != 0.1)


def test_an_edit_changes_one_or_two_fields() -> None:
    edits = draws(steps(actions=("concurrent_edit",)))

    assert all(1 <= len(s.action.changes) <= 2 for s in edits)  # type: ignore[union-attr]
    assert reachable(steps(actions=("concurrent_edit",)), lambda s: len(s.action.changes) == 2)


def test_triggers_lie_between_the_first_request_and_max_request() -> None:
    drawn = draws(steps(max_request=4))

    assert {s.before_request for s in drawn} <= {1, 2, 3, 4}
    assert reachable(steps(max_request=4), lambda s: s.before_request == 4)


# ------------------------------------------------------------------ schedules


def _drawn(schedule: ConflictSchedule) -> list[Step]:
    """The steps drawn (the check-ins added for check-outs left out)."""
    return [s for s in schedule if s.action.kind != "check_in"]


def test_schedules_have_at_most_three_interventions_by_default_and_reach_three() -> None:
    drawn = draws(conflict_schedules())

    assert all(len(_drawn(s)) <= 3 for s in drawn)
    assert all((s.before_request or 0) in range(1, 9) for x in drawn for s in _drawn(x))
    assert reachable(conflict_schedules(), lambda s: len(_drawn(s)) == 3)
    assert reachable(conflict_schedules(), lambda s: any(x.before_request == 8 for x in s))


def test_schedules_pass_their_actions_and_documents_on() -> None:
    drawn = draws(conflict_schedules(actions=("latency",), documents=2), 100)

    assert {s.action.kind for x in drawn for s in x} <= {"latency"}
    assert reachable(conflict_schedules(documents=2), lambda s: any(x.document == 1 for x in s))


@pytest.mark.parametrize("quiet_after", [1, 3])
def test_nothing_fires_after_quiet_after(quiet_after: int) -> None:
    strategy = conflict_schedules(quiet_after=quiet_after, max_request=8)

    for schedule in draws(strategy, 200):
        assert all(s.before_request is not None for s in schedule)
        assert max((s.before_request or 0 for s in schedule), default=0) <= quiet_after
    assert reachable(strategy, lambda s: any(x.before_request == quiet_after for x in s))


@pytest.mark.parametrize("quiet_after", [0, -1])
def test_quiet_after_counts_requests_from_one(quiet_after: int) -> None:
    with pytest.raises(ValueError, match=f"quiet_after counts requests from 1, got {quiet_after}"):
        conflict_schedules(quiet_after=quiet_after)


@pytest.mark.parametrize("quiet_after", [None, 2])
def test_a_check_out_is_released_two_requests_later_on_its_document(
    quiet_after: int | None,
) -> None:
    strategy = conflict_schedules(actions=("check_out",), documents=2, quiet_after=quiet_after)

    for schedule in draws(strategy, 100):
        check_ins = [s for s in schedule if s.action.kind == "check_in"]
        check_outs = [s for s in schedule if s.action.kind == "check_out"]
        expected = []
        for out in check_outs:
            at = (out.before_request or 0) + 2
            if quiet_after is not None:
                at = min(at, quiet_after)
            expected.append((at, out.document, out.action.user))  # type: ignore[union-attr]
        released = [(s.before_request, s.document, s.action.user) for s in check_ins]  # type: ignore[union-attr]
        assert sorted(released) == sorted(expected), schedule
    assert reachable(strategy, lambda s: any(x.document == 1 for x in s))


def test_without_release_a_check_out_stays() -> None:
    drawn = draws(conflict_schedules(actions=("check_out",), release_check_outs=False), 50)

    assert all(s.action.kind == "check_out" for x in drawn for s in x)


def test_a_schedule_is_ordered_by_trigger_then_by_kind() -> None:
    rank = {kind: i for i, kind in enumerate(ACTION_KINDS)}
    for schedule in draws(conflict_schedules(max_interventions=4), 200):
        keys = [(s.before_request, rank.get(s.action.kind, len(rank))) for s in schedule]
        assert keys == sorted(keys), schedule
    tied = reachable(
        conflict_schedules(max_interventions=4),
        lambda s: (
            len({x.before_request for x in s}) < len(s) and len({x.action.kind for x in s}) > 1
        ),
    )
    assert tied


# ------------------------------------------------------------------ values


def test_changes_range_from_one_field_to_every_field() -> None:
    fields = ("Title", "Description", "Department")

    assert all(1 <= len(c) <= 3 for c in draws(changes(fields=fields), 100))
    assert reachable(changes(fields=fields), lambda c: len(c) == 3)
    assert all(len(c) <= 1 for c in draws(changes(fields=fields, max_size=1), 50))


def test_documents_have_a_name_and_sometimes_more() -> None:
    drawn = draws(documents(), 100)

    assert all(d["Name"][0].isalpha() for d in drawn)
    assert reachable(documents(), lambda d: "Title" in d)


@pytest.mark.parametrize(("profile", "weak"), [("thread", False), ("odata", True)])
def test_etags_are_the_profiles_and_span_their_range(profile: str, weak: bool) -> None:
    from mock_server.core.etag import parse_etag

    parsed = [parse_etag(tag) for tag in draws(etags(profile=profile), 200)]

    assert all(tag.weak is weak for tag in parsed)
    assert all(1 <= tag.iteration <= 99 and 0 <= tag.stamp <= 2**45 for tag in parsed)
    assert reachable(etags(profile=profile), lambda t: parse_etag(t).iteration == 99)
    assert reachable(etags(profile=profile), lambda t: parse_etag(t).stamp > 2**44)


def test_retry_policies_span_their_documented_ranges() -> None:
    drawn = draws(retry_policies(max_retries=4), 300)
    bounds: dict[str, tuple[float, float]] = {
        "max_retries": (0, 4),
        "base_delay": (0.0, 2.0),
        "factor": (1.0, 4.0),
        "max_delay": (2.0, 60.0),
        "jitter": (0.0, 1.0),
    }

    for name, (low, high) in bounds.items():
        values: list[Any] = [getattr(p, name) for p in drawn]
        assert all(low <= v <= high for v in values), name
        middle = (low + high) / 2
        assert reachable(
            retry_policies(max_retries=4), lambda p, n=name, m=middle: getattr(p, n) < m
        )
        assert reachable(
            retry_policies(max_retries=4), lambda p, n=name, m=middle: getattr(p, n) > m
        )
    assert reachable(retry_policies(max_retries=4), lambda p: p.max_retries == 4)


def test_default_policies_allow_up_to_five_retries() -> None:
    assert all(p.max_retries <= 5 for p in draws(retry_policies(), 100))
    assert reachable(retry_policies(), lambda p: p.max_retries == 5)


def test_default_steps_hit_the_first_document_up_to_request_eight() -> None:
    drawn = draws(steps(), 100)

    assert {s.document for s in drawn} == {0}
    assert all(1 <= (s.before_request or 0) <= 8 for s in drawn)
    assert reachable(steps(), lambda s: s.before_request == 8)


def test_with_several_documents_the_first_is_still_drawn() -> None:
    assert reachable(steps(documents=3), lambda s: s.document == 0)


def test_steps_need_at_least_one_action_kind() -> None:
    with pytest.raises(ValueError, match=r"^actions must name at least one action kind$"):
        steps(actions=())
