"""``$batch``: several requests in one, change sets all or nothing (PTC, *Processing Batch
Requests*; OData 4.01 Part 1 §11.7).

``POST …/<Domain>/$batch`` takes ``multipart/mixed`` (OData 4.0, what PTC documents) or the
JSON batch format of OData 4.01. Each embedded request goes through the whole app as if it
had come on its own — authentication, the CSRF nonce, the concurrency rules, interventions,
the journal — with the batch's ``Authorization``, cookie and nonce unless it brings its own.

* Requests run in order. A failing request outside a change set does not stop the others
  (PTC; the standard would stop there unless ``Prefer: odata.continue-on-error``).
* A change set holds modifications and action calls only, and is atomic: the repository's
  lock is held from its first request to its last, and if one fails (a 409 from background
  work included) every change it made is rolled back (:meth:`Repository.change_set`), the
  journal showing a ``rollback`` event for each. Its answer is then the failed request's
  alone, as OData and Olingo answer a failed change set.
* ``$<Content-ID>`` at the start of a URL refers to what an earlier request of the same
  change set created or returned.
* A lost response anywhere in the batch drops the connection of the whole batch, after it
  was processed (the journal marks the request that lost it).

The wire formats (parsing and writing multipart and JSON) live in :mod:`.batchformat`.
"""

from __future__ import annotations

import hashlib
import json
from itertools import groupby
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Response, current_app, request
from werkzeug.test import EnvironBuilder

from ..core.errors import BadRequest, WindchillError
from ..core.journal import LOST_RESPONSE_ENVIRON
from ..core.kinds import KINDS
from . import jsonbody
from .batchformat import (
    BatchFormatError,
    BatchRequest,
    BatchResponse,
    format_json,
    format_multipart,
    parse_json,
    parse_multipart,
)
from .odata import ROOT, _domain_root, _drop_connection, route
from .state import state
from .tenants import TENANT_ENVIRON

__all__ = ["MAX_BATCH_REQUESTS"]

#: The most requests one batch may hold: each runs through the whole app.
MAX_BATCH_REQUESTS = 100
#: Headers an embedded request takes from the batch when it has none of its own.
_INHERITED = ("Authorization", "Cookie", "CSRF_NONCE")
_MODIFYING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@route("/{domain}/$batch", methods=["POST"])
def batch(version: str | None, kind: str) -> Response:
    domain_root = _domain_root(version, KINDS[kind].domain)
    body = request.get_data(cache=True)
    try:
        if request.mimetype == "multipart/mixed":
            requests = parse_multipart(
                request.headers.get("Content-Type", ""), body, max_requests=MAX_BATCH_REQUESTS
            )
            json_format = False
        elif request.mimetype == "application/json":
            try:
                data = jsonbody.loads(body)
            except ValueError as error:
                raise BadRequest(
                    f"Malformed JSON in the batch body: {error}", code="MalformedJSON"
                ) from None
            requests = parse_json(data, max_requests=MAX_BATCH_REQUESTS)
            json_format = True
        else:
            raise WindchillError(
                f"A $batch request is multipart/mixed (with a boundary) or application/json, "
                f"not {request.mimetype or 'missing'}",
                status=415,
                code="UnsupportedMediaType",
            )
    except BatchFormatError as error:
        raise BadRequest(f"Malformed $batch request: {error}", code="MalformedBatch") from None
    runner = _Runner(domain_root)
    answered: list[tuple[BatchRequest, BatchResponse]] = []
    items: list[BatchResponse | list[BatchResponse]] = []
    for changeset, group in groupby(requests, key=lambda r: r.changeset):
        members = list(group)
        if changeset is None:
            for member in members:
                response = runner.run(member, references={})
                answered.append((member, response))
                items.append(response)
        else:
            responses, failed = runner.run_change_set(members)
            if failed is None:
                answered.extend(zip(members, responses, strict=True))
                items.append(responses)
            else:
                answered.append((failed, responses[0]))
                items.append(responses[0])
    if runner.lost:
        return _drop_connection()
    headers = {"OData-Version": "4.0"}
    if "odata.continue-on-error" in (request.headers.get("Prefer") or "").lower():
        headers["Preference-Applied"] = "odata.continue-on-error"
    if json_format:
        out = Response(json.dumps(format_json(answered)), mimetype="application/json")
    else:
        boundary = "batchresponse_" + hashlib.sha256(body).hexdigest()[:32]
        out = Response(
            format_multipart(items, boundary=boundary),
            content_type=f"multipart/mixed; boundary={boundary}",
        )
    out.headers.update(headers)
    return out


class _Runner:
    """Runs the embedded requests of one batch through the app."""

    def __init__(self, domain_root: str) -> None:
        self.domain_root = domain_root
        self.lost = False

    def run_change_set(
        self, members: list[BatchRequest]
    ) -> tuple[list[BatchResponse], BatchRequest | None]:
        """Every answer when all succeed; otherwise the failed request's answer alone, with
        that request, and nothing of the change set stays done."""
        references: dict[str, str] = {}
        answers: list[BatchResponse] = []
        with state().repository.change_set() as change_set:
            for member in members:
                if member.method not in _MODIFYING:
                    answer = _error_response(
                        400,
                        "BadRequest",
                        f"A change set holds modifications and action calls only, not "
                        f"{member.method} {member.url}; send it outside the change set",
                        member.content_id,
                    )
                else:
                    answer = self.run(member, references)
                if answer.status >= 400:
                    # Its ETag described a state the rollback undid: a client must re-read.
                    answer.headers[:] = [(n, v) for n, v in answer.headers if n.lower() != "etag"]
                    change_set.roll_back(
                        f"request {len(answers) + 1} of the change set "
                        f"({member.method} {member.url}) failed with {answer.status}"
                    )
                    return [answer], member
                answers.append(answer)
        return answers, None

    def run(self, item: BatchRequest, references: dict[str, str]) -> BatchResponse:
        try:
            path, query = self._target(item.url, references)
        except BadRequest as error:
            return _error_response(400, error.code, error.message, item.content_id)
        headers = [(name, value) for name, value in item.headers if name.lower() != "host"]
        present = {name.lower() for name, _ in headers}
        for name in _INHERITED:
            value = request.headers.get(name)
            if value is not None and name.lower() not in present:
                headers.append((name, value))
        environ = EnvironBuilder(
            path=path,
            query_string=query,
            method=item.method,
            headers=headers,
            data=item.body,
            base_url=request.url_root,
        ).get_environ()
        tenant = request.environ.get(TENANT_ENVIRON)
        if tenant is not None:  # the prefix is in SCRIPT_NAME already: name the tenant
            environ[TENANT_ENVIRON] = tenant
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> Any:
            started[:] = [status, headers]
            return lambda data: None

        # The app is called directly (not through a copy of the environ) so that a lost
        # response, which the app marks in the environ, is seen here.
        chunks = current_app.wsgi_app(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        if environ.get(LOST_RESPONSE_ENVIRON):
            self.lost = True
        status, response_headers = started
        code = int(status.split(" ", 1)[0])
        kept = [(n, v) for n, v in response_headers if n.lower() != "content-length"]
        if item.content_id is not None and code < 400:
            location = dict(response_headers).get("Location") or _entity_url(body, path)
            if location:
                references[item.content_id] = urlsplit(location).path
        return BatchResponse(code, kept, body, item.content_id)

    def _target(self, url: str, references: dict[str, str]) -> tuple[str, str]:
        """The path and query an embedded request's URL names, within the service."""
        if url.startswith("$"):
            name, sep, rest = url[1:].partition("/")
            name, qsep, query = name.partition("?")
            if name not in references:
                raise BadRequest(
                    f"${name} refers to no earlier request of this change set with that "
                    f"Content-ID; known: {sorted(references)}",
                    code="BadReference",
                )
            url = references[name] + (sep + rest if sep else "") + (qsep + query)
        try:
            parts = urlsplit(url)
        except ValueError as error:
            raise BadRequest(f"The batched request's URL {url!r} is malformed: {error}") from None
        if parts.scheme or parts.netloc or url.startswith("/"):
            path = parts.path
        else:
            path = f"{urlsplit(self.domain_root).path}/{parts.path}"
        # A tenant's URLs carry its /(S(<id>)) prefix: within the batch's tenant only.
        prefix = request.script_root
        if prefix and path.startswith(prefix + "/"):
            path = path[len(prefix) :]
        elif prefix or path.startswith("/(S("):
            raise BadRequest(
                f"The batched request's URL {url!r} is outside this batch's service "
                f"{request.url_root.rstrip('/')}{ROOT}",
                code="BadReference",
            )
        if not path.startswith(ROOT + "/"):
            raise BadRequest(
                f"The batched request's URL {url!r} is outside the service root {ROOT}",
                code="BadReference",
            )
        if unquote(path).rstrip("/").endswith("/$batch"):
            raise BadRequest("A $batch request cannot hold another $batch request")
        return path, parts.query


def _entity_url(body: bytes, path: str) -> str | None:
    """An entity's URL from an answer's ``ID`` (a bound action answers without Location)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    entity_id = data.get("ID") if isinstance(data, dict) else None
    if not isinstance(entity_id, str):
        return None
    collection = path.split("(", 1)[0]
    # ``path`` is within the service; a tenant's URLs carry its prefix.
    return f"{request.script_root}{collection}('{entity_id}')"


def _error_response(status: int, code: str, message: str, content_id: str | None) -> BatchResponse:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [("Content-Type", "application/json"), ("OData-Version", "4.0")]
    return BatchResponse(status, headers, body, content_id)
