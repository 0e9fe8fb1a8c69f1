"""The admin API under ``/__mock/``: outside the OData tree, so it never collides with it.

JSON in, JSON out (the journal is JSON lines). Its guard, in order:

1. loopback clients only, unless ``admin_remote`` is set;
2. a ``Host`` of this machine only (``localhost``, a loopback address, or one of
   ``admin_hosts``), unless ``admin_remote`` is set: a web page that rebinds its own name to
   127.0.0.1 still sends its own name;
3. no ``Origin`` but the server's own: a browser marks every cross-site request with one,
   a script or a test client sends none;
4. a body only as ``Content-Type: application/json``: a web page cannot send that across
   sites without a CORS preflight, which the mock never grants;
5. ``X-Mock-Admin-Token`` when ``admin_token`` is set, compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify, request

from ..core.clock import scale_of
from ..core.errors import BadRequest, Forbidden, MockError, NotFound, WindchillError
from ..core.interventions import Intervention
from ..core.journal import IN_PROCESS_ENVIRON
from ..core.kinds import kind_named
from . import jsonbody
from .odata import ROOT
from .state import server_state, state
from .tenants import (
    TENANT_ENVIRON,
    TENANTS_EXTENSION,
    Tenants,
    check_tenant_changes,
    tenant_prefix,
)

__all__ = ["ADMIN_PREFIX", "blueprint"]

ADMIN_PREFIX = "/__mock"
blueprint = Blueprint("admin", __name__, url_prefix=ADMIN_PREFIX)


_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@blueprint.before_request
def _guard() -> None:
    if request.endpoint == "admin.health":
        return  # says only that the server is up: load balancers and CI wait on it
    config = server_state().config  # a tenant's admin API has the server's guard
    if not config.admin_remote and not _is_loopback(request.remote_addr):
        raise Forbidden(
            "The mock's admin API answers loopback clients only (set admin_remote to allow others)",
            code="AdminForbidden",
        )
    host = request.host
    local = request.environ.get(IN_PROCESS_ENVIRON) or _is_local_name(host, config.admin_hosts)
    if not config.admin_remote and not local:
        raise Forbidden(
            f"The mock's admin API answers requests for this machine only, not Host {host!r} "
            "(a web page rebinding its name to this machine sends its own name); use "
            "localhost or a loopback address, or add the name to admin_hosts",
            code="AdminForbidden",
        )
    origin = request.headers.get("Origin")
    if origin is not None and origin != request.host_url.rstrip("/"):
        raise Forbidden(
            f"The mock's admin API refuses requests from web pages of another origin ({origin!r})",
            code="AdminForbidden",
        )
    if request.method in _WRITES and request.get_data(cache=True).strip() and not request.is_json:
        raise WindchillError(
            "An admin request with a body must be sent as Content-Type: application/json",
            code="UnsupportedMediaType",
            status=415,
        )
    token = config.admin_token
    if token is not None and not hmac.compare_digest(
        request.headers.get("X-Mock-Admin-Token", "").encode(), token.encode()
    ):
        raise Forbidden("Missing or wrong X-Mock-Admin-Token", code="AdminForbidden")


def _is_local_name(host: str, allowed: tuple[str, ...]) -> bool:
    """Whether the ``Host`` header (``name[:port]``, ``[v6][:port]``) names this machine."""
    try:
        name = urlsplit("//" + host).hostname  # lower-cased, without brackets and port
    except ValueError:  # a malformed bracketed address
        return False
    if name is None:
        return False
    return name == "localhost" or name in (n.lower() for n in allowed) or _is_loopback(name)


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
        changes = _body()
        if request.environ.get(TENANT_ENVIRON) is not None:
            check_tenant_changes(changes)
        mock.reconfigure(mock.config.updated(changes))
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
    events = state().repository.journal
    response = Response(events.to_jsonl(document), mimetype="application/x-ndjson")
    # Said in headers, so that the body stays one event a line.
    response.headers["X-Mock-Journal-Dropped"] = str(events.dropped)
    if events.limit is not None:
        response.headers["X-Mock-Journal-Limit"] = str(events.limit)
    if events.limit_bytes is not None:
        response.headers["X-Mock-Journal-Limit-Bytes"] = str(events.limit_bytes)
    return response


@blueprint.get("/metrics")
def metrics() -> Response:
    repository = state().repository
    journal = repository.journal
    return jsonify(
        {
            **repository.metrics.snapshot(),
            "journal": {
                "events": len(journal),
                "dropped": journal.dropped,
                "limit": journal.limit,
                "bytes": journal.size_bytes,
                "limit_bytes": journal.limit_bytes,
            },
        }
    )


@blueprint.post("/csrf/expire")
def expire_csrf() -> Response:
    return jsonify({"expired": state().csrf.expire_all()})


@blueprint.route("/documents", methods=["GET", "POST"])
def documents() -> Response:
    """GET: every document ID. POST: create one as set-up (no request counted; journalled
    once as a ``setup`` event with its starting values); ``"@kind": "part"`` makes a part."""
    repository = state().repository
    if request.method == "POST":
        body = _body()
        user = body.pop("@user", "wcadmin")
        kind = body.pop("@kind", "document")
        try:
            kind = kind_named(kind)
        except MockError as error:
            raise BadRequest(str(error)) from None
        doc_id = repository.add_document(body, user=str(user), kind=kind)
        response = jsonify({"id": doc_id, "entity": repository.peek(doc_id)})
        response.status_code = 201
        return response
    return jsonify({"documents": repository.ids()})


@blueprint.get("/documents/<path:key>")
def document(key: str) -> Response:
    """The server's truth about one document: no journal entry, no request counted."""
    entity, etag = state().repository.snapshot(key)
    return jsonify({"entity": entity, "etag": etag})


@blueprint.get("/health")
def health() -> Response:
    """Up and answering: no guard, no token, nothing but the status and the tenant count."""
    return jsonify({"status": "ok", "tenants": len(_tenants())})


def _tenants() -> Tenants:
    tenants: Tenants = current_app.extensions[TENANTS_EXTENSION]
    return tenants


def _server_only() -> None:
    if request.environ.get(TENANT_ENVIRON) is not None:
        raise NotFound(
            "Tenants are made on the server's own admin API (/__mock/tenants), not inside a tenant",
            code="TenantNotFound",
        )


def _describe(tenant_id: str) -> dict[str, Any]:
    base = request.url_root.rstrip("/") + tenant_prefix(tenant_id)
    return {
        "id": tenant_id,
        "url": base,
        "service_root": base + ROOT,
        "admin": base + ADMIN_PREFIX,
    }


@blueprint.route("/tenants", methods=["GET", "POST"])
def tenants() -> Response:
    """POST: a new isolated mock under ``/(S(<id>))`` (body: configuration keys, ``clock``,
    ``time_scale``). GET: the live tenants and the limits."""
    _server_only()
    registry = _tenants()
    if request.method == "POST":
        tenant = registry.create(_body(), server_state().config)
        mock = tenant.state
        described = _describe(tenant.id)
        response = jsonify(
            {
                **described,
                "clock": {
                    "virtual": mock.clock.virtual,
                    "time_scale": scale_of(mock.clock),
                },
                "documents": mock.repository.ids(),
                "config": mock.config.to_json(),
            }
        )
        response.status_code = 201
        response.headers["Location"] = described["url"]
        return response
    return jsonify(
        {
            **registry.summary(),
            "tenants": [{**_describe(t.id), "bytes": t.footprint()} for t in registry.listing()],
        }
    )


@blueprint.delete("/tenants/<tenant_id>")
def delete_tenant(tenant_id: str) -> Response:
    _server_only()
    if not _tenants().delete(tenant_id):
        raise NotFound(
            f"No tenant {tenant_prefix(tenant_id)} on this server (deleted already, or expired)",
            code="TenantNotFound",
        )
    return Response(status=204)
