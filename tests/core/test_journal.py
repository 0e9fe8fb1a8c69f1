"""The journal: invoke/ok/fail/info pairs, background events, JSON lines, time order."""

from __future__ import annotations

import json

import pytest
from core_support import RepositoryFactory

from mock_server.core import (
    Event,
    Intervention,
    Journal,
    LoseResponse,
    Metrics,
    MicroUpdate,
    Repository,
    SourceSettings,
    VirtualClock,
    WriteConditions,
)
from mock_server.core.errors import ConcurrentModification, NotFound
from mock_server.core.journal import (
    SUMMARY_KEY_CHARS,
    SUMMARY_KEYS,
    SUMMARY_PREVIEW_CHARS,
    is_flat_body,
    summarise_body,
)


def test_client_operation_is_journalled_as_invoke_then_ok_with_the_same_op_id(
    repository: Repository, doc_id: str
) -> None:
    etag_before = repository.current_etag(doc_id)

    result = repository.update(
        doc_id, {"Title": "t"}, user="bob", conditions=WriteConditions(if_match=etag_before)
    )

    invoke, ok = repository.journal.events(doc_id)[-2:]
    assert (invoke.type, ok.type) == ("invoke", "ok")
    assert invoke.op_id == ok.op_id is not None
    assert (invoke.op, invoke.process, invoke.document) == ("update", "bob", doc_id)
    assert invoke.if_match == etag_before
    assert invoke.etag_before == etag_before
    assert invoke.changes == {"Title": "t"}
    assert invoke.request == ok.request == 1
    assert ok.status == 200
    assert ok.etag_after == result.etag
    assert ok.version == "A.1"
    assert ok.values is not None
    assert ok.values["Title"] == "t"


def test_create_is_journalled_with_status_201(repository: Repository, doc_id: str) -> None:
    invoke, ok = repository.journal.events()[:2]

    assert (invoke.type, invoke.op, invoke.changes) == (
        "invoke",
        "create",
        {"Name": "Pump housing", "Number": "0000000042", "Title": "Pump", "Description": "v1"},
    )
    assert (ok.type, ok.status, ok.document, ok.op_id) == ("ok", 201, doc_id, invoke.op_id)


def test_rejected_operation_is_journalled_as_fail_with_status_and_message(
    repository: Repository, doc_id: str
) -> None:
    stale = repository.current_etag(doc_id)
    repository.inject(Intervention(doc_id, MicroUpdate()))
    current = repository.current_etag(doc_id)

    with pytest.raises(ConcurrentModification):
        repository.update(doc_id, {"Title": "t"}, user="u", conditions=WriteConditions(stale))

    invoke, fail = repository.journal.events(doc_id)[-2:]
    assert (invoke.type, fail.type) == ("invoke", "fail")
    assert invoke.op_id == fail.op_id
    assert fail.status == 409
    assert fail.message == "The resource has been modified by another process"
    assert invoke.etag_before == fail.etag_after == current


def test_operation_on_an_unknown_document_is_journalled_as_404(repository: Repository) -> None:
    with pytest.raises(NotFound):
        repository.read("OR:wt.doc.WTDocument:9", user="u")

    invoke, fail = repository.journal.events()
    assert (invoke.type, fail.type, fail.status) == ("invoke", "fail", 404)
    assert invoke.op_id == fail.op_id
    assert fail.document == "OR:wt.doc.WTDocument:9"


def test_lost_response_is_journalled_as_info(repository: Repository, doc_id: str) -> None:
    repository.inject(Intervention(doc_id, LoseResponse()))

    repository.update(doc_id, {"Title": "t"}, user="u")

    invoke, info = repository.journal.events(doc_id)[-2:]
    assert (invoke.type, info.type, info.op_id) == ("invoke", "info", invoke.op_id)
    assert info.status == 200
    assert info.values is not None
    assert info.values["Title"] == "t"


def test_operations_on_a_working_copy_name_the_original_and_the_target(
    repository: Repository, doc_id: str
) -> None:
    working = repository.check_out(doc_id, user="alice").entity
    assert working is not None

    repository.read(str(working["ID"]), user="alice")

    invoke, ok = repository.journal.events(doc_id)[-2:]
    assert invoke.document == doc_id
    assert invoke.target == working["ID"]
    assert ok.version == "A.1"


def test_background_events_carry_their_source_and_duration(
    make_repository: RepositoryFactory, clock: VirtualClock
) -> None:
    repository = make_repository(
        background={"cache_sync": SourceSettings(rate=1.0, duration=0.25)}, seed=3
    )
    entity = repository.create({"Name": "x"}, user="u").entity
    assert entity is not None
    doc_id = str(entity["ID"])
    clock.advance(30)

    repository.read(doc_id, user="u")

    background = [e for e in repository.journal.events(doc_id) if e.type == "background"]
    assert len(background) > 5
    for event in background:
        assert (event.op, event.process, event.duration) == ("micro_update", "cache_sync", 0.25)
        assert event.document == doc_id
        assert event.version == "A.1"
        assert 0 < event.t <= 30


def test_events_are_ordered_by_time_even_when_materialised_late(
    make_repository: RepositoryFactory, clock: VirtualClock
) -> None:
    repository = make_repository(background={"indexer": SourceSettings(rate=0.5)}, seed=1)
    first, second = (repository.create({"Name": name}, user="u").entity for name in "ab")
    assert first is not None
    assert second is not None
    clock.advance(20)

    repository.read(str(first["ID"]), user="u")
    repository.read(str(second["ID"]), user="u")

    events = repository.journal.events()
    assert [e.t for e in events] == sorted(e.t for e in events)
    # The second document's arrivals were recorded after the first read but happened before it.
    first_read = next(e for e in events if e.op == "read")
    late = [e for e in events if e.document == second["ID"] and e.type == "background"]
    assert late
    assert all(e.seq > first_read.seq and e.t < first_read.t for e in late)
    assert events.index(first_read) > max(events.index(e) for e in late)


def test_journal_json_lines_round_trip_through_event_from_json(
    repository: Repository, doc_id: str
) -> None:
    repository.inject(Intervention(doc_id, MicroUpdate("indexer", 0.0)))
    repository.update(doc_id, {"Department": "3"}, user="u", conditions=WriteConditions("*"))

    lines = repository.journal.to_jsonl().splitlines()

    events = [Event.from_json(json.loads(line)) for line in lines]
    assert events == repository.journal.events()
    for line in lines:
        assert "null" not in line  # fields that do not apply are left out
    assert len(lines) == len(repository.journal) == 5


def test_journal_times_are_seconds_since_the_repository_started(
    repository: Repository, clock: VirtualClock, doc_id: str
) -> None:
    clock.advance(12.5)

    repository.read(doc_id, user="u")

    assert repository.journal.events()[-1].t == 12.5


def test_bounded_journal_drops_the_oldest_events_first() -> None:
    journal = Journal(limit=3)
    for i in range(5):
        journal.record(t=float(i), type="invoke", op="read", process="u")

    assert [e.seq for e in journal.events()] == [3, 4, 5]
    assert len(journal) == 3


def test_a_byte_bound_keeps_what_fits_counts_what_it_dropped_and_keeps_the_newest() -> None:
    journal = Journal(limit_bytes=300)
    for i in range(10):
        journal.record(t=float(i), type="invoke", op="read", process="u" * 40)
    size = len(journal.to_jsonl())

    assert journal.size_bytes == size <= 300
    assert size + len(journal.to_jsonl().splitlines()[0]) + 1 > 300, "no room for one more"
    assert [e.seq for e in journal.events()][-1] == 10
    assert journal.dropped == 10 - len(journal)
    big = journal.record(t=10.0, type="invoke", op="read", process="u" * 400)
    assert journal.events() == [big], "the newest event stays, however big"
    assert journal.size_bytes == len(journal.to_jsonl())


def test_a_byte_bound_follows_amends_rewinds_and_clears() -> None:
    journal = Journal(limit=5, limit_bytes=10_000)
    first = journal.record(t=0.0, type="invoke", op="update", process="u", changes={"a": 1})
    mark = journal.mark()
    journal.record(t=1.0, type="ok", op="update", process="u")
    journal.amend(first, changes=None, refused_body={"size": 7, "preview": "x" * 50})
    assert journal.size_bytes == len(journal.to_jsonl())
    journal.rewind(mark)
    assert journal.size_bytes == len(journal.to_jsonl())
    for i in range(7):  # the count bound drops too, and the bytes follow
        journal.record(t=float(i), type="ok", op="read", process="u")
    assert len(journal) == 5
    assert journal.size_bytes == len(journal.to_jsonl())
    journal.clear()
    assert journal.size_bytes == 0
    assert Journal().size_bytes is None, "counted only with a byte bound"


def test_journal_clear_restarts_sequence_and_op_ids() -> None:
    journal = Journal()
    journal.record(t=0.0, type="invoke", op="read", process="u", op_id=journal.next_op_id())
    journal.clear()

    assert list(journal) == []
    assert journal.next_op_id() == 1
    assert journal.record(t=0.0, type="ok", op="read", process="u").seq == 1


def test_metrics_count_background_events_and_interventions(
    repository: Repository, doc_id: str
) -> None:
    repository.inject(Intervention(doc_id, MicroUpdate("cache_sync")))
    repository.metrics.count_request()
    repository.metrics.count_response(409)
    repository.metrics.count_response(412)
    repository.metrics.count_response(200)

    snapshot = repository.metrics.snapshot()

    assert snapshot == {
        "requests": 1,
        "responses": {"200": 1, "409": 1, "412": 1},
        "conflicts": 2,
        "background": {"cache_sync": 1},
        "interventions": 1,
    }


def test_metrics_clear_resets_every_counter() -> None:
    metrics = Metrics()
    metrics.count_request()
    metrics.count_background("indexer")

    metrics.clear()

    assert metrics.snapshot() == {
        "requests": 0,
        "responses": {},
        "conflicts": 0,
        "background": {},
        "interventions": 0,
    }


# --- what a client sends, bounded ----------------------------------------------------------


def test_a_flat_object_of_scalars_is_a_plausible_write() -> None:
    assert is_flat_body({"Description": "x", "Count": 1, "Done": True, "Gone": None})
    assert not is_flat_body({"Description": {"nested": 1}})
    assert not is_flat_body({"Tags": ["a"]})
    assert not is_flat_body(["Description"])
    assert not is_flat_body({1: "non-string key"})


def test_a_summary_measures_the_body_as_compact_json() -> None:
    body = {"Description": "mine", "List": [1, None, True], "Nested": {"a": 1.5}}

    summary = summarise_body(body)

    text = json.dumps(body, separators=(",", ":"))
    assert summary["size"] == len(text)
    assert summary["preview"] == text
    assert summary["keys"] == ["Description", "List", "Nested"]
    assert summary["key_count"] == 3
    assert "size_at_least" not in summary


def test_a_summary_of_any_depth_needs_no_recursion() -> None:
    body: object = 1
    for _ in range(100_000):
        body = {"a": body}

    summary = summarise_body(body)

    assert summary["size_at_least"] is True, "too big to measure: a lower bound"
    assert summary["keys"] == ["a"]
    assert len(summary["preview"]) == SUMMARY_PREVIEW_CHARS


def test_a_summary_keeps_a_bounded_number_of_bounded_keys() -> None:
    body = {"k" * 1000 + str(i): i for i in range(50)}

    summary = summarise_body(body)

    assert summary["key_count"] == 50
    assert len(summary["keys"]) == SUMMARY_KEYS
    assert all(len(key) == SUMMARY_KEY_CHARS for key in summary["keys"])


def test_a_summary_of_a_non_object_names_its_type() -> None:
    assert summarise_body(["a", "b"])["type"] == "list"
    assert summarise_body("text") == {"size": 6, "preview": '"text"', "type": "str"}


def test_amending_an_event_replaces_it_in_place() -> None:
    journal = Journal()
    first = journal.record(t=0.0, type="invoke", op="update", process="u", changes={"a": 1})
    journal.record(t=0.0, type="fail", op="update", process="u", status=412)

    amended = journal.amend(first, changes=None, refused_body={"size": 7})

    assert [e.seq for e in journal] == [1, 2]
    assert journal.events()[0] is amended
    assert amended.changes is None
    assert amended.refused_body == {"size": 7}


@pytest.mark.parametrize("bound", [{"limit": 3}, {"limit_bytes": 400}])
def test_rewind_drops_what_was_recorded_since_the_mark_even_after_the_bound_dropped_events(
    bound: dict[str, int],
) -> None:
    journal = Journal(**bound)
    for i in range(3):
        journal.record(t=float(i), type="invoke", op="read", process="u" * 20)
    mark = journal.mark()
    journal.record(t=9.0, type="intervention", op="fault", process="p" * 200)

    journal.rewind(mark)

    assert all(e.seq <= 3 for e in journal.events()), "the undone event is gone"
    assert journal.record(t=10.0, type="ok", op="read", process="u").seq == 4
