"""Change sets (``Repository.change_set``): several operations under one hold of the lock,
applied together or rolled back together."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from core_support import RepositoryFactory, background_events, check_out, create, state_of

from mock_server.core import (
    CheckOutBy,
    ConcurrentEdit,
    Event,
    Fault,
    Intervention,
    LifecycleChange,
    MicroUpdate,
    MockError,
    Repository,
    SourceSettings,
    VirtualClock,
    WriteConditions,
)
from mock_server.core.errors import (
    Conflict,
    InjectedFault,
    NotFound,
    NotLatestIteration,
    PreconditionFailed,
)


def read(repository: Repository, key: str) -> dict[str, Any]:
    entity = repository.read(key, user="reader").entity
    assert entity is not None
    return entity


def rollbacks(repository: Repository) -> list[Event]:
    return [e for e in repository.journal.events() if e.type == "rollback"]


# ------------------------------------------------------------------ committing


def test_operations_inside_a_change_set_apply_when_it_ends(repository: Repository) -> None:
    doc = create(repository, Title="before")

    with repository.change_set() as change_set:
        repository.update(doc["ID"], {"Title": "inside"}, user="alice")
        new = create(repository, Title="new")
        assert repository.peek(doc["ID"])["Title"] == "inside"  # seen at once, inside

    assert change_set.rolled_back is False
    assert repository.peek(doc["ID"])["Title"] == "inside"
    assert repository.peek(new["ID"])["Title"] == "new"
    assert repository.ids() == [doc["ID"], new["ID"]]
    assert rollbacks(repository) == []


def test_a_deletion_committed_in_a_change_set_stays_deleted(repository: Repository) -> None:
    doc = create(repository)

    with repository.change_set():
        repository.delete(doc["ID"], user="alice")

    with pytest.raises(NotFound):
        repository.peek(doc["ID"])
    assert repository.ids() == []


# ------------------------------------------------------------------ rolling back


def test_roll_back_restores_values_and_etags(repository: Repository, clock: VirtualClock) -> None:
    first = create(repository, Title="one", Description="d1")
    second = create(repository, Title="two")
    clock.advance(1)
    before = [state_of(repository, first["ID"]), state_of(repository, second["ID"])]

    with repository.change_set() as change_set:
        repository.update(first["ID"], {"Title": "changed", "Department": "QA"}, user="alice")
        clock.advance(1)
        repository.update(second["ID"], {"Description": "changed"}, user="alice")
        repository.update(first["ID"], {"Description": "again"}, user="alice")
        change_set.roll_back("the client asked")

    assert change_set.rolled_back is True
    assert [state_of(repository, first["ID"]), state_of(repository, second["ID"])] == before


def test_roll_back_restores_a_check_out(repository: Repository) -> None:
    doc = create(repository, Title="before")
    before = (state_of(repository, doc["ID"]), len(repository))

    with repository.change_set() as change_set:
        working = check_out(repository, doc["ID"])
        repository.update(working, {"Title": "in the working copy"}, user="alice")
        change_set.roll_back("undo")

    assert (state_of(repository, doc["ID"]), len(repository)) == before
    assert repository.peek(doc["ID"])["CheckoutState"] == "Checked in"
    with pytest.raises(NotFound):
        repository.peek(working)
    repository.update(doc["ID"], {"Title": "bob's"}, user="bob")  # nobody holds it now


def test_roll_back_restores_an_undone_check_out_and_its_working_copy(
    repository: Repository,
) -> None:
    doc = create(repository, Title="before")
    working = check_out(repository, doc["ID"])
    repository.update(working, {"Title": "draft"}, user="alice")
    before = (state_of(repository, doc["ID"]), state_of(repository, working))

    with repository.change_set() as change_set:
        repository.undo_check_out(working, user="alice")
        change_set.roll_back("undo the undo")

    assert (state_of(repository, doc["ID"]), state_of(repository, working)) == before
    assert repository.peek(doc["ID"])["CheckoutState"] == "Checked out"
    latest = repository.check_in(working, user="alice").entity
    assert latest is not None
    assert latest["Title"] == "draft"


def test_roll_back_forgets_a_created_object_and_frees_its_number(
    repository: Repository,
) -> None:
    doc = create(repository)
    before = (repository.ids(), len(repository))

    with repository.change_set() as change_set:
        created = create(repository, Number="N-1", Title="new")
        part = create(repository, "part", Number="N-1")
        change_set.roll_back("undo")

    assert (repository.ids(), len(repository)) == before
    for key in (created["ID"], created["VersionID"], part["ID"]):
        with pytest.raises(NotFound):
            repository.peek(key)
    assert repository.query(filters=[("Number", "N-1")])[1] == 0
    again = create(repository, Number="N-1")  # the Number is free again
    assert again["Number"] == "N-1"
    assert repository.ids() == [doc["ID"], again["ID"]]


def test_roll_back_brings_a_deleted_object_back_with_its_keys(repository: Repository) -> None:
    doc = create(repository, Number="D-1", Title="first")
    working = check_out(repository, doc["ID"])
    repository.update(working, {"Title": "second"}, user="alice")
    latest = repository.check_in(working, user="alice").entity
    assert latest is not None
    past_before = repository.read(doc["ID"], user="u")
    before = (state_of(repository, latest["ID"]), repository.ids())

    with repository.change_set() as change_set:
        repository.delete(latest["ID"], user="alice")
        assert repository.ids() == []
        change_set.roll_back("undo")

    assert (state_of(repository, latest["ID"]), repository.ids()) == before
    assert read(repository, doc["VersionID"])["ID"] == latest["ID"]
    past_after = repository.read(doc["ID"], user="u")
    assert (past_after.entity, past_after.etag) == (past_before.entity, past_before.etag)
    assert repository.query(filters=[("Number", "D-1")])[1] == 1
    with pytest.raises(Conflict, match="already exists"):
        create(repository, Number="D-1")


def test_roll_back_of_a_check_in_restores_the_keys_of_every_iteration(
    repository: Repository,
) -> None:
    doc = create(repository, Title="first")
    working = check_out(repository, doc["ID"])
    repository.update(working, {"Title": "second"}, user="alice")
    second = repository.check_in(working, user="alice").entity
    assert second is not None
    working = check_out(repository, second["ID"])
    repository.update(working, {"Title": "third"}, user="alice")
    keys = (doc["ID"], second["ID"], working, doc["VersionID"])
    before = [repository.read(key, user="u") for key in keys]

    with repository.change_set() as change_set:
        third = repository.check_in(working, user="alice").entity
        assert third is not None
        assert third["ID"] == working
        assert read(repository, second["ID"])["Latest"] is False
        change_set.roll_back("undo")

    after = [repository.read(key, user="u") for key in keys]
    assert [(r.entity, r.etag) for r in after] == [(r.entity, r.etag) for r in before]
    assert read(repository, second["ID"])["Latest"] is True
    assert read(repository, working)["CheckoutState"] == "Working copy"
    assert read(repository, doc["ID"])["Version"] == "A.1"
    again = repository.check_in(working, user="alice").entity  # and it can be done again
    assert again is not None
    assert (again["ID"], again["Version"], again["Title"]) == (working, "A.3", "third")


def test_roll_back_restores_a_renumbering(repository: Repository) -> None:
    doc = create(repository, Number="N-1")
    before = state_of(repository, doc["ID"])

    with repository.change_set() as change_set:
        repository.update_common_properties(doc["ID"], {"Number": "N-2"}, user="alice")
        change_set.roll_back("undo")

    assert state_of(repository, doc["ID"]) == before
    assert [e["ID"] for e, _ in repository.query(filters=[("Number", "N-1")])[0]] == [doc["ID"]]
    assert repository.query(filters=[("Number", "N-2")])[1] == 0
    with pytest.raises(Conflict):
        create(repository, Number="N-1")
    assert create(repository, Number="N-2")["Number"] == "N-2"


def test_roll_back_journals_one_rollback_event_per_applied_operation(
    repository: Repository, clock: VirtualClock
) -> None:
    doc = create(repository, Title="before", Description="d")
    etag = repository.current_etag(doc["ID"])

    with repository.change_set() as change_set:
        updated = repository.update(doc["ID"], {"Title": "inside"}, user="alice")
        with pytest.raises(PreconditionFailed):  # refused: nothing to roll back
            repository.update(
                doc["VersionID"],
                {"Title": "stale"},
                user="alice",
                conditions=WriteConditions(if_match='"v9.1"'),
            )
        repository.read(doc["ID"], user="alice")  # a read changes nothing
        created = create(repository, Title="created")
        undone = change_set.roll_back("request 3 failed")

    applied = [
        e.op_id
        for e in repository.journal.events()
        if e.type == "ok" and e.op in ("update", "create") and e.seq > 2
    ]
    events = rollbacks(repository)
    assert undone == applied
    assert [(e.op_id, e.op, e.process) for e in events] == [
        (applied[0], "update", "alice"),
        (applied[1], "create", "wcadmin"),
    ]
    update_rollback, create_rollback = events
    assert update_rollback.document == doc["ID"]
    assert update_rollback.etag_after == etag == repository.current_etag(doc["ID"])
    assert update_rollback.etag_after != updated.etag
    assert update_rollback.values == {"Description": "d", "Title": "before"}
    assert update_rollback.version == "A.1"
    assert update_rollback.message == "rolled back: request 3 failed"
    assert create_rollback.document == created["ID"]
    assert create_rollback.values is None  # nothing is left of it
    assert all(e.t == round(clock.now() - repository.epoch, 6) for e in events)


def test_rolling_back_twice_is_a_mock_error(repository: Repository) -> None:
    doc = create(repository)

    with repository.change_set() as change_set:
        repository.update(doc["ID"], {"Title": "x"}, user="alice")
        change_set.roll_back("once")
        with pytest.raises(MockError, match="rolled back already"):
            change_set.roll_back("twice")

    assert len(rollbacks(repository)) == 1


def test_a_rolled_back_change_set_keeps_interventions_that_fired_and_request_counts(
    repository: Repository,
) -> None:
    doc = create(repository, Title="before")
    repository.inject(Intervention(doc["ID"], Fault(503), before_request=2))

    with repository.change_set() as change_set:
        repository.update(doc["ID"], {"Title": "inside"}, user="alice")
        with pytest.raises(InjectedFault):
            repository.update(doc["ID"], {"Description": "inside"}, user="alice")
        change_set.roll_back("request 2 failed")

    assert repository.request_count(doc["ID"]) == 2
    assert repository.pending() == []
    repository.update(doc["ID"], {"Title": "after"}, user="alice")  # request 3
    repository.update(doc["ID"], {"Title": "after"}, user="alice")  # request 4
    assert repository.request_count(doc["ID"]) == 4
    faults = [e for e in repository.journal.events() if e.type == "fail" and e.status == 503]
    assert len(faults) == 1


def test_a_before_request_intervention_that_fired_inside_does_not_fire_again(
    repository: Repository,
) -> None:
    doc = create(repository, Title="before")
    repository.inject(Intervention(doc["ID"], MicroUpdate(), before_request=2))

    with repository.change_set() as change_set:
        repository.update(doc["ID"], {"Title": "inside"}, user="alice")  # request 1
        repository.update(doc["ID"], {"Title": "again"}, user="alice")  # request 2: it fires
        change_set.roll_back("undo")
    repository.read(doc["ID"], user="alice")  # request 3
    with repository.change_set() as change_set:
        repository.read(doc["ID"], user="alice")  # request 4
        change_set.roll_back("undo")

    micro_updates = [e for e in repository.journal.events() if e.op == "micro_update"]
    assert len(micro_updates) == 1
    assert repository.request_count(doc["ID"]) == 4
    assert repository.pending() == []


def test_a_state_intervention_fired_before_the_first_change_stays_done(
    repository: Repository,
) -> None:
    doc = create(repository, Title="before")
    repository.inject(Intervention(doc["ID"], LifecycleChange("RELEASED"), before_request=1))

    with repository.change_set() as change_set:
        repository.update(doc["ID"], {"Title": "inside"}, user="alice")
        change_set.roll_back("undo")

    assert repository.peek(doc["ID"])["State"]["Value"] == "RELEASED"
    assert repository.peek(doc["ID"])["Title"] == "before"


def test_a_state_intervention_fired_between_two_operations_stays_done(
    repository: Repository,
) -> None:
    """``Repository.change_set``: what other processes did meanwhile (interventions that
    fired) stays done; only the change set's own operations are undone."""
    doc = create(repository, Title="before")
    repository.inject(Intervention(doc["ID"], LifecycleChange("RELEASED"), before_request=2))

    with repository.change_set() as change_set:
        repository.update(doc["ID"], {"Title": "first"}, user="alice")
        repository.update(doc["ID"], {"Description": "second"}, user="alice")  # fires first
        change_set.roll_back("undo")

    entity = repository.peek(doc["ID"])
    assert (entity["Title"], entity["Description"]) == ("before", None)
    assert entity["State"]["Value"] == "RELEASED"


def test_roll_back_keeps_a_deleted_objects_background_work(
    make_repository: RepositoryFactory, clock: VirtualClock
) -> None:
    rates = {"indexer": SourceSettings(rate=1.0)}
    rolled_back, untouched = make_repository(background=rates), make_repository(background=rates)
    doc = create(rolled_back)
    assert create(untouched)["ID"] == doc["ID"]
    clock.advance(5)

    with rolled_back.change_set() as change_set:
        rolled_back.delete(doc["ID"], user="alice")
        change_set.roll_back("undo")
    clock.advance(20)
    rolled_back.peek(doc["ID"])
    untouched.peek(doc["ID"])

    expected = background_events(untouched, doc["ID"])
    assert len(expected) > 5
    assert background_events(rolled_back, doc["ID"]) == expected


def test_a_change_set_on_parts_rolls_back_too(repository: Repository) -> None:
    part = create(repository, "part", Source="make")
    before = state_of(repository, part["ID"])

    with repository.change_set() as change_set:
        working = check_out(repository, part["ID"])
        repository.update(working, {"Source": "buy"}, user="alice")
        latest = repository.check_in(working, user="alice").entity
        assert latest is not None
        assert latest["Source"] == "buy"
        change_set.roll_back("undo")

    assert state_of(repository, part["ID"]) == before
    assert read(repository, part["ID"])["Latest"] is True
    with pytest.raises(NotFound):
        repository.peek(working)


# ------------------------------------------------------------------ exceptions and nesting


def test_an_exception_inside_rolls_back_and_is_re_raised(repository: Repository) -> None:
    doc = create(repository, Title="before")
    before = state_of(repository, doc["ID"])

    def interrupted() -> None:
        with repository.change_set():
            repository.update(doc["ID"], {"Title": "inside"}, user="alice")
            create(repository)
            raise RuntimeError("client bug")

    with pytest.raises(RuntimeError, match="client bug"):
        interrupted()

    assert state_of(repository, doc["ID"]) == before
    assert repository.ids() == [doc["ID"]]
    assert [(e.op, e.message) for e in rollbacks(repository)] == [
        ("update", "rolled back: the change set was interrupted"),
        ("create", "rolled back: the change set was interrupted"),
    ]


def test_a_refused_operation_escaping_the_change_set_rolls_it_back(
    repository: Repository,
) -> None:
    doc = create(repository, Title="before")
    before = state_of(repository, doc["ID"])

    def refused() -> None:
        with repository.change_set():
            repository.update(doc["ID"], {"Title": "inside"}, user="alice")
            repository.update("OR:wt.doc.WTDocument:1", {"Title": "x"}, user="alice")

    with pytest.raises(NotFound):
        refused()

    assert state_of(repository, doc["ID"]) == before
    assert [e.op for e in rollbacks(repository)] == ["update"]


def test_an_exception_after_a_roll_back_is_re_raised_without_a_second_roll_back(
    repository: Repository,
) -> None:
    doc = create(repository)

    def rolled_back_then_interrupted() -> None:
        with repository.change_set() as change_set:
            repository.update(doc["ID"], {"Title": "inside"}, user="alice")
            change_set.roll_back("first")
            raise RuntimeError("then this")

    with pytest.raises(RuntimeError, match="then this"):
        rolled_back_then_interrupted()

    assert [e.message for e in rollbacks(repository)] == ["rolled back: first"]


def test_change_sets_do_not_nest(repository: Repository) -> None:
    doc = create(repository, Title="before")

    with repository.change_set():
        repository.update(doc["ID"], {"Title": "outer"}, user="alice")
        with pytest.raises(MockError, match="do not nest"), repository.change_set():
            repository.update(doc["ID"], {"Title": "inner"}, user="alice")
        repository.update(doc["ID"], {"Description": "still outer"}, user="alice")

    entity = repository.peek(doc["ID"])
    assert (entity["Title"], entity["Description"]) == ("outer", "still outer")
    assert rollbacks(repository) == []
    with repository.change_set() as change_set:  # and the next one opens
        change_set.roll_back("fine")


def test_other_threads_wait_while_a_change_set_is_open(repository: Repository) -> None:
    doc = create(repository, Title="before")
    other = create(repository, Title="other")
    started, finished = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def bob() -> None:
        started.set()
        try:
            repository.update(other["ID"], {"Title": "bob"}, user="bob")
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finished.set()

    thread = threading.Thread(target=bob)
    with repository.change_set():
        repository.update(doc["ID"], {"Title": "first"}, user="alice")
        thread.start()
        assert started.wait(5)
        assert not finished.wait(0.05)  # bob's request is held at the lock
        repository.update(doc["ID"], {"Description": "second"}, user="alice")
    thread.join(5)

    assert not thread.is_alive()
    assert errors == []
    order = [(e.process, e.type) for e in repository.journal.events() if e.op == "update"]
    assert order == [
        ("alice", "invoke"),
        ("alice", "ok"),
        ("alice", "invoke"),
        ("alice", "ok"),
        ("bob", "invoke"),
        ("bob", "ok"),
    ]
    assert repository.peek(other["ID"])["Title"] == "bob"


def test_a_concurrent_edit_before_the_change_set_is_not_undone(repository: Repository) -> None:
    doc = create(repository, Title="mine")
    repository.inject(Intervention(doc["ID"], ConcurrentEdit({"Title": "theirs"})))
    latest = repository.latest_id(doc["ID"])
    before = state_of(repository, latest)

    with repository.change_set() as change_set:
        repository.update(latest, {"Title": "inside"}, user="alice")
        change_set.roll_back("undo")

    assert state_of(repository, latest) == before
    assert repository.peek(latest)["Title"] == "theirs"
    assert read(repository, doc["ID"])["Latest"] is False


def test_ids_handed_out_in_a_rolled_back_change_set_are_never_handed_out_again(
    make_repository: RepositoryFactory,
) -> None:
    # Another user's edit of b, fired inside the change set, gives b a new OR: that stays;
    # the rollback must not hand that id out again (to a's next iteration, say).
    repository = make_repository("thread")
    a, b = create(repository), create(repository)
    repository.inject(Intervention(b["ID"], ConcurrentEdit({"Title": "theirs"}), before_request=1))
    with repository.change_set() as change_set:
        repository.update(a["ID"], {"Title": "mine"}, user="wcadmin")
        with pytest.raises(NotLatestIteration):  # b's OR: names a past iteration now
            repository.update(b["ID"], {"Title": "mine"}, user="wcadmin")
        change_set.roll_back("b was refused")
    repository.inject(Intervention(a["ID"], ConcurrentEdit({"Title": "later"})))

    latest_a, latest_b = repository.latest_id(a["ID"]), repository.latest_id(b["ID"])
    assert latest_a != latest_b
    assert repository.peek(latest_a)["Title"] == "later"
    assert repository.peek(latest_b)["Title"] == "theirs"


def test_another_users_check_out_during_a_rolled_back_change_set_stays_whole(
    make_repository: RepositoryFactory,
) -> None:
    # The check-out fires on the change set's request, which it then refuses: the working
    # copy it made belongs to that user and must survive the rollback with its original.
    repository = make_repository("thread")
    doc = create(repository, Number="PUMP-1")
    repository.inject(Intervention(doc["ID"], CheckOutBy(user="other"), before_request=1))
    with repository.change_set() as change_set:
        with pytest.raises(Conflict):
            repository.update(doc["ID"], {"Title": "mine"}, user="alice")
        change_set.roll_back("refused")

    rows, total = repository.query(filters=[("Number", "PUMP-1")])
    assert [entity["CheckoutState"] for entity, _ in rows] == ["Checked out", "Working copy"]
    assert total == 2  # the original and the other user's working copy
    assert repository.peek(doc["ID"])["CheckoutState"] == "Checked out"
    checked_in = repository.check_in(doc["ID"], user="other").entity
    assert checked_in is not None
    assert checked_in["CheckoutState"] == "Checked in"


def test_an_intervention_skipped_inside_a_change_set_is_not_applied_by_its_rollback(
    make_repository: RepositoryFactory,
) -> None:
    repository = make_repository("thread")
    doc = create(repository)
    repository.inject(
        Intervention(doc["ID"], ConcurrentEdit({"Title": "theirs"}), before_request=2)
    )
    with repository.change_set() as change_set:
        working = check_out(repository, doc["ID"])  # the edit, on request 2, is skipped
        repository.update(working, {"Title": "mine"}, user="alice")
        change_set.roll_back("undone")

    entity = repository.peek(doc["ID"])
    assert (entity["Title"], entity["Version"], entity["CheckoutState"]) == (
        None,
        "A.1",
        "Checked in",
    )
    assert repository.peek(doc["ID"])["ModifiedBy"] == "wcadmin"  # nobody else's edit
