"""Hostile input: whatever a client sends, the journal stays readable and memory bounded.

A refused body is not kept verbatim: the ``invoke`` event carries a bounded summary of it
(``refused_body``: size, top-level keys, a short preview) instead of its ``changes``.
"""

from __future__ import annotations

import importlib
import json

import pytest
from wrs_session import CSRF_URL, DOCS, MakeMock, Session, doc_url, error_of

from mock_server import MockConfig
from mock_server.core.errors import MockError
from mock_server.core.journal import SUMMARY_PREVIEW_CHARS
from mock_server.http import state
from mock_server.http.odata import MAX_KEY_CHARS, MAX_UPDATE_TOKEN
from pytest_windchill.handle import WindchillMock

DEPTH = 490  # deep enough that a recursive serialiser overflows the stack


def deep(levels: int) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


def invokes(mock: Session) -> list[dict[str, object]]:
    return [e for e in mock.journal() if e["type"] == "invoke"]


def test_a_deeply_nested_patch_is_refused_and_the_journal_still_reads(mock: Session) -> None:
    doc_id = mock.create()["ID"]
    body = '{"Description": ' + deep(DEPTH) + "}"

    response = mock.patch(
        doc_url(doc_id),
        data=body,
        headers={"Content-Type": "application/json", "If-Match": "*"},
    )

    assert response.status_code == 400, response.get_data(as_text=True)
    journal = mock.admin("GET", "/journal")
    assert journal.status_code == 200, "the journal must serialise everything it accepted"
    (invoke,) = [e for e in invokes(mock) if e["op"] == "update"]
    assert "changes" not in invoke
    summary = invoke["refused_body"]
    assert isinstance(summary, dict)
    assert summary["keys"] == ["Description"]
    assert summary["size"] == len(json.dumps(json.loads(body), separators=(",", ":")))
    assert str(summary["preview"]).startswith('{"Description":{"a":{"a":')
    assert len(str(summary["preview"])) <= SUMMARY_PREVIEW_CHARS


def test_a_deeply_nested_create_is_refused_and_the_journal_still_reads(mock: Session) -> None:
    body = '{"Name": "Pump", "ExternalReference": ' + deep(DEPTH) + "}"

    response = mock.post(DOCS, data=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert mock.admin("GET", "/journal").status_code == 200
    (invoke,) = [e for e in invokes(mock) if e["op"] == "create"]
    assert invoke["refused_body"]["keys"] == ["Name", "ExternalReference"]  # type: ignore[index]


def test_a_big_refused_patch_is_kept_as_a_summary_not_verbatim(mock: Session) -> None:
    doc_id = mock.create()["ID"]
    big = {f"Field{i}": "x" * 4000 for i in range(100)}  # 400 KB of unknown properties

    response = mock.update(doc_id, big, headers={"If-Match": "*"})

    assert response.status_code == 400
    (invoke,) = [e for e in invokes(mock) if e["op"] == "update"]
    assert "changes" not in invoke
    summary = invoke["refused_body"]
    assert isinstance(summary, dict)
    assert summary["size"] > 400_000
    assert summary["key_count"] == 100
    assert len(summary["keys"]) == 20
    assert len(json.dumps(invoke)) < 2_000, "the journal keeps a summary of a refused body"


def test_a_flat_patch_refused_for_a_stale_etag_keeps_only_its_summary(mock: Session) -> None:
    doc_id = mock.create()["ID"]

    response = mock.update(doc_id, {"Description": "mine"}, headers={"If-Match": '"v1.1"'})

    assert response.status_code in (409, 412)
    (invoke,) = [e for e in invokes(mock) if e["op"] == "update"]
    assert "changes" not in invoke
    assert invoke["refused_body"]["keys"] == ["Description"]  # type: ignore[index]


def test_an_accepted_patch_keeps_its_changes_for_the_checker(mock: Session) -> None:
    doc_id = mock.create()["ID"]

    response = mock.update(doc_id, {"Description": "mine"}, headers={"If-Match": "*"})

    assert response.status_code == 200
    (invoke,) = [e for e in invokes(mock) if e["op"] == "update"]
    assert invoke["changes"] == {"Description": "mine"}
    assert "refused_body" not in invoke


def test_the_fixture_journal_reads_after_a_hostile_body(windchill: WindchillMock) -> None:
    doc_id = windchill.create_document()
    body = '{"Description": ' + deep(DEPTH) + "}"
    nonce = windchill.session.get(f"{windchill.service_root}/PTC/GetCSRFToken()").json()

    response = windchill.session.patch(
        f"{windchill.service_root}/DocMgmt/Documents('{doc_id}')",
        data=body,
        headers={
            "Content-Type": "application/json",
            "If-Match": "*",
            "CSRF_NONCE": nonce["NonceValue"],
        },
    )

    assert response.status_code == 400
    lines = windchill.journal_jsonl().splitlines()
    assert any('"refused_body"' in line for line in lines)


def test_an_update_token_longer_than_the_limit_is_refused_and_changes_nothing(
    mock: Session,
) -> None:
    doc_id = mock.create()["ID"]
    before = mock.truth(doc_id)

    response = mock.update(
        doc_id,
        {"Description": "mine"},
        headers={"If-Match": "*", "X-Client-UpdateToken": "t" * (MAX_UPDATE_TOKEN + 1)},
    )

    assert response.status_code == 400
    assert f"the limit is {MAX_UPDATE_TOKEN}" in error_of(response)["message"]
    assert mock.truth(doc_id) == before


def test_an_update_token_at_the_limit_is_stored_and_echoed(mock: Session) -> None:
    doc_id = mock.create()["ID"]
    token = "t" * MAX_UPDATE_TOKEN

    response = mock.update(
        doc_id, {"Description": "mine"}, headers={"If-Match": "*", "X-Client-UpdateToken": token}
    )

    assert response.status_code == 200
    assert mock.read(doc_id).headers["X-Client-UpdateToken"] == token


def test_a_204_carries_no_content_type(mock: Session) -> None:
    doc_id = mock.create()["ID"]

    response = mock.update(
        doc_id, {"Description": "mine"}, headers={"If-Match": "*", "Prefer": "return=minimal"}
    )

    assert response.status_code == 204
    assert "Content-Type" not in response.headers


def test_a_key_longer_than_the_limit_is_refused_before_the_store(mock: Session) -> None:
    key = "OR:" + "x" * MAX_KEY_CHARS

    response = mock.get(doc_url(key))

    assert response.status_code == 400
    assert f"at most {MAX_KEY_CHARS} characters" in error_of(response)["message"]
    assert [e for e in mock.journal() if e["type"] == "invoke"] == []


def test_a_number_a_client_took_is_skipped_by_the_automatic_numbers(mock: Session) -> None:
    # An automatic Number is the object id as ten digits, and every document takes two ids
    # (object and version series): the third document's would be the first's + 4.
    first = mock.create(Name="First")
    taken = f"{int(first['ID'].rsplit(':', 1)[1]) + 4:010d}"
    mock.create(Name="Chosen", Number=taken)

    third = mock.create(Name="Automatic")

    numbers = [d["Number"] for d in mock.get(DOCS).get_json()["value"]]
    assert len(numbers) == len(set(numbers)) == 3
    assert third["Number"].startswith(taken)


def test_a_session_cookie_the_mock_never_issued_is_replaced_not_stored(mock: Session) -> None:
    mock.client.set_cookie("JSESSIONID", "x" * 4000, path="/Windchill")

    response = mock.get(CSRF_URL)

    assert response.status_code == 200
    issued = response.headers["Set-Cookie"].split(";", 1)[0].split("=", 1)[1]
    assert len(issued) == 32
    sessions = state(mock.app).csrf
    assert len(sessions) == 1
    assert not sessions.is_session("x" * 4000)


def test_sessions_are_bounded_and_the_least_recently_used_goes_first(
    mock: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importlib.import_module("mock_server.http.state"), "MAX_SESSIONS", 3)
    users = [mock.as_user("wcadmin", "wcadmin") for _ in range(4)]
    nonces = [user.fetch_nonce() for user in users]

    doc_id = mock.create()["ID"]  # a fifth session: the first two are forgotten
    sessions = state(mock.app).csrf

    assert len(sessions) == 3
    first = users[0].update(doc_id, {"Description": "a"}, headers={"If-Match": "*"})
    last = users[3].update(doc_id, {"Description": "b"}, headers={"If-Match": "*"})
    assert first.status_code == 403, "a forgotten session's nonce fails like an expired one"
    assert last.status_code == 200
    assert nonces[3] == users[3].nonce


def test_a_session_unused_for_its_timeout_expires_and_a_new_one_is_started(
    make_mock: MakeMock,
) -> None:
    mock = make_mock(csrf_session_timeout=600)
    idle = mock.as_user("wcadmin", "wcadmin")
    idle_nonce = idle.fetch_nonce()
    idle_cookie = idle.client.get_cookie("JSESSIONID", path="/Windchill")
    assert idle_cookie is not None
    doc_id = mock.create()["ID"]
    mock.clock.advance(599)
    assert mock.update(doc_id, {"Description": "a"}, headers={"If-Match": "*"}).status_code == 200
    mock.clock.advance(599)  # the active session was used 599 s ago; the idle one 1198 s ago

    sessions = state(mock.app).csrf
    refused = idle.update(doc_id, {"Description": "b"}, headers={"If-Match": "*"})
    still = mock.update(doc_id, {"Description": "c"}, headers={"If-Match": "*"})
    renewed = idle.get(CSRF_URL)

    assert refused.status_code == 403
    assert still.status_code == 200, "using a session keeps it alive"
    assert len(sessions) == 2, "the idle one was forgotten (the renewed one counts)"
    new_cookie = renewed.headers["Set-Cookie"].split(";", 1)[0].split("=", 1)[1]
    assert new_cookie != idle_cookie.value, "an expired session is not revived: a new one starts"
    assert renewed.get_json()["NonceValue"] != idle_nonce


@pytest.mark.parametrize("timeout", [0, -1, 1.5, True, "1800"])
def test_a_bad_session_timeout_is_refused(timeout: object) -> None:
    with pytest.raises(MockError, match="csrf_session_timeout"):
        MockConfig(csrf_session_timeout=timeout)  # type: ignore[arg-type]


def test_a_new_session_timeout_applies_at_once(mock: Session) -> None:
    doc_id = mock.create()["ID"]
    assert mock.admin("PUT", "/config", {"csrf_session_timeout": 10}).status_code == 200
    mock.clock.advance(11)

    refused = mock.update(doc_id, {"Description": "a"}, headers={"If-Match": "*"})

    assert refused.status_code == 403


@pytest.mark.parametrize(
    "raw",
    [
        b'{"Description": "\\ud800"}',
        b'{"Description": "ok", "Title": "\\udfff tail"}',
        b'{"\\udc00": "x"}',
        b'{"Description": "\\ude00\\ud83d"}',  # the halves of a pair, in the wrong order
    ],
)
def test_a_lone_surrogate_anywhere_in_a_body_is_400_and_changes_nothing(
    mock: Session, raw: bytes
) -> None:
    doc_id = mock.create()["ID"]
    before = mock.truth(doc_id)

    response = mock.patch(
        doc_url(doc_id), data=raw, headers={"If-Match": "*", "Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == "MalformedJSON"
    assert "lone surrogate" in error_of(response)["message"]
    assert mock.truth(doc_id) == before
    assert mock.admin("GET", "/journal").status_code == 200


def test_a_surrogate_pair_written_as_escapes_is_one_character_and_kept(mock: Session) -> None:
    doc_id = mock.create()["ID"]
    raw = b'{"Description": "smile \\ud83d\\ude00"}'

    response = mock.patch(
        doc_url(doc_id), data=raw, headers={"If-Match": "*", "Content-Type": "application/json"}
    )

    assert response.status_code == 200
    assert mock.truth(doc_id)["entity"]["Description"] == "smile \U0001f600"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("", {"Description": "a\x00b"}),
        ("", {"Department": "\x00"}),
        ("/PTC.DocMgmt.CheckOut", {"CheckOutNote": "note\x00"}),
    ],
)
def test_nul_in_a_stored_string_is_400_and_changes_nothing(
    mock: Session, path: str, body: dict[str, str]
) -> None:
    doc_id = mock.create()["ID"]
    before = mock.truth(doc_id)

    if path:
        response = mock.post(doc_url(doc_id, path), json=body)
    else:
        response = mock.update(doc_id, body, headers={"If-Match": "*"})

    assert response.status_code == 400
    assert "U+0000" in error_of(response)["message"]
    assert mock.truth(doc_id) == before


def test_a_checkout_note_is_bounded_like_a_property(mock: Session) -> None:
    doc_id = mock.create()["ID"]

    response = mock.post(
        doc_url(doc_id, "/PTC.DocMgmt.CheckOut"), json={"CheckOutNote": "n" * 4001}
    )

    assert response.status_code == 400
    assert "limit is 4000" in error_of(response)["message"]


def test_control_characters_and_a_bom_inside_strings_are_kept_as_sent(mock: Session) -> None:
    doc_id = mock.create()["ID"]
    text = "\ufefftab\there\nline\x1f"

    response = mock.update(doc_id, {"Description": text}, headers={"If-Match": "*"})

    assert response.status_code == 200
    assert response.get_json()["Description"] == text
    assert mock.truth(doc_id)["entity"]["Description"] == text


def test_a_utf8_byte_order_mark_before_the_json_is_ignored(mock: Session) -> None:
    doc_id = mock.create()["ID"]
    raw = b"\xef\xbb\xbf" + json.dumps({"Description": "after a BOM"}).encode()

    response = mock.patch(
        doc_url(doc_id), data=raw, headers={"If-Match": "*", "Content-Type": "application/json"}
    )

    assert response.status_code == 200
    assert mock.truth(doc_id)["entity"]["Description"] == "after a BOM"


def test_reads_with_the_session_cookie_keep_the_session_alive(make_mock: MakeMock) -> None:
    mock = make_mock(csrf_session_timeout=600)
    doc_id = mock.create()["ID"]
    for _ in range(4):
        mock.clock.advance(500)
        assert mock.read(doc_id).status_code == 200

    response = mock.update(
        doc_id, {"Description": "after 2000 s of reads"}, headers={"If-Match": "*"}
    )

    assert response.status_code == 200, "a session in use by reads does not expire"
