"""Interventions: triggers (before_request, at, none) and every action."""

from __future__ import annotations

import pytest
from core_support import RepositoryFactory, state_of, writable

from mock_server.core import (
    CheckInBy,
    CheckOutBy,
    ConcurrentEdit,
    Fault,
    Intervention,
    Latency,
    LifecycleChange,
    LoseResponse,
    MicroUpdate,
    MockError,
    Repository,
    UndoCheckOutBy,
    VirtualClock,
    WriteConditions,
)
from mock_server.core.errors import CheckedOut, ConcurrentModification, InjectedFault
from mock_server.core.etag import parse_etag


def version(repository: Repository, key: str) -> str:
    return str(repository.peek(key)["Version"])


# ------------------------------------------------------------------ triggers


def test_before_request_fires_right_before_the_nth_request_on_the_document(
    repository: Repository, doc_id: str
) -> None:
    repository.inject(Intervention(doc_id, ConcurrentEdit({"Title": "theirs"}), before_request=3))

    first = repository.read(doc_id, user="u").entity
    second = repository.read(doc_id, user="u").entity
    third = repository.read(doc_id, user="u").entity

    assert first is not None
    assert second is not None
    assert third is not None
    assert (first["Version"], second["Version"]) == ("A.1", "A.1")
    # The edit made iteration A.2, with an OR: of its own: doc_id now names A.1.
    assert (third["Version"], third["Latest"]) == ("A.1", False)
    latest = repository.read(str(first["VersionID"]), user="u").entity
    assert latest is not None
    assert (latest["Version"], latest["Title"], latest["Latest"]) == ("A.2", "theirs", True)
    assert repository.pending() == []


def test_before_request_counts_requests_per_document(repository: Repository, doc_id: str) -> None:
    other = repository.create({"Name": "other"}, user="u").entity
    assert other is not None
    repository.inject(Intervention(doc_id, LifecycleChange("RELEASED"), before_request=2))

    repository.read(doc_id, user="u")
    repository.read(str(other["ID"]), user="u")
    repository.read(str(other["ID"]), user="u")

    assert repository.peek(doc_id)["State"]["Value"] == "INWORK"
    assert repository.read(doc_id, user="u").entity is not None
    assert repository.peek(doc_id)["State"]["Value"] == "RELEASED"


def test_requests_on_the_working_copy_count_for_the_original(
    repository: Repository, doc_id: str
) -> None:
    working = repository.check_out(doc_id, user="alice").entity  # request 1
    assert working is not None
    working_id = str(working["ID"])
    repository.inject(Intervention(doc_id, LifecycleChange("UNDERREVIEW"), before_request=3))

    repository.read(working_id, user="alice")  # request 2
    assert repository.peek(doc_id)["State"]["Value"] == "INWORK"
    repository.update(working_id, {"Title": "wc"}, user="alice")  # request 3

    assert repository.request_count(doc_id) == 3
    assert repository.request_count(working_id) == 3
    assert repository.peek(doc_id)["State"]["Value"] == "UNDERREVIEW"


def test_peek_and_current_etag_do_not_count_as_requests(
    repository: Repository, doc_id: str
) -> None:
    repository.inject(Intervention(doc_id, LifecycleChange("RELEASED"), before_request=1))

    repository.peek(doc_id)
    repository.current_etag(doc_id)

    assert repository.request_count(doc_id) == 0
    assert repository.peek(doc_id)["State"]["Value"] == "INWORK"


def test_at_fires_at_virtual_time_t(
    repository: Repository, clock: VirtualClock, doc_id: str
) -> None:
    repository.inject(Intervention(doc_id, LifecycleChange("RELEASED"), at=5.0))

    clock.advance(4.999)
    assert repository.peek(doc_id)["State"]["Value"] == "INWORK"
    clock.advance(0.001)
    assert repository.peek(doc_id)["State"] == {"Value": "RELEASED", "Display": "Released"}


def test_at_is_applied_at_its_own_time_even_when_noticed_later(
    repository: Repository, clock: VirtualClock, doc_id: str
) -> None:
    repository.inject(Intervention(doc_id, MicroUpdate("cache_sync"), at=5.0))

    clock.advance(60)
    repository.read(doc_id, user="u")

    [event] = [e for e in repository.journal.events(doc_id) if e.type == "background"]
    assert event.t == 5.0
    assert event.process == "cache_sync"
    assert repository.peek(doc_id)["LastModified"] == "2024-02-21T13:23:25+00:00"


def test_state_action_without_a_trigger_applies_at_once(
    repository: Repository, doc_id: str
) -> None:
    before = repository.current_etag(doc_id)

    repository.inject(Intervention(doc_id, MicroUpdate()))

    after = repository.current_etag(doc_id)
    assert after != before
    assert parse_etag(after).iteration == parse_etag(before).iteration
    assert repository.request_count(doc_id) == 0
    assert repository.pending() == []


def test_request_action_without_a_trigger_applies_to_the_next_request_only(
    repository: Repository, doc_id: str
) -> None:
    repository.inject(Intervention(doc_id, Fault(503)))
    assert len(repository.pending()) == 1

    with pytest.raises(InjectedFault):
        repository.read(doc_id, user="u")

    assert repository.read(doc_id, user="u").entity is not None


def test_request_action_at_t_applies_to_the_first_request_at_or_after_t(
    repository: Repository, clock: VirtualClock, doc_id: str
) -> None:
    repository.inject(Intervention(doc_id, Fault(429), at=10.0))

    repository.read(doc_id, user="u")
    clock.advance(10)
    with pytest.raises(InjectedFault) as caught:
        repository.read(doc_id, user="u")
    assert caught.value.http_status == 429


# ------------------------------------------------------------------ request actions


def test_fault_answers_with_its_status_and_retry_after_and_changes_nothing(
    repository: Repository, doc_id: str
) -> None:
    repository.inject(Intervention(doc_id, Fault(503, retry_after=2.4), before_request=1))
    before = state_of(repository, doc_id)

    with pytest.raises(InjectedFault) as caught:
        repository.update(doc_id, {"Title": "lost?"}, user="u")

    assert caught.value.http_status == 503
    # Retry-After is whole seconds, rounded up so a client never comes back too early.
    assert caught.value.headers == {"Retry-After": "3"}
    assert caught.value.code == "InjectedFault"
    assert state_of(repository, doc_id) == before
    last = repository.journal.events(doc_id)[-1]
    assert (last.type, last.status, last.retry_after) == ("fail", 503, 3.0)


def test_fault_without_retry_after_sends_no_header_and_uses_its_message(
    repository: Repository, doc_id: str
) -> None:
    repository.inject(Intervention(doc_id, Fault(500, message="boom")))

    with pytest.raises(InjectedFault, match="boom") as caught:
        repository.read(doc_id, user="u")

    assert caught.value.headers == {}


def test_lost_response_applies_the_write_and_journals_info(
    repository: Repository, doc_id: str
) -> None:
    repository.inject(Intervention(doc_id, LoseResponse()))

    result = repository.update(doc_id, {"Title": "applied anyway"}, user="u")

    assert result.lost is True
    assert repository.peek(doc_id)["Title"] == "applied anyway"
    last = repository.journal.events(doc_id)[-1]
    assert last.type == "info"
    assert last.message is not None
    assert "response lost" in last.message
    assert repository.update(doc_id, {"Title": "next"}, user="u").lost is False


def test_latency_advances_the_virtual_clock_during_the_request(
    repository: Repository, clock: VirtualClock, doc_id: str
) -> None:
    repository.inject(Intervention(doc_id, Latency(3.5), before_request=1))
    start = clock.now()

    repository.update(doc_id, {"Title": "slow"}, user="u")

    assert clock.now() == start + 3.5
    invoke, ok = repository.journal.events(doc_id)[-2:]
    assert (invoke.type, invoke.t) == ("invoke", 0.0)
    assert (ok.type, ok.t) == ("ok", 3.5)


def test_latency_uses_the_injected_sleep(make_repository: RepositoryFactory) -> None:
    slept: list[float] = []
    repository = make_repository(sleep=slept.append)
    entity = repository.create({"Name": "x"}, user="u").entity
    assert entity is not None
    repository.inject(Intervention(str(entity["ID"]), Latency(2)))

    repository.read(str(entity["ID"]), user="u")

    assert slept == [2]


def test_at_intervention_due_during_latency_applies_before_the_write(
    repository: Repository, doc_id: str
) -> None:
    fresh = repository.current_etag(doc_id)
    repository.inject(Intervention(doc_id, Latency(5), before_request=1))
    repository.inject(Intervention(doc_id, MicroUpdate(), at=2))

    with pytest.raises(ConcurrentModification) as caught:
        repository.update(
            doc_id, {"Title": "x"}, user="u", conditions=WriteConditions(if_match=fresh)
        )

    assert caught.value.http_status == 409
    assert repository.peek(doc_id)["Title"] == "Pump"


# ------------------------------------------------------------------ state actions


def test_concurrent_edit_makes_a_new_iteration_by_user_other(
    repository: Repository, doc_id: str
) -> None:
    repository.inject(Intervention(doc_id, ConcurrentEdit({"Title": "theirs"})))

    entity = repository.peek(doc_id)
    assert entity["Version"] == "A.2"
    assert entity["ModifiedBy"] == "other"
    assert entity["Title"] == "theirs"
    [event] = [e for e in repository.journal.events(doc_id) if e.type == "intervention"]
    assert (event.op, event.process, event.version) == ("concurrent_edit", "other", "A.2")
    assert event.changes == {"Title": "theirs"}


def test_lifecycle_change_moves_state_without_a_new_iteration(
    repository: Repository, doc_id: str
) -> None:
    before = repository.current_etag(doc_id)

    repository.inject(Intervention(doc_id, LifecycleChange("OBSOLETE")))

    assert repository.peek(doc_id)["State"]["Value"] == "OBSOLETE"
    assert version(repository, doc_id) == "A.1"
    assert repository.current_etag(doc_id) != before


def test_micro_update_changes_only_the_etag_and_last_modified(
    repository: Repository, clock: VirtualClock, doc_id: str
) -> None:
    entity_before, etag_before = state_of(repository, doc_id)
    clock.advance(7)

    repository.inject(Intervention(doc_id, MicroUpdate("lifecycle_evaluator", 1.0)))

    entity_after, etag_after = state_of(repository, doc_id)
    assert etag_after != etag_before
    assert entity_after["LastModified"] != entity_before["LastModified"]
    entity_after.pop("LastModified")
    entity_before.pop("LastModified")
    assert entity_after == entity_before


def test_check_out_by_another_user_then_a_patch_is_refused_with_409(
    repository: Repository, doc_id: str
) -> None:
    repository.inject(Intervention(doc_id, CheckOutBy("other")))
    before = state_of(repository, doc_id)

    with pytest.raises(CheckedOut, match="checked out by other") as caught:
        repository.update(doc_id, {"Title": "mine"}, user="wcadmin")

    assert caught.value.http_status == 409
    assert state_of(repository, doc_id) == before
    assert repository.peek(doc_id)["CheckoutState"] == "Checked out"


def test_check_in_by_another_user_applies_their_changes_in_a_new_iteration(
    repository: Repository, doc_id: str
) -> None:
    repository.inject(Intervention(doc_id, CheckOutBy("carol")))
    repository.inject(Intervention(doc_id, CheckInBy("carol", {"Description": "carol's"})))

    entity = repository.peek(doc_id)
    assert entity["Version"] == "A.2"
    assert entity["Description"] == "carol's"
    assert entity["CheckoutState"] == "Checked in"
    assert entity["ModifiedBy"] == "carol"


def test_undo_check_out_by_another_user_releases_the_document(
    repository: Repository, doc_id: str
) -> None:
    values = writable(repository.peek(doc_id))
    repository.inject(Intervention(doc_id, CheckOutBy("carol")))
    repository.inject(Intervention(doc_id, UndoCheckOutBy("carol")))

    assert repository.update(doc_id, {"Title": "free again"}, user="u").entity is not None
    assert version(repository, doc_id) == "A.1"
    assert writable(repository.peek(doc_id)) == {**values, "Title": "free again"}


def test_untriggered_state_action_that_cannot_apply_raises_and_changes_nothing(
    repository: Repository, doc_id: str
) -> None:
    repository.inject(Intervention(doc_id, CheckOutBy("carol")))
    before = state_of(repository, doc_id)

    with pytest.raises(CheckedOut):
        repository.inject(Intervention(doc_id, ConcurrentEdit({"Title": "x"})))

    assert state_of(repository, doc_id) == before


def test_triggered_intervention_that_cannot_apply_is_journalled_as_skipped(
    repository: Repository, clock: VirtualClock, doc_id: str
) -> None:
    repository.inject(Intervention(doc_id, CheckOutBy("carol")))
    repository.inject(Intervention(doc_id, ConcurrentEdit({"Title": "x"}), at=1.0))
    repository.inject(Intervention(doc_id, CheckInBy("dave"), before_request=1))
    before = repository.peek(doc_id)

    clock.advance(2)
    repository.read(doc_id, user="u")

    skipped = [e for e in repository.journal.events(doc_id) if e.type == "intervention"][1:]
    assert [(e.op, e.process) for e in skipped] == [
        ("concurrent_edit", "other"),
        ("check_in", "dave"),
    ]
    for event in skipped:
        assert event.message is not None
        assert event.message.startswith("skipped: ")
    assert writable(repository.peek(doc_id)) == writable(before)
    assert version(repository, doc_id) == "A.1"


# ------------------------------------------------------------------ validation


def test_intervention_on_a_working_copy_is_refused(repository: Repository, doc_id: str) -> None:
    working = repository.check_out(doc_id, user="alice").entity
    assert working is not None

    with pytest.raises(MockError, match="working copy"):
        repository.inject(Intervention(str(working["ID"]), MicroUpdate()))


def test_concurrent_edit_with_a_read_only_property_is_refused_when_injected(
    repository: Repository, doc_id: str
) -> None:
    before = state_of(repository, doc_id)

    with pytest.raises(MockError, match="read-only"):
        repository.inject(Intervention(doc_id, ConcurrentEdit({"Version": "B.1"}), at=1))

    assert repository.pending() == []
    assert state_of(repository, doc_id) == before


@pytest.mark.parametrize(
    "build",
    [
        lambda: Intervention("d", MicroUpdate(), before_request=1, at=1.0),
        lambda: Intervention("d", MicroUpdate(), before_request=0),
        lambda: Intervention("d", MicroUpdate(), at=-1),
        lambda: Intervention("", MicroUpdate()),
        lambda: MicroUpdate("gc"),
        lambda: MicroUpdate(duration=float("nan")),
        lambda: LifecycleChange("DONE"),
        lambda: ConcurrentEdit({}),
        lambda: CheckOutBy(""),
        lambda: Fault(200),
        lambda: Fault(True),  # a bool is not a status
        lambda: Fault(503, retry_after=-1),
        lambda: Latency(float("inf")),
    ],
)
def test_invalid_interventions_are_refused_with_mock_error(build: object) -> None:
    assert callable(build)
    with pytest.raises(MockError):
        build()


def test_intervention_survives_a_json_round_trip() -> None:
    intervention = Intervention(
        "OR:wt.doc.WTDocument:1", ConcurrentEdit({"Title": "x"}, user="eve"), before_request=2
    )

    data = intervention.to_json()

    assert data == {
        "action": "concurrent_edit",
        "document": "OR:wt.doc.WTDocument:1",
        "changes": {"Title": "x"},
        "user": "eve",
        "before_request": 2,
    }
    assert Intervention.from_json(data) == intervention


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "JSON object"),
        ({"action": "explode", "document": "d"}, "unknown action"),
        ({"action": {"kind": "fault"}, "document": "d"}, "unknown action"),
        ({"action": ["fault"], "document": "d"}, "unknown action"),
        ({"action": "fault", "document": "d", "colour": 1}, "unknown field"),
        ({"action": "fault", "document": "d", "status": "x"}, "integer"),
    ],
)
def test_intervention_from_bad_json_names_what_is_wrong(data: object, message: str) -> None:
    with pytest.raises(MockError, match=message):
        Intervention.from_json(data)
