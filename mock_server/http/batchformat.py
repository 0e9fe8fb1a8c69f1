"""The wire format of OData ``$batch``: parsing requests, writing responses. No execution.

Two formats:

* ``multipart/mixed`` (OData 4.0 Part 1 §11.7): each request is an ``application/http`` part;
  a nested ``multipart/mixed`` part is a change set. :func:`parse_multipart` splits the body
  with the standard library's :mod:`email` parser and returns the embedded requests flat, in
  document order, each telling which change set it belongs to; :func:`format_multipart`
  writes the responses back in the same shape.
* the OData 4.01 JSON batch format (Part 1 §19.1, JSON Format §19): :func:`parse_json` reads
  ``{"requests": [...]}``, where the requests of one ``atomicityGroup`` form a change set, and
  :func:`format_json` writes ``{"responses": [...]}``.

Anything malformed raises :class:`BatchFormatError`, a :class:`ValueError` whose message says
what is wrong and what is expected.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email import errors, policy
from email.message import Message
from email.parser import BytesParser
from http import HTTPStatus

__all__ = [
    "BatchFormatError",
    "BatchRequest",
    "BatchResponse",
    "format_json",
    "format_multipart",
    "parse_json",
    "parse_multipart",
]


class BatchFormatError(ValueError):
    """A batch request (or a response to format) is malformed; the message says what is wrong
    and what is expected."""


@dataclass(frozen=True)
class BatchRequest:
    """One request embedded in a batch."""

    #: Upper-case, e.g. ``"PATCH"``.
    method: str
    #: As written: relative (``Documents('x')``), an absolute path, an absolute URL, or a
    #: ``$1/...`` reference to the Content-ID of an earlier request.
    url: str
    #: The request's headers, in order, as sent.
    headers: list[tuple[str, str]]
    body: bytes
    #: The MIME part's ``Content-ID`` (or the one among the inner headers); the JSON ``id``.
    content_id: str | None
    #: ``None`` for a top-level request; else the index (0, 1, 2...) of its change set, in
    #: order of appearance.
    changeset: int | None
    #: The JSON format's ``atomicityGroup`` name, echoed in the response; ``None`` otherwise.
    atomicity_group: str | None = None


@dataclass(frozen=True)
class BatchResponse:
    """The response to one embedded request."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    content_id: str | None


# --- shared validation ---------------------------------------------------------------------

#: An HTTP token (RFC 9110 §5.6.2): a method or a header name.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: A URL as it may appear in a request line: no space, no control character.
_URL = re.compile(r"[^\x00-\x20\x7f]+")
#: A header value: no control character but horizontal tab.
_HEADER_VALUE = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]*")
_REQUEST_LINE = re.compile(r"(?P<method>\S+) (?P<url>\S+) (?P<version>HTTP/\d\.\d)")
_JSON_MEDIA_TYPE = re.compile(r"application/(?:[^;\s]*\+)?json", re.IGNORECASE)
#: The characters of a MIME boundary (RFC 2046 §5.1.1), at most 70, not ending with a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_MAX_BOUNDARY = 70


def _shown(text: str, limit: int = 80) -> str:
    """``text`` quoted for a message, shortened when long."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _check_method(method: str, where: str) -> str:
    if not _TOKEN.fullmatch(method):
        raise BatchFormatError(
            f"{where}: the method {_shown(method)} is not an HTTP method; expected a token "
            "such as GET, POST, PATCH or DELETE"
        )
    return method.upper()


def _check_header(name: str, value: str, where: str) -> None:
    if not _TOKEN.fullmatch(name):
        raise BatchFormatError(
            f"{where}: the header name {_shown(name)} is not an HTTP token; expected "
            "letters, digits and !#$%&'*+-.^_`|~"
        )
    if not _HEADER_VALUE.fullmatch(value):
        raise BatchFormatError(
            f"{where}: the value of header {name!r} holds a control character (such as CR, "
            "LF or NUL); expected printable text"
        )


def _header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive), or ``None``."""
    wanted = name.lower()
    return next((value for key, value in headers if key.lower() == wanted), None)


def _is_json(content_type: str | None) -> bool:
    return content_type is not None and bool(_JSON_MEDIA_TYPE.match(content_type.strip()))


# --- multipart/mixed: parsing --------------------------------------------------------------

_PARSER = BytesParser(policy=policy.HTTP)
_LINE_BREAK = re.compile(rb"\r?\n")
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def parse_multipart(
    content_type: str, body: bytes, *, max_requests: int = 100
) -> list[BatchRequest]:
    """The requests of a ``multipart/mixed`` batch body, flat and in document order.

    ``content_type`` is the batch request's ``Content-Type`` header, with its ``boundary``.
    Each top-level part is an ``application/http`` request, or a ``multipart/mixed`` change
    set of such requests (not nested further, not empty). Content-IDs must be unique within a
    change set. CRLF and LF-only line endings are both accepted.
    """
    if "\r" in content_type or "\n" in content_type:
        raise BatchFormatError(
            "the Content-Type header holds a line break; expected "
            "'multipart/mixed; boundary=<boundary>'"
        )
    try:
        message = _PARSER.parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
    except UnicodeEncodeError:
        raise BatchFormatError(
            "the Content-Type header holds a non-Latin-1 character; expected "
            "'multipart/mixed; boundary=<boundary>'"
        ) from None
    except RecursionError:
        raise BatchFormatError(
            "the batch body is nested too deeply; expected change sets directly inside the batch"
        ) from None
    if message.get_content_type() != "multipart/mixed":
        raise BatchFormatError(
            f"the batch Content-Type is {message.get_content_type()!r}; expected "
            "'multipart/mixed; boundary=<boundary>'"
        )
    parts = _parts(message, "the batch body", "--<boundary> lines each opening one request")
    requests: list[BatchRequest] = []
    changesets = 0
    for number, part in enumerate(parts, 1):
        where = f"batch part {number}"
        kind = _part_kind(part, where, changeset_allowed=True)
        if kind == "request":
            requests.append(_embedded_request(part, where, changeset=None))
        else:
            seen: dict[str, int] = {}
            inner_parts = _parts(
                part, f"{where} (a change set)", "at least one application/http request"
            )
            for inner_number, inner in enumerate(inner_parts, 1):
                inner_where = f"{where} (change set {changesets}), request {inner_number}"
                _part_kind(inner, inner_where, changeset_allowed=False)
                request = _embedded_request(inner, inner_where, changeset=changesets)
                if request.content_id is not None:
                    if request.content_id in seen:
                        raise BatchFormatError(
                            f"{inner_where}: the Content-ID {request.content_id!r} is already "
                            f"used by request {seen[request.content_id]} of the same change "
                            "set; expected a Content-ID unique within its change set"
                        )
                    seen[request.content_id] = inner_number
                requests.append(request)
                _check_count(len(requests), max_requests)
            changesets += 1
        _check_count(len(requests), max_requests)
    return requests


def _check_count(count: int, max_requests: int) -> None:
    if count > max_requests:
        raise BatchFormatError(
            f"the batch holds more than {max_requests} requests; expected at most "
            f"{max_requests}, split it into several batches"
        )


def _parts(message: Message, what: str, expected: str) -> list[Message]:
    """The parts of a parsed ``multipart/mixed`` message; an error when there are none or the
    body is cut short."""
    boundary = message.get_boundary()
    if not boundary:
        raise BatchFormatError(
            f"{what} has no boundary; expected a Content-Type 'multipart/mixed; "
            "boundary=<boundary>'"
        )
    payload = message.get_payload()
    if not message.is_multipart() or not isinstance(payload, list) or not payload:
        raise BatchFormatError(
            f"{what} holds no parts: the line --{boundary} was not found; expected {expected}, "
            f"and a closing --{boundary}--"
        )
    if any(isinstance(defect, errors.CloseBoundaryNotFoundDefect) for defect in message.defects):
        raise BatchFormatError(
            f"{what} is cut short: the closing line --{boundary}-- was not found; expected the "
            "complete body"
        )
    return [part for part in payload if isinstance(part, Message)]


def _part_kind(part: Message, where: str, *, changeset_allowed: bool) -> str:
    """``"request"`` for an ``application/http`` part, ``"changeset"`` for a change set."""
    content_type = part.get_content_type()
    if content_type == "application/http":
        return "request"
    if content_type == "multipart/mixed":
        if changeset_allowed:
            return "changeset"
        raise BatchFormatError(
            f"{where} is a change set inside a change set; expected application/http parts "
            "only (change sets cannot be nested)"
        )
    found = "no Content-Type" if part.get("Content-Type") is None else repr(content_type)
    expected = (
        "'application/http' (a request) or 'multipart/mixed' (a change set)"
        if changeset_allowed
        else "'application/http'"
    )
    raise BatchFormatError(f"{where} has {found}; expected Content-Type {expected}")


def _embedded_request(part: Message, where: str, *, changeset: int | None) -> BatchRequest:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    # A server should ignore empty lines before the request line (RFC 9112 §2.2).
    data = data.lstrip(b"\r\n")
    end = _HEADER_END.search(data)
    head, body = (data[: end.start()], data[end.end() :]) if end else (data, b"")
    lines = _LINE_BREAK.split(head)
    if lines and not lines[-1]:
        lines.pop()  # the line break ending the headers when no blank line follows
    try:
        request_line = lines[0].decode("utf-8") if lines else ""
    except UnicodeDecodeError:
        raise BatchFormatError(
            f"{where}: the request line is not UTF-8; expected 'METHOD URL HTTP/1.1' with a "
            "percent-encoded URL"
        ) from None
    match = _REQUEST_LINE.fullmatch(request_line)
    if match is None or not _URL.fullmatch(match["url"]):
        raise BatchFormatError(
            f"{where}: the request line {_shown(request_line)} is malformed; expected "
            "'METHOD URL HTTP/1.1', e.g. 'PATCH Documents('OR:wt.doc.WTDocument:1') HTTP/1.1'"
        )
    method = _check_method(match["method"], where)
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        text = line.decode("latin-1")  # as WSGI does for header values
        name, colon, value = text.partition(":")
        if not colon:
            raise BatchFormatError(
                f"{where}: the header line {_shown(text)} is malformed; expected 'Name: value'"
            )
        value = value.strip(" \t")
        _check_header(name, value, where)
        headers.append((name, value))
    return BatchRequest(
        method=method,
        url=match["url"],
        headers=headers,
        body=body,
        content_id=_content_id(part, headers, where),
        changeset=changeset,
    )


def _content_id(part: Message, headers: list[tuple[str, str]], where: str) -> str | None:
    """The part's Content-ID, or the embedded request's; an error when they disagree."""
    raw = part.get("Content-ID")
    outer = None if raw is None else str(raw).strip() or None
    inner = _header(headers, "Content-ID") or None
    if outer is not None and inner is not None and outer != inner:
        raise BatchFormatError(
            f"{where}: the MIME part's Content-ID {outer!r} differs from the request's "
            f"Content-ID header {inner!r}; expected one Content-ID (either place)"
        )
    return outer or inner


# --- multipart/mixed: formatting -----------------------------------------------------------


def format_multipart(items: list[BatchResponse | list[BatchResponse]], *, boundary: str) -> bytes:
    """A ``multipart/mixed`` batch response body, with CRLF line endings.

    Each :class:`BatchResponse` becomes an ``application/http`` part; each list, a change set:
    a nested ``multipart/mixed`` part whose boundary is derived from ``boundary``
    (``changeset_<n>_<boundary>``, ``n`` counting the change sets from 0), so the output
    depends only on the arguments. The caller sends ``Content-Type: multipart/mixed;
    boundary=<boundary>``.
    """
    _check_boundary(boundary)
    if not items:
        raise BatchFormatError("no responses to format; expected at least one")
    parts: list[bytes] = []
    changesets = 0
    for number, item in enumerate(items, 1):
        where = f"response {number}"
        if isinstance(item, BatchResponse):
            parts.append(_response_part(item, where))
            continue
        if not item:
            raise BatchFormatError(
                f"{where} is an empty change set; expected at least one response"
            )
        inner = f"changeset_{changesets}_{boundary}"[:_MAX_BOUNDARY].rstrip(" ")
        changesets += 1
        nested = _multipart(
            [
                _response_part(response, f"{where}, change set response {index}")
                for index, response in enumerate(item, 1)
            ],
            inner,
        )
        header = f"Content-Type: multipart/mixed; boundary={_param(inner)}\r\n\r\n"
        parts.append(header.encode("ascii") + nested)
    return _multipart(parts, boundary) + b"\r\n"


def _check_boundary(boundary: str) -> None:
    if not _BOUNDARY.fullmatch(boundary):
        raise BatchFormatError(
            f"the boundary {_shown(boundary)} is not a MIME boundary; expected 1 to 70 letters, "
            "digits or '()+_,-./:=? (not ending with a space)"
        )


def _param(value: str) -> str:
    return value if _TOKEN.fullmatch(value) else f'"{value}"'


def _multipart(parts: list[bytes], boundary: str) -> bytes:
    """``parts`` between delimiter lines, up to the close delimiter (without a final CRLF)."""
    delimiter = b"--" + boundary.encode("ascii")
    inside = re.compile(rb"(?:^|[\r\n])" + re.escape(delimiter))
    for part in parts:
        if inside.search(part):
            raise BatchFormatError(
                f"a response holds a line starting with the delimiter {delimiter.decode()!r}; "
                "expected a boundary that appears in no response"
            )
    out = b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in parts)
    return out + delimiter + b"--"


def _response_part(response: BatchResponse, where: str) -> bytes:
    if isinstance(response.status, bool) or not 100 <= response.status <= 599:
        raise BatchFormatError(
            f"{where}: the status {response.status!r} is not an HTTP status; expected 100 to 599"
        )
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = ""  # an empty reason phrase is allowed (RFC 9112 §4)
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if response.content_id is not None:
        _check_header("Content-ID", response.content_id, where)
        lines.append(f"Content-ID: {response.content_id}")
    lines += ["", f"HTTP/1.1 {response.status} {reason}"]
    for name, value in response.headers:
        _check_header(name, value, where)
        lines.append(f"{name}: {value}")
    try:
        head = "\r\n".join(lines).encode("latin-1")
    except UnicodeEncodeError:
        raise BatchFormatError(
            f"{where}: a header holds a character beyond Latin-1; expected Latin-1 text "
            "(percent-encode or RFC 8187-encode the rest)"
        ) from None
    return head + b"\r\n\r\n" + response.body


# --- OData 4.01 JSON batch -----------------------------------------------------------------

_REQUEST_MEMBERS = frozenset(
    {"id", "method", "url", "atomicityGroup", "headers", "body", "dependsOn"}
)


def parse_json(data: object, *, max_requests: int = 100) -> list[BatchRequest]:
    """The requests of an OData 4.01 JSON batch (``{"requests": [...]}``, already decoded).

    ``id`` (unique), ``method`` and ``url`` are required strings; ``headers`` an object of
    strings; ``body`` any JSON, encoded compactly (a string with a non-JSON Content-Type is
    kept as UTF-8 text; a body without a Content-Type gets ``Content-Type: application/json``,
    as the format implies). The requests of one ``atomicityGroup`` must be adjacent and form
    one change set. ``dependsOn`` must name earlier requests (or atomicity groups); it is
    otherwise ignored, requests running in order anyway.
    """
    if not isinstance(data, dict):
        raise BatchFormatError(
            f'the JSON batch is {_json_kind(data)}; expected an object {{"requests": [...]}}'
        )
    extra = sorted(str(key) for key in data if key != "requests")
    if extra:
        raise BatchFormatError(
            f"the JSON batch has the unknown member(s) {', '.join(map(repr, extra))}; expected "
            'only "requests"'
        )
    entries = data.get("requests")
    if not isinstance(entries, list):
        raise BatchFormatError(
            f'the JSON batch\'s "requests" is {_json_kind(entries)}; expected an array of '
            "request objects"
        )
    if not entries:
        raise BatchFormatError('the JSON batch\'s "requests" is empty; expected at least one')
    _check_count(len(entries), max_requests)
    requests: list[BatchRequest] = []
    ids: set[str] = set()
    groups: dict[str, int] = {}  # name -> change set index
    previous_group: str | None = None
    for number, entry in enumerate(entries, 1):
        request = _json_request(entry, number, ids, groups, previous_group)
        ids.add(str(request.content_id))
        group = request.atomicity_group
        if group is not None and group not in groups:
            groups[group] = len(groups)
        requests.append(request)
        previous_group = group
    clash = sorted(ids & groups.keys())
    if clash:
        raise BatchFormatError(
            f"the atomicityGroup {clash[0]!r} is also a request id; expected group names that "
            "differ from every request id"
        )
    return requests


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", str: "a string", list: "an array", dict: "an object"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else "not JSON")


def _json_string(entry: dict[str, object], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        found = "missing" if key not in entry else _json_kind(value)
        found = "empty" if value == "" else found
        raise BatchFormatError(f'{where}: "{key}" is {found}; expected a non-empty string')
    return value


def _json_request(
    entry: object,
    number: int,
    ids: set[str],
    groups: dict[str, int],
    previous_group: str | None,
) -> BatchRequest:
    where = f"JSON batch request {number}"
    if not isinstance(entry, dict):
        raise BatchFormatError(f"{where} is {_json_kind(entry)}; expected a request object")
    extra = sorted(str(key) for key in entry if key not in _REQUEST_MEMBERS)
    if extra:
        raise BatchFormatError(
            f"{where} has the unknown member(s) {', '.join(map(repr, extra))}; expected only "
            f"{', '.join(sorted(_REQUEST_MEMBERS))}"
        )
    request_id = _json_string(entry, "id", where)
    where = f"JSON batch request {number} (id {request_id!r})"
    if request_id in ids:
        raise BatchFormatError(
            f"{where}: the id {request_id!r} is already used by an earlier request; expected "
            "ids unique within the batch"
        )
    method = _check_method(_json_string(entry, "method", where), where)
    url = _json_string(entry, "url", where)
    if not _URL.fullmatch(url):
        raise BatchFormatError(
            f"{where}: the url {_shown(url)} holds a space or a control character; expected a "
            "percent-encoded URL"
        )
    group: str | None = None
    if "atomicityGroup" in entry:
        group = _json_string(entry, "atomicityGroup", where)
        if group in groups and group != previous_group:
            raise BatchFormatError(
                f"{where}: the requests of atomicityGroup {group!r} are not adjacent; expected "
                "all requests of one atomicity group next to each other"
            )
    headers = _json_headers(entry.get("headers", {}), where)
    body = _json_body(entry, headers, where)
    if "body" in entry and _header(headers, "Content-Type") is None:
        headers.append(("Content-Type", "application/json"))
    depends_on = entry.get("dependsOn", [])
    if not isinstance(depends_on, list):
        raise BatchFormatError(
            f'{where}: "dependsOn" is {_json_kind(depends_on)}; expected an array of ids of '
            "earlier requests"
        )
    for name in depends_on:
        if not isinstance(name, str) or not (name in ids or (name in groups and name != group)):
            shown = repr(name) if isinstance(name, str) else _json_kind(name)
            raise BatchFormatError(
                f'{where}: "dependsOn" names {shown}, which is not an earlier request; expected '
                "ids of earlier requests (or of earlier atomicity groups)"
            )
    return BatchRequest(
        method=method,
        url=url,
        headers=headers,
        body=body,
        content_id=request_id,
        changeset=None if group is None else groups.get(group, len(groups)),
        atomicity_group=group,
    )


def _json_headers(value: object, where: str) -> list[tuple[str, str]]:
    if not isinstance(value, dict):
        raise BatchFormatError(
            f'{where}: "headers" is {_json_kind(value)}; expected an object of strings'
        )
    headers: list[tuple[str, str]] = []
    for name, header_value in value.items():
        if not isinstance(header_value, str):
            raise BatchFormatError(
                f"{where}: the header {name!r} is {_json_kind(header_value)}; expected a string"
            )
        _check_header(str(name), header_value, where)
        headers.append((str(name), header_value))
    return headers


def _json_body(entry: dict[str, object], headers: list[tuple[str, str]], where: str) -> bytes:
    if "body" not in entry:
        return b""
    body = entry["body"]
    content_type = _header(headers, "Content-Type")
    try:
        if isinstance(body, str) and content_type is not None and not _is_json(content_type):
            return body.encode("utf-8")
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return text.encode("utf-8")
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError) as error:
        reason = "is nested too deeply" if isinstance(error, RecursionError) else f"({error})"
        raise BatchFormatError(
            f'{where}: "body" cannot be written as JSON {reason}; expected a JSON value'
        ) from None


def format_json(items: list[tuple[BatchRequest, BatchResponse]]) -> dict[str, object]:
    """The OData 4.01 JSON batch response: ``{"responses": [...]}``, one per pair, in order.

    ``id`` is the request's (else the response's) Content-ID; ``body`` the parsed JSON when
    the response's Content-Type is JSON (and the body parses, without NaN or infinite
    numbers), else its UTF-8 text, omitted when empty; ``atomicityGroup`` the request's group
    (``changeset_<n>`` for a change set that came without a name). Repeated headers are
    joined with ``", "``.
    """
    responses: list[object] = []
    for number, (request, response) in enumerate(items, 1):
        response_id = request.content_id or response.content_id
        if response_id is None:
            raise BatchFormatError(
                f"response {number} has no id: neither its request nor itself has a "
                "Content-ID; expected one to pair it with its request"
            )
        headers: dict[str, str] = {}
        names: dict[str, str] = {}  # lower-case -> the spelling first seen
        for name, value in response.headers:
            key = names.setdefault(name.lower(), name)
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        out: dict[str, object] = {"id": response_id, "status": response.status}
        if request.changeset is not None:
            out["atomicityGroup"] = request.atomicity_group or f"changeset_{request.changeset}"
        out["headers"] = headers
        if response.body:
            out["body"] = _json_response_body(
                response.body, _header(response.headers, "Content-Type")
            )
        responses.append(out)
    return {"responses": responses}


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _json_response_body(body: bytes, content_type: str | None) -> object:
    if _is_json(content_type):
        try:
            return json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
        except (ValueError, RecursionError):
            pass  # not JSON after all: sent as text
    return body.decode("utf-8", errors="replace")
