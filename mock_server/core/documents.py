"""Documents in the shape Windchill REST Services returns them (see docs/profiles.md).

A :class:`Document` is plain mutable state owned by the repository; nothing here locks or
journals. :func:`validate_changes` is the single gate for client-supplied properties:
unknown, read-only and badly typed properties are refused *before* anything changes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import BadRequest
from .etag import ETag
from .kinds import DOCUMENT, EntityKind

__all__ = [
    "CREATE_ONLY",
    "DEFAULT_SOFT_ATTRIBUTES",
    "QUERY_PROPERTIES",
    "READ_ONLY",
    "STATES",
    "WRITABLE",
    "Document",
    "Scalar",
    "format_timestamp",
    "object_id",
    "query_properties",
    "validate_changes",
    "version_id",
]

Scalar = str | int | float | bool | None

#: Lifecycle states: value → display name, as WRS serialises ``State``.
STATES: Mapping[str, str] = {
    "INWORK": "In Work",
    "UNDERREVIEW": "Under Review",
    "RELEASED": "Released",
    "CANCELLED": "Cancelled",
    "OBSOLETE": "Obsolete",
}

#: Changeable by PATCH on every document (a part's are ``PART.writable``).
WRITABLE = DOCUMENT.writable
#: Settable on create; changed afterwards only by ``PTC.DocMgmt.UpdateCommonProperties``.
CREATE_ONLY = ("Name", "Number")
#: Never settable by a client.
READ_ONLY = (
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
)
#: The primitive properties a query (``$filter``, ``$orderby``) reads on every kind, by path,
#: with their Edm types; a kind's writable properties and soft attributes are ``Edm.String``
#: too. See :func:`query_properties` and :meth:`Document.query_values`.
_COMMON_QUERY_PROPERTIES: dict[str, str] = {
    "ID": "Edm.String",
    "Number": "Edm.String",
    "Name": "Edm.String",
    "Version": "Edm.String",
    "Revision": "Edm.String",
    "VersionID": "Edm.String",
    "Latest": "Edm.Boolean",
    "State/Value": "Edm.String",
    "State/Display": "Edm.String",
    "CheckoutState": "Edm.String",
    "CreatedOn": "Edm.DateTimeOffset",
    "LastModified": "Edm.DateTimeOffset",
    "CreatedBy": "Edm.String",
    "ModifiedBy": "Edm.String",
}


def query_properties(kind: EntityKind = DOCUMENT) -> dict[str, str]:
    """What a query on ``kind``'s entity set reads: its writable properties and the common
    ones (soft attributes are added by the caller, from the configuration)."""
    return {**dict.fromkeys(kind.writable, "Edm.String"), **_COMMON_QUERY_PROPERTIES}


#: The query properties of documents.
QUERY_PROPERTIES = query_properties(DOCUMENT)
#: Soft attributes (site-defined IBAs) a fresh mock knows; configurable.
DEFAULT_SOFT_ATTRIBUTES = ("Department", "ExternalReference", "ReviewComment")

MAX_STRING_LENGTH = 4000


def object_id(oid: int, kind: EntityKind = DOCUMENT) -> str:
    return kind.object_ref(oid)


def version_id(vid: int, kind: EntityKind = DOCUMENT) -> str:
    return kind.version_ref(vid)


def _to_the_second(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC)


def format_timestamp(seconds: float, utc_offset_minutes: int = 0) -> str:
    """ISO-8601 with an explicit offset, as WRS writes it: ``2024-08-19T14:15:09+02:00``."""
    tz = dt.timezone(dt.timedelta(minutes=utc_offset_minutes))
    return dt.datetime.fromtimestamp(seconds, tz).isoformat(timespec="seconds")


@dataclass(slots=True)
class Document:
    """One versioned object (a document or a part, by ``kind``): the latest iteration of an
    original, the working copy of a checked-out original, or a past iteration kept read-only.

    ``oid`` is the object id of the family (what the store indexes, queues and background
    streams hang on); ``ref`` is the object id this iteration answers to in its ``OR:``. They
    are the same until a new iteration gets its own ``OR:`` (profiles with
    ``per_iteration_ids``).
    """

    oid: int
    vid: int
    number: str
    name: str
    created_on: float
    created_by: str
    stamp: int
    #: The kind's writable properties and the soft attributes, by name.
    attributes: dict[str, Scalar] = field(default_factory=dict)
    kind: EntityKind = DOCUMENT
    #: The object id of this iteration's ``OR:`` reference; 0 means ``oid``.
    ref: int = 0
    #: False on a past iteration (kept read-only, reached by its own ``OR:`` only).
    latest: bool = True
    revision: str = "A"
    iteration: int = 1
    state: str = "INWORK"
    last_modified: float = 0.0
    modified_by: str = ""
    #: On an original: who has it checked out, and the working copy's oid.
    checked_out_by: str | None = None
    working_copy: int | None = None
    #: On a working copy: the original's oid.
    working_copy_of: int | None = None
    checkout_note: str | None = None
    #: The last ``X-Client-UpdateToken`` written with an update (forum thread).
    update_token: str | None = None
    #: A background operation holds the document until this time.
    busy_until: float = 0.0
    busy_source: str | None = None

    @property
    def id(self) -> str:
        return self.kind.object_ref(self.ref or self.oid)

    @property
    def first_id(self) -> str:
        """The ``OR:`` of the family's first iteration: the name the journal knows it by."""
        return self.kind.object_ref(self.oid)

    @property
    def version_id(self) -> str:
        return self.kind.version_ref(self.vid)

    @property
    def description(self) -> str | None:
        value = self.attributes.get("Description")
        return None if value is None else str(value)

    @description.setter
    def description(self, value: str | None) -> None:
        self.attributes["Description"] = value

    @property
    def title(self) -> str | None:
        value = self.attributes.get("Title")
        return None if value is None else str(value)

    @title.setter
    def title(self, value: str | None) -> None:
        self.attributes["Title"] = value

    @property
    def version(self) -> str:
        return f"{self.revision}.{self.iteration}"

    @property
    def is_working_copy(self) -> bool:
        return self.working_copy_of is not None

    @property
    def checkout_state(self) -> str:
        if self.is_working_copy:
            return "Working copy"
        return "Checked out" if self.checked_out_by is not None else "Checked in"

    def etag(self, *, weak: bool = False) -> ETag:
        return ETag(self.iteration, self.stamp, weak=weak)

    def touch(self, when: float) -> None:
        """Record a state change at ``when``: the ETag's timestamp part strictly increases."""
        self.stamp = max(int(when * 1000), self.stamp + 1)
        self.last_modified = max(self.last_modified, when)

    def writable_values(self) -> dict[str, Scalar]:
        """The kind's writable properties, then the soft attributes this document has."""
        values: dict[str, Scalar] = {name: self.attributes.get(name) for name in self.kind.writable}
        values.update(self.attributes)
        return values

    def apply(self, changes: Mapping[str, Scalar]) -> None:
        """Apply already-validated changes (see :func:`validate_changes`)."""
        for name, value in changes.items():
            if name == "Name":
                self.name = str(value)
            elif name == "Number":
                self.number = str(value)
            else:
                self.attributes[name] = value

    def _values(
        self, state: Mapping[str, object], timestamp: Callable[[float], object]
    ) -> dict[str, Any]:
        """The properties every reader sees, in the order WRS sends them; ``state`` and
        ``timestamp`` give the shape of the lifecycle state and of the two times."""
        return {
            "ID": self.id,
            "Number": self.number,
            "Name": self.name,
            **{name: self.attributes.get(name) for name in self.kind.writable},
            "Version": self.version,
            "Revision": self.revision,
            "VersionID": self.version_id,
            "Latest": self.latest and not self.is_working_copy,
            **state,
            "CheckoutState": self.checkout_state,
            "CreatedOn": timestamp(self.created_on),
            "LastModified": timestamp(self.last_modified),
            "CreatedBy": self.created_by,
            "ModifiedBy": self.modified_by,
        }

    def copy(self) -> Document:
        return dataclasses.replace(self, attributes=dict(self.attributes))

    def query_values(self, soft_attributes: tuple[str, ...]) -> dict[str, object]:
        """The values of :func:`query_properties` (and soft attributes), as a query compares
        them: strings, booleans, and date-times (aware, to the second, as they are sent)."""
        state = {"State/Value": self.state, "State/Display": STATES.get(self.state, self.state)}
        values = self._values(state, _to_the_second)
        for name in soft_attributes:
            values[name] = self.attributes.get(name)
        return values

    def to_entity(
        self, *, soft_attributes: tuple[str, ...], utc_offset_minutes: int = 0
    ) -> dict[str, Any]:
        """The WRS JSON shape, without ``@odata`` annotations (the HTTP layer adds those)."""
        state = {"State": {"Value": self.state, "Display": STATES.get(self.state, self.state)}}
        entity = self._values(state, lambda t: format_timestamp(t, utc_offset_minutes))
        for name in soft_attributes:
            entity[name] = self.attributes.get(name)
        return entity


def validate_changes(
    changes: object,
    *,
    soft_attributes: tuple[str, ...],
    creating: bool = False,
    kind: EntityKind = DOCUMENT,
) -> dict[str, Scalar]:
    """Check client-supplied properties and return them as a plain dict.

    Instance annotations (keys starting with ``@``) are ignored, as OData allows. Everything
    else must be a known, writable property with a value of the right type.
    """
    if not isinstance(changes, Mapping):
        raise BadRequest(
            f"The request body must be a JSON object of properties, not {type(changes).__name__}"
        )
    known = (*kind.writable, *CREATE_ONLY, *READ_ONLY, *soft_attributes)
    result: dict[str, Scalar] = {}
    for name, value in changes.items():
        if not isinstance(name, str):
            raise BadRequest(f"Property names must be strings, got {name!r}")
        if name.startswith("@"):
            continue
        if name in READ_ONLY:
            raise BadRequest(f"Property '{name}' is read-only", code="ReadOnlyProperty")
        if name in CREATE_ONLY and not creating:
            raise BadRequest(
                f"Property '{name}' cannot be changed by PATCH; "
                f"use the action {kind.namespace}.UpdateCommonProperties",
                code="ReadOnlyProperty",
            )
        if name not in known:
            raise BadRequest(_unknown_property_message(name, known, kind), code="UnknownProperty")
        result[name] = _check_value(name, value, soft_attributes)
    if creating:
        name_value = result.get("Name")
        if not isinstance(name_value, str):
            raise BadRequest(f"Property 'Name' is required to create a {kind.name}")
        if not name_value.strip():
            raise BadRequest(
                f"Property 'Name' is empty ({name_value!r}); a {kind.name} needs a name"
            )
    return result


def _check_value(name: str, value: object, soft_attributes: tuple[str, ...]) -> Scalar:
    if value is not None and not isinstance(value, str):
        declared = " (a soft attribute declared Edm.String)" if name in soft_attributes else ""
        raise BadRequest(
            f"Property '{name}'{declared} takes a string or null, not "
            f"{type(value).__name__} {_short(value)}"
        )
    if name in CREATE_ONLY and value is None:
        raise BadRequest(f"Property '{name}' cannot be null")
    if value is not None:
        check_text(f"Property '{name}'", value)
    return value


def check_text(what: str, value: str) -> None:
    """A string the mock stores: at most :data:`MAX_STRING_LENGTH` characters, and no U+0000.

    NUL is refused because the databases and XML behind a real Windchill cannot keep it (XML
    1.0 has no way to write it); other control characters, and U+FEFF anywhere, are kept as
    sent. Lone UTF-16 surrogates never get this far: the JSON body is refused (see
    :mod:`mock_server.http.jsonbody`).
    """
    if len(value) > MAX_STRING_LENGTH:
        raise BadRequest(
            f"{what} is {len(value)} characters long; the limit is {MAX_STRING_LENGTH}"
        )
    if "\x00" in value:
        raise BadRequest(
            f"{what} contains the character U+0000 (NUL) at offset {value.index(chr(0))}, "
            "which Windchill cannot store"
        )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _unknown_property_message(name: str, known: tuple[str, ...], kind: EntityKind) -> str:
    message = f"Unknown property '{name}' for type {kind.qualified_type}"
    by_case = {k.lower(): k for k in known}
    suggestion = by_case.get(name.lower()) or next(
        iter(difflib.get_close_matches(name, known, n=1)), None
    )
    if suggestion:
        message += f" (did you mean '{suggestion}'? OData property names are case-sensitive)"
    return message
