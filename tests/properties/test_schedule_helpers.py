"""The schedule helpers and ``Step``: every argument reaches the intervention, triggers are
checked when a step is made, and a schedule prints, hashes and serialises as documented."""

from __future__ import annotations

from typing import Any

import pytest

from mock_server.core.errors import MockError
from mock_server.core.interventions import (
    CheckInBy,
    CheckOutBy,
    ConcurrentEdit,
    Fault,
    Intervention,
    Latency,
    LifecycleChange,
    LoseResponse,
    MicroUpdate,
    UndoCheckOutBy,
)
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

# helper, its keywords besides the trigger, the action they must make
EVERY_ARGUMENT = [
    (micro_update, {"source": "cache_sync", "duration": 2.5}, MicroUpdate("cache_sync", 2.5)),
    (lifecycle_change, {"state": "INWORK"}, LifecycleChange("INWORK")),
    (
        concurrent_edit,
        {"changes": {"Title": "t"}, "user": "bob"},
        ConcurrentEdit({"Title": "t"}, "bob"),
    ),
    (check_out_as, {"user": "bob", "note": "n"}, CheckOutBy("bob", "n")),
    (check_in_as, {"user": "bob", "changes": {"Title": "t"}}, CheckInBy("bob", {"Title": "t"})),
    (undo_check_out_as, {"user": "bob"}, UndoCheckOutBy("bob")),
    (fault, {"status": 502, "retry_after": 3.0, "message": "m"}, Fault(502, 3.0, "m")),
    (lose_response, {}, LoseResponse()),
    (latency, {"seconds": 4.0}, Latency(4.0)),
]


@pytest.mark.parametrize(
    ("helper", "kwargs", "action"), EVERY_ARGUMENT, ids=lambda x: getattr(x, "__name__", "")
)
@pytest.mark.parametrize("trigger", [{"before_request": 3}, {"at": 1.5}])
def test_every_argument_of_a_helper_reaches_its_step(
    helper: Any, kwargs: dict[str, Any], action: Any, trigger: dict[str, Any]
) -> None:
    step = helper(**kwargs, **trigger, document=2)

    assert step.action == action
    assert (step.before_request, step.at) == (trigger.get("before_request"), trigger.get("at"))
    assert step.document == 2
    intervention = step.intervention("OR:x")
    assert intervention == Intervention("OR:x", action, **trigger)


@pytest.mark.parametrize(("helper", "kwargs", "action"), EVERY_ARGUMENT)
def test_a_helper_without_a_trigger_hits_scenario_document_0_at_once(
    helper: Any, kwargs: dict[str, Any], action: Any
) -> None:
    step = helper(**kwargs)

    assert (step.before_request, step.at, step.document) == (None, None, 0)
    assert step.trigger == "at once"


@pytest.mark.parametrize(
    "trigger",
    [{"before_request": 0}, {"at": -1.0}, {"before_request": 2, "at": 1.0}, {"at": float("nan")}],
)
def test_a_bad_trigger_is_refused_when_the_step_is_made(trigger: dict[str, Any]) -> None:
    with pytest.raises(MockError):
        Step(MicroUpdate(), **trigger)


def test_a_negative_document_index_is_refused() -> None:
    with pytest.raises(ValueError, match="document is an index from 0, got -1"):
        Step(MicroUpdate(), document=-1)


def test_a_step_round_trips_through_json_with_its_document_and_trigger() -> None:
    step = fault(at=2.5, status=502, document=1)

    data = step.to_json()

    assert data == {
        "action": "fault",
        "at": 2.5,
        "document": 1,
        "message": None,
        "retry_after": None,
        "status": 502,
    }
    assert Step.from_json(data) == step
    assert Step.from_json({"action": "lose_response"}) == lose_response()  # document 0


@pytest.mark.parametrize("index", ["1", 1.0, True, None])
def test_a_step_document_from_json_must_be_an_index(index: Any) -> None:
    with pytest.raises(ValueError, match=rf"a step's document is an index, got {index!r}"):
        Step.from_json({"action": "lose_response", "document": index})


def test_repr_leaves_out_defaults_but_shows_an_edits_changes() -> None:
    assert repr(check_in_as()) == "check_in_as()"
    assert repr(check_in_as(changes={"Title": "t"})) == "check_in_as(changes={'Title': 't'})"
    assert (
        repr(concurrent_edit(changes={"T": 1})) == "concurrent_edit(changes={'T': 1}, user='other')"
    )
    assert repr(micro_update(at=1.5, document=1)) == "micro_update(at=1.5, document=1)"


def test_equal_schedules_hash_alike_and_different_ones_do_not() -> None:
    one = ConflictSchedule([micro_update(before_request=1)])
    same = ConflictSchedule([micro_update(before_request=1)])
    other = ConflictSchedule([micro_update(before_request=2)])

    assert hash(one) == hash(same)
    assert hash(one) != hash(other)
    assert len({one, same, other}) == 2


def test_dumps_is_json_with_sorted_keys() -> None:
    schedule = ConflictSchedule([latency(before_request=2, seconds=1.5)])

    assert schedule.dumps() == (
        '[{"action": "latency", "before_request": 2, "document": 0, "seconds": 1.5}]'
    )


def test_applying_a_step_one_past_the_last_document_names_it() -> None:
    schedule = ConflictSchedule([micro_update(document=1)])

    with pytest.raises(ValueError, match="targets document 1") as caught:
        schedule.apply(None, ["OR:only"])  # type: ignore[arg-type]

    expected = "micro_update(document=1) targets document 1, but the scenario has 1"
    assert str(caught.value) == expected


def test_other_users_act_as_other_unless_named() -> None:
    for step in (
        concurrent_edit(changes={"Title": "t"}),
        check_out_as(),
        check_in_as(),
        undo_check_out_as(),
    ):
        assert step.action.user == "other"  # type: ignore[union-attr]


def test_latency_defaults_to_one_second() -> None:
    assert latency().action == Latency(1.0)
