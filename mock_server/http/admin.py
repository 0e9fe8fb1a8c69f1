"""The admin API under ``/__mock/``: outside the OData tree, so it never collides with it.

JSON in, JSON out (the journal is JSON lines). Loopback clients only unless
``admin_remote`` is set; ``X-Mock-Admin-Token`` is required when ``admin_token`` is set.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..core.errors import Forbidden, MockError
from ..core.interventions import Intervention
from . import jsonbody
from .state import state

__all__ = ["ADMIN_PREFIX", "blueprint"]

ADMIN_PREFIX = "/__mock"
blueprint = Blueprint("admin", __name__, url_prefix=ADMIN_PREFIX)


@blueprint.before_request
def _guard() -> None:
    config = state().config
    if not config.admin_remote and not _is_loopback(request.remote_addr):
        raise Forbidden(
            "The mock's admin API answers loopback clients only (set admin_remote to allow others)",
            code="AdminForbidden",
        )
    if (
        config.admin_token is not None
        and request.headers.get("X-Mock-Admin-Token") != config.admin_token
    ):
        raise Forbidden("Missing or wrong X-Mock-Admin-Token", code="AdminForbidden")


def _is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _body() -> dict[str, Any]:
    data = request.get_data(cache=True)
    if not data.strip():
        return {}
    try:
        body = jsonbody.loads(data)
    except ValueError as error:  # bad UTF-8 or JSON, NaN/Infinity, huge numbers, deep nesting
        raise MockError(f"Malformed JSON in the request body: {error}") from None
    if not isinstance(body, dict):
        raise MockError("The request body must be a JSON object")
    return body


@blueprint.post("/reset")
def reset() -> Response:
    mock = state()
    mock.reset()
    return jsonify({"reset": True, "documents": mock.repository.ids()})


@blueprint.route("/config", methods=["GET", "PUT", "PATCH"])
def config() -> Response:
    mock = state()
    if request.method != "GET":
        mock.reconfigure(mock.config.updated(_body()))
    return jsonify(mock.config.to_json())


@blueprint.route("/interventions", methods=["GET", "POST"])
def interventions() -> Response:
    repository = state().repository
    if request.method == "POST":
        body = request.get_data(cache=True)
        try:
            data = jsonbody.loads(body) if body.strip() else None
        except ValueError as error:  # bad UTF-8 or JSON, NaN/Infinity, huge numbers, nesting
            raise MockError(f"Malformed JSON in the request body: {error}") from None
        items = data if isinstance(data, list) else [data]
        parsed = [Intervention.from_json(item) for item in items]
        repository.inject_all(parsed)  # all or nothing
        response = jsonify({"accepted": [i.to_json() for i in parsed]})
        response.status_code = 201
        return response
    return jsonify({"pending": [i.to_json() for i in repository.pending()]})


@blueprint.get("/clock")
def clock() -> Response:
    mock = state()
    now = mock.clock.now()
    return jsonify(
        {
            "now": now,
            "t": round(now - mock.repository.epoch, 6),
            "virtual": mock.clock.virtual,
        }
    )


@blueprint.post("/clock/advance")
def advance() -> Response:
    mock = state()
    advance_by = getattr(mock.clock, "advance", None)
    if advance_by is None:
        raise MockError(
            "This mock runs on the system clock; start it with a virtual clock "
            "(windchill-mock serve --virtual-clock) to advance time"
        )
    seconds = _body().get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise MockError('POST /__mock/clock/advance takes {"seconds": <number >= 0>}')
    advance_by(seconds)
    return clock()


@blueprint.get("/journal")
def journal() -> Response:
    document = request.args.get("document")
    text = state().repository.journal.to_jsonl(document)
    return Response(text, mimetype="application/x-ndjson")


@blueprint.get("/metrics")
def metrics() -> Response:
    return jsonify(state().repository.metrics.snapshot())


@blueprint.post("/csrf/expire")
def expire_csrf() -> Response:
    return jsonify({"expired": state().csrf.expire_all()})


@blueprint.route("/documents", methods=["GET", "POST"])
def documents() -> Response:
    """GET: every document ID. POST: create one as set-up (no request counted; journalled
    once as a ``setup`` event with its starting values)."""
    repository = state().repository
    if request.method == "POST":
        body = _body()
        user = body.pop("@user", "wcadmin")
        doc_id = repository.add_document(body, user=str(user))
        response = jsonify({"id": doc_id, "entity": repository.peek(doc_id)})
        response.status_code = 201
        return response
    return jsonify({"documents": repository.ids()})


@blueprint.get("/documents/<path:key>")
def document(key: str) -> Response:
    """The server's truth about one document: no journal entry, no request counted."""
    entity, etag = state().repository.snapshot(key)
    return jsonify({"entity": entity, "etag": etag})
