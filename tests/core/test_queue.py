"""The intervention queue on its own: what fires on which request, and what waits."""

from __future__ import annotations

import pytest

from mock_server.core.interventions import (
    ConcurrentEdit,
    Fault,
    Intervention,
    Latency,
    LoseResponse,
    MicroUpdate,
)
from mock_server.core.queue import InterventionQueue

DOC = "OR:wt.doc.WTDocument:1"
EDIT = ConcurrentEdit({"Description": "theirs"})


def queue_of(*items: tuple[Intervention, float | None]) -> InterventionQueue:
    queue = InterventionQueue()
    for intervention, at_abs in items:
        queue.add(intervention, at_abs)
    return queue


def test_requests_are_counted_from_one() -> None:
    queue = InterventionQueue()
    assert [queue.count_request() for _ in range(3)] == [1, 2, 3]
    assert queue.requests == 3


def test_before_request_fires_on_that_request_only() -> None:
    micro = Intervention(DOC, MicroUpdate(), before_request=2)
    queue = queue_of((micro, None))
    assert queue.take_for_request(1, now=0.0) == []
    assert queue.take_for_request(2, now=0.0) == [micro.action]
    assert queue.interventions() == [], "what fired leaves the queue"
    assert queue.take_for_request(2, now=0.0) == []


def test_a_request_action_without_a_trigger_fires_on_the_next_request() -> None:
    fault = Intervention(DOC, Fault(503))
    queue = queue_of((fault, None))
    assert queue.take_for_request(7, now=0.0) == [fault.action]


def test_one_request_action_of_each_kind_per_request_the_earliest_first() -> None:
    first = Intervention(DOC, Fault(503))
    second = Intervention(DOC, Fault(500))
    lost = Intervention(DOC, LoseResponse())
    queue = queue_of((first, None), (second, None), (lost, None))
    assert queue.take_for_request(1, now=0.0) == [first.action, lost.action]
    assert queue.take_for_request(2, now=0.0) == [second.action]


@pytest.mark.parametrize("triggered_first", [True, False])
def test_a_before_request_fault_is_that_requests_fault_whatever_the_order(
    triggered_first: bool,
) -> None:
    triggered = Intervention(DOC, Fault(502), before_request=1)
    waiting = Intervention(DOC, Fault(503))
    items = [(triggered, None), (waiting, None)]
    queue = queue_of(*(items if triggered_first else reversed(items)))
    assert queue.take_for_request(1, now=0.0) == [triggered.action]
    assert queue.take_for_request(2, now=0.0) == [waiting.action]


def test_a_timed_request_action_waits_for_its_time() -> None:
    latency = Intervention(DOC, Latency(2.0), at=5.0)
    queue = queue_of((latency, 105.0))
    assert queue.take_for_request(1, now=104.9) == []
    assert queue.take_for_request(2, now=105.0) == [latency.action]


def test_a_timed_state_action_is_due_by_time_not_by_request() -> None:
    edit = Intervention(DOC, EDIT, at=3.0)
    queue = queue_of((edit, 103.0))
    assert queue.take_for_request(1, now=200.0) == [], "state actions wait for the clock"
    assert not queue.has_due_state_actions(102.9)
    assert queue.has_due_state_actions(103.0)
    assert queue.take_due_state_actions(103.0) == [(103.0, EDIT)]
    assert queue.interventions() == []


def test_taking_due_actions_keeps_the_rest_in_order() -> None:
    early = Intervention(DOC, MicroUpdate(), at=1.0)
    late = Intervention(DOC, EDIT, at=9.0)
    fault = Intervention(DOC, Fault(503), at=0.5)
    triggered = Intervention(DOC, MicroUpdate("cache_sync"), before_request=4)
    queue = queue_of((late, 109.0), (early, 101.0), (fault, 100.5), (triggered, None))
    assert queue.take_due_state_actions(105.0) == [(101.0, early.action)]
    assert queue.interventions() == [late, fault, triggered]


def test_a_copy_is_independent() -> None:
    queue = queue_of((Intervention(DOC, Fault(503)), None))
    queue.count_request()
    copy = queue.copy()
    queue.take_for_request(2, now=0.0)
    queue.count_request()
    assert copy.requests == 1
    assert len(copy.interventions()) == 1
