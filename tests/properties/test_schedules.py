"""Conflict schedules print as Python, round-trip through JSON and replay exactly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pytest_windchill.schedules as schedules_module
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
    undo_check_out_as,
)
from pytest_windchill.strategies import conflict_schedules

#: What ``from pytest_windchill.schedules import *`` gives a user pasting a schedule.
PASTE_NAMESPACE = {name: getattr(schedules_module, name) for name in schedules_module.__all__}

triggers: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.fixed_dictionaries({"before_request": st.integers(min_value=1, max_value=20)}),
    st.fixed_dictionaries(
        {"at": st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)}
    ),
    st.just({}),
)
values = st.none() | st.text(max_size=5) | st.integers() | st.booleans()
edits = st.dictionaries(st.sampled_from(("Title", "Description", "Department")), values, min_size=1)
users = st.sampled_from(("other", "carol", "o'brien"))
notes = st.none() | st.text()


@st.composite
def any_steps(draw: st.DrawFn) -> Step:
    """Every helper, every trigger form, odd values: beyond what the strategies generate."""
    trigger = draw(triggers)
    document = draw(st.integers(min_value=0, max_value=3))
    match draw(st.integers(min_value=0, max_value=8)):
        case 0:
            source = draw(st.sampled_from(("indexer", "cache_sync")))
            duration = draw(st.floats(0, 10))
            return micro_update(source=source, duration=duration, **trigger, document=document)
        case 1:
            return lifecycle_change(state="RELEASED", **trigger, document=document)
        case 2:
            edit, user = draw(edits), draw(users)
            return concurrent_edit(changes=edit, user=user, **trigger, document=document)
        case 3:
            return check_out_as(user=draw(users), note=draw(notes), **trigger)
        case 4:
            return check_in_as(user=draw(users), changes=draw(st.none() | edits), **trigger)
        case 5:
            return undo_check_out_as(user=draw(users), **trigger)
        case 6:
            status = draw(st.sampled_from((409, 429, 500, 503)))
            retry_after = draw(st.none() | st.floats(0, 60))
            return fault(status=status, retry_after=retry_after, message=draw(notes), **trigger)
        case 7:
            return lose_response(**trigger, document=document)
        case _:
            return latency(seconds=draw(st.floats(0, 5)), **trigger)


schedules = st.one_of(
    conflict_schedules(documents=3, max_interventions=5),
    st.lists(any_steps(), max_size=6).map(ConflictSchedule),
)


@given(schedule=schedules)
def test_repr_is_python_that_evaluates_to_an_equal_schedule(schedule: ConflictSchedule) -> None:
    pasted = eval(repr(schedule), dict(PASTE_NAMESPACE))

    assert pasted == schedule
    assert repr(pasted) == repr(schedule)


@given(schedule=schedules)
def test_json_round_trip_gives_an_equal_schedule(schedule: ConflictSchedule) -> None:
    assert ConflictSchedule.from_json(schedule.to_json()) == schedule
    assert ConflictSchedule.from_json(schedule.dumps()) == schedule
    assert json.loads(schedule.dumps()) == schedule.to_json()


def test_repr_reads_like_the_docs() -> None:
    schedule = ConflictSchedule(
        [
            micro_update(before_request=2, source="indexer", duration=0.5),
            concurrent_edit(before_request=4, changes={"Title": "theirs"}),
            fault(at=1.5, status=429, retry_after=2.0, document=1),
        ]
    )

    assert repr(schedule) == (
        "ConflictSchedule([\n"
        "    micro_update(before_request=2, duration=0.5),\n"
        "    concurrent_edit(before_request=4, changes={'Title': 'theirs'}, user='other'),\n"
        "    fault(at=1.5, status=429, retry_after=2.0, document=1),\n"
        "])"
    )
    assert repr(ConflictSchedule()) == "ConflictSchedule([])"


def test_a_schedule_is_a_hashable_sequence_of_steps() -> None:
    first, second = micro_update(before_request=1), lose_response(before_request=3)
    schedule = ConflictSchedule([first, second])

    assert list(schedule) == [first, second]
    assert schedule[1] == second
    assert len(schedule) == 2
    assert schedule.last_trigger == 3
    assert hash(schedule) == hash(ConflictSchedule([first, second]))
    assert schedule != ConflictSchedule([second, first])


def test_a_negative_document_index_is_rejected() -> None:
    with pytest.raises(ValueError, match="index from 0"):
        micro_update(before_request=1, document=-1)


def test_applying_a_step_to_a_missing_document_names_the_step(
    windchill_factory: WindchillFactory,
) -> None:
    schedule = ConflictSchedule([micro_update(before_request=1, document=1)])

    with (
        pytest.raises(ValueError, match=r"micro_update\(before_request=1, document=1\)"),
        windchill_factory.scenario(schedule, documents=1),
    ):
        pass


def _run(factory: WindchillFactory, schedule: ConflictSchedule, seed: int) -> str:
    """One update by the reference client under ``schedule``, with background work; the
    journal as JSON lines."""
    with factory.scenario(
        schedule,
        seed=seed,
        documents=2,
        rates={"indexer": 0.8, "cache_sync": 0.3},
        durations={"cache_sync": 0.7},
    ) as mock:
        for doc in mock.documents:
            mock.updater().update(doc, {"Title": "Pump housing", "Department": "Pumps"})
        mock.sleep(5.0)
        mock.document(mock.doc)  # background work up to now lands in the journal
        return mock.journal_jsonl()


@settings(max_examples=30)
@given(
    schedule=conflict_schedules(documents=2, max_interventions=4),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_replaying_a_schedule_gives_an_identical_journal(
    windchill_factory: WindchillFactory, schedule: ConflictSchedule, seed: int
) -> None:
    first = _run(windchill_factory, schedule, seed)
    again = _run(windchill_factory, schedule, seed)
    pasted = _run(windchill_factory, eval(repr(schedule), dict(PASTE_NAMESPACE)), seed)
    from_json = _run(windchill_factory, ConflictSchedule.from_json(schedule.dumps()), seed)

    assert first == again == pasted == from_json
