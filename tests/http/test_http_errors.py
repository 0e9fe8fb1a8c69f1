"""Every error a client can provoke is an OData error body with the right status, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wrs_session import DOCS, ROOT, MakeMock, Session, doc_url, error_of

from mock_server import MockConfig
from mock_server.core import VirtualClock
from mock_server.http import AppPool


@pytest.fixture
def doc_id(mock: Session) -> str:
    return str(mock.create(Name="Pump", Title="original")["ID"])


def patch_raw(
    mock: Session, doc_id: str, data: bytes | str, content_type: str | None = "application/json"
) -> Any:
    kwargs: dict[str, Any] = {"data": data}
    if content_type is not None:
        kwargs["content_type"] = content_type
    return mock.patch(doc_url(doc_id), **kwargs)


# -------------------------------------------------------------------- 400


@pytest.mark.parametrize(
    "data",
    [
        "{",
        '{"Title": }',
        "{'Title': 'single quotes'}",
        b"\xff\xfe\x00",
        '{"Title": "x"} trailing',
        '{"Department": NaN}',
        '{"Department": Infinity}',
        '{"Department": -Infinity}',
        '{"Department": 1e999}',
        pytest.param('{"Department": ' + "1" * 5000 + "}", id="5000-digit-number"),
        pytest.param("[" * 100_000, id="deeply-nested"),
    ],
)
def test_malformed_json_is_400_and_changes_nothing(
    mock: Session, doc_id: str, data: str | bytes
) -> None:
    before = mock.truth(doc_id)

    response = patch_raw(mock, doc_id, data)

    assert response.status_code == 400
    assert error_of(response)["code"] == "MalformedJSON"
    assert mock.truth(doc_id) == before


def test_an_accepted_write_never_makes_the_responses_invalid_json(
    mock: Session, doc_id: str
) -> None:
    patch_raw(mock, doc_id, '{"Department": 1e308}')

    text = mock.read(doc_id).get_data(as_text=True)

    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in a response"))


@pytest.mark.parametrize("data", ["[]", '["Title"]', '"Title"', "42", "null", "true"])
def test_a_body_that_is_not_an_object_is_400(mock: Session, doc_id: str, data: str) -> None:
    before = mock.truth(doc_id)

    response = patch_raw(mock, doc_id, data)

    assert response.status_code == 400
    assert "object" in error_of(response)["message"]
    assert mock.truth(doc_id) == before


@pytest.mark.parametrize("data", ["", "   "])
def test_an_empty_patch_body_is_400(mock: Session, doc_id: str, data: str) -> None:
    response = patch_raw(mock, doc_id, data)

    assert response.status_code == 400
    assert error_of(response)["code"] == "MissingBody"


@pytest.mark.parametrize(
    "name",
    [
        "ID",
        "Version",
        "Revision",
        "VersionID",
        "Latest",
        "State",
        "CheckoutState",
        "CreatedOn",
        "LastModified",
        "CreatedBy",
        "ModifiedBy",
        "LifeCycleTemplateName",
        "Name",
        "Number",
    ],
)
def test_writing_a_read_only_property_is_400(mock: Session, doc_id: str, name: str) -> None:
    before = mock.truth(doc_id)

    response = mock.update(doc_id, {"Title": "also this", name: "x"})

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "ReadOnlyProperty"
    assert name in error["message"]
    assert mock.truth(doc_id) == before


def test_name_and_number_point_to_update_common_properties(mock: Session, doc_id: str) -> None:
    response = mock.update(doc_id, {"Name": "renamed"})

    assert "PTC.DocMgmt.UpdateCommonProperties" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("title", "Title"), ("Titel", "Title"), ("DESCRIPTION", "Description"), ("Departmnt", None)],
)
def test_an_unknown_property_is_400_with_a_did_you_mean(
    mock: Session, doc_id: str, name: str, suggestion: str | None
) -> None:
    before = mock.truth(doc_id)

    response = mock.update(doc_id, {name: "x"})

    error = error_of(response)
    assert response.status_code == 400
    assert error["code"] == "UnknownProperty"
    assert name in error["message"]
    assert f"did you mean '{suggestion or 'Department'}'" in error["message"]
    assert mock.truth(doc_id) == before


def test_an_unknown_property_far_from_any_known_one_has_no_suggestion(
    mock: Session, doc_id: str
) -> None:
    message = error_of(mock.update(doc_id, {"Zzzqqq": 1}))["message"]

    assert "did you mean" not in message


@pytest.mark.parametrize(
    "changes",
    [
        {"Title": 5},
        {"Title": ["a"]},
        {"Description": {"a": 1}},
        {"Department": ["list"]},
        {"Department": {"nested": True}},
        {"Title": "x" * 4001},
    ],
)
def test_a_badly_typed_value_is_400(mock: Session, doc_id: str, changes: dict[str, Any]) -> None:
    before = mock.truth(doc_id)

    response = mock.update(doc_id, changes)

    assert response.status_code == 400
    error_of(response)
    assert mock.truth(doc_id) == before


@pytest.mark.parametrize("value", [7, True, 1.5, ["R&D"], {"a": "b"}])
def test_soft_attributes_take_what_metadata_declares_a_string_or_null(
    mock: Session, doc_id: str, value: object
) -> None:
    etag = mock.etag(doc_id)
    declared = mock.get(f"{ROOT}/DocMgmt/$metadata").get_data(as_text=True)

    refused = mock.update(doc_id, {"Title": "t", "Department": value})
    etag_after_refusal = mock.etag(doc_id)
    accepted = mock.update(doc_id, {"Department": "R&D", "ExternalReference": None})

    assert '<Property Name="Department" Type="Edm.String"/>' in declared
    assert refused.status_code == 400
    assert "declared Edm.String" in error_of(refused)["message"]
    assert etag_after_refusal == etag, "a refusal changes nothing"
    assert accepted.status_code == 200
    assert accepted.get_json()["Department"] == "R&D"
    assert accepted.get_json()["Title"] != "t"


# -------------------------------------------------------------------- 404, 405


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/nothing",
        "/Windchill",
        f"{ROOT}/DocMgmt/Parts",
        f"{ROOT}/DocMgmt/Documents/extra",
        f"{ROOT}/DocMgmt/Documents('x')/Title",
        f"{ROOT}/PTC/Nope()",
    ],
)
def test_unknown_urls_are_404_with_an_odata_error(mock: Session, path: str) -> None:
    response = mock.get(path)

    assert response.status_code == 404
    assert error_of(response)["code"] == "NotFound"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "doc"),
        ("PUT", DOCS),
        ("POST", "doc"),
        ("DELETE", DOCS),
        ("PATCH", DOCS),
        ("POST", f"{ROOT}/DocMgmt/$metadata"),
        ("DELETE", f"{ROOT}/"),
    ],
)
def test_unsupported_methods_are_405_with_allow(
    mock: Session, doc_id: str, method: str, path: str
) -> None:
    before = mock.truth(doc_id)

    response = mock.request(method, doc_url(doc_id) if path == "doc" else path, json={"Title": "x"})

    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    error_of(response)
    assert mock.truth(doc_id) == before


def test_put_is_405_naming_the_methods_that_work(mock: Session, doc_id: str) -> None:
    allow = mock.request("PUT", doc_url(doc_id), json={"Title": "x"}).headers["Allow"]

    assert {"GET", "PATCH", "DELETE"} <= {m.strip() for m in allow.split(",")}


def test_head_reads_and_never_writes(mock: Session, doc_id: str) -> None:
    before = mock.truth(doc_id)

    response = mock.request("HEAD", doc_url(doc_id), csrf=False, json={"Title": "via HEAD"})

    assert response.status_code == 200
    assert response.headers["ETag"] == before["etag"]
    assert response.get_data() == b""
    assert mock.truth(doc_id) == before


# -------------------------------------------------------------------- 413, 415, 428


def test_an_oversized_body_is_413(make_mock: MakeMock) -> None:
    mock = make_mock(max_body_bytes=64)
    doc_id = mock.create(Name="Pump")["ID"]
    before = mock.truth(doc_id)

    response = mock.update(doc_id, {"Title": "x" * 100})

    assert response.status_code == 413
    assert error_of(response)["code"] == "PayloadTooLarge"
    assert mock.truth(doc_id) == before
    assert mock.update(doc_id, {"Title": "short"}).status_code == 200


def test_an_oversized_create_is_413(make_mock: MakeMock) -> None:
    mock = make_mock(max_body_bytes=64)

    response = mock.post(DOCS, json={"Name": "x" * 100})

    assert response.status_code == 413
    assert mock.get(DOCS).get_json()["value"] == []


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded", None]
)
def test_a_body_that_is_not_json_is_415(
    mock: Session, doc_id: str, content_type: str | None
) -> None:
    before = mock.truth(doc_id)

    response = patch_raw(mock, doc_id, '{"Title": "x"}', content_type)

    assert response.status_code == 415
    assert error_of(response)["code"] == "UnsupportedMediaType"
    assert mock.truth(doc_id) == before


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;odata.metadata=minimal",
    ],
)
def test_json_content_types_with_parameters_are_accepted(
    mock: Session, doc_id: str, content_type: str
) -> None:
    assert patch_raw(mock, doc_id, '{"Title": "x"}', content_type).status_code == 200


def test_post_with_a_non_json_body_is_415(mock: Session) -> None:
    response = mock.post(DOCS, data="Name=x", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415


def test_428_is_an_odata_error_with_the_current_etag(make_mock: MakeMock) -> None:
    mock = make_mock(profile="odata")
    doc = mock.create(Name="Pump")

    response = mock.update(doc["ID"], {"Title": "x"})

    assert response.status_code == 428
    assert error_of(response)["code"] == "PreconditionRequired"
    assert response.headers["ETag"] == doc["@odata.etag"]


def test_error_responses_declare_odata_json(mock: Session) -> None:
    response = mock.get(f"{ROOT}/Nope/")

    assert response.mimetype == "application/json"
    assert response.headers["OData-Version"] == "4.0"


# -------------------------------------------------------------------- injected faults


def test_an_injected_fault_answers_with_its_status_and_retry_after(
    mock: Session, doc_id: str
) -> None:
    mock.intervene(action="fault", document=doc_id, status=503, retry_after=2.4)
    before = mock.truth(doc_id)

    response = mock.update(doc_id, {"Title": "x"})

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "3"  # 2.4 s rounded up to whole seconds
    assert error_of(response)["code"] == "InjectedFault"
    assert mock.truth(doc_id) == before
    assert mock.update(doc_id, {"Title": "x"}).status_code == 200  # one request only


def test_an_injected_429_without_retry_after(mock: Session, doc_id: str) -> None:
    mock.intervene(action="fault", document=doc_id, status=429, message="slow down")

    response = mock.get(doc_url(doc_id))

    assert response.status_code == 429
    assert "Retry-After" not in response.headers
    assert error_of(response)["message"] == "slow down"


def test_injected_latency_advances_the_virtual_clock(mock: Session, doc_id: str) -> None:
    start = mock.clock.now()
    mock.intervene(action="latency", document=doc_id, seconds=3)

    response = mock.get(doc_url(doc_id))

    assert response.status_code == 200
    assert mock.clock.now() == start + 3


# -------------------------------------------------------------------- never a 500

_header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=40,
)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3)
    ),
    max_leaves=8,
)
_property_names = st.sampled_from(
    ["Title", "Description", "Department", "Name", "Version", "title", "@odata.etag", "X"]
)
_bodies = st.one_of(
    st.binary(max_size=60),
    _json_values.map(lambda v: json.dumps(v)),
    st.dictionaries(_property_names, _json_values, max_size=3).map(lambda v: json.dumps(v)),
)
_headers = st.dictionaries(
    st.sampled_from(
        [
            "If-Match",
            "Prefer",
            "Content-Type",
            "X-PTC-UpdateMode",
            "X-PTC-IgnoreVersionCheck",
            "X-Client-UpdateToken",
            "CSRF_NONCE",
            "Accept",
        ]
    ),
    _header_text | st.sampled_from(['"v1.1708521800000"', "*", 'W/"v1.1"', "application/json"]),
    max_size=4,
)
_suffixes = st.sampled_from(
    ["", "/PTC.DocMgmt.CheckOut", "/Actions/CheckIn", "/PTC.DocMgmt.UndoCheckOut", "?$select=x"]
) | st.text(alphabet="()'/$?=&%:.,;~ aA0", max_size=12)

_INTERFERENCE: list[dict[str, Any] | None] = [
    None,
    {"action": "micro_update", "duration": 5},
    {"action": "check_out", "user": "other"},
    {"action": "concurrent_edit", "changes": {"Title": "theirs"}},
    {"action": "fault", "status": 429, "retry_after": 1},
]


@given(
    profile=st.sampled_from(["thread", "odata", "wrs"]),
    body=_bodies,
    headers=_headers,
    suffix=_suffixes,
    method=st.sampled_from(["PATCH", "POST", "DELETE", "PUT", "HEAD", "GET"]),
    interference=st.sampled_from(_INTERFERENCE),
)
def test_nothing_a_client_sends_causes_a_500_and_rejections_change_nothing(
    app_pool: AppPool,
    profile: str,
    body: str | bytes,
    headers: dict[str, str],
    suffix: str,
    method: str,
    interference: dict[str, Any] | None,
) -> None:
    clock = VirtualClock()
    app = app_pool.acquire(MockConfig(profile=profile), clock=clock)
    try:
        mock = Session(app, clock)
        doc_id = mock.create(Name="Pump", Title="original")["ID"]
        if interference is not None:
            mock.intervene(document=doc_id, **interference)
        headers.setdefault("Content-Type", "application/json")
        before = mock.truth(doc_id)
        mock.fetch_nonce()

        response = mock.request(method, doc_url(doc_id) + suffix, data=body, headers=headers)

        assert response.status_code < 500, response.get_data(as_text=True)
        if response.status_code >= 400:
            if method != "HEAD":
                error_of(response)
            assert mock.truth(doc_id) == before
    finally:
        app_pool.release(app)


@pytest.mark.parametrize("body", [{}, {"@odata.type": "#PTC.DocMgmt.Document"}])
def test_a_patch_naming_no_property_changes_nothing_not_even_the_etag(
    any_mock: Session, body: dict[str, str]
) -> None:
    doc = any_mock.create(Name="Pump", Description="kept")
    before = any_mock.truth(doc["ID"])
    etag = before["etag"]  # the wrs profile sends no ETag header; the truth has it

    response = any_mock.update(
        doc["ID"], body, headers={"If-Match": etag, "X-Client-UpdateToken": "t-1"}
    )

    assert response.status_code in (200, 204)
    assert response.headers.get("ETag") in (etag, None)
    assert any_mock.truth(doc["ID"]) == before
    assert any_mock.read(doc["ID"]).headers.get("X-Client-UpdateToken") is None


def test_a_patch_naming_no_property_still_meets_the_concurrency_rules(make_mock: MakeMock) -> None:
    strict = make_mock(profile="odata")
    doc = strict.create(Name="Pump")
    stale = strict.etag(doc["ID"])
    strict.update(doc["ID"], {"Description": "moved"}, headers={"If-Match": stale})

    missing = strict.update(doc["ID"], {})
    mismatched = strict.update(doc["ID"], {}, headers={"If-Match": stale})

    assert missing.status_code == 428
    assert mismatched.status_code == 412


@pytest.mark.parametrize("name", ["", "   "])
def test_an_empty_name_is_said_to_be_empty_not_missing(mock: Session, name: str) -> None:
    empty = mock.post(DOCS, json={"Name": name})
    missing = mock.post(DOCS, json={"Title": "t"})

    assert empty.status_code == 400
    assert "is empty" in error_of(empty)["message"]
    assert missing.status_code == 400
    assert "is required" in error_of(missing)["message"]


@pytest.mark.parametrize(
    ("path", "accept", "status"),
    [
        ("/DocMgmt/Documents", "application/xml", 406),
        ("/DocMgmt/Documents", "text/html", 406),
        ("/DocMgmt/Documents", "application/json;odata.metadata=minimal", 200),
        ("/DocMgmt/Documents", "application/*", 200),
        ("/DocMgmt/Documents", "*/*", 200),
        ("/DocMgmt/Documents", "application/xml, application/json;q=0.5", 200),
        ("/DocMgmt/$metadata", "application/xml", 200),
        ("/DocMgmt/$metadata", "text/html", 406),
        ("/DocMgmt/$metadata", "application/json", 406),
        ("/DocMgmt/Documents/$count", "text/plain", 200),
        ("/DocMgmt/Documents/$count", "application/json", 200),
    ],
)
def test_accept_is_honoured_with_406_when_nothing_acceptable_is_sent(
    mock: Session, path: str, accept: str, status: int
) -> None:
    response = mock.get(ROOT + path, headers={"Accept": accept})

    assert response.status_code == status
    if status == 406:
        assert error_of(response)["code"] == "NotAcceptable"


@pytest.mark.parametrize(
    ("version", "status"), [("3.0", 400), ("2", 400), ("x", 400), ("4.0", 200), ("4.01", 200)]
)
def test_odata_maxversion_below_4_is_refused(mock: Session, version: str, status: int) -> None:
    response = mock.get(DOCS, headers={"OData-MaxVersion": version})

    assert response.status_code == status
    if status != 200:
        assert error_of(response)["code"] == "UnsupportedODataVersion"


@pytest.mark.parametrize(
    ("prefer", "status", "applied"),
    [
        ("return=minimal", 204, "return=minimal"),
        ("return=representation", 200, "return=representation"),
        (None, 200, None),
    ],
)
def test_a_patch_says_which_return_preference_it_applied_and_varies_on_prefer(
    mock: Session, doc_id: str, prefer: str | None, status: int, applied: str | None
) -> None:
    headers = {"If-Match": "*"} | ({"Prefer": prefer} if prefer else {})

    response = mock.update(doc_id, {"Title": "t"}, headers=headers)

    assert response.status_code == status
    assert response.headers.get("Preference-Applied") == applied
    assert response.headers.get("Vary") == ("Prefer" if applied else None)


@pytest.mark.parametrize("version", ["\u00b2", "4.\u00b9", "\u0664"])
def test_an_odata_maxversion_of_non_ascii_digits_is_400_not_500(
    mock: Session, version: str
) -> None:
    response = mock.get(DOCS, headers={"OData-MaxVersion": version})

    assert response.status_code == 400
    assert error_of(response)["code"] == "UnsupportedODataVersion"
