"""``ProdMgmt/Parts``: the second kind of object, served by the same routes and rules as
``DocMgmt/Documents``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import quote

import pytest
from werkzeug.test import TestResponse
from wrs_session import DOCS, ROOT, MakeMock, Session, doc_url, error_of

PARTS = f"{ROOT}/ProdMgmt/Parts"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


def part_url(key: str, suffix: str = "") -> str:
    return f"{PARTS}('{key}'){suffix}"


def create_part(mock: Session, **properties: Any) -> dict[str, Any]:
    properties.setdefault("Name", "Bolt M8")
    response = mock.post(PARTS, json=properties)
    assert response.status_code == 201, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def part_action(
    mock: Session, key: str, name: str, body: Any = None, **kwargs: Any
) -> TestResponse:
    if body is not None:
        kwargs["json"] = body
    return mock.post(part_url(key, f"/PTC.ProdMgmt.{name}"), **kwargs)


def ok(response: TestResponse, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


# -------------------------------------------------------------------- the collection


def test_post_parts_creates_a_part(mock: Session) -> None:
    response = mock.post(PARTS, json={"Name": "Bolt M8", "Source": "buy", "Description": "zinc"})

    body = ok(response, 201)
    assert body["ID"].startswith("OR:wt.part.WTPart:")
    assert body["VersionID"].startswith("VR:wt.part.WTPart:")
    assert (body["Name"], body["Source"], body["Description"]) == ("Bolt M8", "buy", "zinc")
    assert (body["Version"], body["Latest"], body["CheckoutState"]) == ("A.1", True, "Checked in")
    assert "Title" not in body
    assert body["@odata.context"].endswith("/ProdMgmt/$metadata#Parts/$entity")
    assert response.headers["Location"].endswith(
        f"/ProdMgmt/Parts('{quote(body['ID'], safe=':')}')"
    )
    assert response.headers["ETag"] == body["@odata.etag"]


def test_get_parts_lists_parts_and_documents_lists_documents(mock: Session) -> None:
    doc = mock.create(Name="Manual")
    first, second = create_part(mock, Name="Bolt"), create_part(mock, Name="Nut")

    parts = ok(mock.get(PARTS))
    documents = ok(mock.get(DOCS))

    assert [p["ID"] for p in parts["value"]] == [first["ID"], second["ID"]]
    assert parts["@odata.context"].endswith("/ProdMgmt/$metadata#Parts")
    assert [d["ID"] for d in documents["value"]] == [doc["ID"]]


def test_filter_and_count_on_parts_count_parts_only(mock: Session) -> None:
    for name in ("Bolt", "Bolt", "Washer"):
        mock.create(Name=name)
    create_part(mock, Name="Bolt", Source="buy")
    create_part(mock, Name="Bolt", Source="make")
    create_part(mock, Name="Nut", Source="buy")

    counted = ok(mock.get(f"{PARTS}?$filter=Name eq 'Bolt'&$count=true"))
    bought = ok(mock.get(f"{PARTS}?$filter=Source eq 'buy'&$count=true"))
    all_parts = mock.get(f"{PARTS}/$count")
    bolts = mock.get(f"{PARTS}/$count?$filter=Name eq 'Bolt'")

    assert counted["@odata.count"] == 2
    assert {p["Source"] for p in counted["value"]} == {"buy", "make"}
    assert bought["@odata.count"] == 2
    assert {p["Name"] for p in bought["value"]} == {"Bolt", "Nut"}
    assert (all_parts.status_code, all_parts.get_data(as_text=True)) == (200, "3")
    assert (bolts.status_code, bolts.get_data(as_text=True)) == (200, "2")
    assert mock.get(f"{DOCS}/$count?$filter=Name eq 'Bolt'").get_data(as_text=True) == "2"


def test_title_is_an_unknown_property_of_a_part(mock: Session) -> None:
    part = create_part(mock)

    created = mock.post(PARTS, json={"Name": "Bolt", "Title": "no"})
    patched = mock.patch(part_url(part["ID"]), json={"Title": "no"})
    filtered = mock.get(f"{PARTS}?$filter=Title eq 'no'")

    assert created.status_code == 400
    assert error_of(created)["code"] == "UnknownProperty"
    assert "PTC.ProdMgmt.Part" in error_of(created)["message"]
    assert patched.status_code == 400
    assert error_of(patched)["code"] == "UnknownProperty"
    assert filtered.status_code == 400
    assert "Title" in error_of(filtered)["message"]
    assert mock.get(f"{PARTS}/$count").get_data(as_text=True) == "1"
    assert "Title" not in mock.truth(part["ID"])["entity"]


def test_source_is_an_unknown_property_of_a_document(mock: Session) -> None:
    response = mock.post(DOCS, json={"Name": "Manual", "Source": "buy"})

    assert response.status_code == 400
    assert error_of(response)["code"] == "UnknownProperty"


# -------------------------------------------------------------------- one part


def test_get_patch_and_delete_a_part(mock: Session) -> None:
    part = create_part(mock, Source="make")

    read = mock.get(part_url(part["ID"]))
    patched = mock.patch(part_url(part["ID"]), json={"Source": "buy", "Description": "d"})
    after = ok(mock.get(part_url(part["ID"])))
    deleted = mock.delete(part_url(part["ID"]))

    assert ok(read)["Source"] == "make"
    assert read.headers["ETag"] == part["@odata.etag"]
    body = ok(patched)
    assert (body["Source"], body["Description"]) == ("buy", "d")
    assert patched.headers["ETag"] != part["@odata.etag"]
    assert (after["Source"], after["Description"]) == ("buy", "d")
    assert after["@odata.context"].endswith("/ProdMgmt/$metadata#Parts/$entity")
    assert deleted.status_code == 204
    gone = mock.get(part_url(part["ID"]))
    assert gone.status_code == 404
    assert error_of(gone)["code"] == "NotFound"


def test_a_document_key_on_the_parts_route_is_404_naming_where_it_lives(mock: Session) -> None:
    doc = mock.create(Name="Manual")

    for response in (
        mock.get(part_url(doc["ID"])),
        mock.patch(part_url(doc["ID"]), json={"Description": "x"}),
        mock.delete(part_url(doc["ID"])),
        part_action(mock, doc["ID"], "CheckOut"),
    ):
        assert response.status_code == 404
        message = error_of(response)["message"]
        assert f"No part with key '{doc['ID']}' in Parts" in message
        assert "DocMgmt/Documents" in message
    assert mock.truth(doc["ID"])["entity"]["CheckoutState"] == "Checked in"
    assert mock.truth(doc["ID"])["entity"]["Description"] is None


def test_a_part_key_on_the_documents_route_is_404_naming_where_it_lives(mock: Session) -> None:
    part = create_part(mock)

    for response in (
        mock.get(doc_url(part["ID"])),
        mock.get(doc_url(part["VersionID"])),
        mock.patch(doc_url(part["ID"]), json={"Description": "x"}),
        mock.delete(doc_url(part["ID"])),
        mock.action(part["ID"], "CheckOut"),
    ):
        assert response.status_code == 404
        message = error_of(response)["message"]
        assert "No document with key" in message
        assert "ProdMgmt/Parts" in message
    assert ok(mock.get(part_url(part["ID"])))["Description"] is None


def test_the_document_actions_namespace_is_not_bound_to_parts(mock: Session) -> None:
    part = create_part(mock)

    response = mock.post(part_url(part["ID"], "/PTC.DocMgmt.CheckOut"))

    assert response.status_code == 404
    assert mock.truth(part["ID"])["entity"]["CheckoutState"] == "Checked in"


# -------------------------------------------------------------------- actions


def test_check_out_and_check_in_a_part_make_the_next_iteration(mock: Session) -> None:
    part = create_part(mock, Source="make")

    working = ok(part_action(mock, part["ID"], "CheckOut", {"CheckOutNote": "resourcing"}))
    ok(mock.patch(part_url(working["ID"]), json={"Source": "buy"}))
    checked_in = ok(part_action(mock, working["ID"], "CheckIn", {"CheckInNote": "done"}))

    assert working["ID"].startswith("OR:wt.part.WTPart:")
    assert working["CheckoutState"] == "Working copy"
    assert working["@odata.context"].endswith("/ProdMgmt/$metadata#Parts/$entity")
    assert (checked_in["ID"], checked_in["Version"], checked_in["Source"]) == (
        working["ID"],
        "A.2",
        "buy",
    )
    past = ok(mock.get(part_url(part["ID"])))
    assert (past["Version"], past["Latest"], past["Source"]) == ("A.1", False, "make")
    assert ok(mock.get(part_url(part["VersionID"])))["ID"] == working["ID"]


def test_undo_check_out_of_a_part_discards_the_working_copy(mock: Session) -> None:
    part = create_part(mock, Source="make")
    working = ok(part_action(mock, part["ID"], "CheckOut"))
    ok(mock.patch(part_url(working["ID"]), json={"Source": "buy"}))

    undone = ok(part_action(mock, working["ID"], "UndoCheckOut"))

    assert (undone["ID"], undone["Source"], undone["Version"]) == (part["ID"], "make", "A.1")
    assert undone["CheckoutState"] == "Checked in"
    assert mock.get(part_url(working["ID"])).status_code == 404


@pytest.mark.parametrize(
    "body",
    [{"Name": "Bolt M10", "Number": "P-10"}, {"Updates": {"Name": "Bolt M10", "Number": "P-10"}}],
    ids=["flat", "updates"],
)
def test_update_common_properties_of_a_part(mock: Session, body: dict[str, Any]) -> None:
    part = create_part(mock)

    updated = ok(part_action(mock, part["ID"], "UpdateCommonProperties", body))

    assert (updated["ID"], updated["Name"], updated["Number"]) == (part["ID"], "Bolt M10", "P-10")
    assert updated["Version"] == "A.1"
    assert ok(mock.get(part_url(part["ID"])))["Number"] == "P-10"


def test_a_part_may_take_a_documents_number_but_not_another_parts(mock: Session) -> None:
    mock.create(Name="Manual", Number="N-1")
    create_part(mock, Number="P-1")

    same_as_document = mock.post(PARTS, json={"Name": "Bolt", "Number": "N-1"})
    same_as_part = mock.post(PARTS, json={"Name": "Bolt", "Number": "P-1"})

    assert same_as_document.status_code == 201
    assert same_as_part.status_code == 409
    assert error_of(same_as_part)["message"] == "A part with number P-1 already exists"
    assert mock.get(f"{PARTS}/$count").get_data(as_text=True) == "2"


# -------------------------------------------------------------------- $metadata


def test_prodmgmt_metadata_declares_the_part_type(mock: Session) -> None:
    response = mock.get(f"{ROOT}/ProdMgmt/$metadata")

    assert response.status_code == 200
    root = ET.fromstring(response.get_data())
    (schema,) = root.iter(f"{EDM}Schema")
    assert schema.get("Namespace") == "PTC.ProdMgmt"
    (entity_type,) = schema.iter(f"{EDM}EntityType")
    assert entity_type.get("Name") == "Part"
    properties = {p.get("Name"): p.get("Type") for p in entity_type.iter(f"{EDM}Property")}
    assert properties["Description"] == "Edm.String"
    assert properties["Source"] == "Edm.String"
    assert "Title" not in properties
    (entity_set,) = schema.iter(f"{EDM}EntitySet")
    assert (entity_set.get("Name"), entity_set.get("EntityType")) == ("Parts", "PTC.ProdMgmt.Part")
    actions = {a.get("Name") for a in schema.iter(f"{EDM}Action")}
    assert actions == {"CheckOut", "CheckIn", "UndoCheckOut", "UpdateCommonProperties"}
    bindings = {
        p.get("Type")
        for a in schema.iter(f"{EDM}Action")
        for p in a.iter(f"{EDM}Parameter")
        if p.get("Name") == "bindingParameter"
    }
    assert bindings == {"PTC.ProdMgmt.Part"}


def test_the_prodmgmt_service_document_lists_parts(mock: Session) -> None:
    body = ok(mock.get(f"{ROOT}/ProdMgmt/"))

    assert [entry["name"] for entry in body["value"]] == ["Parts"]
    assert body["@odata.context"].endswith("/ProdMgmt/$metadata")


# -------------------------------------------------------------------- concurrency rules


def test_a_stale_etag_of_the_same_iteration_is_409_on_a_part(mock: Session) -> None:
    part = create_part(mock)
    ok(mock.patch(part_url(part["ID"]), json={"Description": "first"}))
    before = mock.truth(part["ID"])

    response = mock.patch(
        part_url(part["ID"]),
        json={"Description": "stale"},
        headers={"If-Match": part["@odata.etag"]},
    )

    assert response.status_code == 409
    assert error_of(response)["code"] == "ConcurrentModification"
    assert mock.truth(part["ID"]) == before


def test_an_etag_of_an_older_iteration_is_412_on_a_part(mock: Session) -> None:
    part = create_part(mock)
    working = ok(part_action(mock, part["ID"], "CheckOut"))
    ok(part_action(mock, working["ID"], "CheckIn"))
    before = mock.truth(part["VersionID"])

    response = mock.patch(
        part_url(part["VersionID"]),
        json={"Description": "stale"},
        headers={"If-Match": part["@odata.etag"]},
    )

    assert response.status_code == 412
    assert error_of(response)["code"] == "PreconditionFailed"
    assert mock.truth(part["VersionID"]) == before


@pytest.mark.parametrize(("profile", "status"), [("thread", 412), ("wrs", 409)])
def test_a_write_to_a_past_iteration_of_a_part_is_refused(
    make_mock: MakeMock, profile: str, status: int
) -> None:
    mock = make_mock(profile=profile)
    part = create_part(mock, Source="make")
    working = ok(part_action(mock, part["ID"], "CheckOut"))
    ok(part_action(mock, working["ID"], "CheckIn"))

    response = mock.patch(part_url(part["ID"]), json={"Source": "late"})

    assert response.status_code == status
    error = error_of(response)
    assert error["code"] == "NotLatestIteration"
    assert working["ID"] in error["message"]
    assert part["VersionID"] in error["message"]
    assert ok(mock.get(part_url(working["ID"])))["Source"] == "make"


def test_a_part_checked_out_by_another_user_is_409(mock: Session) -> None:
    part = create_part(mock)
    ok(part_action(mock, part["ID"], "CheckOut"))
    bob = mock.as_user("other")

    patched = bob.patch(part_url(part["ID"]), json={"Description": "other"})
    checked_out = part_action(bob, part["ID"], "CheckOut")

    for response in (patched, checked_out):
        assert response.status_code == 409
        assert error_of(response)["code"] == "CheckedOut"
    assert mock.truth(part["ID"])["entity"]["Description"] is None


def test_part_requests_are_journalled_by_the_parts_first_or(mock: Session) -> None:
    part = create_part(mock)
    working = ok(part_action(mock, part["ID"], "CheckOut"))
    ok(part_action(mock, working["ID"], "CheckIn"))
    ok(mock.get(part_url(part["ID"])))

    events = [e for e in mock.journal() if e["type"] in ("invoke", "ok") and e.get("request")]

    assert {e["document"] for e in events} == {part["ID"]}
    assert [e.get("addressed") for e in events if e["type"] == "invoke"] == [
        None,
        "working_copy",
        "past_iteration",
    ]


def test_the_admin_api_creates_a_part(mock: Session) -> None:
    response = mock.admin("POST", "/documents", {"Name": "Bolt", "Source": "buy", "@kind": "part"})

    assert response.status_code == 201, response.get_data(as_text=True)
    key = response.get_json()["id"]
    assert key.startswith("OR:wt.part.WTPart:")
    assert ok(mock.get(part_url(key)))["Source"] == "buy"
    assert mock.get(doc_url(key)).status_code == 404
