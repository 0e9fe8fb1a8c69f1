"""The ``$batch`` wire format: multipart/mixed and OData 4.01 JSON, parsed and formatted."""

from __future__ import annotations

import json
from email import policy
from email.message import Message
from email.parser import BytesParser

import pytest

from mock_server.http.batchformat import (
    BatchFormatError,
    BatchRequest,
    BatchResponse,
    format_json,
    format_multipart,
    parse_json,
    parse_multipart,
)

BOUNDARY = "batch_36522ad7-fc75-4b56-8c71-56071383e77b"
CONTENT_TYPE = f"multipart/mixed; boundary={BOUNDARY}"
DOC = "Documents('OR:wt.doc.WTDocument:164057')"
ETAG = 'W/"v1.1708521800000"'

#: A PTC-style batch: a GET outside any change set, then a change set of two PATCHes.
PTC_BATCH = (
    f"--{BOUNDARY}\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "\r\n"
    f"GET {DOC} HTTP/1.1\r\n"
    "Accept: application/json\r\n"
    "\r\n"
    "\r\n"
    f"--{BOUNDARY}\r\n"
    "Content-Type: multipart/mixed; boundary=changeset_77162fcd-b8da-41ac-a9f8-9357efbbd\r\n"
    "\r\n"
    "--changeset_77162fcd-b8da-41ac-a9f8-9357efbbd\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "Content-ID: 1\r\n"
    "\r\n"
    f"PATCH {DOC} HTTP/1.1\r\n"
    "Content-Type: application/json\r\n"
    f"If-Match: {ETAG}\r\n"
    "\r\n"
    '{"Name": "Bracket"}\r\n'
    "--changeset_77162fcd-b8da-41ac-a9f8-9357efbbd\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "Content-ID: 2\r\n"
    "\r\n"
    "PATCH Documents('OR:wt.doc.WTDocument:164058') HTTP/1.1\r\n"
    "Content-Type: application/json\r\n"
    'If-Match: W/"v1.1708521900000"\r\n'
    "\r\n"
    '{"Description": "r\\u00e9vision"}\r\n'
    "--changeset_77162fcd-b8da-41ac-a9f8-9357efbbd--\r\n"
    "\r\n"
    f"--{BOUNDARY}--\r\n"
).encode()

PTC_REQUESTS = [
    BatchRequest("GET", DOC, [("Accept", "application/json")], b"", None, None),
    BatchRequest(
        "PATCH",
        DOC,
        [("Content-Type", "application/json"), ("If-Match", ETAG)],
        b'{"Name": "Bracket"}',
        "1",
        0,
    ),
    BatchRequest(
        "PATCH",
        "Documents('OR:wt.doc.WTDocument:164058')",
        [("Content-Type", "application/json"), ("If-Match", 'W/"v1.1708521900000"')],
        b'{"Description": "r\\u00e9vision"}',
        "2",
        0,
    ),
]


def part(request: str, *, mime: str = "Content-Type: application/http\r\n") -> str:
    """One MIME part holding ``request`` (the embedded request, from its request line)."""
    return f"{mime}\r\n{request}"


def multipart(*parts: str, boundary: str = BOUNDARY) -> bytes:
    """``parts`` (each its MIME headers, blank line and content) as a multipart body."""
    return ("".join(f"--{boundary}\r\n{p}\r\n" for p in parts) + f"--{boundary}--\r\n").encode()


def changeset(*parts: str, boundary: str = "cs") -> str:
    body = "".join(f"--{boundary}\r\n{p}\r\n" for p in parts) + f"--{boundary}--"
    return f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n{body}"


def parse_error(body: bytes, content_type: str = CONTENT_TYPE, **kwargs: int) -> str:
    with pytest.raises(BatchFormatError) as caught:
        parse_multipart(content_type, body, **kwargs)
    return str(caught.value)


def email_parts(content_type: str, body: bytes) -> list[Message]:
    message = BytesParser(policy=policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    assert message.is_multipart()
    assert not message.defects
    parts = message.get_payload()
    assert isinstance(parts, list)
    return parts


def http_of(message: Message) -> bytes:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


# --- multipart: parsing --------------------------------------------------------------------


def test_the_ptc_example_parses_into_flat_requests_in_document_order() -> None:
    assert parse_multipart(CONTENT_TYPE, PTC_BATCH) == PTC_REQUESTS


def test_the_ptc_example_round_trips_through_responses() -> None:
    requests = parse_multipart(CONTENT_TYPE, PTC_BATCH)
    top = BatchResponse(200, [("ETag", ETAG)], b'{"ID": "x"}', requests[0].content_id)
    changes = [
        BatchResponse(200, [("ETag", 'W/"v2"')], b"{}", request.content_id)
        for request in requests[1:]
    ]
    body = format_multipart([top, changes], boundary="batchresponse_1")

    outer = email_parts("multipart/mixed; boundary=batchresponse_1", body)
    assert [p.get_content_type() for p in outer] == ["application/http", "multipart/mixed"]
    assert http_of(outer[0]) == f'HTTP/1.1 200 OK\r\nETag: {ETAG}\r\n\r\n{{"ID": "x"}}'.encode()
    assert outer[0]["Content-ID"] is None
    inner = outer[1].get_payload()
    assert isinstance(inner, list)
    assert [p["Content-ID"] for p in inner] == ["1", "2"]
    assert [http_of(p) for p in inner] == [b'HTTP/1.1 200 OK\r\nETag: W/"v2"\r\n\r\n{}'] * 2


def test_lf_only_input_parses_like_crlf() -> None:
    lf_only = PTC_BATCH.replace(b"\r\n", b"\n")
    assert b"\r" not in lf_only
    assert parse_multipart(CONTENT_TYPE, lf_only) == PTC_REQUESTS


def test_a_body_keeps_its_own_line_breaks_but_not_the_one_before_the_boundary() -> None:
    body = multipart(part("POST Documents HTTP/1.1\r\n\r\nline 1\r\nline 2\r\n\r\n"))
    assert parse_multipart(CONTENT_TYPE, body)[0].body == b"line 1\r\nline 2\r\n\r\n"


def test_the_body_is_bytes_as_sent() -> None:
    raw = '{"Name": "\u00e9t\u00e9"}'.encode() + b"\xff"
    body = multipart(part("POST Documents HTTP/1.1\r\n\r\n")).replace(
        b"HTTP/1.1\r\n\r\n", b"HTTP/1.1\r\n\r\n" + raw
    )
    assert parse_multipart(CONTENT_TYPE, body)[0].body == raw


def test_a_request_without_headers_or_blank_line() -> None:
    [request] = parse_multipart(CONTENT_TYPE, multipart(part(f"DELETE {DOC} HTTP/1.1")))
    assert (request.method, request.url, request.headers, request.body) == ("DELETE", DOC, [], b"")


def test_headers_may_end_right_before_the_delimiter() -> None:
    # One CRLF after the last header: it is the delimiter's, so no blank line remains.
    body = multipart(part("GET x HTTP/1.1\r\nAccept: */*\r\n"))
    assert b"*/*\r\n\r\n--" in body
    [request] = parse_multipart(CONTENT_TYPE, body)
    assert (request.headers, request.body) == ([("Accept", "*/*")], b"")


def test_empty_lines_before_the_request_line_are_ignored() -> None:
    [request] = parse_multipart(CONTENT_TYPE, multipart(part("\r\n\r\nGET x HTTP/1.1\r\n\r\nb")))
    assert (request.method, request.url, request.body) == ("GET", "x", b"b")


def test_the_method_is_upper_cased_and_header_order_kept() -> None:
    body = multipart(part("patch x HTTP/1.1\r\nB: 2\r\nA: 1\r\nB: 3\r\n\r\n"))
    [request] = parse_multipart(CONTENT_TYPE, body)
    assert request.method == "PATCH"
    assert request.headers == [("B", "2"), ("A", "1"), ("B", "3")]


@pytest.mark.parametrize(
    "url",
    [
        "$1/Attachments",
        "/Windchill/servlet/odata/DocMgmt/Documents",
        "https://host.example/Windchill/servlet/odata/DocMgmt/Documents?$top=2",
    ],
)
def test_urls_are_kept_verbatim(url: str) -> None:
    body = multipart(changeset(part(f"PATCH {url} HTTP/1.1\r\n\r\n{{}}")))
    assert parse_multipart(CONTENT_TYPE, body)[0].url == url


def test_content_id_in_the_mime_part() -> None:
    body = multipart(
        changeset(part("POST Documents HTTP/1.1\r\n\r\n", mime=_mime("Content-ID: 7")))
    )
    [request] = parse_multipart(CONTENT_TYPE, body)
    assert request.content_id == "7"
    assert request.headers == []


def test_content_id_among_the_inner_headers() -> None:
    body = multipart(changeset(part("POST Documents HTTP/1.1\r\nContent-ID: 7\r\n\r\n")))
    [request] = parse_multipart(CONTENT_TYPE, body)
    assert request.content_id == "7"
    assert request.headers == [("Content-ID", "7")]


def test_content_id_in_both_places_must_agree() -> None:
    same = part("POST Documents HTTP/1.1\r\nContent-ID: 7\r\n\r\n", mime=_mime("Content-ID: 7"))
    assert parse_multipart(CONTENT_TYPE, multipart(same))[0].content_id == "7"
    differ = part("POST Documents HTTP/1.1\r\nContent-ID: 8\r\n\r\n", mime=_mime("Content-ID: 7"))
    message = parse_error(multipart(differ))
    assert "Content-ID '7' differs from the request's Content-ID header '8'" in message


def _mime(*headers: str) -> str:
    return "Content-Type: application/http\r\n" + "".join(f"{h}\r\n" for h in headers)


def test_change_sets_are_numbered_in_order_of_appearance() -> None:
    get = part("GET Documents HTTP/1.1\r\n\r\n")
    post = part("POST Documents HTTP/1.1\r\n\r\n{}")
    body = multipart(get, changeset(post, post, boundary="a"), get, changeset(post, boundary="b"))
    assert [r.changeset for r in parse_multipart(CONTENT_TYPE, body)] == [None, 0, 0, None, 1]


def test_a_preamble_and_an_epilogue_are_ignored() -> None:
    body = b"This is a preamble.\r\n" + multipart(part("GET x HTTP/1.1")) + b"epilogue\r\n"
    assert [r.url for r in parse_multipart(CONTENT_TYPE, body)] == ["x"]


def test_a_quoted_boundary_in_the_content_type() -> None:
    body = multipart(part("GET x HTTP/1.1"), boundary="a b:c")
    assert len(parse_multipart('multipart/mixed; boundary="a b:c"', body)) == 1


# --- multipart: errors ---------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["multipart/mixed", "multipart/mixed; boundary="])
def test_a_missing_boundary_is_an_error(content_type: str) -> None:
    message = parse_error(PTC_BATCH, content_type)
    assert message.startswith("the batch body has no boundary")
    assert "multipart/mixed; boundary=<boundary>" in message


def test_a_content_type_other_than_multipart_mixed_is_an_error() -> None:
    message = parse_error(PTC_BATCH, "application/json")
    assert message == (
        "the batch Content-Type is 'application/json'; expected "
        "'multipart/mixed; boundary=<boundary>'"
    )


def test_a_line_break_in_the_content_type_is_an_error() -> None:
    message = parse_error(PTC_BATCH, f"{CONTENT_TYPE}\r\nX-Injected: 1")
    assert "holds a line break" in message


@pytest.mark.parametrize("body", [b"", b"no boundary here\r\n", f"--{BOUNDARY}--\r\n".encode()])
def test_a_body_with_no_parts_is_an_error(body: bytes) -> None:
    message = parse_error(body)
    assert message.startswith(f"the batch body holds no parts: the line --{BOUNDARY} was not found")


def test_a_body_cut_short_is_an_error() -> None:
    message = parse_error(PTC_BATCH[: PTC_BATCH.rindex(b"--batch")])
    assert message.startswith(f"the batch body is cut short: the closing line --{BOUNDARY}--")


@pytest.mark.parametrize(
    ("mime", "found"),
    [
        ("Content-Type: text/plain\r\n", "has 'text/plain'"),
        ("Content-Transfer-Encoding: binary\r\n", "has no Content-Type"),
    ],
)
def test_a_part_neither_a_request_nor_a_change_set_is_an_error(mime: str, found: str) -> None:
    message = parse_error(multipart(part("GET x HTTP/1.1"), part("GET x HTTP/1.1", mime=mime)))
    assert message == (
        f"batch part 2 {found}; expected Content-Type 'application/http' (a request) or "
        "'multipart/mixed' (a change set)"
    )


def test_a_non_request_part_inside_a_change_set_is_an_error() -> None:
    inner = part("GET x HTTP/1.1", mime="Content-Type: text/plain\r\n")
    message = parse_error(multipart(changeset(inner)))
    assert message == (
        "batch part 1 (change set 0), request 1 has 'text/plain'; expected Content-Type "
        "'application/http'"
    )


def test_a_change_set_nested_in_a_change_set_is_an_error() -> None:
    nested = changeset(part("PATCH x HTTP/1.1\r\n\r\n{}"), boundary="inner")
    message = parse_error(multipart(changeset(part("PATCH x HTTP/1.1\r\n\r\n{}"), nested)))
    assert message.startswith("batch part 1 (change set 0), request 2 is a change set inside")
    assert "change sets cannot be nested" in message


def test_an_empty_change_set_is_an_error() -> None:
    body = multipart("Content-Type: multipart/mixed; boundary=cs\r\n\r\n--cs--")
    message = parse_error(body)
    assert message.startswith("batch part 1 (a change set) holds no parts")
    assert "at least one application/http request" in message


def test_a_change_set_without_a_boundary_is_an_error() -> None:
    body = multipart("Content-Type: multipart/mixed\r\n\r\n--cs\r\n\r\nGET x HTTP/1.1\r\n--cs--")
    assert parse_error(body).startswith("batch part 1 (a change set) has no boundary")


@pytest.mark.parametrize(
    "line",
    [
        "GET Documents",
        "GET Documents HTTP/1.1 extra",
        "GET  Documents HTTP/1.1",
        "GET Documents HTTP/2",
        "GET Documents http/1.1",
        "G(T Documents HTTP/1.1",
        "GET Docu\x01ments HTTP/1.1",
        "Accept: application/json",
        "",
    ],
)
def test_a_malformed_request_line_is_an_error(line: str) -> None:
    message = parse_error(multipart(part(f"{line}\r\nAccept: */*\r\n\r\n")))
    assert message.startswith("batch part 1: ")
    assert "expected 'METHOD URL HTTP/1.1'" in message or "expected a token" in message


def test_the_message_shows_the_malformed_request_line() -> None:
    message = parse_error(multipart(part("GET Documents\r\n\r\n")))
    assert message.startswith("batch part 1: the request line 'GET Documents' is malformed")


@pytest.mark.parametrize("line", ["No colon here", ": empty name", "Bad Name: x", " Folded: x"])
def test_a_malformed_header_line_is_an_error(line: str) -> None:
    message = parse_error(multipart(part(f"GET x HTTP/1.1\r\nAccept: */*\r\n{line}\r\n\r\n")))
    assert message.startswith("batch part 1: ")
    assert "expected 'Name: value'" in message or "is not an HTTP token" in message


def test_too_many_requests_is_an_error() -> None:
    get = part("GET x HTTP/1.1")
    assert len(parse_multipart(CONTENT_TYPE, multipart(get, get, get), max_requests=3)) == 3
    message = parse_error(multipart(get, get, get, get), max_requests=3)
    assert message == (
        "the batch holds more than 3 requests; expected at most 3, split it into several batches"
    )


def test_requests_in_change_sets_count_towards_the_limit() -> None:
    post = part("POST x HTTP/1.1\r\n\r\n{}")
    message = parse_error(multipart(part("GET x HTTP/1.1"), changeset(post, post)), max_requests=2)
    assert message.startswith("the batch holds more than 2 requests")


def test_a_content_id_repeated_within_a_change_set_is_an_error() -> None:
    post = part("POST x HTTP/1.1\r\n\r\n{}", mime=_mime("Content-ID: 1"))
    message = parse_error(multipart(changeset(post, post)))
    assert message == (
        "batch part 1 (change set 0), request 2: the Content-ID '1' is already used by request "
        "1 of the same change set; expected a Content-ID unique within its change set"
    )


def test_a_content_id_may_repeat_across_change_sets() -> None:
    post = part("POST x HTTP/1.1\r\n\r\n{}", mime=_mime("Content-ID: 1"))
    body = multipart(changeset(post, boundary="a"), changeset(post, boundary="b"))
    requests = parse_multipart(CONTENT_TYPE, body)
    assert [(r.content_id, r.changeset) for r in requests] == [("1", 0), ("1", 1)]


def test_deeply_nested_multiparts_are_an_error_not_a_crash() -> None:
    levels = 3000
    body = "".join(
        f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n" for i in range(levels)
    )
    with pytest.raises(BatchFormatError, match="nested"):
        parse_multipart("multipart/mixed; boundary=b0", body.encode())


# --- multipart: formatting -----------------------------------------------------------------


def test_format_multipart_writes_status_lines_headers_and_bodies() -> None:
    body = format_multipart(
        [
            BatchResponse(200, [("Content-Type", "application/json")], b'{"a":1}', None),
            BatchResponse(412, [], b"", "5"),
            BatchResponse(599, [], b"x", None),
        ],
        boundary="b",
    )
    assert body == (
        b"--b\r\n"
        b"Content-Type: application/http\r\n"
        b"Content-Transfer-Encoding: binary\r\n"
        b"\r\n"
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: application/json\r\n"
        b"\r\n"
        b'{"a":1}\r\n'
        b"--b\r\n"
        b"Content-Type: application/http\r\n"
        b"Content-Transfer-Encoding: binary\r\n"
        b"Content-ID: 5\r\n"
        b"\r\n"
        b"HTTP/1.1 412 Precondition Failed\r\n"
        b"\r\n"
        b"\r\n"
        b"--b\r\n"
        b"Content-Type: application/http\r\n"
        b"Content-Transfer-Encoding: binary\r\n"
        b"\r\n"
        b"HTTP/1.1 599 \r\n"
        b"\r\n"
        b"x\r\n"
        b"--b--\r\n"
    )


def test_format_multipart_is_read_back_by_the_email_package() -> None:
    changes = [
        BatchResponse(204, [("ETag", 'W/"2"')], b"", "1"),
        BatchResponse(201, [("Location", "Documents('y')")], b'{"ID":"y"}', "2"),
    ]
    body = format_multipart(
        [BatchResponse(404, [], b'{"error":{}}\r\n', None), changes], boundary="batchresponse_x"
    )
    assert b"\n" not in body.replace(b"\r\n", b"")
    outer = email_parts("multipart/mixed; boundary=batchresponse_x", body)
    assert [p["Content-Transfer-Encoding"] for p in outer] == ["binary", None]
    assert http_of(outer[0]) == b'HTTP/1.1 404 Not Found\r\n\r\n{"error":{}}\r\n'
    assert outer[1].get_boundary() == "changeset_0_batchresponse_x"
    inner = outer[1].get_payload()
    assert isinstance(inner, list)
    assert not any(p.defects for p in inner)
    assert [p.get_content_type() for p in inner] == ["application/http"] * 2
    assert [p["Content-ID"] for p in inner] == ["1", "2"]
    assert [http_of(p).split(b"\r\n")[0] for p in inner] == [
        b"HTTP/1.1 204 No Content",
        b"HTTP/1.1 201 Created",
    ]
    assert http_of(inner[1]).endswith(b"Location: Documents('y')\r\n\r\n" + b'{"ID":"y"}')


def test_change_set_boundaries_are_derived_deterministically() -> None:
    ok = BatchResponse(204, [], b"", None)
    items: list[BatchResponse | list[BatchResponse]] = [[ok], ok, [ok, ok]]
    first = format_multipart(items, boundary="r1")
    assert first == format_multipart(items, boundary="r1")
    outer = email_parts("multipart/mixed; boundary=r1", first)
    assert [p.get_boundary() for p in outer] == ["changeset_0_r1", None, "changeset_1_r1"]
    assert format_multipart(items, boundary="r2") == first.replace(b"r1", b"r2")


def test_a_boundary_needing_quotes_is_quoted_in_the_change_set_header() -> None:
    ok = BatchResponse(204, [], b"", None)
    body = format_multipart([[ok]], boundary="a:b")
    assert b'Content-Type: multipart/mixed; boundary="changeset_0_a:b"\r\n' in body
    [changes] = email_parts('multipart/mixed; boundary="a:b"', body)
    assert changes.get_boundary() == "changeset_0_a:b"


def test_a_long_boundary_gives_change_set_boundaries_of_at_most_70_characters() -> None:
    ok = BatchResponse(204, [], b"", None)
    boundary = "b" * 70
    [changes] = email_parts(
        f"multipart/mixed; boundary={boundary}", format_multipart([[ok]], boundary=boundary)
    )
    inner = changes.get_boundary()
    assert inner is not None
    assert len(inner) == 70
    assert inner.startswith("changeset_0_bbb")


@pytest.mark.parametrize("boundary", ["", "a" * 71, "trailing ", "semi;colon", "line\r\nbreak"])
def test_format_multipart_refuses_an_invalid_boundary(boundary: str) -> None:
    ok = BatchResponse(200, [], b"", None)
    with pytest.raises(BatchFormatError, match="is not a MIME boundary"):
        format_multipart([ok], boundary=boundary)


def test_format_multipart_refuses_a_body_holding_the_delimiter() -> None:
    bad = BatchResponse(200, [], b"text\r\n--b and more", None)
    with pytest.raises(BatchFormatError, match="line starting with the delimiter '--b'"):
        format_multipart([bad], boundary="b")
    with pytest.raises(BatchFormatError, match="'--changeset_0_b'"):
        format_multipart([[BatchResponse(200, [], b"--changeset_0_b", None)]], boundary="b")


def test_format_multipart_refuses_a_boundary_prefixing_the_change_set_boundary() -> None:
    ok = BatchResponse(204, [], b"", None)
    assert format_multipart([ok], boundary="change")  # fine without change sets
    with pytest.raises(BatchFormatError, match="delimiter '--change'"):
        format_multipart([[ok]], boundary="change")


@pytest.mark.parametrize(
    ("items", "match"),
    [
        ([], "no responses to format"),
        ([[]], "response 1 is an empty change set"),
        ([BatchResponse(99, [], b"", None)], "the status 99 is not an HTTP status"),
        ([BatchResponse(600, [], b"", None)], "the status 600 is not an HTTP status"),
        ([BatchResponse(200, [("X", "a\r\nY: b")], b"", None)], "control character"),
        ([BatchResponse(200, [("X Y", "a")], b"", None)], "is not an HTTP token"),
        ([BatchResponse(200, [], b"", "1\r\n")], "control character"),
        ([BatchResponse(200, [("X", "\u20ac")], b"", None)], "beyond Latin-1"),
    ],
)
def test_format_multipart_refuses_what_it_cannot_write(
    items: list[BatchResponse | list[BatchResponse]], match: str
) -> None:
    with pytest.raises(BatchFormatError, match=match):
        format_multipart(items, boundary="b")


# --- OData 4.01 JSON batch -----------------------------------------------------------------


def test_parse_json_reads_requests_and_atomicity_groups() -> None:
    requests = parse_json(
        {
            "requests": [
                {"id": "0", "method": "get", "url": DOC, "headers": {"Accept": "application/json"}},
                {
                    "id": "1",
                    "method": "patch",
                    "url": DOC,
                    "atomicityGroup": "g1",
                    "headers": {"content-type": "application/json", "If-Match": ETAG},
                    "body": {"Name": "Br\u00e4cket", "Number": 1.5},
                },
                {
                    "id": "2",
                    "method": "post",
                    "url": "$1/Attachments",
                    "atomicityGroup": "g1",
                    "dependsOn": ["1"],
                    "body": [1, None],
                },
                {"id": "3", "method": "DELETE", "url": "x", "atomicityGroup": "g2"},
                {"id": "4", "method": "GET", "url": "y", "dependsOn": ["g1", "3"]},
            ]
        }
    )
    assert requests == [
        BatchRequest("GET", DOC, [("Accept", "application/json")], b"", "0", None),
        BatchRequest(
            "PATCH",
            DOC,
            [("content-type", "application/json"), ("If-Match", ETAG)],
            '{"Name":"Br\u00e4cket","Number":1.5}'.encode(),
            "1",
            0,
            "g1",
        ),
        BatchRequest(
            "POST",
            "$1/Attachments",
            [("Content-Type", "application/json")],
            b"[1,null]",
            "2",
            0,
            "g1",
        ),
        BatchRequest("DELETE", "x", [], b"", "3", 1, "g2"),
        BatchRequest("GET", "y", [], b"", "4", None),
    ]


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"Content-Type": "text/plain"}, "caf\u00e9", "caf\u00e9".encode()),
        ({"Content-Type": "application/json"}, "caf\u00e9", '"caf\u00e9"'.encode()),
        ({"Content-Type": "application/merge-patch+json"}, "x", b'"x"'),
        ({}, "x", b'"x"'),
        ({}, None, b"null"),
        ({}, {"a": {"b": []}}, b'{"a":{"b":[]}}'),
    ],
)
def test_parse_json_encodes_the_body(
    headers: dict[str, str], body: object, expected: bytes
) -> None:
    entry = {"id": "1", "method": "POST", "url": "x", "headers": headers, "body": body}
    assert parse_json({"requests": [entry]})[0].body == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "the JSON batch is an array; expected an object"),
        ({"requests": {}}, 'the JSON batch\'s "requests" is an object; expected an array'),
        ({}, 'the JSON batch\'s "requests" is null; expected an array'),
        ({"requests": []}, 'the JSON batch\'s "requests" is empty; expected at least one'),
        ({"requests": [], "x": 1}, "the JSON batch has the unknown member(s) 'x'"),
        ({"requests": ["GET x"]}, "JSON batch request 1 is a string; expected a request object"),
        ({"requests": [{"method": "GET", "url": "x"}]}, '"id" is missing; expected a non-empty'),
        ({"requests": [{"id": 1, "method": "GET", "url": "x"}]}, '"id" is a number; expected'),
        ({"requests": [{"id": "", "method": "GET", "url": "x"}]}, '"id" is empty; expected'),
        ({"requests": [{"id": "1", "url": "x"}]}, "request 1 (id '1'): \"method\" is missing"),
        ({"requests": [{"id": "1", "method": "GET"}]}, "(id '1'): \"url\" is missing"),
        ({"requests": [{"id": "1", "method": "GET", "url": 3}]}, '"url" is a number'),
        ({"requests": [{"id": "1", "method": "G T", "url": "x"}]}, "not an HTTP method"),
        ({"requests": [{"id": "1", "method": "GET", "url": "a b"}]}, "holds a space"),
        (
            {"requests": [{"id": "1", "method": "GET", "url": "x", "if": "$0/Name eq 'a'"}]},
            "request 1 has the unknown member(s) 'if'",
        ),
        (
            {"requests": [{"id": "1", "method": "GET", "url": "x", "headers": []}]},
            '"headers" is an array; expected an object of strings',
        ),
        (
            {"requests": [{"id": "1", "method": "GET", "url": "x", "headers": {"A": 1}}]},
            "the header 'A' is a number; expected a string",
        ),
        (
            {"requests": [{"id": "1", "method": "GET", "url": "x", "headers": {"A": "\n"}}]},
            "control character",
        ),
        (
            {"requests": [{"id": "1", "method": "GET", "url": "x", "atomicityGroup": 7}]},
            '"atomicityGroup" is a number',
        ),
        (
            {"requests": [{"id": "1", "method": "GET", "url": "x", "dependsOn": "0"}]},
            '"dependsOn" is a string; expected an array',
        ),
        (
            {"requests": [{"id": "1", "method": "POST", "url": "x", "body": float("nan")}]},
            '"body" cannot be written as JSON',
        ),
        (
            {"requests": [{"id": "1", "method": "POST", "url": "x", "body": {1j}}]},
            '"body" cannot be written as JSON',
        ),
    ],
)
def test_parse_json_refuses_malformed_input(data: object, message: str) -> None:
    with pytest.raises(BatchFormatError) as caught:
        parse_json(data)
    assert message in str(caught.value)


def _get(request_id: str, **members: object) -> dict[str, object]:
    return {"id": request_id, "method": "GET", "url": "x", **members}


def test_parse_json_refuses_a_repeated_id() -> None:
    with pytest.raises(BatchFormatError) as caught:
        parse_json({"requests": [_get("1"), _get("2"), _get("1")]})
    assert str(caught.value) == (
        "JSON batch request 3 (id '1'): the id '1' is already used by an earlier request; "
        "expected ids unique within the batch"
    )


def test_parse_json_refuses_an_atomicity_group_split_in_two() -> None:
    requests = [_get("1", atomicityGroup="g"), _get("2"), _get("3", atomicityGroup="g")]
    with pytest.raises(BatchFormatError) as caught:
        parse_json({"requests": requests})
    assert str(caught.value).startswith(
        "JSON batch request 3 (id '3'): the requests of atomicityGroup 'g' are not adjacent"
    )


def test_parse_json_refuses_a_group_named_like_a_request() -> None:
    with pytest.raises(BatchFormatError, match="the atomicityGroup '2' is also a request id"):
        parse_json({"requests": [_get("1", atomicityGroup="2"), _get("2")]})


@pytest.mark.parametrize(
    ("depends_on", "shown"),
    [(["2"], "'2'"), (["9"], "'9'"), ([1], "a number"), (["g"], "'g'")],
)
def test_parse_json_refuses_dependencies_on_anything_but_earlier_requests(
    depends_on: list[object], shown: str
) -> None:
    requests = [_get("1"), _get("3", atomicityGroup="g", dependsOn=depends_on), _get("2")]
    with pytest.raises(BatchFormatError) as caught:
        parse_json({"requests": requests})
    assert str(caught.value) == (
        f"JSON batch request 2 (id '3'): \"dependsOn\" names {shown}, which is not an earlier "
        "request; expected ids of earlier requests (or of earlier atomicity groups)"
    )


def test_parse_json_refuses_a_dependency_on_the_requests_own_group() -> None:
    first, second = _get("2", atomicityGroup="g"), _get("3", atomicityGroup="g")
    assert len(parse_json({"requests": [first, {**second, "dependsOn": ["2"]}]})) == 2
    with pytest.raises(BatchFormatError, match="\"dependsOn\" names 'g', which is not an earlier"):
        parse_json({"requests": [first, {**second, "dependsOn": ["g"]}]})


def test_parse_json_refuses_too_many_requests() -> None:
    assert len(parse_json({"requests": [_get("1"), _get("2")]}, max_requests=2)) == 2
    with pytest.raises(BatchFormatError, match="more than 2 requests; expected at most 2"):
        parse_json({"requests": [_get("1"), _get("2"), _get("3")]}, max_requests=2)


def test_format_json_writes_responses() -> None:
    requests = parse_json(
        {
            "requests": [
                _get("a"),
                {"id": "b", "method": "PATCH", "url": "x", "atomicityGroup": "g1", "body": {}},
                _get("c"),
                _get("d"),
            ]
        }
    )
    responses = [
        BatchResponse(
            200,
            [("Content-Type", "application/json; odata.metadata=minimal"), ("ETag", ETAG)],
            b'{"ID":"x","n":[1]}',
            None,
        ),
        BatchResponse(204, [("ETag", 'W/"2"')], b"", None),
        BatchResponse(
            200, [("Content-Type", "text/plain"), ("Vary", "A"), ("vary", "B")], b"hi", None
        ),
        BatchResponse(500, [("Content-Type", "application/json")], b"{not json", None),
    ]
    result = format_json(list(zip(requests, responses, strict=True)))
    assert result == {
        "responses": [
            {
                "id": "a",
                "status": 200,
                "headers": {
                    "Content-Type": "application/json; odata.metadata=minimal",
                    "ETag": ETAG,
                },
                "body": {"ID": "x", "n": [1]},
            },
            {"id": "b", "status": 204, "atomicityGroup": "g1", "headers": {"ETag": 'W/"2"'}},
            {
                "id": "c",
                "status": 200,
                "headers": {"Content-Type": "text/plain", "Vary": "A, B"},
                "body": "hi",
            },
            {
                "id": "d",
                "status": 500,
                "headers": {"Content-Type": "application/json"},
                "body": "{not json",
            },
        ]
    }
    json.dumps(result, allow_nan=False)  # serialisable as it is


def test_format_json_names_unnamed_change_sets_and_needs_an_id() -> None:
    parsed = parse_multipart(CONTENT_TYPE, PTC_BATCH)
    ok = BatchResponse(204, [], b"", None)
    result = format_json([(parsed[1], ok)])
    assert result == {
        "responses": [{"id": "1", "status": 204, "atomicityGroup": "changeset_0", "headers": {}}]
    }
    assert format_json([(parsed[0], BatchResponse(204, [], b"", "r"))])["responses"] == [
        {"id": "r", "status": 204, "headers": {}}
    ]
    with pytest.raises(BatchFormatError, match="response 1 has no id"):
        format_json([(parsed[0], ok)])


@pytest.mark.parametrize("body", ["[NaN]", "[-Infinity]", "[1e999]"])
def test_format_json_keeps_non_finite_numbers_out_of_bodies(body: str) -> None:
    request = parse_json({"requests": [_get("1")]})[0]
    response = BatchResponse(200, [("Content-Type", "application/json")], body.encode(), None)
    assert format_json([(request, response)])["responses"] == [
        {"id": "1", "status": 200, "headers": {"Content-Type": "application/json"}, "body": body}
    ]
