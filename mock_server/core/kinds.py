"""The kinds of versioned object the mock serves: documents and parts.

A kind is data, not code: its domain, entity set, type name, Windchill class (the middle of
its ``OR:``/``VR:`` references) and writable properties. Everything else — the concurrency
model, background work, check-out and check-in, the journal — is the same for every kind, so
a third kind (a change object, say) is one more :class:`EntityKind` in :data:`KINDS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import MockError

__all__ = ["DOCUMENT", "KINDS", "PART", "EntityKind", "kind_named", "kind_of_key"]


@dataclass(frozen=True)
class EntityKind:
    """One kind of object: where WRS serves it and which properties a client may write."""

    #: The name the API takes (``kind="part"``).
    name: str
    #: The WRS domain serving it, its entity set and its entity type's short name.
    domain: str
    entity_set: str
    type_name: str
    #: The Windchill class named in its references: ``OR:wt.part.WTPart:164057``.
    wt_class: str
    #: Changeable by PATCH (soft attributes come on top, per configuration).
    writable: tuple[str, ...]

    @property
    def qualified_type(self) -> str:
        """``PTC.DocMgmt.Document``."""
        return f"PTC.{self.domain}.{self.type_name}"

    @property
    def namespace(self) -> str:
        """The namespace of its schema and bound actions: ``PTC.DocMgmt``."""
        return f"PTC.{self.domain}"

    def object_ref(self, oid: int) -> str:
        return f"OR:{self.wt_class}:{oid}"

    def version_ref(self, vid: int) -> str:
        return f"VR:{self.wt_class}:{vid}"


DOCUMENT = EntityKind(
    name="document",
    domain="DocMgmt",
    entity_set="Documents",
    type_name="Document",
    wt_class="wt.doc.WTDocument",
    writable=("Description", "Title"),
)
#: A part. ``Source`` is a plain string here, as PTC's examples for subtypes of parts send it
#: (``"Source": "buy"``); WRS types it as an enumeration on ``WTPart`` itself.
PART = EntityKind(
    name="part",
    domain="ProdMgmt",
    entity_set="Parts",
    type_name="Part",
    wt_class="wt.part.WTPart",
    writable=("Description", "Source"),
)

KINDS: Mapping[str, EntityKind] = {kind.name: kind for kind in (DOCUMENT, PART)}


def kind_named(name: str | EntityKind) -> EntityKind:
    """The kind called ``name`` (a kind is returned as it is); :class:`MockError` otherwise."""
    if isinstance(name, EntityKind):
        return name
    try:
        return KINDS[name]
    except (KeyError, TypeError):
        raise MockError(f"unknown kind {name!r}; choose one of {sorted(KINDS)}") from None


def kind_of_key(key: str) -> EntityKind | None:
    """The kind whose references ``key`` is written in (``OR:wt.part.WTPart:1`` → part)."""
    for kind in KINDS.values():
        if key.startswith((f"OR:{kind.wt_class}:", f"VR:{kind.wt_class}:")):
            return kind
    return None
