"""Bound actions: ``PTC.DocMgmt.CheckOut`` / ``CheckIn`` / ``UndoCheckOut`` and the thread's
``/Actions/…`` alias."""

from __future__ import annotations

from typing import Any

import pytest
from wrs_session import DOCS, MakeMock, Session, doc_url, error_of


def checked_out(mock: Session, **properties: Any) -> tuple[str, str]:
    """Create a document, check it out; return (original ID, working copy ID)."""
    doc = mock.create(**properties)
    response = mock.action(
        doc["ID"], "CheckOut", {"CheckOutNote": "editing"}, headers={"If-Match": "*"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return doc["ID"], response.get_json()["ID"]


def test_check_out_returns_the_working_copy(any_mock: Session) -> None:
    doc = any_mock.create(Name="Pump", Title="t")

    response = any_mock.action(
        doc["ID"], "CheckOut", {"CheckOutNote": "editing"}, headers={"If-Match": "*"}
    )

    working = response.get_json()
    assert response.status_code == 200
    assert working["ID"] != doc["ID"]
    assert working["CheckoutState"] == "Working copy"
    assert working["Latest"] is False
    assert working["Title"] == "t"
    assert working["Number"] == doc["Number"]
    original = any_mock.read(doc["ID"]).get_json()
    assert original["CheckoutState"] == "Checked out"
    assert ("ETag" in response.headers) == (any_mock.profile != "wrs")


def test_check_out_then_check_in_moves_a1_to_a2(any_mock: Session) -> None:
    original, working = checked_out(any_mock, Name="Pump")
    headers = {"If-Match": any_mock.etag(working)} if any_mock.profile == "odata" else {}
    patched = any_mock.update(working, {"Title": "edited in the working copy"}, headers=headers)
    assert patched.status_code in (200, 204)

    response = any_mock.action(
        working, "CheckIn", {"CheckInNote": "done"}, headers={"If-Match": "*"}
    )

    body = response.get_json()
    assert response.status_code == 200
    assert body["Version"] == "A.2"
    assert body["CheckoutState"] == "Checked in"
    assert body["Title"] == "edited in the working copy"
    if any_mock.profile == "odata":  # one ID for every iteration; the working copy is gone
        assert body["ID"] == original
        assert any_mock.get(doc_url(working)).status_code == 404
    else:  # the working copy became A.2 with its OR:, and the original's names A.1
        assert body["ID"] == working
        past = any_mock.get(doc_url(original)).get_json()
        assert (past["Version"], past["Latest"], past["Title"]) == ("A.1", False, None)


def test_check_in_through_the_original_works_too(mock: Session) -> None:
    original, working = checked_out(mock, Name="Pump")
    mock.update(working, {"Title": "wc"})

    body = mock.action(original, "CheckIn").get_json()

    assert body["Version"] == "A.2"
    assert body["Title"] == "wc"


def test_check_in_makes_a_new_iteration_in_the_etag(mock: Session) -> None:
    original, working = checked_out(mock, Name="Pump")
    old = mock.etag(original)

    new = mock.action(working, "CheckIn").headers["ETag"]

    assert old.startswith('"v1.')
    assert new.startswith('"v2.')


def test_a_stale_etag_from_before_a_check_in_is_412(mock: Session) -> None:
    doc = mock.create(Name="Pump")
    mock.action(doc["ID"], "CheckOut")
    mock.action(doc["ID"], "CheckIn")

    response = mock.update(doc["ID"], {"Title": "x"}, headers={"If-Match": doc["@odata.etag"]})

    assert response.status_code == 412


@pytest.mark.parametrize("keep", [False, "false", "False"])
def test_keep_checked_out_false_as_bool_or_string_checks_in(mock: Session, keep: object) -> None:
    original, working = checked_out(mock, Name="Pump")

    body = mock.action(working, "CheckIn", {"KeepCheckedOut": keep}).get_json()

    assert body["CheckoutState"] == "Checked in"
    assert mock.read(original).get_json()["CheckoutState"] == "Checked in"


@pytest.mark.parametrize("keep", [True, "true"])
def test_keep_checked_out_true_checks_in_and_out_again(mock: Session, keep: object) -> None:
    original, working = checked_out(mock, Name="Pump")

    body = mock.action(working, "CheckIn", {"KeepCheckedOut": keep, "CheckOutNote": "more"})

    assert body.status_code == 200
    assert body.get_json()["Version"] == "A.2"
    assert body.get_json()["CheckoutState"] == "Checked out"
    # The working copy became A.2 (with its OR:), and a new working copy was made.
    latest = body.get_json()["ID"]
    assert latest == working
    assert mock.read(original).get_json()["Latest"] is False
    again = mock.action(latest, "CheckIn").get_json()
    assert again["Version"] == "A.3"


def test_undo_check_out_discards_the_working_copy(any_mock: Session) -> None:
    original, working = checked_out(any_mock, Name="Pump", Title="before")
    headers = {"If-Match": any_mock.etag(working)} if any_mock.profile == "odata" else {}
    any_mock.update(working, {"Title": "discarded"}, headers=headers)

    response = any_mock.action(working, "UndoCheckOut", headers={"If-Match": "*"})

    body = response.get_json()
    assert response.status_code == 200
    assert body["ID"] == original
    assert body["Version"] == "A.1"
    assert body["Title"] == "before"
    assert body["CheckoutState"] == "Checked in"
    assert any_mock.get(doc_url(working)).status_code == 404


@pytest.mark.parametrize("action", ["CheckOut", "CheckIn"])
def test_the_actions_alias_of_the_forum_thread_works(mock: Session, action: str) -> None:
    original, _ = checked_out(mock, Name="Pump")
    if action == "CheckOut":
        mock.action(original, "UndoCheckOut")

    response = mock.post(doc_url(original, f"/Actions/{action}"), json={})

    assert response.status_code == 200
    expected = "Working copy" if action == "CheckOut" else "Checked in"
    assert response.get_json()["CheckoutState"] == expected


def test_the_actions_alias_needs_no_body(mock: Session) -> None:
    doc = mock.create(Name="Pump")

    response = mock.post(doc_url(doc["ID"], "/Actions/CheckOut"))

    assert response.status_code == 200


def test_the_working_copy_accepts_patches_from_its_owner(mock: Session) -> None:
    original, working = checked_out(mock, Name="Pump")

    response = mock.update(working, {"Title": "wc", "Department": "QA"})

    assert response.status_code == 200
    assert mock.read(original).get_json()["Title"] is None  # not before check-in


def test_the_checked_out_original_refuses_patches_from_its_owner(mock: Session) -> None:
    original, working = checked_out(mock, Name="Pump")
    before = mock.truth(original)

    response = mock.update(original, {"Title": "x"})

    assert response.status_code == 409
    assert working in error_of(response)["message"]
    assert mock.truth(original) == before


@pytest.mark.parametrize("target", ["original", "working"])
def test_another_users_write_to_a_checked_out_document_is_409(mock: Session, target: str) -> None:
    original, working = checked_out(mock, Name="Pump")
    other = mock.as_user("other")
    key = original if target == "original" else working
    before = mock.truth(key)

    response = other.update(key, {"Title": "theirs"})

    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "CheckedOut"
    assert "wcadmin" in error["message"]
    assert mock.truth(key) == before


@pytest.mark.parametrize("action", ["CheckOut", "CheckIn", "UndoCheckOut"])
def test_another_user_cannot_run_actions_on_my_check_out(mock: Session, action: str) -> None:
    original, _ = checked_out(mock, Name="Pump")
    before = mock.truth(original)

    response = mock.as_user("other").action(original, action)

    assert response.status_code == 409
    assert mock.truth(original) == before


def test_another_user_cannot_delete_a_checked_out_document(mock: Session) -> None:
    original, _ = checked_out(mock, Name="Pump")

    assert mock.as_user("other").delete(doc_url(original)).status_code == 409
    assert mock.get(doc_url(original)).status_code == 200


def test_a_check_out_by_another_user_injected_via_admin_blocks_my_write(mock: Session) -> None:
    doc = mock.create(Name="Pump")
    mock.intervene(action="check_out", document=doc["ID"], user="other")

    response = mock.update(doc["ID"], {"Title": "mine"})

    assert response.status_code == 409
    assert "other" in error_of(response)["message"]


def test_checking_out_twice_is_409(mock: Session) -> None:
    original, _ = checked_out(mock, Name="Pump")

    assert mock.action(original, "CheckOut").status_code == 409


def test_checking_out_a_working_copy_is_409(mock: Session) -> None:
    _, working = checked_out(mock, Name="Pump")

    assert mock.action(working, "CheckOut").status_code == 409


@pytest.mark.parametrize("action", ["CheckIn", "UndoCheckOut"])
def test_check_in_or_undo_of_a_checked_in_document_is_400(mock: Session, action: str) -> None:
    doc = mock.create(Name="Pump")
    before = mock.truth(doc["ID"])

    response = mock.action(doc["ID"], action)

    assert response.status_code == 400
    assert "not checked out" in error_of(response)["message"]
    assert mock.truth(doc["ID"]) == before


def test_deleting_a_working_copy_is_400(mock: Session) -> None:
    _, working = checked_out(mock, Name="Pump")

    response = mock.delete(doc_url(working))

    assert response.status_code == 400
    assert "UndoCheckOut" in error_of(response)["message"]


def test_deleting_a_checked_out_original_is_409_even_for_its_owner(mock: Session) -> None:
    original, working = checked_out(mock, Name="Pump")

    response = mock.delete(doc_url(original))

    assert response.status_code == 409  # update the working copy or undo first
    assert mock.get(doc_url(working)).status_code == 200


@pytest.mark.parametrize("path", ["/PTC.DocMgmt.Frobnicate", "/Actions/Frobnicate"])
def test_unknown_action_is_404(mock: Session, path: str) -> None:
    doc = mock.create(Name="Pump")

    response = mock.post(doc_url(doc["ID"], path), json={})

    assert response.status_code == 404
    assert "Frobnicate" in error_of(response)["message"]


def test_action_on_an_unknown_document_is_404(mock: Session) -> None:
    assert mock.action("OR:wt.doc.WTDocument:1", "CheckOut").status_code == 404


def test_action_with_get_is_405(mock: Session) -> None:
    doc = mock.create(Name="Pump")

    response = mock.get(doc_url(doc["ID"], "/PTC.DocMgmt.CheckOut"))

    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    error_of(response)


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("CheckOut", {"CheckOutNote": 5}),
        ("CheckOut", {"Bogus": "x"}),
        ("CheckIn", {"KeepCheckedOut": "maybe"}),
        ("CheckIn", {"KeepCheckedOut": 1}),
        ("CheckIn", {"CheckInNote": ["a"]}),
        ("CheckIn", {"CheckOutNote": {"a": 1}}),
        ("UndoCheckOut", {"Anything": 1}),
        ("CheckOut", ["CheckOutNote"]),
        ("CheckIn", "false"),
    ],
)
def test_bad_action_parameters_are_400_and_change_nothing(
    mock: Session, action: str, body: Any
) -> None:
    original, _ = checked_out(mock, Name="Pump")
    if action == "CheckOut":
        mock.action(original, "UndoCheckOut")
    before = mock.truth(original)

    response = mock.action(original, action, body)

    assert response.status_code == 400, response.get_data(as_text=True)
    error_of(response)
    assert mock.truth(original) == before


def test_action_with_malformed_json_is_400(mock: Session) -> None:
    doc = mock.create(Name="Pump")

    response = mock.action(doc["ID"], "CheckOut", data="{", content_type="application/json")

    assert response.status_code == 400
    assert error_of(response)["code"] == "MalformedJSON"


def test_actions_need_the_csrf_nonce(mock: Session) -> None:
    doc = mock.create(Name="Pump")

    response = mock.post(doc_url(doc["ID"], "/PTC.DocMgmt.CheckOut"), csrf=False, json={})

    assert response.status_code == 403
    assert mock.read(doc["ID"]).get_json()["CheckoutState"] == "Checked in"


def test_actions_on_the_collection_are_not_routed(mock: Session) -> None:
    assert mock.post(f"{DOCS}/PTC.DocMgmt.CheckOut", json={}).status_code in (404, 405)


def test_check_out_by_one_user_check_in_by_the_same_user_via_the_working_copy(
    make_mock: MakeMock,
) -> None:
    mock = make_mock()
    other = mock.as_user("other")
    doc = mock.create(Name="Pump")
    working = other.action(doc["ID"], "CheckOut").get_json()["ID"]
    other.update(working, {"Title": "by other"})

    body = other.action(working, "CheckIn").get_json()

    assert body["ModifiedBy"] == "other"
    assert body["Title"] == "by other"
    assert body["Version"] == "A.2"


# ------------------------------------------------------------ UpdateCommonProperties


def test_update_common_properties_renames_without_a_new_iteration(mock: Session) -> None:
    doc_id = mock.create(Name="Pump")["ID"]
    before = mock.truth(doc_id)

    response = mock.action(doc_id, "UpdateCommonProperties", {"Name": "Renamed", "Number": "N-1"})

    assert response.status_code == 200
    body = response.get_json()
    assert (body["Name"], body["Number"]) == ("Renamed", "N-1")
    assert body["Version"] == before["entity"]["Version"]


def test_update_common_properties_is_refused_on_a_checked_out_document(mock: Session) -> None:
    doc_id = mock.create(Name="Pump")["ID"]
    assert mock.action(doc_id, "CheckOut").status_code == 200
    before = mock.truth(doc_id)

    response = mock.action(doc_id, "UpdateCommonProperties", {"Name": "Renamed"})

    assert response.status_code == 409
    assert mock.truth(doc_id) == before


def test_update_common_properties_refuses_other_properties(mock: Session) -> None:
    doc_id = mock.create(Name="Pump")["ID"]
    before = mock.truth(doc_id)

    response = mock.action(doc_id, "UpdateCommonProperties", {"Title": "x"})

    assert response.status_code == 400
    assert mock.truth(doc_id) == before


def test_check_in_takes_a_null_keep_checked_out_as_metadata_declares_it_nullable(
    mock: Session,
) -> None:
    doc = mock.create(Name="Pump")
    mock.action(doc["ID"], "CheckOut")

    response = mock.action(doc["ID"], "CheckIn", {"KeepCheckedOut": None})

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["CheckoutState"] == "Checked in"


@pytest.mark.parametrize("action", ["CheckOut", "UpdateCommonProperties"])
def test_actions_honour_if_match_like_patch_in_the_odata_profile(
    make_mock: MakeMock, action: str
) -> None:
    mock = make_mock(profile="odata")
    doc = mock.create(Name="Pump")
    stale = doc["@odata.etag"]
    mock.update(doc["ID"], {"Title": "moved"}, headers={"If-Match": stale})
    body = {"Name": "Renamed"} if action == "UpdateCommonProperties" else {}
    before = mock.truth(doc["ID"])

    missing = mock.action(doc["ID"], action, body)
    mismatched = mock.action(doc["ID"], action, body, headers={"If-Match": stale})
    unchanged = mock.truth(doc["ID"])
    current = mock.action(doc["ID"], action, body, headers={"If-Match": before["etag"]})

    assert missing.status_code == 428
    assert mismatched.status_code == 412
    assert unchanged == before, "a refused action changes nothing"
    assert current.status_code == 200, current.get_data(as_text=True)


def test_check_in_and_undo_compare_if_match_with_the_document_the_key_names(
    make_mock: MakeMock,
) -> None:
    mock = make_mock(profile="odata")
    original, working = checked_out(mock, Name="Pump")
    working_etag = mock.truth(working)["etag"]
    original_etag = mock.truth(original)["etag"]

    wrong = mock.action(working, "CheckIn", {}, headers={"If-Match": original_etag})
    undo_wrong = mock.action(original, "UndoCheckOut", headers={"If-Match": working_etag})
    right = mock.action(working, "CheckIn", {}, headers={"If-Match": working_etag})

    assert wrong.status_code == 412
    assert undo_wrong.status_code == 412
    assert right.status_code == 200
    assert right.get_json()["Version"] == "A.2"


@pytest.mark.parametrize(("sent", "status"), [(None, 200), ("stale", 409), ("current", 200)])
def test_in_the_thread_profile_actions_compare_an_if_match_only_when_sent(
    make_mock: MakeMock, sent: str | None, status: int
) -> None:
    mock = make_mock(profile="thread")
    doc = mock.create(Name="Pump")
    stale = doc["@odata.etag"]
    mock.update(doc["ID"], {"Title": "moved"}, headers={"If-Match": stale})
    etags = {"stale": stale, "current": mock.truth(doc["ID"])["etag"]}
    headers = {} if sent is None else {"If-Match": etags[sent]}

    response = mock.action(doc["ID"], "CheckOut", {}, headers=headers)

    assert response.status_code == status
