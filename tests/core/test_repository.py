"""The repository as a state machine: create, read, update, delete, ETags, validation."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from core_support import RepositoryFactory, state_of, writable

import mock_server.core.repository as repository_module
from mock_server.core import ConcurrentEdit, Intervention, Repository, VirtualClock, WriteConditions
from mock_server.core.errors import BadRequest, Conflict, NotFound
from mock_server.core.etag import parse_etag


def test_created_document_has_the_wrs_shape_at_version_a_1(repository: Repository) -> None:
    result = repository.create(
        {"Name": "Gearbox manual", "Title": "Gearbox", "Department": "R&D"}, user="alice"
    )

    entity = result.entity
    assert entity is not None
    assert entity["ID"].startswith("OR:wt.doc.WTDocument:")
    assert entity["VersionID"].startswith("VR:wt.doc.WTDocument:")
    assert entity["Version"] == "A.1"
    assert entity["Revision"] == "A"
    assert entity["Latest"] is True
    assert entity["State"] == {"Value": "INWORK", "Display": "In Work"}
    assert entity["CheckoutState"] == "Checked in"
    assert entity["CreatedOn"] == "2024-02-21T13:23:20+00:00"
    assert entity["LastModified"] == entity["CreatedOn"]
    assert entity["CreatedBy"] == entity["ModifiedBy"] == "alice"
    assert entity["Description"] is None
    assert entity["Department"] == "R&D"
    assert entity["ExternalReference"] is None


def test_created_document_has_the_composite_etag_of_iteration_and_milliseconds(
    repository: Repository, clock: VirtualClock
) -> None:
    result = repository.create({"Name": "x"}, user="wcadmin")

    assert result.etag == f'"v1.{int(clock.now() * 1000)}"'


def test_timestamps_carry_the_configured_utc_offset(
    make_repository: RepositoryFactory,
) -> None:
    repository = make_repository(utc_offset_minutes=120)

    entity = repository.create({"Name": "x"}, user="wcadmin").entity

    assert entity is not None
    assert entity["CreatedOn"] == "2024-02-21T15:23:20+02:00"


def test_documents_get_distinct_ids_and_are_listed(repository: Repository) -> None:
    first = repository.create({"Name": "one"}, user="u").entity
    second = repository.create({"Name": "two"}, user="u").entity

    assert first is not None
    assert second is not None
    assert first["ID"] != second["ID"]
    assert repository.ids() == [first["ID"], second["ID"]]


def test_create_without_a_name_is_refused_and_creates_nothing(repository: Repository) -> None:
    with pytest.raises(BadRequest, match="Name"):
        repository.create({"Title": "nameless"}, user="u")

    assert repository.ids() == []


def test_create_with_a_duplicate_number_is_a_conflict(repository: Repository, doc_id: str) -> None:
    with pytest.raises(Conflict) as caught:
        repository.create({"Name": "again", "Number": "0000000042"}, user="u")

    assert caught.value.http_status == 409
    assert repository.ids() == [doc_id]


def test_read_of_an_unknown_key_is_not_found(repository: Repository) -> None:
    with pytest.raises(NotFound) as caught:
        repository.read("OR:wt.doc.WTDocument:1", user="u")

    assert caught.value.http_status == 404


def test_document_can_be_read_by_its_version_reference(repository: Repository, doc_id: str) -> None:
    version_id = repository.peek(doc_id)["VersionID"]

    entity = repository.read(version_id, user="u").entity

    assert entity is not None
    assert entity["ID"] == doc_id


def test_successful_update_is_visible_and_records_who_and_when(
    repository: Repository, clock: VirtualClock, doc_id: str
) -> None:
    clock.advance(90)

    result = repository.update(doc_id, {"Title": "New", "Department": "R&D"}, user="bob")

    entity = repository.read(doc_id, user="u").entity
    assert entity is not None
    assert result.entity == entity
    assert entity["Title"] == "New"
    assert entity["Department"] == "R&D"
    assert entity["Description"] == "v1"
    assert entity["ModifiedBy"] == "bob"
    assert entity["LastModified"] == "2024-02-21T13:24:50+00:00"
    assert entity["Version"] == "A.1"  # a PATCH makes no new iteration


def test_every_state_change_changes_the_etag(repository: Repository, doc_id: str) -> None:
    before = repository.current_etag(doc_id)

    after = repository.update(doc_id, {"Title": "same"}, user="u").etag

    assert after != before
    assert repository.current_etag(doc_id) == after


def test_several_changes_within_one_millisecond_still_get_distinct_etags(
    repository: Repository, clock: VirtualClock, doc_id: str
) -> None:
    tags = [repository.current_etag(doc_id)]
    for i in range(5):
        clock.advance(0.0001)
        result = repository.update(doc_id, {"Description": str(i)}, user="u")
        assert result.etag is not None
        tags.append(result.etag)

    stamps = [parse_etag(tag).stamp for tag in tags]
    assert stamps == sorted(set(stamps))
    assert len(set(tags)) == len(tags)


def test_reads_do_not_change_the_etag(repository: Repository, doc_id: str) -> None:
    before = repository.current_etag(doc_id)

    for _ in range(3):
        assert repository.read(doc_id, user="u").etag == before


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"Version": "B.1"}, "ReadOnlyProperty"),
        ({"ID": "OR:wt.doc.WTDocument:1"}, "ReadOnlyProperty"),
        ({"State": {"Value": "RELEASED"}}, "ReadOnlyProperty"),
        ({"CheckoutState": "Checked out"}, "ReadOnlyProperty"),
        ({"LifeCycleTemplateName": "Basic"}, "ReadOnlyProperty"),
        ({"Name": "renamed"}, "ReadOnlyProperty"),
        ({"Number": "1"}, "ReadOnlyProperty"),
        ({"Title": "ok", "Colour": "red"}, "UnknownProperty"),
        ({"title": "wrong case"}, "UnknownProperty"),
        ({"Title": 5}, "BadRequest"),
        ({"Department": [1, 2]}, "BadRequest"),
        ({"Department": float("nan")}, "BadRequest"),
        ({"Description": "x" * 4001}, "BadRequest"),
    ],
)
def test_read_only_unknown_or_badly_typed_property_is_refused_and_nothing_changes(
    repository: Repository, doc_id: str, changes: dict[str, object], code: str
) -> None:
    before = state_of(repository, doc_id)

    with pytest.raises(BadRequest) as caught:
        repository.update(doc_id, changes, user="u")

    assert caught.value.http_status == 400
    assert caught.value.code == code
    assert state_of(repository, doc_id) == before


def test_unknown_property_in_the_wrong_case_gets_a_suggestion(
    repository: Repository, doc_id: str
) -> None:
    with pytest.raises(BadRequest, match="did you mean 'Title'"):
        repository.update(doc_id, {"title": "x"}, user="u")


def test_update_body_that_is_not_an_object_is_a_bad_request(
    repository: Repository, doc_id: str
) -> None:
    before = state_of(repository, doc_id)

    with pytest.raises(BadRequest, match="JSON object"):
        repository.update(doc_id, ["Title", "x"], user="u")

    assert state_of(repository, doc_id) == before


def test_odata_instance_annotations_in_a_body_are_ignored(
    repository: Repository, doc_id: str
) -> None:
    entity = repository.update(
        doc_id, {"@odata.etag": "whatever", "Title": "annotated"}, user="u"
    ).entity

    assert entity is not None
    assert entity["Title"] == "annotated"


def test_update_token_is_stored_with_the_write_and_echoed_back(
    repository: Repository, doc_id: str
) -> None:
    written = repository.update(
        doc_id, {"Title": "t"}, user="u", conditions=WriteConditions(update_token="tok-1")
    )

    assert written.update_token == "tok-1"
    assert repository.read(doc_id, user="u").update_token == "tok-1"


def test_delete_removes_the_document_and_all_its_keys(repository: Repository, doc_id: str) -> None:
    version_id = repository.peek(doc_id)["VersionID"]

    result = repository.delete(doc_id, user="u")

    assert result.entity is None
    assert repository.ids() == []
    with pytest.raises(NotFound):
        repository.read(doc_id, user="u")
    with pytest.raises(NotFound):
        repository.read(version_id, user="u")


def test_query_filters_by_equality_and_pages_in_id_order(repository: Repository) -> None:
    ids = [
        repository.create({"Name": f"doc {i}", "Title": "even" if i % 2 == 0 else "odd"}, user="u")
        for i in range(6)
    ]
    evens = [r.entity["ID"] for r in ids[::2] if r.entity is not None]

    page, total = repository.query(filters=[("Title", "even")], skip=1, top=1)

    assert total == 3
    assert [entity["ID"] for entity, _ in page] == evens[1:2]
    assert page[0][1] == repository.current_etag(evens[1])


def test_reset_forgets_documents_and_the_journal(repository: Repository, doc_id: str) -> None:
    repository.reset()

    assert repository.ids() == []
    assert len(repository.journal) == 0
    with pytest.raises(NotFound):
        repository.peek(doc_id)


def test_writable_values_survive_in_the_entity(repository: Repository, doc_id: str) -> None:
    repository.update(doc_id, {"ReviewComment": "ok", "Description": None}, user="u")

    assert writable(repository.peek(doc_id)) == {
        "Description": None,
        "Title": "Pump",
        "Department": None,
        "ExternalReference": None,
        "ReviewComment": "ok",
    }


def test_query_filter_sees_an_intervention_that_was_due_before_the_query(
    repository: Repository, clock: VirtualClock, doc_id: str
) -> None:
    repository.inject(Intervention(doc_id, ConcurrentEdit({"Title": "renamed"}), at=5))
    clock.advance(10)

    stale_matches, stale_total = repository.query(filters=[("Title", "Pump")])
    new_matches, new_total = repository.query(filters=[("Title", "renamed")])

    assert (stale_matches, stale_total) == ([], 0)
    assert new_total == 1
    assert new_matches[0][0]["Title"] == "renamed"


class _WatchedLock:
    """The repository's lock, watched: what the test counts is split by hold of the lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.depth = 0
        self.holds: list[int] = []

    def acquire(self) -> None:
        self._lock.acquire()
        self.depth += 1
        if self.depth == 1:
            self.holds.append(0)

    def release(self) -> None:
        self.depth -= 1
        self._lock.release()

    def __enter__(self) -> _WatchedLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def count(self) -> None:
        assert self.depth > 0, "counted outside the lock"
        self.holds[-1] += 1

    def step_aside(self) -> None:
        assert self.depth == 0, "stepped aside while holding the lock"


def test_a_filtering_scan_lets_go_of_the_lock_between_chunks(
    repository: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(1234):
        repository.add_document({"Name": f"doc {i}", "Title": "odd" if i % 2 else "even"})
    lock = _WatchedLock()
    monkeypatch.setattr(repository, "_lock", lock)

    def odd(values: Any) -> bool:
        lock.count()
        return bool(values["Title"] == "odd")

    page, total = repository.query(matches=odd, skip=600, top=3)

    assert total == 617
    assert [entity["Name"] for entity, _ in page] == ["doc 1201", "doc 1203", "doc 1205"]
    scanning = [n for n in lock.holds if n]
    assert sum(scanning) == 1234, "every document was judged once"
    assert max(scanning) <= repository_module._SCAN_CHUNK, lock.holds


def test_a_number_filter_is_a_lookup_and_finds_a_working_copy_too(repository: Repository) -> None:
    ids = [repository.add_document({"Name": f"doc {i}"}) for i in range(50)]
    number = repository.peek(ids[7])["Number"]
    working = repository.check_out(ids[7], user="u").entity
    assert working is not None
    judged: list[object] = []

    def named(values: Any) -> bool:
        judged.append(values["ID"])
        return bool(values["Name"] == "doc 7")

    page, total = repository.query(matches=named, number=number)

    assert total == 2
    assert [entity["ID"] for entity, _ in page] == [ids[7], working["ID"]]
    assert len(judged) == 2, "only the documents with that Number were judged"
    assert repository.query(filters=[("Number", "no such number")]) == ([], 0)


def test_unfiltered_pages_and_counts_include_working_copies_in_id_order(
    repository: Repository,
) -> None:
    ids = [repository.add_document({"Name": f"doc {i}"}) for i in range(4)]
    working = repository.check_out(ids[1], user="u").entity
    assert working is not None
    repository.delete(ids[2], user="u", conditions=WriteConditions(if_match="*"))

    everything, total = repository.query()
    page, _ = repository.query(skip=2, top=2)

    assert total == len(repository) == 4
    assert [e["ID"] for e, _ in everything] == [ids[0], ids[1], ids[3], working["ID"]]
    assert [e["ID"] for e, _ in page] == [ids[3], working["ID"]]


def test_reset_builds_the_new_documents_without_holding_the_lock(
    repository: Repository, monkeypatch: pytest.MonkeyPatch, doc_id: str
) -> None:
    lock = _WatchedLock()
    monkeypatch.setattr(repository, "_lock", lock)
    built_under_lock: list[bool] = []
    real = Repository._new_document

    def watched(self: Repository, *args: Any, **kwargs: Any) -> Any:
        built_under_lock.append(lock.depth > 0)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Repository, "_new_document", watched)

    repository.reset(documents=30, seed=4)

    assert built_under_lock == [False] * 30
    assert len(repository.ids()) == 30
    assert repository.peek(doc_id)["Name"] != "Pump housing", "the old document is gone"
    assert repository.seed == 4
    assert len(repository.journal) == 0


def test_reset_with_documents_gives_what_a_fresh_mock_seeded_with_them_gives(
    make_repository: RepositoryFactory, clock: VirtualClock
) -> None:
    fresh = make_repository(seed=3)
    fresh.seed_demo_documents(5)
    reset = make_repository(seed=9)
    reset.add_document({"Name": "gone"})
    reset.reset(seed=3, documents=5)

    assert reset.ids() == fresh.ids()
    assert [reset.peek(i) for i in reset.ids()] == [fresh.peek(i) for i in fresh.ids()]


def test_a_reader_stepping_aside_lets_every_waiting_writer_in_first() -> None:
    lock = repository_module._StepAsideLock()
    order: list[str] = []
    waiting = threading.Barrier(3)

    def writer(name: str) -> None:
        waiting.wait()
        with lock:
            order.append(name)

    lock.acquire()
    writers = [threading.Thread(target=writer, args=(f"writer {i}",)) for i in range(2)]
    for thread in writers:
        thread.start()
    waiting.wait()
    while lock._waiting < 2:  # until both are blocked on the lock
        os.sched_yield()
    lock.release()
    lock.step_aside()
    served_when_back = lock._served
    with lock:
        order.append("reader")
    for thread in writers:
        thread.join()

    assert served_when_back == 2, "step_aside returned before both waiting writers got in"
    assert order[-1] == "reader", order
    assert lock._waiting == 0


def test_a_reset_in_the_middle_of_a_scan_starts_the_scan_again_on_the_new_store(
    repository: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(1200):
        repository.add_document({"Name": f"old {i}", "Title": "keep"})
    real = Repository._judge
    calls = 0

    def judge_and_reset_once(self: Repository, *args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:  # between two chunks of the first scan
            self.reset(documents=3)
        return real(self, *args)

    monkeypatch.setattr(Repository, "_judge", judge_and_reset_once)

    page, total = repository.query(matches=lambda values: True, top=10)

    assert total == 3
    assert [entity["Name"] for entity, _ in page] == [
        entity["Name"] for entity, _ in repository.query()[0]
    ]
    assert all(not entity["Name"].startswith("old") for entity, _ in page)


def test_step_aside_does_not_wait_when_the_caller_still_holds_the_lock() -> None:
    lock = repository_module._StepAsideLock()
    got_in = threading.Event()

    def waiter() -> None:
        with lock:
            got_in.set()

    lock.acquire()
    lock.acquire()
    thread = threading.Thread(target=waiter)
    thread.start()
    while lock._waiting < 1:
        os.sched_yield()
    lock.release()  # one level down: still held

    lock.step_aside()  # must return at once: nobody can get in yet

    assert not got_in.is_set()
    assert lock._served == 0
    lock.release()
    thread.join()
    assert got_in.is_set()
