"""The document store's bookkeeping: documents by object id, the keys that reach them, id
allocation and one intervention queue per original document.

No rules live here, and no locking: the :class:`~mock_server.core.repository.Repository`
holds the lock and decides every state change; this module only keeps the books straight.

Keys: an original is reached by its ``OR:`` and its ``VR:`` reference, a working copy by its
``OR:`` only. Object ids are allocated in order from ``first_oid``, for documents and version
series alike, so the same requests always give the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass

from .documents import Document
from .errors import NotFound
from .queue import InterventionQueue

__all__ = ["FIRST_OID", "DocumentStore"]

FIRST_OID = 164057


@dataclass
class _Saved:
    docs: dict[int, Document]
    keys: dict[str, int]
    queues: dict[int, InterventionQueue]
    next_oid: int


class DocumentStore:
    """Documents, keys, ids and queues; see the module docstring."""

    def __init__(self, first_oid: int = FIRST_OID) -> None:
        self.docs: dict[int, Document] = {}
        self.keys: dict[str, int] = {}
        self.queues: dict[int, InterventionQueue] = {}
        self._next_oid = first_oid

    def allocate(self) -> int:
        oid = self._next_oid
        self._next_oid += 1
        return oid

    def add(self, doc: Document) -> None:
        self.docs[doc.oid] = doc
        for key in _keys_of(doc):
            self.keys[key] = doc.oid
        if not doc.is_working_copy:
            self.queues.setdefault(doc.oid, InterventionQueue())

    def discard(self, oid: int) -> Document:
        """Forget document ``oid``, its keys and its queue; returns it."""
        doc = self.docs.pop(oid)
        for key in _keys_of(doc):
            self.keys.pop(key, None)
        self.queues.pop(oid, None)
        return doc

    def resolve(self, key: str) -> Document:
        doc = self.get(key)
        if doc is None:
            raise NotFound(f"No document with key '{key}' in Documents")
        return doc

    def get(self, key: str) -> Document | None:
        oid = self.keys.get(key)
        return None if oid is None else self.docs[oid]

    def family_oid(self, doc: Document) -> int:
        """The object id of the original: ``doc`` itself, or the one it is a working copy of."""
        return doc.working_copy_of if doc.working_copy_of is not None else doc.oid

    def original_of(self, doc: Document) -> Document:
        return self.docs[self.family_oid(doc)]

    def queue(self, oid: int) -> InterventionQueue:
        return self.queues.setdefault(oid, InterventionQueue())

    def originals(self) -> list[Document]:
        return [doc for doc in self.docs.values() if not doc.is_working_copy]

    def save(self) -> _Saved:
        """A copy to :meth:`restore` if what follows must be undone."""
        return _Saved(
            {oid: doc.copy() for oid, doc in self.docs.items()},
            dict(self.keys),
            {oid: q.copy() for oid, q in self.queues.items()},
            self._next_oid,
        )

    def restore(self, saved: _Saved) -> None:
        self.docs, self.keys, self.queues = saved.docs, saved.keys, saved.queues
        self._next_oid = saved.next_oid


def _keys_of(doc: Document) -> list[str]:
    if doc.is_working_copy:
        return [doc.id]
    return [doc.id, f"VR:wt.doc.WTDocument:{doc.vid}"]
