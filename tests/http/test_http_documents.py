"""``Documents``: the collection (paging, query options), one entity, create, update, delete."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from wrs_session import DOCS, ROOT, MakeMock, Session, doc_url, encoded_doc_url, error_of

# -------------------------------------------------------------------- the collection


def all_pages(mock: Session, url: str, headers: dict[str, str] | None = None) -> list[Any]:
    """Follow ``@odata.nextLink`` to the end (resending ``Prefer`` as OData asks)."""
    pages = []
    while url:
        response = mock.get(url, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        pages.append(body["value"])
        url = body.get("@odata.nextLink", "")
        assert len(pages) < 100, "the next links never end"
    return pages


def test_documents_are_paged_25_at_a_time_by_default(make_mock: MakeMock) -> None:
    mock = make_mock(documents=30)

    body = mock.get(DOCS).get_json()

    assert len(body["value"]) == 25
    assert "@odata.nextLink" in body
    assert body["@odata.context"].endswith("/DocMgmt/$metadata#Documents")


def test_a_short_collection_has_no_next_link(make_mock: MakeMock) -> None:
    body = make_mock(documents=3).get(DOCS).get_json()

    assert len(body["value"]) == 3
    assert "@odata.nextLink" not in body


def test_an_empty_collection_is_an_empty_value(mock: Session) -> None:
    assert mock.get(DOCS).get_json()["value"] == []


def test_configured_page_size_applies(make_mock: MakeMock) -> None:
    assert len(make_mock(documents=5, page_size=2).get(DOCS).get_json()["value"]) == 2


def test_maxpagesize_preference_is_applied_and_acknowledged(make_mock: MakeMock) -> None:
    mock = make_mock(documents=10)

    response = mock.get(DOCS, headers={"Prefer": "odata.maxpagesize=4"})

    assert response.headers["Preference-Applied"] == "odata.maxpagesize=4"
    assert len(response.get_json()["value"]) == 4


def test_no_preference_applied_header_without_a_preference(make_mock: MakeMock) -> None:
    assert "Preference-Applied" not in make_mock(documents=3).get(DOCS).headers


@pytest.mark.parametrize(("documents", "page"), [(30, 25), (23, 7), (10, 1), (14, 7), (5, 50)])
def test_next_links_visit_every_document_once(
    make_mock: MakeMock, documents: int, page: int
) -> None:
    mock = make_mock(documents=documents)

    pages = all_pages(mock, DOCS, {"Prefer": f"odata.maxpagesize={page}"})

    ids = [doc["ID"] for value in pages for doc in value]
    assert len(ids) == len(set(ids)) == documents
    assert set(ids) == set(mock.admin("GET", "/documents").get_json()["documents"])
    assert all(len(value) == page for value in pages[:-1])


def test_next_links_keep_the_filter_and_the_version_segment(make_mock: MakeMock) -> None:
    mock = make_mock(documents=20)  # 8 demo titles: titles repeat every 8 documents
    title = "Pump housing assembly drawing"

    first = mock.get(
        f"{ROOT}/v6/DocMgmt/Documents?$filter=Title eq '{title}'",
        headers={"Prefer": "odata.maxpagesize=2"},
    ).get_json()
    pages = [first["value"], *all_pages(mock, first["@odata.nextLink"])]

    assert "/odata/v6/DocMgmt/Documents?" in first["@odata.nextLink"]
    titles = [doc["Title"] for value in pages for doc in value]
    assert titles == [title] * 3


def test_top_and_skip_select_a_window_in_id_order(make_mock: MakeMock) -> None:
    mock = make_mock(documents=10)
    everything = [d["ID"] for d in mock.get(DOCS).get_json()["value"]]

    window = mock.get(f"{DOCS}?$top=3&$skip=4").get_json()

    assert [d["ID"] for d in window["value"]] == everything[4:7]
    assert "@odata.nextLink" not in window


def test_top_larger_than_a_page_is_served_through_next_links(make_mock: MakeMock) -> None:
    mock = make_mock(documents=12)
    everything = [d["ID"] for d in mock.get(DOCS).get_json()["value"]]

    pages = all_pages(mock, f"{DOCS}?$top=7&$skip=2", {"Prefer": "odata.maxpagesize=3"})

    assert [len(p) for p in pages] == [3, 3, 1]
    assert [d["ID"] for value in pages for d in value] == everything[2:9]


def test_top_zero_returns_nothing(make_mock: MakeMock) -> None:
    body = make_mock(documents=3).get(f"{DOCS}?$top=0&$count=true").get_json()

    assert body["value"] == []
    assert body["@odata.count"] == 3
    assert "@odata.nextLink" not in body


def test_count_true_reports_the_total_not_the_page(make_mock: MakeMock) -> None:
    mock = make_mock(documents=30)

    body = mock.get(f"{DOCS}?$count=true").get_json()
    plain = mock.get(DOCS).get_json()

    assert body["@odata.count"] == 30
    assert len(body["value"]) == 25
    assert "@odata.count" not in plain


def test_filter_eq_on_number(mock: Session) -> None:
    mock.create(Name="First", Number="DOC-1")
    wanted = mock.create(Name="Second", Number="DOC-2")

    body = mock.get(f"{DOCS}?$filter=Number eq 'DOC-2'").get_json()

    assert [d["ID"] for d in body["value"]] == [wanted["ID"]]


def test_filter_eq_on_name_with_an_escaped_quote(mock: Session) -> None:
    wanted = mock.create(Name="O'Brien's pump")
    mock.create(Name="Other pump")

    body = mock.get(f"{DOCS}?$filter=" + quote("Name eq 'O''Brien''s pump'")).get_json()

    assert [d["Name"] for d in body["value"]] == [wanted["Name"]]


def test_filter_clauses_joined_with_and_must_all_hold(mock: Session) -> None:
    mock.create(Name="Pump", Number="P-1")
    wanted = mock.create(Name="Pump", Number="P-2")
    mock.create(Name="Valve", Number="V-2")

    body = mock.get(f"{DOCS}?$filter=Name eq 'Pump' and Number eq 'P-2'&$count=true").get_json()

    assert [d["ID"] for d in body["value"]] == [wanted["ID"]]
    assert body["@odata.count"] == 1


def test_filter_on_state_value(mock: Session) -> None:
    doc = mock.create(Name="Released one")
    mock.create(Name="Still in work")
    mock.intervene(action="lifecycle_change", document=doc["ID"], state="RELEASED")

    body = mock.get(f"{DOCS}?$filter=State/Value eq 'RELEASED'").get_json()

    assert [d["ID"] for d in body["value"]] == [doc["ID"]]


def test_filter_without_match_is_empty(mock: Session) -> None:
    mock.create(Name="Pump")

    assert mock.get(f"{DOCS}?$filter=Name eq 'nothing'").get_json()["value"] == []


def test_select_returns_only_the_named_properties_plus_id_and_etag(any_mock: Session) -> None:
    any_mock.create(Name="Selected", Title="t")

    item = any_mock.get(f"{DOCS}?$select=Name,Version").get_json()["value"][0]

    expected = {"ID", "Name", "Version"}
    if any_mock.profile != "wrs":
        expected.add("@odata.etag")
    assert set(item) == expected


def test_select_works_on_a_single_entity(mock: Session) -> None:
    doc = mock.create(Name="Selected")

    body = mock.get(doc_url(doc["ID"]) + "?$select=Title").get_json()

    assert {k for k in body if not k.startswith("@")} == {"ID", "Title"}


@pytest.mark.parametrize(
    "query",
    [
        "$filter=Name eq 'unterminated",
        "$filter=Name eq",
        "$filter=Nope eq 'x'",
        "$filter=State eq 'INWORK'",
        "$filter=Number eq 5",
        "$filter=Latest gt true",
        "$filter=Name",
        "$orderby=Nope",
        "$orderby=Name sideways",
        "$select=Nope",
        "$top=-1",
        "$top=abc",
        "$skip=1.5",
        "$count=yes",
        "$foo=1",
    ],
)
def test_malformed_query_options_are_400(mock: Session, query: str) -> None:
    response = mock.get(f"{DOCS}?{query}")

    assert response.status_code == 400
    assert error_of(response)["code"] == "InvalidQueryOption"


@pytest.mark.parametrize(
    "query",
    [
        "$expand=Creator",
        "$search=pump",
        "$apply=groupby((Name))",
        "$compute=1 add 1 as x",
        "$format=xml",
        "$filter=length(Name) gt 3",
        "$filter=tolower(Name) eq 'x'",
        "$filter=CreatedOn gt 2024-01-01",
        "$filter=Number add 1 eq 2",
        "$filter=Name/any(n: n eq 'x')",
    ],
)
def test_query_features_the_mock_does_not_implement_are_501(mock: Session, query: str) -> None:
    response = mock.get(f"{DOCS}?{query}")

    assert response.status_code == 501
    assert error_of(response)["code"] == "NotImplemented"
    assert "not implemented" in error_of(response)["message"]


@pytest.mark.parametrize("prefer", ["odata.maxpagesize=0", "odata.maxpagesize=abc"])
def test_a_bad_maxpagesize_is_400(mock: Session, prefer: str) -> None:
    response = mock.get(DOCS, headers={"Prefer": prefer})

    assert response.status_code == 400
    error_of(response)


def test_custom_query_parameters_without_dollar_are_ignored(make_mock: MakeMock) -> None:
    response = make_mock(documents=2).get(f"{DOCS}?foo=bar")

    assert response.status_code == 200
    assert len(response.get_json()["value"]) == 2


def test_collection_items_carry_etags_except_in_wrs(any_mock: Session) -> None:
    doc = any_mock.create(Name="Tagged")

    item = any_mock.get(DOCS).get_json()["value"][0]

    if any_mock.profile == "wrs":
        assert "@odata.etag" not in item
    else:
        assert item["@odata.etag"] == doc["@odata.etag"]


# -------------------------------------------------------------------- one document


def test_get_document_has_the_wrs_shape(mock: Session) -> None:
    doc = mock.create(Name="Pump housing", Description="d", Department="R&D")

    response = mock.get(doc_url(doc["ID"]))

    body = response.get_json()
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert body["ID"].startswith("OR:wt.doc.WTDocument:")
    assert body["VersionID"].startswith("VR:wt.doc.WTDocument:")
    assert body["Version"] == "A.1"
    assert body["Revision"] == "A"
    assert body["Latest"] is True
    assert body["State"] == {"Value": "INWORK", "Display": "In Work"}
    assert body["CheckoutState"] == "Checked in"
    assert body["Department"] == "R&D"
    assert body["CreatedBy"] == body["ModifiedBy"] == "wcadmin"
    assert body["CreatedOn"].endswith("+00:00")
    assert body["@odata.context"].endswith("/DocMgmt/$metadata#Documents/$entity")


def test_get_document_has_matching_etag_header_and_annotation(any_mock: Session) -> None:
    doc = any_mock.create(Name="Tagged")

    response = any_mock.get(doc_url(doc["ID"]))

    body = response.get_json()
    if any_mock.profile == "wrs":
        assert "ETag" not in response.headers
        assert "@odata.etag" not in body
    else:
        assert response.headers["ETag"] == body["@odata.etag"]
        assert response.headers["ETag"].startswith(
            'W/"v1.' if any_mock.profile == "odata" else '"v1.'
        )


def test_the_etag_changes_with_every_write_even_within_one_millisecond(mock: Session) -> None:
    doc = mock.create(Name="Fast")
    seen = [doc["@odata.etag"]]

    for i in range(3):  # the virtual clock does not move
        seen.append(mock.update(doc["ID"], {"Title": str(i)}).headers["ETag"])

    assert len(set(seen)) == 4


def test_url_encoded_key_works(mock: Session) -> None:
    doc = mock.create(Name="Encoded")

    response = mock.get(encoded_doc_url(doc["ID"]))

    assert response.status_code == 200
    assert response.get_json()["ID"] == doc["ID"]


def test_version_id_works_as_a_key(mock: Session) -> None:
    doc = mock.create(Name="By version")

    response = mock.get(doc_url(doc["VersionID"]))

    assert response.status_code == 200
    assert response.get_json()["ID"] == doc["ID"]


def test_version_id_works_as_a_key_for_writes(mock: Session) -> None:
    doc = mock.create(Name="By version")

    response = mock.update(doc["VersionID"], {"Title": "via VR"})

    assert response.status_code == 200
    assert mock.truth(doc["ID"])["entity"]["Title"] == "via VR"


@pytest.mark.parametrize(
    "key", ["OR:wt.doc.WTDocument:999999", "VR:wt.doc.WTDocument:1", "nonsense", ""]
)
def test_unknown_key_is_404(mock: Session, key: str) -> None:
    response = mock.get(doc_url(key))

    assert response.status_code == 404
    error_of(response)


def test_key_without_quotes_is_404(mock: Session) -> None:
    doc = mock.create(Name="Quoted")

    assert mock.get(f"{DOCS}({doc['ID']})").status_code == 404


# -------------------------------------------------------------------- create


def test_post_creates_a_document_with_location_and_etag(any_mock: Session) -> None:
    response = any_mock.post(DOCS, json={"Name": "New", "Number": "N-1", "Title": "t"})

    body = response.get_json()
    assert response.status_code == 201
    assert body["Name"] == "New"
    assert body["Number"] == "N-1"
    assert body["Version"] == "A.1"
    location = response.headers["Location"]
    assert location.endswith(f"/DocMgmt/Documents('{body['ID']}')")
    assert any_mock.get(location).get_json()["ID"] == body["ID"]
    if any_mock.profile == "wrs":
        assert "ETag" not in response.headers
    else:
        assert response.headers["ETag"] == body["@odata.etag"]


def test_post_generates_a_number_when_none_is_given(mock: Session) -> None:
    doc = mock.create(Name="Numberless")

    assert doc["Number"] == doc["ID"].rpartition(":")[2].zfill(10)


@pytest.mark.parametrize("body", [{}, {"Title": "no name"}, {"Name": ""}, {"Name": None}])
def test_post_requires_a_name(mock: Session, body: dict[str, Any]) -> None:
    response = mock.post(DOCS, json=body)

    assert response.status_code == 400
    assert "Name" in error_of(response)["message"]
    assert mock.get(DOCS).get_json()["value"] == []


def test_post_with_a_duplicate_number_is_409(mock: Session) -> None:
    mock.create(Name="First", Number="DUP")

    response = mock.post(DOCS, json={"Name": "Second", "Number": "DUP"})

    assert response.status_code == 409
    error_of(response)


def test_post_cannot_set_read_only_properties(mock: Session) -> None:
    response = mock.post(DOCS, json={"Name": "x", "Version": "B.7"})

    assert response.status_code == 400
    assert error_of(response)["code"] == "ReadOnlyProperty"


# -------------------------------------------------------------------- update and delete


def test_patch_in_thread_returns_200_with_the_entity_and_new_etag(mock: Session) -> None:
    doc = mock.create(Name="Patched")

    response = mock.update(doc["ID"], {"Title": "new"}, headers={"If-Match": doc["@odata.etag"]})

    body = response.get_json()
    assert response.status_code == 200
    assert body["Title"] == "new"
    assert response.headers["ETag"] == body["@odata.etag"] != doc["@odata.etag"]
    assert body["Version"] == "A.1"  # a PATCH makes no new iteration


def test_patch_in_thread_with_return_minimal_is_204_with_etag(mock: Session) -> None:
    doc = mock.create(Name="Minimal")

    response = mock.update(doc["ID"], {"Title": "new"}, headers={"Prefer": "return=minimal"})

    assert response.status_code == 204
    assert response.get_data() == b""
    assert response.headers["ETag"] == mock.etag(doc["ID"])


def test_patch_in_odata_returns_204_with_the_new_etag(make_mock: MakeMock) -> None:
    mock = make_mock(profile="odata")
    doc = mock.create(Name="Patched")

    response = mock.update(doc["ID"], {"Title": "new"}, headers={"If-Match": doc["@odata.etag"]})

    assert response.status_code == 204
    assert response.get_data() == b""
    assert response.headers["ETag"] == mock.etag(doc["ID"]) != doc["@odata.etag"]


def test_patch_in_odata_with_return_representation_is_200(make_mock: MakeMock) -> None:
    mock = make_mock(profile="odata")
    doc = mock.create(Name="Patched")

    response = mock.update(
        doc["ID"],
        {"Title": "new"},
        headers={"If-Match": doc["@odata.etag"], "Prefer": "return=representation"},
    )

    assert response.status_code == 200
    assert response.get_json()["Title"] == "new"


def test_patch_in_wrs_returns_204_without_etag(make_mock: MakeMock) -> None:
    mock = make_mock(profile="wrs")
    doc = mock.create(Name="Patched")

    response = mock.update(doc["ID"], {"Title": "new"})

    assert response.status_code == 204
    assert "ETag" not in response.headers
    assert mock.read(doc["ID"]).get_json()["Title"] == "new"


def test_patch_updates_soft_attributes_and_modified_by(mock: Session) -> None:
    doc = mock.create(Name="Soft")
    other = mock.as_user("other")

    other.update(doc["ID"], {"Department": "QA", "ReviewComment": None})

    body = mock.read(doc["ID"]).get_json()
    assert body["Department"] == "QA"
    assert body["ModifiedBy"] == "other"


def test_patch_ignores_instance_annotations(mock: Session) -> None:
    doc = mock.create(Name="Annotated")

    response = mock.update(doc["ID"], {"@odata.etag": "whatever", "Title": "t"})

    assert response.status_code == 200
    assert response.get_json()["Title"] == "t"


def test_patch_of_unknown_document_is_404(mock: Session) -> None:
    response = mock.update("OR:wt.doc.WTDocument:1", {"Title": "t"})

    assert response.status_code == 404
    error_of(response)


def test_last_modified_follows_the_virtual_clock(mock: Session) -> None:
    doc = mock.create(Name="Clocked")
    mock.clock.advance(3661)
    mock.fetch_nonce()  # the session expired after 30 idle minutes

    body = mock.update(doc["ID"], {"Title": "later"}).get_json()

    assert body["CreatedOn"] == "2024-02-21T13:23:20+00:00"
    assert body["LastModified"] == "2024-02-21T14:24:21+00:00"


def test_delete_is_204_then_the_document_is_gone(any_mock: Session) -> None:
    doc = any_mock.create(Name="Doomed")
    headers = {} if any_mock.profile != "odata" else {"If-Match": doc["@odata.etag"]}

    response = any_mock.delete(doc_url(doc["ID"]), headers=headers)

    assert response.status_code == 204
    assert any_mock.get(doc_url(doc["ID"])).status_code == 404
    assert any_mock.get(doc_url(doc["VersionID"])).status_code == 404
    assert any_mock.delete(doc_url(doc["ID"]), headers=headers).status_code == 404


def test_delete_with_a_stale_etag_keeps_the_document(mock: Session) -> None:
    doc = mock.create(Name="Survivor")
    mock.update(doc["ID"], {"Title": "moved on"})

    response = mock.delete(doc_url(doc["ID"]), headers={"If-Match": doc["@odata.etag"]})

    assert response.status_code == 409
    assert mock.get(doc_url(doc["ID"])).status_code == 200
