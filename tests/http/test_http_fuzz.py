"""A seeded fuzz of the OData surface: whatever a client sends, the mock answers it properly.

Hypothesis draws short sequences of requests — methods, paths, keys, query options, headers and
bodies, hostile ones included — against a fresh mock per example, and checks three rules on
every answer:

1. no 5xx, but for 501 Not Implemented: OData's answer to a feature the mock does not do;
2. every 4xx (and 501) carries an OData error body (``{"error": {"code", "message"}}``);
3. a rejected request changes no document, no ETag and no working copy, and adds to the
   journal nothing but its own ``invoke`` and ``fail`` (one operation).

The number of examples follows the Hypothesis profile (``dev`` locally, ``ci`` in CI, seeded).
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_server import MockConfig
from mock_server.core import VirtualClock
from mock_server.http import AppPool, install_state, state

ROOT = "/Windchill/servlet/odata"
USERS = {"wcadmin": "wcadmin", "other": "other"}

_text = st.text(max_size=30)
_hostile_text = st.sampled_from(
    ["", "'", "''", "%", "%00", "\x00", "\ud800", "\ufeff", "é", "OR:", "(", ")", "x" * 300]
)
_some_text = _text | _hostile_text

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _some_text
)
_json = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_some_text, inner, max_size=3),
    max_leaves=8,
)
_properties = st.sampled_from(
    [
        "Name",
        "Number",
        "Description",
        "Title",
        "Department",
        "ExternalReference",
        "ID",
        "Version",
        "State",
        "CheckOutNote",
        "KeepCheckedOut",
        "@odata.etag",
        "description",
    ]
)
_object_bodies = st.dictionaries(_properties | _some_text, _json, max_size=4)
_raw_bodies = st.binary(max_size=40) | st.sampled_from(
    [b"{", b"[]", b"null", b'{"a": NaN}', b'{"a": 1e999}', b"\xef\xbb\xbf{}", b'{"a": "\\ud800"}']
)


def _quote(text: str, safe: str) -> str:
    # A lone surrogate becomes the bytes of its UTF-8 form: invalid UTF-8, a hostile input.
    return quote(text, safe=safe, errors="surrogatepass")


@st.composite
def _keys(draw: st.DrawFn, ids: list[str]) -> str:
    real = draw(st.sampled_from(ids))
    number = real.rsplit(":", 1)[1]
    return draw(
        st.sampled_from(
            [
                real,
                f"VR:wt.doc.WTDocument:{int(number) + 1}",
                "OR:wt.doc.WTDocument:1",
                real.replace("OR:", "or:"),
                real + "'",
            ]
        )
        | _some_text
    )


@st.composite
def _paths(draw: st.DrawFn, ids: list[str]) -> str:
    key = _quote(draw(_keys(ids)).replace("'", "''"), safe=":")
    version = draw(st.sampled_from(["", "/v1", "/v9", "/vx"]))
    domain = f"{ROOT}{version}/DocMgmt"
    action = draw(
        st.sampled_from(["CheckOut", "CheckIn", "UndoCheckOut", "UpdateCommonProperties"])
        | _text.map(lambda t: _quote(t, safe=""))
    )
    return draw(
        st.sampled_from(
            [
                f"{ROOT}/",
                f"{ROOT}{version}/PTC/GetCSRFToken()",
                f"{domain}",
                f"{domain}/$metadata",
                f"{domain}/Documents",
                f"{domain}/Documents/$count",
                f"{domain}/Documents('{key}')",
                f"{domain}/Documents({key})",
                f"{domain}/Documents('{key}')/PTC.DocMgmt.{action}",
                f"{domain}/Documents('{key}')/Actions/{action}",
                f"{domain}/Documents('{key}')/Name",
                f"{ROOT}/ProdMgmt/Parts",
            ]
        )
    )


_query_values = _some_text | st.sampled_from(
    ["true", "false", "0", "1", "25", "-1", "99999999999999999999", "Name eq 'x'", "Number"]
)
_queries = st.dictionaries(
    st.sampled_from(["$filter", "$top", "$skip", "$skiptoken", "$select", "$count", "$format"])
    | st.sampled_from(["$orderby", "$expand", "$search", "foo"]),
    _query_values,
    max_size=3,
)


@st.composite
def _requests(draw: st.DrawFn, ids: list[str], etags: list[str]) -> dict[str, Any]:
    method = draw(st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"]))
    headers: dict[str, str] = {}
    user = draw(st.sampled_from(["wcadmin", "other", "nobody"]))
    credentials = f"{user}:{USERS.get(user, 'wrong')}".encode()
    if draw(st.integers(0, 9)):
        headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode()
    for name, values in (
        ("If-Match", st.sampled_from(["*", *etags, '"v1.1"', "W/" + etags[0], "garbage"])),
        ("If-None-Match", st.sampled_from(["*", *etags, "garbage"])),
        ("Prefer", st.sampled_from(["return=minimal", "odata.maxpagesize=2", "maxpagesize=x"])),
        ("X-Client-UpdateToken", _some_text.filter(str.isprintable)),
        ("X-PTC-UpdateMode", st.sampled_from(["Merge", "Replace", "x"])),
        ("X-PTC-IgnoreVersionCheck", st.sampled_from(["true", "false", "x"])),
        ("Accept", st.sampled_from(["application/json", "application/xml", "*/*"])),
        ("OData-MaxVersion", st.sampled_from(["4.0", "3.0", "x"])),
    ):
        if draw(st.integers(0, 4)) == 0:
            value = draw(values)
            if value.isascii() and value.isprintable():
                headers[name] = value
    body: bytes | None = None
    if method in ("POST", "PATCH", "PUT") or draw(st.integers(0, 5)) == 0:
        if draw(st.booleans()):
            body = json.dumps(draw(_object_bodies | _json)).encode()  # ASCII: \ud800 escaped
        else:
            body = draw(_raw_bodies)
        content_type = draw(
            st.sampled_from(["application/json", "application/json;charset=utf-8", "text/plain"])
        )
        headers["Content-Type"] = content_type
    return {
        "method": method,
        "path": draw(_paths(ids)),
        "query": draw(_queries),
        "headers": headers,
        "body": body,
        "nonce": draw(st.sampled_from(["session", "session", "none", "garbage"])),
    }


_writable = st.sampled_from(["Description", "Title", "Department", "ExternalReference"])
_plausible_bodies = st.dictionaries(
    _writable,
    st.text(min_size=1, max_size=10) | st.sampled_from([None, 1, True, "\x00"]),
    min_size=1,
    max_size=3,
)


@st.composite
def _plausible_requests(draw: st.DrawFn, ids: list[str], etags: list[str]) -> dict[str, Any]:
    """Well-formed requests a client would send, aimed where a refusal must change nothing:
    a stale or missing ``If-Match``, another user's check-out, a bad value."""
    doc = quote(draw(st.sampled_from(ids)), safe=":")
    url = f"{ROOT}/DocMgmt/Documents('{doc}')"
    method, path, body = draw(
        st.sampled_from(
            [
                ("PATCH", url, True),
                ("DELETE", url, False),
                ("POST", f"{url}/PTC.DocMgmt.CheckOut", False),
                ("POST", f"{url}/PTC.DocMgmt.CheckIn", False),
                ("POST", f"{url}/PTC.DocMgmt.UndoCheckOut", False),
                ("POST", f"{url}/PTC.DocMgmt.UpdateCommonProperties", True),
                ("POST", f"{ROOT}/DocMgmt/Documents", True),
            ]
        )
    )
    user = draw(st.sampled_from(["wcadmin", "other"]))
    headers = {
        "Authorization": "Basic " + base64.b64encode(f"{user}:{user}".encode()).decode(),
        "Content-Type": "application/json",
    }
    if_match = draw(st.sampled_from([None, "*", '"v1.1"', *etags]))
    if if_match is not None:
        headers["If-Match"] = if_match
    payload: dict[str, Any] = draw(_plausible_bodies) if body else {}
    if path.endswith("UpdateCommonProperties"):
        payload = draw(st.dictionaries(st.sampled_from(["Name", "Number"]), _some_text))
    elif path.endswith("/Documents"):
        payload = {**payload, "Name": draw(st.sampled_from(["", "n", "\x00"]))}
    return {
        "method": method,
        "path": path,
        "query": {},
        "headers": headers,
        "body": json.dumps(payload).encode(),
        "nonce": "session",
    }


@pytest.fixture(scope="module")
def fuzz_app() -> Flask:
    return AppPool().acquire(MockConfig(), clock=VirtualClock())


def _truth(app: Flask) -> tuple[int, list[tuple[dict[str, Any], str]]]:
    repository = state(app).repository
    return len(repository), [repository.snapshot(doc_id) for doc_id in repository.ids()]


def _check_error_body(response: Any, request: dict[str, Any]) -> None:
    if request["method"] == "HEAD":
        return
    body = json.loads(response.get_data())
    error = body["error"]
    assert isinstance(error["code"], str)
    assert error["code"]
    assert isinstance(error["message"], str)
    assert error["message"]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_request_gets_a_5xx_or_changes_anything_when_refused(
    fuzz_app: Flask, data: st.DataObject
) -> None:
    profile = data.draw(st.sampled_from(["thread", "odata", "wrs"]), label="profile")
    mock = install_state(fuzz_app, MockConfig(profile=profile), clock=VirtualClock())
    repository = mock.repository
    ids = [repository.add_document({"Name": f"doc {i}"}) for i in range(2)]
    repository.check_out(ids[1], user="other", if_match="*")
    etags = [repository.current_etag(doc_id) for doc_id in ids]
    client = fuzz_app.test_client()
    auth = {"Authorization": "Basic " + base64.b64encode(b"wcadmin:wcadmin").decode()}
    nonce = client.get(f"{ROOT}/PTC/GetCSRFToken()", headers=auth).get_json()["NonceValue"]

    for _ in range(data.draw(st.integers(1, 3), label="requests")):
        request = data.draw(
            _plausible_requests(ids, etags) | _requests(ids, etags), label="request"
        )
        headers = dict(request["headers"])
        if request["nonce"] == "session":
            headers["CSRF_NONCE"] = nonce
        elif request["nonce"] == "garbage":
            headers["CSRF_NONCE"] = "0" * 40
        before, mark = _truth(fuzz_app), len(repository.journal.events())

        query = urlencode(request["query"], errors="surrogatepass")
        response = client.open(
            request["path"] + ("?" + query if query else ""),
            method=request["method"],
            headers=headers,
            data=request["body"],
        )

        assert response.status_code < 500 or response.status_code == 501, response.get_data(
            as_text=True
        )
        if response.status_code == 501 and request["method"] != "HEAD":
            assert json.loads(response.get_data())["error"]["code"] == "NotImplemented"
        if response.status_code >= 400:
            _check_error_body(response, request)
            assert _truth(fuzz_app) == before, "a refused request changed a document"
            added = repository.journal.events()[mark:]
            assert {e.type for e in added} <= {"invoke", "fail"}, added
            assert len({e.op_id for e in added}) <= 1, added
