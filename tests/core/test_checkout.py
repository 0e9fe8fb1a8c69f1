"""Check-out creates a working copy; check-in makes the next iteration; undo discards."""

from __future__ import annotations

import pytest
from core_support import state_of, writable

from mock_server.core import Repository, WriteConditions
from mock_server.core.errors import BadRequest, CheckedOut, ConcurrentModification, NotFound


def check_out(repository: Repository, doc_id: str, user: str = "alice") -> str:
    working = repository.check_out(doc_id, user=user, note="editing").entity
    assert working is not None
    return str(working["ID"])


def test_check_out_creates_a_working_copy_and_marks_the_original_checked_out(
    repository: Repository, doc_id: str
) -> None:
    original_before = repository.peek(doc_id)

    result = repository.check_out(doc_id, user="alice")

    working = result.entity
    assert working is not None
    assert working["ID"] != doc_id
    assert working["CheckoutState"] == "Working copy"
    assert working["Latest"] is False
    assert working["Version"] == "A.1"
    assert writable(working) == writable(original_before)
    assert result.etag == repository.current_etag(working["ID"])
    original = repository.peek(doc_id)
    assert original["CheckoutState"] == "Checked out"
    assert writable(original) == writable(original_before)


def test_check_out_changes_the_originals_etag(repository: Repository, doc_id: str) -> None:
    before = repository.current_etag(doc_id)

    check_out(repository, doc_id)

    assert repository.current_etag(doc_id) != before


def test_working_copy_is_not_listed_as_a_document(repository: Repository, doc_id: str) -> None:
    check_out(repository, doc_id)

    assert repository.ids() == [doc_id]


def test_write_by_another_user_to_a_checked_out_document_is_refused_with_409(
    repository: Repository, doc_id: str
) -> None:
    check_out(repository, doc_id, user="alice")
    before = state_of(repository, doc_id)

    with pytest.raises(CheckedOut) as caught:
        repository.update(doc_id, {"Title": "bob's"}, user="bob")

    assert caught.value.http_status == 409
    assert caught.value.code == "CheckedOut"
    assert caught.value.message == f"{doc_id} is checked out by alice; it cannot be modified by bob"
    assert state_of(repository, doc_id) == before


def test_write_by_another_user_to_the_working_copy_is_refused_with_409(
    repository: Repository, doc_id: str
) -> None:
    working_id = check_out(repository, doc_id, user="alice")
    before = state_of(repository, working_id)

    with pytest.raises(CheckedOut, match="checked out by alice") as caught:
        repository.update(working_id, {"Title": "bob's"}, user="bob")

    assert caught.value.http_status == 409
    assert state_of(repository, working_id) == before


def test_owner_writing_the_original_is_told_to_use_the_working_copy(
    repository: Repository, doc_id: str
) -> None:
    working_id = check_out(repository, doc_id, user="alice")

    with pytest.raises(CheckedOut, match=f"update its working copy {working_id}"):
        repository.update(doc_id, {"Title": "x"}, user="alice")


def test_check_in_makes_the_next_iteration_with_the_working_copys_values(
    repository: Repository, doc_id: str
) -> None:
    title_before = repository.peek(doc_id)["Title"]
    working_id = check_out(repository, doc_id, user="alice")
    repository.update(working_id, {"Title": "edited", "Department": "QA"}, user="alice")
    etag_before = repository.current_etag(doc_id)

    result = repository.check_in(working_id, user="alice", note="done")

    entity = result.entity
    assert entity is not None
    # The working copy becomes iteration A.2 and keeps its OR:; doc_id names A.1 now.
    assert entity["ID"] == working_id
    past = repository.read(doc_id, user="bob").entity
    assert past is not None
    assert (past["ID"], past["Version"], past["Latest"]) == (doc_id, "A.1", False)
    assert (past["Title"], past["Department"]) == (title_before, None)
    assert entity["Version"] == "A.2"
    assert entity["CheckoutState"] == "Checked in"
    assert entity["Title"] == "edited"
    assert entity["Department"] == "QA"
    assert entity["ModifiedBy"] == "alice"
    assert result.etag is not None
    assert result.etag.startswith('"v2.')
    assert result.etag != etag_before
    assert repository.peek(working_id)["CheckoutState"] == "Checked in"  # no working copy left


def test_check_in_by_the_original_key_works_too(repository: Repository, doc_id: str) -> None:
    working_id = check_out(repository, doc_id, user="alice")
    repository.update(working_id, {"Description": "via original"}, user="alice")

    entity = repository.check_in(doc_id, user="alice").entity

    assert entity is not None
    assert entity["Version"] == "A.2"
    assert entity["Description"] == "via original"


def test_undo_check_out_discards_the_working_copy_and_keeps_the_iteration(
    repository: Repository, doc_id: str
) -> None:
    values_before = writable(repository.peek(doc_id))
    working_id = check_out(repository, doc_id, user="alice")
    repository.update(working_id, {"Title": "thrown away"}, user="alice")

    entity = repository.undo_check_out(working_id, user="alice").entity

    assert entity is not None
    assert entity["Version"] == "A.1"
    assert entity["CheckoutState"] == "Checked in"
    assert writable(entity) == values_before
    with pytest.raises(NotFound):
        repository.peek(working_id)


def test_check_in_keep_checked_out_makes_a_new_iteration_and_a_fresh_working_copy(
    repository: Repository, doc_id: str
) -> None:
    working_id = check_out(repository, doc_id, user="alice")
    repository.update(working_id, {"Title": "kept"}, user="alice")

    entity = repository.check_in(doc_id, user="alice", keep_checked_out=True).entity

    assert entity is not None
    assert entity["Version"] == "A.2"
    assert entity["CheckoutState"] == "Checked out"
    assert entity["Title"] == "kept"
    with pytest.raises(CheckedOut):
        repository.update(str(entity["ID"]), {"Title": "x"}, user="bob")
    # The owner can keep going: check in again by the key of the latest iteration.
    assert repository.check_in(str(entity["ID"]), user="alice").entity is not None
    assert repository.peek(doc_id)["Version"] == "A.3"


def test_checking_out_a_checked_out_document_is_refused(
    repository: Repository, doc_id: str
) -> None:
    check_out(repository, doc_id, user="alice")

    with pytest.raises(CheckedOut, match="checked out by alice"):
        repository.check_out(doc_id, user="bob")
    with pytest.raises(CheckedOut, match="already checked out by you"):
        repository.check_out(doc_id, user="alice")


def test_a_working_copy_cannot_be_checked_out(repository: Repository, doc_id: str) -> None:
    working_id = check_out(repository, doc_id)

    with pytest.raises(CheckedOut, match="working copy"):
        repository.check_out(working_id, user="alice")


@pytest.mark.parametrize("operation", ["check_in", "undo_check_out"])
def test_check_in_or_undo_by_another_user_is_refused_with_409(
    repository: Repository, doc_id: str, operation: str
) -> None:
    working_id = check_out(repository, doc_id, user="alice")
    before = (state_of(repository, doc_id), state_of(repository, working_id))

    with pytest.raises(CheckedOut) as caught:
        getattr(repository, operation)(doc_id, user="bob")

    assert caught.value.http_status == 409
    assert (state_of(repository, doc_id), state_of(repository, working_id)) == before


@pytest.mark.parametrize("operation", ["check_in", "undo_check_out"])
def test_check_in_or_undo_of_a_checked_in_document_is_a_bad_request(
    repository: Repository, doc_id: str, operation: str
) -> None:
    before = state_of(repository, doc_id)

    with pytest.raises(BadRequest, match="not checked out"):
        getattr(repository, operation)(doc_id, user="alice")

    assert state_of(repository, doc_id) == before


def test_deleting_a_working_copy_is_refused(repository: Repository, doc_id: str) -> None:
    working_id = check_out(repository, doc_id, user="alice")

    with pytest.raises(BadRequest, match="UndoCheckOut"):
        repository.delete(working_id, user="alice")

    assert repository.peek(working_id)["CheckoutState"] == "Working copy"


def test_working_copy_updates_follow_the_etag_rules(repository: Repository, doc_id: str) -> None:
    working_id = check_out(repository, doc_id, user="alice")
    stale = repository.current_etag(working_id)
    repository.update(working_id, {"Title": "one"}, user="alice")

    with pytest.raises(ConcurrentModification) as caught:
        repository.update(
            working_id, {"Title": "two"}, user="alice", conditions=WriteConditions(if_match=stale)
        )

    assert caught.value.http_status == 409
    assert repository.peek(working_id)["Title"] == "one"
