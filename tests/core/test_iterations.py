"""Iterations with an ``OR:`` of their own (profiles ``thread`` and ``wrs``), one ``ID`` for all
of them (``odata``), and parts: a second kind that iterates the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from core_support import RepositoryFactory, check_out, create, state_of

from mock_server.core import (
    ConcurrentEdit,
    Fault,
    Intervention,
    LifecycleChange,
    MicroUpdate,
    NewIteration,
    Repository,
    SourceSettings,
    VirtualClock,
    WriteConditions,
    profile_named,
)
from mock_server.core.errors import (
    BadRequest,
    Conflict,
    InjectedFault,
    NotFound,
    NotLatestIteration,
)
from mock_server.core.store import MAX_PAST_ITERATIONS

#: The profiles where each iteration has its own OR:, and the status of a write to a past one.
PER_ITERATION = {"thread": 412, "wrs": 409}


def check_in(repository: Repository, key: str, user: str = "alice") -> dict[str, Any]:
    latest = repository.check_in(key, user=user).entity
    assert latest is not None
    return latest


def new_iteration(
    repository: Repository, key: str, changes: dict[str, Any], user: str = "alice"
) -> dict[str, Any]:
    """Check ``key`` out, write ``changes`` to the working copy and check it in."""
    working = check_out(repository, key, user)
    repository.update(working, changes, user=user)
    return check_in(repository, working, user)


def read(repository: Repository, key: str) -> tuple[dict[str, Any], str | None]:
    result = repository.read(key, user="reader")
    assert result.entity is not None
    return result.entity, result.etag


# ------------------------------------------------------------------ check-in and past iterations


@pytest.mark.parametrize("profile", PER_ITERATION)
def test_the_checked_in_iteration_takes_the_working_copys_or(
    make_repository: RepositoryFactory, profile: str
) -> None:
    repository = make_repository(profile)
    doc = create(repository, Title="first")
    working = check_out(repository, doc["ID"])
    repository.update(working, {"Title": "second"}, user="alice")

    latest = check_in(repository, working)

    assert latest["ID"] == working
    assert latest["ID"] != doc["ID"]
    assert (latest["Version"], latest["Latest"], latest["Title"]) == ("A.2", True, "second")
    assert latest["CheckoutState"] == "Checked in"
    assert latest["VersionID"] == doc["VersionID"]
    assert repository.latest_id(doc["ID"]) == working
    assert repository.ids() == [working]


def test_the_old_or_names_the_iteration_before_with_its_values_version_and_etag(
    repository: Repository, clock: VirtualClock
) -> None:
    doc = create(repository, Title="first", Description="v1")
    clock.advance(1)
    working = check_out(repository, doc["ID"])
    repository.update(working, {"Title": "second", "Department": "QA"}, user="alice")
    clock.advance(1)
    before_check_in = read(repository, doc["ID"])

    check_in(repository, working)

    past, past_etag = read(repository, doc["ID"])
    assert past_etag == before_check_in[1]
    assert (past["ID"], past["Version"], past["Latest"]) == (doc["ID"], "A.1", False)
    assert (past["Title"], past["Description"], past["Department"]) == ("first", "v1", None)
    assert past["CheckoutState"] == "Checked in"
    assert past["VersionID"] == doc["VersionID"]
    assert past["LastModified"] == before_check_in[0]["LastModified"]


def test_a_past_iteration_never_changes_afterwards(
    make_repository: RepositoryFactory, clock: VirtualClock
) -> None:
    repository = make_repository(background={"indexer": SourceSettings(rate=2.0)}, seed=3)
    doc = create(repository, Title="first")
    latest = new_iteration(repository, doc["ID"], {"Title": "second"})
    past_then = read(repository, doc["ID"])
    latest_etag_then = repository.current_etag(latest["ID"])

    clock.advance(30)  # dozens of background micro-updates fall due
    repository.inject(Intervention(latest["ID"], MicroUpdate(source="cache_sync")))
    repository.inject(Intervention(doc["ID"], LifecycleChange("RELEASED")))
    repository.update(latest["ID"], {"Title": "third"}, user="bob")

    assert read(repository, doc["ID"]) == past_then
    assert repository.current_etag(latest["ID"]) != latest_etag_then
    background = [
        event.version
        for event in repository.journal.events(doc["ID"])
        if event.type == "background" and event.t > 0
    ]
    assert len(background) > 10
    assert set(background) == {"A.2"}  # the work landed on the latest iteration only
    assert repository.peek(latest["ID"])["State"]["Value"] == "RELEASED"


@pytest.mark.parametrize("profile", PER_ITERATION)
def test_the_version_id_names_the_latest_iteration(
    make_repository: RepositoryFactory, profile: str
) -> None:
    repository = make_repository(profile)
    doc = create(repository, Title="first")
    second = new_iteration(repository, doc["ID"], {"Title": "second"})
    third = new_iteration(repository, second["ID"], {"Title": "third"})

    entity, _ = read(repository, doc["VersionID"])

    assert len({doc["ID"], second["ID"], third["ID"]}) == 3
    assert (entity["ID"], entity["Version"], entity["Title"]) == (third["ID"], "A.3", "third")
    assert entity["Latest"] is True
    past, _ = read(repository, second["ID"])
    assert (past["Version"], past["Title"], past["Latest"]) == ("A.2", "second", False)


def test_a_concurrent_edit_makes_a_new_or_too(repository: Repository) -> None:
    doc = create(repository, Title="mine")

    repository.inject(Intervention(doc["ID"], ConcurrentEdit({"Title": "theirs"}, user="bob")))

    latest_id = repository.latest_id(doc["ID"])
    assert latest_id != doc["ID"]
    assert latest_id.startswith("OR:wt.doc.WTDocument:")
    latest, _ = read(repository, latest_id)
    assert (latest["Version"], latest["Title"], latest["ModifiedBy"]) == ("A.2", "theirs", "bob")
    assert latest["Latest"] is True
    past, _ = read(repository, doc["ID"])
    assert (past["Version"], past["Title"], past["Latest"]) == ("A.1", "mine", False)


def test_in_the_odata_profile_every_iteration_has_the_same_id(
    make_repository: RepositoryFactory,
) -> None:
    repository = make_repository("odata")
    doc = create(repository, Title="first")
    etag = repository.current_etag(doc["ID"])
    working = repository.check_out(doc["ID"], user="alice", if_match=etag).entity
    assert working is not None

    etag = repository.current_etag(working["ID"])
    latest = repository.check_in(working["ID"], user="alice", if_match=etag).entity
    repository.inject(Intervention(doc["ID"], ConcurrentEdit({"Title": "theirs"})))

    assert latest is not None
    assert latest["ID"] == doc["ID"]
    entity, _ = read(repository, doc["ID"])
    assert (entity["ID"], entity["Version"], entity["Latest"]) == (doc["ID"], "A.3", True)
    assert entity["Title"] == "theirs"
    assert repository.latest_id(doc["ID"]) == doc["ID"]
    assert repository.ids() == [doc["ID"]]
    with pytest.raises(NotFound):
        repository.read(working["ID"], user="reader")
    reads = [
        e for e in repository.journal.events(doc["ID"]) if e.type == "invoke" and e.op == "read"
    ]
    assert [(e.target, e.addressed) for e in reads] == [(None, None)]


def test_peek_and_current_etag_of_a_past_or_give_the_latest(repository: Repository) -> None:
    doc = create(repository, Title="first")
    latest = new_iteration(repository, doc["ID"], {"Title": "second"})

    _, past_etag = read(repository, doc["ID"])

    assert repository.peek(doc["ID"]) == repository.peek(latest["ID"])
    assert repository.peek(doc["ID"])["Title"] == "second"
    assert repository.current_etag(doc["ID"]) == repository.current_etag(latest["ID"])
    assert repository.current_etag(doc["ID"]) != past_etag
    assert repository.snapshot(doc["ID"]) == state_of(repository, latest["ID"])


# ------------------------------------------------------------------ writes to a past iteration

#: Each write a client can send, given (repository, key): all refused on a past iteration.
WRITES: dict[str, Callable[[Repository, str], object]] = {
    "PATCH": lambda r, key: r.update(key, {"Title": "late"}, user="alice"),
    "DELETE": lambda r, key: r.delete(key, user="alice"),
    "CheckOut": lambda r, key: r.check_out(key, user="alice"),
    "CheckIn": lambda r, key: r.check_in(key, user="alice"),
    "UndoCheckOut": lambda r, key: r.undo_check_out(key, user="alice"),
    "UpdateCommonProperties": lambda r, key: r.update_common_properties(
        key, {"Name": "renamed"}, user="alice"
    ),
}


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize(("profile", "status"), PER_ITERATION.items())
def test_a_write_to_a_past_iteration_is_refused_and_changes_nothing(
    make_repository: RepositoryFactory, profile: str, status: int, write: str
) -> None:
    repository = make_repository(profile)
    doc = create(repository, Title="first")
    latest = new_iteration(repository, doc["ID"], {"Title": "second"})
    working = None
    if write in ("CheckIn", "UndoCheckOut"):  # would succeed on the latest: it is checked out
        working = check_out(repository, latest["ID"])
    before = (
        state_of(repository, latest["ID"]),
        read(repository, doc["ID"]),
        None if working is None else state_of(repository, working),
        repository.ids(),
        len(repository),
    )

    with pytest.raises(NotLatestIteration) as caught:
        WRITES[write](repository, doc["ID"])

    assert caught.value.http_status == status
    assert caught.value.code == "NotLatestIteration"
    assert latest["ID"] in caught.value.message
    assert doc["VersionID"] in caught.value.message
    assert doc["ID"] in caught.value.message
    after = (
        state_of(repository, latest["ID"]),
        read(repository, doc["ID"]),
        None if working is None else state_of(repository, working),
        repository.ids(),
        len(repository),
    )
    assert after == before
    failure = repository.journal.events(doc["ID"])[-3]  # then the two events of the read
    assert (failure.type, failure.status, failure.message) == (
        "fail",
        status,
        caught.value.message,
    )


def test_the_past_iteration_status_is_a_profile_knob(make_repository: RepositoryFactory) -> None:
    repository = make_repository(profile_named("wrs").replace(past_iteration_status=410))
    doc = create(repository)
    new_iteration(repository, doc["ID"], {"Title": "second"})

    with pytest.raises(NotLatestIteration) as caught:
        repository.update(doc["ID"], {"Title": "late"}, user="alice")

    assert caught.value.http_status == 410


def test_the_latest_iteration_takes_writes_by_its_own_or(repository: Repository) -> None:
    doc = create(repository, Title="first")
    latest = new_iteration(repository, doc["ID"], {"Title": "second"})
    etag = repository.current_etag(latest["ID"])

    result = repository.update(
        latest["ID"], {"Title": "third"}, user="bob", conditions=WriteConditions(if_match=etag)
    )

    assert result.entity is not None
    assert (result.entity["ID"], result.entity["Title"]) == (latest["ID"], "third")
    assert read(repository, doc["ID"])[0]["Title"] == "first"


# ------------------------------------------------------------------ interventions and the journal


def test_an_intervention_injected_by_a_past_or_targets_the_object(repository: Repository) -> None:
    doc = create(repository, Title="first")
    latest = new_iteration(repository, doc["ID"], {"Title": "second"})
    past_before = read(repository, doc["ID"])

    repository.inject(Intervention(doc["ID"], LifecycleChange("RELEASED")))

    assert repository.peek(latest["ID"])["State"]["Value"] == "RELEASED"
    assert read(repository, doc["ID"]) == past_before
    (event,) = [e for e in repository.journal.events() if e.type == "intervention"]
    assert (event.op, event.document, event.version) == ("lifecycle_change", doc["ID"], "A.2")


def test_a_request_intervention_by_a_past_or_fires_on_the_objects_next_request(
    repository: Repository,
) -> None:
    doc = create(repository, Title="first")
    latest = new_iteration(repository, doc["ID"], {"Title": "second"})
    requests = repository.request_count(doc["ID"])
    assert requests == repository.request_count(latest["ID"])

    repository.inject(Intervention(doc["ID"], Fault(503), before_request=requests + 1))

    with pytest.raises(InjectedFault):
        repository.read(latest["ID"], user="reader")
    assert read(repository, latest["ID"])[0]["Title"] == "second"
    assert repository.request_count(doc["ID"]) == requests + 2


def test_a_before_request_intervention_by_a_past_or_fires_on_the_objects_next_request(
    repository: Repository,
) -> None:
    doc = create(repository, Title="first")
    latest = new_iteration(repository, doc["ID"], {"Title": "second"})
    past_before = read(repository, doc["ID"])
    requests = repository.request_count(doc["ID"])

    repository.inject(
        Intervention(doc["ID"], ConcurrentEdit({"Title": "theirs"}), before_request=requests + 1)
    )
    assert repository.peek(latest["ID"])["Title"] == "second"  # not yet: peek is no request
    entity, _ = read(repository, doc["VersionID"])

    assert (entity["Title"], entity["Version"]) == ("theirs", "A.3")
    assert read(repository, doc["ID"]) == past_before
    assert repository.pending() == []


def test_the_journal_names_the_object_by_its_first_or_and_says_what_was_addressed(
    repository: Repository,
) -> None:
    doc = create(repository)
    first = doc["ID"]
    repository.read(first, user="u")
    working = check_out(repository, first)
    repository.read(working, user="u")
    latest = check_in(repository, working)["ID"]
    repository.read(first, user="u")
    repository.read(latest, user="u")
    repository.read(doc["VersionID"], user="u")

    invokes = [e for e in repository.journal.events() if e.type == "invoke"]

    assert {e.document for e in invokes[1:]} == {first}  # the create's invoke names none
    assert {e.document for e in repository.journal.events() if e.type == "ok"} == {first}
    seen = [(e.op, e.target, e.addressed) for e in invokes[1:]]
    assert seen == [
        ("read", None, None),
        ("check_out", None, None),
        ("read", working, "working_copy"),
        ("check_in", working, "working_copy"),
        ("read", None, "past_iteration"),
        ("read", latest, "latest"),
        ("read", doc["VersionID"], "version"),
    ]


def test_a_key_made_past_by_an_intervention_firing_on_the_request_is_journalled_as_past(
    repository: Repository,
) -> None:
    doc = create(repository, Title="mine")
    repository.inject(
        Intervention(doc["ID"], ConcurrentEdit({"Title": "theirs"}), before_request=1)
    )

    with pytest.raises(NotLatestIteration):
        repository.update(doc["ID"], {"Title": "mine too"}, user="alice")

    edit, invoke, fail = repository.journal.events(doc["ID"])[-3:]
    assert (edit.type, edit.op, edit.version) == ("intervention", "concurrent_edit", "A.2")
    assert (invoke.type, invoke.target, invoke.addressed) == ("invoke", None, "past_iteration")
    assert (fail.type, fail.status) == ("fail", 412)
    assert repository.peek(doc["VersionID"])["Title"] == "theirs"


def test_a_refused_write_to_a_past_iteration_is_journalled_as_addressed_to_it(
    repository: Repository,
) -> None:
    doc = create(repository)
    second = new_iteration(repository, doc["ID"], {"Title": "second"})
    new_iteration(repository, second["ID"], {"Title": "third"})

    with pytest.raises(NotLatestIteration):
        repository.update(second["ID"], {"Title": "late"}, user="bob")

    invoke, fail = repository.journal.events(doc["ID"])[-2:]
    assert (invoke.type, invoke.target, invoke.addressed) == (
        "invoke",
        second["ID"],
        "past_iteration",
    )
    assert (fail.type, fail.document) == ("fail", doc["ID"])


# ------------------------------------------------------------------ check-out cycles


@pytest.mark.parametrize("profile", PER_ITERATION)
@pytest.mark.parametrize("undo_by", ["working copy", "original"])
def test_check_out_in_out_and_undo_leaves_the_latest_reachable_by_its_or(
    make_repository: RepositoryFactory, profile: str, undo_by: str
) -> None:
    repository = make_repository(profile)
    doc = create(repository, Title="first")
    latest = new_iteration(repository, doc["ID"], {"Title": "second"})
    working = check_out(repository, latest["ID"])

    undone = repository.undo_check_out(
        working if undo_by == "working copy" else latest["ID"], user="alice"
    )

    assert undone.entity is not None
    assert undone.entity["ID"] == latest["ID"]
    entity, _ = read(repository, latest["ID"])
    assert (entity["ID"], entity["Version"], entity["Title"]) == (latest["ID"], "A.2", "second")
    assert (entity["Latest"], entity["CheckoutState"]) == (True, "Checked in")
    assert read(repository, doc["VersionID"])[0]["ID"] == latest["ID"]
    assert repository.latest_id(doc["ID"]) == latest["ID"]
    with pytest.raises(NotFound):
        repository.read(working, user="reader")
    updated = repository.update(latest["ID"], {"Title": "third"}, user="bob").entity
    assert updated is not None
    assert updated["Title"] == "third"


@pytest.mark.parametrize("profile", PER_ITERATION)
def test_keep_checked_out_then_undo_leaves_the_new_iteration_reachable(
    make_repository: RepositoryFactory, profile: str
) -> None:
    repository = make_repository(profile)
    doc = create(repository, Title="first")
    working = check_out(repository, doc["ID"])
    repository.update(working, {"Title": "second"}, user="alice")

    kept = repository.check_in(working, user="alice", keep_checked_out=True).entity
    assert kept is not None
    second_working = repository.peek(kept["ID"])
    repository.undo_check_out(kept["ID"], user="alice")

    entity, _ = read(repository, working)
    assert (entity["Version"], entity["Title"], entity["CheckoutState"]) == (
        "A.2",
        "second",
        "Checked in",
    )
    assert second_working["CheckoutState"] == "Checked out"
    assert read(repository, doc["VersionID"])[0]["ID"] == working


@pytest.mark.parametrize("profile", PER_ITERATION)
def test_many_check_in_cycles_give_each_iteration_its_own_or(
    make_repository: RepositoryFactory, profile: str
) -> None:
    repository = make_repository(profile)
    doc = create(repository, Title="v1")
    ids = [doc["ID"]]
    for number in range(2, 6):
        if number % 2:  # alternate a check-in with a check-out undone before it
            check_out(repository, ids[-1])
            repository.undo_check_out(ids[-1], user="alice")
        ids.append(new_iteration(repository, ids[-1], {"Title": f"v{number}"})["ID"])

    assert len(set(ids)) == len(ids)
    for number, key in enumerate(ids, 1):
        entity, _ = read(repository, key)
        assert (entity["Version"], entity["Title"]) == (f"A.{number}", f"v{number}")
        assert entity["Latest"] is (key == ids[-1])


def test_at_most_max_past_iterations_are_kept(repository: Repository) -> None:
    doc = create(repository, Title="edit 0")
    ids = [doc["ID"]]
    for number in range(1, MAX_PAST_ITERATIONS + 2):
        repository.inject(Intervention(ids[-1], ConcurrentEdit({"Title": f"edit {number}"})))
        ids.append(repository.latest_id(ids[-1]))

    past = ids[:-1]
    assert len(past) == MAX_PAST_ITERATIONS + 1
    with pytest.raises(NotFound):
        repository.read(past[0], user="reader")
    with pytest.raises(NotFound):
        repository.update(past[0], {"Title": "late"}, user="alice")
    oldest_kept, _ = read(repository, past[1])
    assert (oldest_kept["Version"], oldest_kept["Title"]) == ("A.2", "edit 1")
    newest_past, _ = read(repository, past[-1])
    assert (newest_past["Latest"], newest_past["Title"]) == (False, f"edit {len(past) - 1}")
    latest, _ = read(repository, doc["VersionID"])
    assert (latest["ID"], latest["Version"]) == (ids[-1], f"A.{len(ids)}")


# ------------------------------------------------------------------ parts


def test_a_part_has_wtpart_references_and_its_own_properties(repository: Repository) -> None:
    part = create(repository, "part", Source="buy", Description="bolt")
    doc = create(repository)

    assert part["ID"].startswith("OR:wt.part.WTPart:")
    assert part["VersionID"].startswith("VR:wt.part.WTPart:")
    assert (part["Source"], part["Description"]) == ("buy", "bolt")
    assert "Title" not in part
    assert repository.ids("part") == [part["ID"]]
    assert repository.ids("document") == [doc["ID"]]
    assert repository.ids() == [part["ID"], doc["ID"]]


def test_a_part_refuses_a_documents_property(repository: Repository) -> None:
    part = create(repository, "part")

    with pytest.raises(BadRequest) as caught:
        repository.update(part["ID"], {"Title": "no"}, user="alice")

    assert caught.value.code == "UnknownProperty"
    assert "PTC.ProdMgmt.Part" in caught.value.message
    with pytest.raises(BadRequest):
        repository.create({"Name": "doc-like", "Title": "no"}, user="u", kind="part")


def test_a_key_read_as_the_other_kind_is_not_found(repository: Repository) -> None:
    part = create(repository, "part")
    doc = create(repository)

    with pytest.raises(NotFound, match="No document with key"):
        repository.read(part["ID"], user="u", kind="document")
    with pytest.raises(NotFound, match="No part with key"):
        repository.read(doc["VersionID"], user="u", kind="part")
    assert read(repository, part["ID"])[0]["ID"] == part["ID"]


@pytest.mark.parametrize(("profile", "status"), PER_ITERATION.items())
def test_a_part_iterates_like_a_document(
    make_repository: RepositoryFactory, profile: str, status: int
) -> None:
    repository = make_repository(profile)
    part = create(repository, "part", Source="make")
    working = check_out(repository, part["ID"])
    assert working.startswith("OR:wt.part.WTPart:")
    repository.update(working, {"Source": "buy"}, user="alice")

    latest = check_in(repository, working)

    assert (latest["ID"], latest["Version"], latest["Source"]) == (working, "A.2", "buy")
    past, _ = read(repository, part["ID"])
    assert (past["Version"], past["Source"], past["Latest"]) == ("A.1", "make", False)
    assert read(repository, part["VersionID"])[0]["ID"] == working
    with pytest.raises(NotLatestIteration) as caught:
        repository.update(part["ID"], {"Source": "late"}, user="bob")
    assert caught.value.http_status == status
    assert part["VersionID"] in caught.value.message
    assert {e.document for e in repository.journal.events() if e.type == "ok"} == {part["ID"]}


def test_a_concurrent_edit_of_a_part_gives_a_new_wtpart_or(repository: Repository) -> None:
    part = create(repository, "part", Source="make")

    repository.inject(Intervention(part["ID"], ConcurrentEdit({"Source": "buy"})))

    latest_id = repository.latest_id(part["ID"])
    assert latest_id.startswith("OR:wt.part.WTPart:")
    assert latest_id != part["ID"]
    assert repository.peek(latest_id)["Source"] == "buy"


def test_a_part_and_a_document_may_share_a_number(repository: Repository) -> None:
    doc = create(repository, Number="0000001234")

    part = create(repository, "part", Number="0000001234")

    assert part["Number"] == doc["Number"] == "0000001234"
    number = [("Number", "0000001234")]
    assert repository.query(filters=number, kind="part")[0][0][0]["ID"] == part["ID"]
    assert repository.query(filters=number, kind="document")[0][0][0]["ID"] == doc["ID"]
    assert repository.query(filters=number, kind="part")[1] == 1


def test_two_parts_may_not_share_a_number(repository: Repository) -> None:
    create(repository, "part", Number="P-1")
    before = (repository.ids(), len(repository))

    with pytest.raises(Conflict) as caught:
        repository.create({"Name": "again", "Number": "P-1"}, user="u", kind="part")

    assert caught.value.http_status == 409
    assert caught.value.message == "A part with number P-1 already exists"
    assert (repository.ids(), len(repository)) == before


def test_renumbering_a_part_is_checked_against_parts_only(repository: Repository) -> None:
    create(repository, Number="D-1")
    create(repository, "part", Number="P-1")
    part = create(repository, "part", Number="P-2")

    with pytest.raises(Conflict, match="A part with number P-1 already exists"):
        repository.update_common_properties(part["ID"], {"Number": "P-1"}, user="u")
    renumbered = repository.update_common_properties(part["ID"], {"Number": "D-1"}, user="u")

    assert renumbered.entity is not None
    assert renumbered.entity["Number"] == "D-1"
    with pytest.raises(Conflict):
        repository.create({"Name": "again", "Number": "D-1"}, user="u", kind="part")
    create(repository, "part", Number="P-2")  # the old Number is free again


@pytest.mark.parametrize(("profile", "new_id"), [("thread", True), ("wrs", True), ("odata", False)])
def test_a_new_iteration_intervention_leaves_the_client_a_stale_or(
    make_repository: RepositoryFactory, profile: str, new_id: bool
) -> None:
    repository = make_repository(profile)
    entity = repository.create({"Name": "doc", "Title": "mine"}, user="wcadmin").entity
    assert entity is not None
    doc_id = str(entity["ID"])

    repository.inject(Intervention(doc_id, NewIteration(user="bob")))

    latest = repository.peek(doc_id)
    assert (latest["Version"], latest["Title"], latest["ModifiedBy"]) == ("A.2", "mine", "bob")
    assert (latest["ID"] != doc_id) is new_id
    if new_id:
        with pytest.raises(NotLatestIteration):
            repository.update(doc_id, {"Title": "x"}, user="wcadmin")
    [event] = [e for e in repository.journal.events() if e.op == "new_iteration"]
    assert (event.process, event.document, event.version) == ("bob", doc_id, "A.2")


def test_a_new_iteration_of_a_checked_out_document_is_refused(
    make_repository: RepositoryFactory,
) -> None:
    repository = make_repository("thread")
    entity = repository.create({"Name": "doc"}, user="wcadmin").entity
    assert entity is not None
    repository.check_out(str(entity["ID"]), user="alice")

    with pytest.raises(Conflict, match="needs it checked in"):
        repository.inject(Intervention(str(entity["ID"]), NewIteration()))
