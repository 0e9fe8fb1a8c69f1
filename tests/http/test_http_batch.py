"""``POST …/DocMgmt/$batch`` through the whole app: requests in order, change sets all or
nothing, Content-ID references, both wire formats, and what goes wrong on the wire."""

from __future__ import annotations

import json
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any

import flask
import pytest
from werkzeug.test import TestResponse
from wrs_session import ROOT, MakeMock, Session, error_of

from mock_server.http.state import state

BATCH = f"{ROOT}/DocMgmt/$batch"
BOUNDARY = "batch_36522ad7"
MULTIPART = f"multipart/mixed; boundary={BOUNDARY}"


# -------------------------------------------------------------------- writing a batch


def http(
    method: str,
    url: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    content_id: str | None = None,
) -> str:
    """One ``application/http`` part: MIME headers, blank line, the embedded request."""
    mime = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        mime.append(f"Content-ID: {content_id}")
    lines = [*mime, "", f"{method} {url} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body is not None:
        lines.append("Content-Type: application/json")
    text = "\r\n".join(lines) + "\r\n\r\n"
    return text + ("" if body is None else json.dumps(body))


def change_set(*parts: str, boundary: str = "changeset_77162fcd") -> str:
    inner = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--"
    return f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n{inner}"


def multipart(*parts: str) -> bytes:
    return ("".join(f"--{BOUNDARY}\r\n{p}\r\n" for p in parts) + f"--{BOUNDARY}--\r\n").encode()


def post_batch(mock: Session, *parts: str, **kwargs: Any) -> TestResponse:
    return mock.post(BATCH, data=multipart(*parts), content_type=MULTIPART, **kwargs)


def documents(key: str, suffix: str = "") -> str:
    """The URL of a document relative to the domain, as batched requests usually write it."""
    return f"Documents('{key}'){suffix}"


# -------------------------------------------------------------------- reading the answer


@dataclass
class Answer:
    """One embedded response."""

    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes
    content_id: str | None

    def json(self) -> Any:
        return json.loads(self.body)


def answers(response: TestResponse) -> list[Answer | list[Answer]]:
    """The embedded responses of a multipart batch response; a change set's as a list."""
    assert response.status_code == 200, response.get_data(as_text=True)
    content_type = response.headers["Content-Type"]
    assert content_type.startswith("multipart/mixed; boundary=")
    message = BytesParser(policy=policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + response.get_data()
    )
    assert not message.defects
    parts = message.get_payload()
    assert isinstance(parts, list)
    items: list[Answer | list[Answer]] = []
    for part in parts:
        assert isinstance(part, Message)
        if part.get_content_type() == "multipart/mixed":
            inner = part.get_payload()
            assert isinstance(inner, list)
            assert all(isinstance(p, Message) for p in inner)
            items.append([_answer(p) for p in inner if isinstance(p, Message)])
        else:
            items.append(_answer(part))
    return items


def _answer(part: Message) -> Answer:
    assert part.get_content_type() == "application/http"
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, status, *_ = status_line.split(" ")
    assert version == "HTTP/1.1"
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    content_id = part.get("Content-ID")
    return Answer(int(status), headers, body, None if content_id is None else str(content_id))


def single(item: Answer | list[Answer]) -> Answer:
    assert isinstance(item, Answer), item
    return item


def group(item: Answer | list[Answer]) -> list[Answer]:
    assert isinstance(item, list), item
    return item


def rollback_events(mock: Session) -> list[dict[str, Any]]:
    return [e for e in mock.journal() if e["type"] == "rollback"]


# -------------------------------------------------------------------- the PTC example


def test_a_get_and_a_change_set_of_two_patches(mock: Session) -> None:
    first = mock.create(Name="Bracket", Title="one")
    second = mock.create(Name="Shaft")

    response = post_batch(
        mock,
        http("GET", documents(first["ID"]), headers={"Accept": "application/json"}),
        change_set(
            http(
                "PATCH",
                documents(first["ID"]),
                {"Title": "changed"},
                headers={"If-Match": first["@odata.etag"]},
                content_id="1",
            ),
            http(
                "PATCH",
                documents(second["ID"]),
                {"Description": "r\u00e9vision"},
                headers={"If-Match": second["@odata.etag"]},
                content_id="2",
            ),
        ),
    )

    assert response.headers["OData-Version"] == "4.0"
    got, changes = answers(response)
    read = single(got)
    assert (read.status, read.json()["ID"], read.json()["Title"]) == (200, first["ID"], "one")
    assert read.headers["etag"] == first["@odata.etag"]
    one, two = group(changes)
    assert [(a.status, a.content_id) for a in (one, two)] == [(200, "1"), (200, "2")]
    assert one.json()["Title"] == "changed"
    assert two.json()["Description"] == "r\u00e9vision"
    assert one.headers["etag"] == mock.truth(first["ID"])["etag"]
    assert two.headers["etag"] == mock.truth(second["ID"])["etag"]
    assert mock.truth(first["ID"])["entity"]["Title"] == "changed"
    assert mock.truth(second["ID"])["entity"]["Description"] == "r\u00e9vision"
    assert rollback_events(mock) == []


def test_batched_requests_are_journalled_as_requests_of_the_batchs_user(mock: Session) -> None:
    doc = mock.create(Name="Bracket")

    answers(post_batch(mock, http("PATCH", documents(doc["ID"]), {"Title": "batched"})))

    invoke, end = mock.journal()[-2:]
    assert (invoke["type"], invoke["op"], invoke["process"]) == ("invoke", "update", "wcadmin")
    assert invoke["changes"] == {"Title": "batched"}
    assert (end["type"], end["status"]) == ("ok", 200)


def test_requests_run_in_order(mock: Session) -> None:
    doc = mock.create(Name="Bracket", Title="before")

    got = answers(
        post_batch(
            mock,
            http("GET", documents(doc["ID"])),
            http("PATCH", documents(doc["ID"]), {"Title": "after"}),
            http("GET", documents(doc["ID"])),
        )
    )

    before, patched, after = (single(item) for item in got)
    assert [a.status for a in (before, patched, after)] == [200, 200, 200]
    assert before.json()["Title"] == "before"
    assert after.json()["Title"] == "after"
    assert after.headers["etag"] == patched.headers["etag"] != before.headers["etag"]
    ops = [e["op"] for e in mock.journal() if e["type"] == "invoke"]
    assert ops[-3:] == ["read", "update", "read"]


def test_a_failing_request_outside_a_change_set_does_not_stop_the_next(mock: Session) -> None:
    doc = mock.create(Name="Bracket")
    missing = "OR:wt.doc.WTDocument:1"

    got = answers(
        post_batch(
            mock,
            http("PATCH", documents(missing), {"Title": "nowhere"}),
            http("PATCH", documents(doc["ID"]), {"Title": "applied"}),
        )
    )

    failed, applied = (single(item) for item in got)
    assert failed.status == 404
    assert failed.json()["error"]["code"] == "NotFound"
    assert applied.status == 200
    assert mock.truth(doc["ID"])["entity"]["Title"] == "applied"


# -------------------------------------------------------------------- failed change sets


def test_a_change_set_whose_second_patch_conflicts_is_rolled_back(mock: Session) -> None:
    doc = mock.create(Name="Bracket", Title="before")
    before = mock.truth(doc["ID"])
    etag = doc["@odata.etag"]

    got = answers(
        post_batch(
            mock,
            change_set(
                http(
                    "PATCH",
                    documents(doc["ID"]),
                    {"Title": "first"},
                    headers={"If-Match": etag},
                    content_id="1",
                ),
                http(  # the ETag from before the first PATCH: stale by now
                    "PATCH",
                    documents(doc["ID"]),
                    {"Description": "second"},
                    headers={"If-Match": etag},
                    content_id="2",
                ),
            ),
        )
    )

    assert len(got) == 1
    failed = single(got[0])
    assert (failed.status, failed.content_id) == (409, "2")
    assert failed.json()["error"]["code"] == "ConcurrentModification"
    assert "etag" not in failed.headers
    assert mock.truth(doc["ID"]) == before
    (rollback,) = rollback_events(mock)
    first_ok = next(
        e for e in mock.journal() if e["type"] == "ok" and e["op"] == "update"
    )  # the first PATCH, applied then undone
    assert (rollback["op"], rollback["op_id"]) == ("update", first_ok["op_id"])
    assert rollback["etag_after"] == before["etag"]
    assert rollback["values"]["Title"] == "before"
    assert "request 2 of the change set" in rollback["message"]


def test_a_micro_update_between_the_two_patches_of_a_change_set_rolls_it_back(
    mock: Session,
) -> None:
    doc = mock.create(Name="Bracket", Title="before")
    before = mock.truth(doc["ID"])
    requests = state(mock.app).repository.request_count(doc["ID"])
    mock.intervene(
        action="micro_update",
        document=doc["ID"],
        duration=30.0,
        before_request=requests + 2,  # right before the second PATCH
    )

    got = answers(
        post_batch(
            mock,
            change_set(
                http("PATCH", documents(doc["ID"]), {"Title": "first"}, content_id="1"),
                http("PATCH", documents(doc["ID"]), {"Description": "second"}, content_id="2"),
            ),
        )
    )

    assert len(got) == 1
    failed = single(got[0])
    assert (failed.status, failed.content_id) == (409, "2")
    assert failed.json()["error"]["code"] == "ConcurrentModification"
    assert "background indexer" in failed.json()["error"]["details"][0]["message"]
    assert "etag" not in failed.headers
    after = mock.truth(doc["ID"])
    assert after["entity"]["Title"] == "before"
    assert after["entity"]["Description"] is None
    assert after["entity"]["Version"] == before["entity"]["Version"]
    journal = mock.journal()
    assert [e["op"] for e in journal if e["type"] == "background"] == ["micro_update"]
    (rollback,) = [e for e in journal if e["type"] == "rollback"]
    assert rollback["op"] == "update"
    assert rollback["etag_after"] == after["etag"]  # the journal says what the state is
    assert rollback["values"] == {name: after["entity"][name] for name in rollback["values"]}


def test_a_get_inside_a_change_set_fails_it_with_400(mock: Session) -> None:
    doc = mock.create(Name="Bracket", Title="before")
    before = mock.truth(doc["ID"])

    got = answers(
        post_batch(
            mock,
            change_set(
                http("PATCH", documents(doc["ID"]), {"Title": "first"}, content_id="1"),
                http("GET", documents(doc["ID"]), content_id="2"),
            ),
        )
    )

    assert len(got) == 1
    failed = single(got[0])
    assert (failed.status, failed.content_id) == (400, "2")
    assert "modifications and action calls only" in failed.json()["error"]["message"]
    assert mock.truth(doc["ID"]) == before
    assert [e["op"] for e in rollback_events(mock)] == ["update"]


def test_a_failed_change_set_does_not_undo_the_requests_around_it(mock: Session) -> None:
    doc = mock.create(Name="Bracket")
    other = mock.create(Name="Shaft")

    got = answers(
        post_batch(
            mock,
            http("PATCH", documents(doc["ID"]), {"Title": "kept"}),
            change_set(
                http("PATCH", documents(other["ID"]), {"Title": "undone"}),
                http("PATCH", documents("OR:wt.doc.WTDocument:1"), {"Title": "x"}),
            ),
            http("PATCH", documents(other["ID"]), {"Description": "kept too"}),
        )
    )

    assert [single(item).status for item in got] == [200, 404, 200]
    assert mock.truth(doc["ID"])["entity"]["Title"] == "kept"
    entity = mock.truth(other["ID"])["entity"]
    assert (entity["Title"], entity["Description"]) == (None, "kept too")


# -------------------------------------------------------------------- Content-ID references


def test_a_content_id_reference_reaches_what_an_earlier_request_created(mock: Session) -> None:
    got = answers(
        post_batch(
            mock,
            change_set(
                http("POST", "Documents", {"Name": "New doc"}, content_id="1"),
                http("POST", "$1/PTC.DocMgmt.CheckOut", {}, content_id="2"),
            ),
        )
    )

    created, working = group(got[0])
    assert (created.status, created.content_id) == (201, "1")
    assert (working.status, working.content_id) == (200, "2")
    new_id = created.json()["ID"]
    assert working.json()["CheckoutState"] == "Working copy"
    assert mock.truth(new_id)["entity"]["CheckoutState"] == "Checked out"
    assert mock.truth(working.json()["ID"])["entity"]["Name"] == "New doc"


def test_a_failed_change_set_forgets_what_it_created(mock: Session) -> None:
    got = answers(
        post_batch(
            mock,
            change_set(
                http("POST", "Documents", {"Name": "New doc"}, content_id="1"),
                http("POST", "$1/PTC.DocMgmt.CheckOut", {}, content_id="2"),
                http("PATCH", "$1", {"Title": "on the checked-out original"}, content_id="3"),
            ),
        )
    )

    failed = single(got[0])
    assert (failed.status, failed.content_id) == (409, "3")
    assert failed.json()["error"]["code"] == "CheckedOut"
    assert mock.admin("GET", "/documents").get_json() == {"documents": []}
    assert [e["op"] for e in rollback_events(mock)] == ["create", "check_out"]


def test_a_reference_to_an_unknown_content_id_fails_the_change_set(mock: Session) -> None:
    got = answers(
        post_batch(
            mock,
            change_set(
                http("POST", "Documents", {"Name": "New doc"}, content_id="1"),
                http("POST", "$7/PTC.DocMgmt.CheckOut", {}, content_id="2"),
            ),
        )
    )

    failed = single(got[0])
    assert failed.status == 400
    assert failed.json()["error"]["code"] == "BadReference"
    assert mock.admin("GET", "/documents").get_json() == {"documents": []}


@pytest.mark.parametrize("in_a_tenant", [False, True], ids=["server", "tenant"])
def test_a_whole_edit_cycle_runs_in_one_change_set(mock: Session, in_a_tenant: bool) -> None:
    # In a tenant, $n references to answers without a Location keep the tenant's prefix.
    mock = mock.tenant(clock="virtual") if in_a_tenant else mock
    got = answers(
        post_batch(
            mock,
            change_set(
                http("POST", "Documents", {"Name": "New doc"}, content_id="1"),
                http("POST", "$1/PTC.DocMgmt.CheckOut", {}, content_id="2"),
                http("PATCH", "$2", {"Title": "in the working copy"}, content_id="3"),
                http("POST", "$2/PTC.DocMgmt.CheckIn", {}, content_id="4"),
            ),
        )
    )

    created, working, patched, checked_in = group(got[0])
    assert [a.status for a in (created, working, patched, checked_in)] == [201, 200, 200, 200]
    assert patched.json()["ID"] == working.json()["ID"]
    latest = checked_in.json()
    assert (latest["Version"], latest["Title"]) == ("A.2", "in the working copy")
    assert latest["ID"] == working.json()["ID"]  # the working copy's OR: names A.2
    past = mock.truth(created.json()["VersionID"])["entity"]
    assert (past["ID"], past["CheckoutState"]) == (latest["ID"], "Checked in")


def test_a_batched_request_cannot_reach_outside_the_service(mock: Session) -> None:
    doc = mock.create(Name="Bracket")

    got = answers(
        post_batch(
            mock,
            http("POST", "/__mock/reset", {}),
            http("POST", f"{ROOT}/DocMgmt/$batch", {}),
            http("GET", "http://localhost/__mock/journal"),
        )
    )

    failures = [single(item) for item in got]
    assert [a.status for a in failures] == [400, 400, 400]
    assert failures[0].json()["error"]["code"] == "BadReference"
    assert "outside the service root" in failures[0].json()["error"]["message"]
    assert "cannot hold another $batch" in failures[1].json()["error"]["message"]
    assert mock.admin("GET", "/documents").get_json() == {"documents": [doc["ID"]]}


def test_a_change_set_on_parts_runs_through_the_prodmgmt_batch(mock: Session) -> None:
    part = mock.post(f"{ROOT}/ProdMgmt/Parts", json={"Name": "Bolt", "Source": "make"})
    assert part.status_code == 201
    key, etag = part.get_json()["ID"], part.get_json()["@odata.etag"]

    response = mock.post(
        f"{ROOT}/ProdMgmt/$batch",
        data=multipart(
            change_set(
                http("PATCH", f"Parts('{key}')", {"Source": "buy"}, headers={"If-Match": etag}),
                http("PATCH", f"Parts('{key}')", {"Source": "again"}, headers={"If-Match": etag}),
            )
        ),
        content_type=MULTIPART,
    )

    failed = single(answers(response)[0])
    assert failed.status == 409
    assert mock.truth(key)["entity"]["Source"] == "make"
    assert mock.truth(key)["etag"] == etag
    assert [e["document"] for e in rollback_events(mock)] == [key]


# -------------------------------------------------------------------- the JSON format


def test_the_json_format_runs_requests_and_atomicity_groups_the_same(mock: Session) -> None:
    first = mock.create(Name="Bracket")
    second = mock.create(Name="Shaft")

    response = mock.post(
        BATCH,
        json={
            "requests": [
                {"id": "r1", "method": "GET", "url": documents(first["ID"])},
                {
                    "id": "r2",
                    "method": "PATCH",
                    "url": documents(first["ID"]),
                    "atomicityGroup": "g1",
                    "headers": {"If-Match": first["@odata.etag"]},
                    "body": {"Title": "one"},
                },
                {
                    "id": "r3",
                    "method": "PATCH",
                    "url": documents(second["ID"]),
                    "atomicityGroup": "g1",
                    "headers": {"If-Match": second["@odata.etag"]},
                    "body": {"Title": "two"},
                },
            ]
        },
    )

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    got = response.get_json()["responses"]
    assert [(r["id"], r["status"], r.get("atomicityGroup")) for r in got] == [
        ("r1", 200, None),
        ("r2", 200, "g1"),
        ("r3", 200, "g1"),
    ]
    assert got[0]["body"]["Title"] is None
    assert got[1]["body"]["Title"] == "one"
    assert got[2]["headers"]["ETag"] == mock.truth(second["ID"])["etag"]
    assert mock.truth(first["ID"])["entity"]["Title"] == "one"


def test_a_failed_atomicity_group_is_rolled_back_in_the_json_format(mock: Session) -> None:
    doc = mock.create(Name="Bracket", Title="before")
    before = mock.truth(doc["ID"])
    etag = doc["@odata.etag"]

    response = mock.post(
        BATCH,
        json={
            "requests": [
                {
                    "id": "a",
                    "method": "PATCH",
                    "url": documents(doc["ID"]),
                    "atomicityGroup": "g",
                    "headers": {"If-Match": etag},
                    "body": {"Title": "first"},
                },
                {
                    "id": "b",
                    "method": "PATCH",
                    "url": documents(doc["ID"]),
                    "atomicityGroup": "g",
                    "headers": {"If-Match": etag},
                    "body": {"Title": "second"},
                },
                {"id": "c", "method": "GET", "url": documents(doc["ID"])},
            ]
        },
    )

    got = response.get_json()["responses"]
    assert [(r["id"], r["status"]) for r in got] == [("b", 409), ("c", 200)]
    assert got[0]["atomicityGroup"] == "g"
    assert "ETag" not in got[0]["headers"]
    assert got[1]["body"]["Title"] == "before"
    assert mock.truth(doc["ID"]) == before
    assert [e["op"] for e in rollback_events(mock)] == ["update"]


def test_a_content_id_reference_works_in_the_json_format(mock: Session) -> None:
    response = mock.post(
        BATCH,
        json={
            "requests": [
                {
                    "id": "1",
                    "method": "POST",
                    "url": "Documents",
                    "atomicityGroup": "g",
                    "body": {"Name": "New doc"},
                },
                {
                    "id": "2",
                    "method": "POST",
                    "url": "$1/PTC.DocMgmt.CheckOut",
                    "atomicityGroup": "g",
                    "dependsOn": ["1"],
                },
            ]
        },
    )

    created, working = response.get_json()["responses"]
    assert (created["status"], working["status"]) == (201, 200)
    assert mock.truth(created["body"]["ID"])["entity"]["CheckoutState"] == "Checked out"


# -------------------------------------------------------------------- what goes wrong on the wire


def test_a_batch_needs_the_csrf_nonce_like_any_post(mock: Session) -> None:
    doc = mock.create(Name="Bracket")

    response = mock.post(
        BATCH,
        data=multipart(http("PATCH", documents(doc["ID"]), {"Title": "x"})),
        content_type=MULTIPART,
        csrf=False,
    )

    assert response.status_code == 403
    assert error_of(response)["code"] == "CSRFValidationFailed"
    assert mock.truth(doc["ID"])["entity"]["Title"] is None


def test_an_embedded_request_with_its_own_wrong_nonce_is_refused_alone(mock: Session) -> None:
    doc = mock.create(Name="Bracket")

    got = answers(
        post_batch(
            mock,
            http("PATCH", documents(doc["ID"]), {"Title": "x"}, headers={"CSRF_NONCE": "forged"}),
            http("PATCH", documents(doc["ID"]), {"Description": "inherited nonce"}),
        )
    )

    assert [single(item).status for item in got] == [403, 200]
    entity = mock.truth(doc["ID"])["entity"]
    assert (entity["Title"], entity["Description"]) == (None, "inherited nonce")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"no boundary line at all\r\n",
        f"--{BOUNDARY}\r\nContent-Type: application/http\r\n\r\nGET x HTTP/1.1\r\n".encode(),
        multipart(http("GET", "Documents").replace("GET Documents HTTP/1.1", "GET")),
        multipart("Content-Type: text/plain\r\n\r\nhello"),
        multipart(change_set(change_set(http("PATCH", "Documents('x')", {})), boundary="outer")),
    ],
    ids=["empty", "no parts", "cut short", "bad request line", "not http", "nested change set"],
)
def test_a_malformed_multipart_batch_is_400_malformed_batch(mock: Session, body: bytes) -> None:
    mock.create(Name="Bracket")
    journal_before = mock.journal()

    response = mock.post(BATCH, data=body, content_type=MULTIPART)

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "MalformedBatch"
    assert error["message"].startswith("Malformed $batch request: ")
    assert mock.journal() == journal_before


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"requests": []},
        {"requests": [{"id": "1", "method": "GET"}]},
        {"requests": [{"id": "1", "method": "GET", "url": "Documents"}], "extra": 1},
    ],
    ids=["not an object", "no requests", "no url", "unknown member"],
)
def test_a_malformed_json_batch_is_400_malformed_batch(mock: Session, data: object) -> None:
    response = mock.post(BATCH, json=data)

    assert response.status_code == 400
    assert error_of(response)["code"] == "MalformedBatch"


def test_a_json_batch_that_is_not_json_is_400(mock: Session) -> None:
    response = mock.post(BATCH, data=b'{"requests": [', content_type="application/json")

    assert response.status_code == 400
    assert error_of(response)["code"] == "MalformedJSON"


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
def test_a_batch_of_another_content_type_is_415(mock: Session, content_type: str | None) -> None:
    kwargs = {} if content_type is None else {"content_type": content_type}

    response = mock.post(BATCH, data=multipart(http("GET", "Documents")), **kwargs)

    assert response.status_code == 415
    assert error_of(response)["code"] == "UnsupportedMediaType"


def test_a_get_of_the_batch_url_is_not_allowed(mock: Session) -> None:
    assert mock.get(BATCH).status_code == 405


# -------------------------------------------------------------------- determinism


def _a_batch(mock: Session) -> TestResponse:
    doc = mock.create(Name="Bracket")
    return post_batch(
        mock,
        http("GET", documents(doc["ID"])),
        change_set(
            http("PATCH", documents(doc["ID"]), {"Title": "t"}, content_id="1"),
            http("POST", "Documents", {"Name": "Second"}, content_id="2"),
        ),
        http("GET", documents("OR:wt.doc.WTDocument:1")),
    )


def test_the_same_batch_on_the_same_state_gives_the_same_bytes(make_mock: MakeMock) -> None:
    first, second = _a_batch(make_mock()), _a_batch(make_mock())

    assert first.status_code == second.status_code == 200
    assert first.headers["Content-Type"] == second.headers["Content-Type"]
    assert first.get_data() == second.get_data()
    assert len(answers(first)) == 3


def test_the_same_json_batch_on_the_same_state_gives_the_same_bytes(make_mock: MakeMock) -> None:
    def run(mock: Session) -> bytes:
        doc = mock.create(Name="Bracket")
        response = mock.post(
            BATCH,
            json={
                "requests": [
                    {"id": "1", "method": "GET", "url": documents(doc["ID"])},
                    {
                        "id": "2",
                        "method": "PATCH",
                        "url": documents(doc["ID"]),
                        "atomicityGroup": "g",
                        "body": {"Title": "t"},
                    },
                ]
            },
        )
        assert response.status_code == 200
        return response.get_data()

    assert run(make_mock()) == run(make_mock())


# -------------------------------------------------------------------- lost responses


def test_a_lost_response_inside_the_batch_drops_the_whole_batch(mock: Session) -> None:
    doc = mock.create(Name="Bracket")
    other = mock.create(Name="Shaft")
    mock.intervene(action="lose_response", document=doc["ID"])

    with mock.client:
        response = post_batch(
            mock,
            http("PATCH", documents(other["ID"]), {"Title": "before the loss"}),
            change_set(http("PATCH", documents(doc["ID"]), {"Title": "applied"})),
        )
        lost = flask.request.environ.get("windchill.lost_response")

    assert lost is True
    assert len(response.get_data()) < int(response.headers["Content-Length"])
    assert mock.truth(doc["ID"])["entity"]["Title"] == "applied"  # handled, then dropped
    assert mock.truth(other["ID"])["entity"]["Title"] == "before the loss"
    ends = [e for e in mock.journal() if e["type"] in ("ok", "info") and e["op"] == "update"]
    assert [(e["document"], e["type"]) for e in ends] == [
        (other["ID"], "ok"),
        (doc["ID"], "info"),
    ]
    assert rollback_events(mock) == []


def test_a_batch_without_a_lost_response_is_not_marked_lost(mock: Session) -> None:
    doc = mock.create(Name="Bracket")

    with mock.client:
        response = post_batch(mock, http("PATCH", documents(doc["ID"]), {"Title": "fine"}))
        lost = flask.request.environ.get("windchill.lost_response")

    assert lost is None
    assert single(answers(response)[0]).status == 200


# -------------------------------------------------------------------- hostile URLs


def test_an_escaped_batch_inside_a_batch_is_refused_and_keeps_the_change_set_atomic(
    mock: Session,
) -> None:
    doc = mock.create(Name="Bracket")
    inner = (
        "--inner\r\n"
        + http("PATCH", documents("OR:wt.doc.WTDocument:1"), {"Title": "x"})
        + "\r\n--inner--\r\n"
    )

    got = answers(
        post_batch(
            mock,
            change_set(
                http("PATCH", documents(doc["ID"]), {"Title": "mine"}, content_id="1"),
                f"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
                "Content-ID: 2\r\n\r\nPOST %24batch HTTP/1.1\r\n"
                f"Content-Type: multipart/mixed; boundary=inner\r\n\r\n{inner}",
            ),
        )
    )

    assert single(got[0]).status == 400
    assert mock.truth(doc["ID"])["entity"]["Title"] is None  # the change set rolled back


def test_a_malformed_url_fails_its_request_with_400_and_the_batch_goes_on(mock: Session) -> None:
    doc = mock.create(Name="Bracket")

    response = post_batch(
        mock,
        http("PATCH", "http://[::1/x", {"Title": "nowhere"}),
        http("PATCH", documents(doc["ID"]), {"Title": "applied"}),
    )

    assert response.status_code == 200
    failed, applied = (single(item) for item in answers(response))
    assert (failed.status, applied.status) == (400, 200)
    assert "malformed" in failed.json()["error"]["message"]
