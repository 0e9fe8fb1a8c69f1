"""The OData routes of Windchill REST Services. Views parse, call one repository method,
and serialise; every rule about documents lives in :mod:`mock_server.core.repository`.

Slightly over 400 lines: one short view per WRS route, kept together so that the route table
reads as the service's surface; query parsing lives in :mod:`.query`, errors in :mod:`.errors`.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.datastructures import MIMEAccept
from werkzeug.routing import BaseConverter

from ..core.documents import CREATE_ONLY, READ_ONLY, check_text, query_properties
from ..core.errors import BadRequest, NotFound, WindchillError
from ..core.journal import LOST_RESPONSE_ENVIRON
from ..core.kinds import KINDS, EntityKind, kind_of_key
from ..core.repository import OpResult, WriteConditions
from . import jsonbody
from .metadata import DOMAINS, domain_metadata, ptc_metadata
from .query import CollectionQuery, parse_collection_query, parse_max_page_size, parse_select
from .security import SESSION_COOKIE, authenticate, check_csrf, current_user
from .state import state

__all__ = ["ROOT", "blueprint", "register_converters"]

ROOT = "/Windchill/servlet/odata"
JSON_TYPE = "application/json; odata.metadata=minimal"
XML_TYPE = "application/xml"

blueprint = Blueprint("odata", __name__)


class KeyConverter(BaseConverter):
    """``'OR:wt.doc.WTDocument:164057'`` → ``OR:wt.doc.WTDocument:164057`` (``''`` unescaped)."""

    regex = r"'(?:[^']|'')*'"
    part_isolating = False

    def to_python(self, value: str) -> str:
        return value[1:-1].replace("''", "'")

    def to_url(self, value: str) -> str:
        return "'" + quote(value.replace("'", "''"), safe=":") + "'"


class VersionConverter(BaseConverter):
    regex = r"v\d{1,3}"


def register_converters(app: Flask) -> None:
    app.url_map.converters["odata_key"] = KeyConverter
    app.url_map.converters["odata_version"] = VersionConverter
    app.url_map.redirect_defaults = False


def route(
    rule: str, methods: list[str]
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Register ``rule`` under the service root, with and without a ``/vN`` version segment.

    In a rule, ``{set}`` stands for each kind's entity set (``DocMgmt/Documents``,
    ``ProdMgmt/Parts``), ``{domain}`` for its domain and ``{ns}`` for its namespace
    (``PTC.DocMgmt``): the view is then registered once per kind and given the kind's name
    as ``kind``."""

    def decorator(view: Callable[..., Response]) -> Callable[..., Response]:
        endpoint = view.__name__
        per_kind = any(f"{{{name}}}" in rule for name in ("set", "domain", "ns"))
        for kind in KINDS.values() if per_kind else (None,):
            concrete, defaults = rule, {}
            if kind is not None:
                concrete = rule.replace("{set}", f"{kind.domain}/{kind.entity_set}")
                concrete = concrete.replace("{ns}", kind.namespace)
                concrete = concrete.replace("{domain}", kind.domain)
                defaults = {"kind": kind.name}
            blueprint.add_url_rule(
                f"{ROOT}{concrete}",
                endpoint,
                view,
                methods=methods,
                defaults={"version": None, **defaults},
                strict_slashes=False,
            )
            options: dict[str, Any] = {"defaults": defaults} if defaults else {}
            blueprint.add_url_rule(
                f"{ROOT}/<odata_version:version>{concrete}",
                endpoint,
                view,
                methods=methods,
                strict_slashes=False,
                **options,
            )
        return view

    return decorator


#: The longest object key the mock looks up (``OR:wt.doc.WTDocument:164057`` is 26): a
#: longer one is refused before it reaches the store, the journal or an error message.
MAX_KEY_CHARS = 256


#: What data and ``$metadata`` can be sent as, for ``Accept`` (406 when none is acceptable).
_METADATA_TYPES = ["application/xml"]
_DATA_TYPES = ["application/json"]
_BATCH_TYPES = ["multipart/mixed", "application/json"]


@blueprint.before_request
def _guard() -> None:
    authenticate()
    state().csrf.touch(request.cookies.get(SESSION_COOKIE))
    check_csrf()
    _check_version()
    _check_accept()
    key = (request.view_args or {}).get("key")
    if isinstance(key, str) and len(key) > MAX_KEY_CHARS:
        raise BadRequest(f"A key is at most {MAX_KEY_CHARS} characters, got {len(key)}")
    kind = (request.view_args or {}).get("kind")
    if isinstance(key, str) and isinstance(kind, str):
        _check_key_kind(key, KINDS[kind])


def _check_key_kind(key: str, kind: EntityKind) -> None:
    """A key written for another kind names nothing in this entity set: 404 that says where
    it lives (``Parts('OR:wt.doc.WTDocument:1')`` is a document)."""
    other = kind_of_key(key)
    if other is not None and other is not kind:
        raise NotFound(
            f"No {kind.name} with key '{key}' in {kind.entity_set}: the key names a "
            f"{other.name}, served at {other.domain}/{other.entity_set}"
        )


# ---------------------------------------------------------------- helpers


def _check_version() -> None:
    """``OData-MaxVersion`` below 4.0 asks for an answer this service cannot give."""
    raw = request.headers.get("OData-MaxVersion")
    if raw is None:
        return
    major, _, minor = raw.strip().partition(".")
    whole = (
        major.isascii() and major.isdigit() and (not minor or (minor.isascii() and minor.isdigit()))
    )
    if not whole or len(raw) > 10:
        raise BadRequest(
            f"OData-MaxVersion must be a version such as 4.0, got {raw!r}",
            code="UnsupportedODataVersion",
        )
    if int(major) < 4:
        raise BadRequest(
            f"OData-MaxVersion {raw.strip()}: this service speaks OData 4.0 only",
            code="UnsupportedODataVersion",
        )


def _check_accept() -> None:
    """406 when ``Accept`` allows neither JSON for data nor XML for ``$metadata``. A
    ``/$count`` is plain text whatever ``Accept`` says: clients (python-odata) ask for JSON,
    and HTTP lets a server disregard ``Accept`` rather than refuse."""
    path = request.path
    if "Accept" not in request.headers or path.endswith("/$count"):
        return
    offered = (
        _METADATA_TYPES
        if path.endswith("/$metadata")
        else _BATCH_TYPES
        if path.endswith("/$batch")
        else _DATA_TYPES
    )
    # OData clients add format parameters (application/json;odata.metadata=minimal), which
    # Werkzeug would require the offer to repeat: compare the media types alone.
    accepted = MIMEAccept(
        [(value.split(";", 1)[0].strip(), quality) for value, quality in request.accept_mimetypes]
    )
    if accepted.best_match(offered) is None:
        raise WindchillError(
            f"Accept: {request.headers['Accept']} asks for a format this resource is not "
            f"sent in; it is sent as {', '.join(offered)}",
            status=406,
            code="NotAcceptable",
        )


def _service_root() -> str:
    # url_root carries a tenant's /(S(<id>)) prefix (SCRIPT_NAME).
    return request.url_root.rstrip("/") + ROOT


def _domain_root(version: str | None, domain: str) -> str:
    return f"{_service_root()}/{version + '/' if version else ''}{domain}"


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = jsonify(data)
    response.status_code = status
    response.headers["Content-Type"] = JSON_TYPE
    response.headers["OData-Version"] = "4.0"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _entity_body(
    result: OpResult,
    version: str | None,
    kind: EntityKind,
    select: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    assert result.entity is not None
    context = _context(version, kind, select) + "/$entity"
    body: dict[str, Any] = {"@odata.context": context}
    if result.etag is not None:
        body["@odata.etag"] = result.etag
    entity = result.entity
    if select is not None:
        entity = {name: entity[name] for name in ("ID", *select) if name in entity}
    body.update(entity)
    return body


def _entity_response(
    result: OpResult,
    version: str | None,
    kind: EntityKind,
    status: int = 200,
    *,
    minimal: bool = False,
    select: tuple[str, ...] | None = None,
    extra: dict[str, str] | None = None,
) -> Response:
    if result.lost:
        return _drop_connection()
    headers = dict(extra or {})
    if result.etag is not None:
        headers["ETag"] = result.etag
    if result.update_token is not None:
        headers["X-Client-UpdateToken"] = result.update_token
    if minimal:
        response = Response(status=204)
        response.headers["OData-Version"] = "4.0"
        response.headers.update(headers)
        return response
    return _json(_entity_body(result, version, kind, select), status, headers)


def _drop_connection() -> Response:
    """Fail the response like a dropped connection, after the operation was applied.

    The in-process transport and the mock's waitress servers (``mock_server.serving``) read
    ``windchill.lost_response`` from the environ and close the connection before any byte;
    Werkzeug's development server (``flask run``) has its socket shut down here; any other
    server sends a body shorter than its ``Content-Length``, which a client reads as a broken
    connection.
    """
    environ = request.environ
    environ[LOST_RESPONSE_ENVIRON] = True
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def truncated() -> Iterator[bytes]:
        yield b"{"

    response = Response(truncated(), status=200, mimetype="application/json")
    response.headers["Content-Length"] = "1048576"
    return response


def _json_body(*, required: bool) -> Any:
    data = request.get_data(cache=True)
    if not data.strip():
        if required:
            raise BadRequest("The request body must be a JSON object", code="MissingBody")
        return {}
    if request.mimetype != "application/json":
        raise WindchillError(
            f"Content-Type must be application/json, not {request.mimetype or 'missing'}",
            status=415,
            code="UnsupportedMediaType",
        )
    try:
        return jsonbody.loads(data)
    except ValueError as error:  # bad UTF-8 or JSON, NaN/Infinity, huge numbers, deep nesting
        raise BadRequest(
            f"Malformed JSON in the request body: {error}", code="MalformedJSON"
        ) from None


def _object_body(*, required: bool) -> dict[str, Any]:
    body = _json_body(required=required)
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    return body


#: The longest ``X-Client-UpdateToken`` the mock stores: it is echoed on every later read of
#: the document, and HTTP clients refuse very long header lines (``requests``: 64 KB).
MAX_UPDATE_TOKEN = 1024


def _conditions() -> WriteConditions:
    ignore = request.headers.get("X-PTC-IgnoreVersionCheck")
    if ignore is not None and ignore.strip().lower() not in ("true", "false"):
        raise BadRequest(f"X-PTC-IgnoreVersionCheck must be true or false, got {ignore!r}")
    token = request.headers.get("X-Client-UpdateToken")
    if token is not None and len(token) > MAX_UPDATE_TOKEN:
        raise BadRequest(
            f"X-Client-UpdateToken is {len(token)} characters long; the limit is "
            f"{MAX_UPDATE_TOKEN} (the mock stores it and sends it back on every read)"
        )
    return WriteConditions(
        if_match=request.headers.get("If-Match"),
        update_mode=request.headers.get("X-PTC-UpdateMode"),
        ignore_version_check=ignore is not None and ignore.strip().lower() == "true",
        update_token=token,
    )


def _prefers_minimal(default_minimal: bool) -> bool:
    preference = _return_preference()
    return default_minimal if preference is None else preference == "return=minimal"


def _return_preference() -> str | None:
    """``return=minimal`` or ``return=representation`` if ``Prefer`` asks for one."""
    prefer = (request.headers.get("Prefer") or "").lower()
    for preference in ("return=minimal", "return=representation"):
        if preference in prefer:
            return preference
    return None


def _selectable(kind: EntityKind) -> tuple[str, ...]:
    soft = state().repository.soft_attributes
    readable = tuple(name for name in READ_ONLY if name != "LifeCycleTemplateName")
    return (*kind.writable, *CREATE_ONLY, *readable, *soft)


def _string_param(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"Parameter '{name}' must be a string")
    if value is not None:
        check_text(f"Parameter '{name}'", value)
    return value


def _bool_param(body: dict[str, Any], name: str) -> bool:
    """A boolean parameter; ``null`` (the parameter is nullable in ``$metadata``) is false."""
    value = body.get(name)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    # One of PTC's own examples sends KeepCheckedOut as the string "false".
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise BadRequest(f"Parameter '{name}' must be a boolean")


def _refuse_unknown_params(body: dict[str, Any], known: tuple[str, ...], action: str) -> None:
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise BadRequest(f"Unknown parameter(s) {unknown} for {action}; known: {list(known)}")


# ---------------------------------------------------------------- service documents


@route("/", methods=["GET"])
def service_root(version: str | None) -> Response:
    return _json(
        {
            "value": [
                {"name": domain, "kind": "Domain", "url": f"{_domain_root(version, domain)}/"}
                for domain in DOMAINS
            ],
        }
    )


@route("/<domain>/", methods=["GET"])
def service_document(version: str | None, domain: str) -> Response:
    if domain not in DOMAINS:
        raise NotFound(f"Domain '{domain}' is not served by this mock; domains: {list(DOMAINS)}")
    return _json(
        {
            "@odata.context": f"{_domain_root(version, domain)}/$metadata",
            "value": [{"name": name, "kind": "EntitySet", "url": name} for name in DOMAINS[domain]],
        }
    )


@route("/{domain}/$metadata", methods=["GET"])
def domain_metadata_view(version: str | None, kind: str) -> Response:
    mock = state()
    xml = domain_metadata(mock.repository.profile, mock.repository.soft_attributes, KINDS[kind])
    return Response(xml, mimetype=XML_TYPE, headers={"OData-Version": "4.0"})


@route("/PTC/$metadata", methods=["GET"])
def ptc_metadata_view(version: str | None) -> Response:
    return Response(ptc_metadata(), mimetype=XML_TYPE, headers={"OData-Version": "4.0"})


@route("/PTC/GetCSRFToken()", methods=["GET"])
def csrf_token(version: str | None) -> Response:
    mock = state()
    session = request.cookies.get(SESSION_COOKIE)
    # An expired or forgotten session, or a cookie of another format: a new session.
    new_session = not mock.csrf.is_live(session)
    if session is None or new_session:
        session = mock.csrf.new_session()
    response = _json(
        {
            "@odata.context": f"{_domain_root(version, 'PTC')}/$metadata#CSRFToken",
            "NonceKey": "CSRF_NONCE",
            "NonceValue": mock.csrf.nonce_for(session),
        }
    )
    if new_session:
        response.set_cookie(
            SESSION_COOKIE, session, path=request.script_root + "/Windchill", httponly=True
        )
    return response


# ---------------------------------------------------------------- documents


@route("/{set}", methods=["GET", "POST"])
def collection(version: str | None, kind: str) -> Response:
    mock, entity_kind = state(), KINDS[kind]
    if request.method == "POST":
        result = mock.repository.create(
            _object_body(required=True), user=current_user(), kind=entity_kind
        )
        new_id = result.entity["ID"] if result.entity else ""
        location = f"{_set_url(version, entity_kind)}('{quote(new_id, safe=':')}')"
        return _entity_response(result, version, entity_kind, 201, extra={"Location": location})
    query = _collection_query(entity_kind)
    page_size = parse_max_page_size(request.headers.get("Prefer")) or mock.config.page_size
    limit = page_size if query.top is None else min(page_size, query.top)
    rows, total = _run_query(query, entity_kind, skip=query.skip, top=limit)
    body: dict[str, Any] = {"@odata.context": _context(version, entity_kind, query.select)}
    if query.count:
        body["@odata.count"] = total
    value = []
    for entity, etag in rows:
        item = _entity_body(OpResult(entity, etag), version, entity_kind, query.select)
        del item["@odata.context"]
        value.append(item)
    body["value"] = value
    end = query.skip + len(rows)
    remaining = total - end if query.top is None else min(total, query.skip + query.top) - end
    if remaining > 0 and rows:
        args = {k: v for k, v in request.args.items() if k not in ("$skip", "$skiptoken", "$top")}
        args["$skiptoken"] = str(end)
        if query.top is not None:
            args["$top"] = str(query.top - (end - query.skip))
        body["@odata.nextLink"] = f"{_set_url(version, entity_kind)}?{urlencode(args)}"
    headers = {}
    if parse_max_page_size(request.headers.get("Prefer")) is not None:
        headers["Preference-Applied"] = f"odata.maxpagesize={page_size}"
    return _json(body, headers=headers)


@route("/{set}/$count", methods=["GET"])
def collection_count(version: str | None, kind: str) -> Response:
    """The number of objects matching ``$filter``, as plain text (OData's ``/$count``)."""
    entity_kind = KINDS[kind]
    query = _collection_query(entity_kind)
    _, total = _run_query(query, entity_kind, skip=0, top=0)
    response = Response(str(total), mimetype="text/plain")
    response.headers["OData-Version"] = "4.0"
    return response


def _set_url(version: str | None, kind: EntityKind) -> str:
    return f"{_domain_root(version, kind.domain)}/{kind.entity_set}"


def _collection_query(kind: EntityKind) -> CollectionQuery:
    soft = state().repository.soft_attributes
    return parse_collection_query(
        request.args,
        properties={**query_properties(kind), **dict.fromkeys(soft, "Edm.String")},
        selectable=_selectable(kind),
    )


def _run_query(
    query: CollectionQuery, kind: EntityKind, *, skip: int, top: int | None
) -> tuple[list[tuple[dict[str, Any], str | None]], int]:
    selected = query.filter
    read = {path for path, _ in query.orderby} | (set() if selected is None else selected.paths)
    return state().repository.query(
        matches=None if selected is None else selected.matches,
        number=None if selected is None else selected.number,
        orderby=query.orderby,
        skip=skip,
        top=top,
        # Background work moves LastModified: judge it as it is now, on every object.
        current="LastModified" in read,
        kind=kind,
    )


def _context(version: str | None, kind: EntityKind, select: tuple[str, ...] | None) -> str:
    """The context URL: ``…/$metadata#Documents``, with ``(Name,Version)`` for a ``$select``."""
    selected = f"({','.join(select)})" if select else ""
    return f"{_domain_root(version, kind.domain)}/$metadata#{kind.entity_set}{selected}"


@route("/{set}(<odata_key:key>)", methods=["GET", "PATCH", "DELETE"])
def entity(version: str | None, kind: str, key: str) -> Response:
    repository, entity_kind = state().repository, KINDS[kind]
    # HEAD is a GET without a body (Flask routes it here); never let it fall through to PATCH.
    if request.method in ("GET", "HEAD"):
        select = parse_select(request.args, _selectable(entity_kind))
        result = repository.read(
            key,
            user=current_user(),
            if_match=request.headers.get("If-Match"),
            if_none_match=request.headers.get("If-None-Match"),
            kind=entity_kind,
        )
        if result.not_modified and not result.lost:
            response = Response(status=304)
            response.headers["ETag"] = result.etag or ""
            response.headers["OData-Version"] = "4.0"
            return response
        return _entity_response(result, version, entity_kind, select=select)
    if request.method == "DELETE":
        result = repository.delete(
            key, user=current_user(), conditions=_conditions(), kind=entity_kind
        )
        if result.lost:
            return _drop_connection()
        return Response(status=204, headers={"OData-Version": "4.0"})
    changes = _object_body(required=True)
    conditions = _conditions()
    result = repository.update(
        key, changes, user=current_user(), conditions=conditions, kind=entity_kind
    )
    minimal = _prefers_minimal(not repository.profile.patch_returns_entity)
    response = _entity_response(result, version, entity_kind, minimal=minimal)
    if _return_preference() is not None and not result.lost:
        # The answer depends on Prefer: caches must know (RFC 7240 §2).
        response.headers["Preference-Applied"] = (
            "return=minimal" if minimal else ("return=representation")
        )
        response.headers["Vary"] = "Prefer"
    return response


_ACTIONS = {"CheckOut", "CheckIn", "UndoCheckOut", "UpdateCommonProperties"}


@route("/{set}(<odata_key:key>)/{ns}.<action>", methods=["POST"])
def bound_action(version: str | None, kind: str, key: str, action: str) -> Response:
    return _run_action(version, KINDS[kind], key, action)


@route("/{set}(<odata_key:key>)/Actions/<action>", methods=["POST"])
def bound_action_alias(version: str | None, kind: str, key: str, action: str) -> Response:
    """The forum thread's ``/Actions/CheckOut`` form (not in PTC's docs)."""
    return _run_action(version, KINDS[kind], key, action)


def _run_action(version: str | None, kind: EntityKind, key: str, action: str) -> Response:
    if action not in _ACTIONS:
        raise NotFound(
            f"No bound action '{action}' on {kind.entity_set}; actions: "
            f"{[f'{kind.namespace}.{name}' for name in sorted(_ACTIONS)]}"
        )
    repository = state().repository
    body = _object_body(required=False)
    user = current_user()
    if_match = request.headers.get("If-Match")
    if action == "CheckOut":
        _refuse_unknown_params(body, ("CheckOutNote",), action)
        note = _string_param(body, "CheckOutNote")
        result = repository.check_out(key, user=user, note=note, if_match=if_match, kind=kind)
    elif action == "CheckIn":
        _refuse_unknown_params(body, ("CheckInNote", "KeepCheckedOut", "CheckOutNote"), action)
        _string_param(body, "CheckInNote")
        result = repository.check_in(
            key,
            user=user,
            note=_string_param(body, "CheckOutNote"),
            keep_checked_out=_bool_param(body, "KeepCheckedOut"),
            if_match=if_match,
            kind=kind,
        )
    elif action == "UpdateCommonProperties":
        # PTC's examples for parts wrap the values in "Updates"; both forms are taken.
        if set(body) == {"Updates"} and isinstance(body["Updates"], dict):
            body = body["Updates"]
        result = repository.update_common_properties(
            key, body, user=user, if_match=if_match, kind=kind
        )
    else:
        _refuse_unknown_params(body, (), action)
        result = repository.undo_check_out(key, user=user, if_match=if_match, kind=kind)
    return _entity_response(result, version, kind)
