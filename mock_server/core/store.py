"""The document store's bookkeeping: documents by object id, the keys that reach them, id
allocation and one intervention queue per original document.

No rules live here, and no locking: the :class:`~mock_server.core.repository.Repository`
holds the lock and decides every state change; this module only keeps the books straight.

Keys: an original is reached by its ``OR:`` and its ``VR:`` reference, a working copy by its
``OR:`` only. Object ids are allocated in order from ``first_oid``, for documents and version
series alike, so the same requests always give the same ids.

Indexes, so that no request costs more because the store holds more documents: the object
ids in order (a page is a slice of it, a count its length), the Number of every original,
and the families with an ``at=`` state action waiting (the only ones a query must bring up to
date before it filters).
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .documents import Document
from .errors import NotFound
from .queue import InterventionQueue

__all__ = ["FIRST_OID", "DocumentStore"]

FIRST_OID = 164057


@dataclass
class _Saved:
    """Copies of some families (an original and its working copy) and their queues."""

    docs: list[Document]
    queues: dict[int, InterventionQueue | None]
    timed: set[int]
    next_oid: int


class DocumentStore:
    """Documents, keys, ids and queues; see the module docstring."""

    def __init__(self, first_oid: int = FIRST_OID) -> None:
        self.docs: dict[int, Document] = {}
        self.keys: dict[str, int] = {}
        self.queues: dict[int, InterventionQueue] = {}
        #: Every object id, ascending: the order of a collection.
        self.order: list[int] = []
        #: Number → object id of the original that has it (working copies share it).
        self.numbers: dict[str, int] = {}
        #: Originals whose queue holds an ``at=`` state action.
        self.timed: set[int] = set()
        self._next_oid = first_oid

    def allocate(self) -> int:
        oid = self._next_oid
        self._next_oid += 1
        return oid

    def add(self, doc: Document) -> None:
        self.docs[doc.oid] = doc
        for key in _keys_of(doc):
            self.keys[key] = doc.oid
        if not self.order or self.order[-1] < doc.oid:
            self.order.append(doc.oid)
        else:
            bisect.insort(self.order, doc.oid)
        if not doc.is_working_copy:
            self.numbers[doc.number] = doc.oid

    def discard(self, oid: int) -> Document:
        """Forget document ``oid``, its keys and its queue; returns it."""
        doc = self.docs.pop(oid)
        for key in _keys_of(doc):
            self.keys.pop(key, None)
        del self.order[bisect.bisect_left(self.order, oid)]
        if not doc.is_working_copy and self.numbers.get(doc.number) == oid:
            del self.numbers[doc.number]
        self.queues.pop(oid, None)
        self.timed.discard(oid)
        return doc

    def renumber(self, doc: Document, number: str) -> None:
        """Give original ``doc`` a new Number, keeping the index of Numbers true."""
        if self.numbers.get(doc.number) == doc.oid:
            del self.numbers[doc.number]
        doc.number = number
        self.numbers[number] = doc.oid

    def number_taken(self, number: str, *, by_other_than: int | None = None) -> bool:
        owner = self.numbers.get(number)
        return owner is not None and owner != by_other_than

    def with_number(self, number: str) -> list[Document]:
        """The original with ``number`` and its working copy, if any (they share it)."""
        oid = self.numbers.get(number)
        if oid is None:
            return []
        doc = self.docs[oid]
        if doc.working_copy is None:
            return [doc]
        return sorted([doc, self.docs[doc.working_copy]], key=lambda d: d.oid)

    def page(self, skip: int, top: int | None) -> list[Document]:
        """Documents (working copies included) in object id order, ``skip`` then ``top``."""
        oids = self.order[skip : None if top is None else skip + top]
        return [self.docs[oid] for oid in oids]

    def after(self, oid: int | None, count: int) -> list[Document]:
        """Up to ``count`` documents following object id ``oid`` (from the first if None)."""
        start = 0 if oid is None else bisect.bisect_right(self.order, oid)
        return [self.docs[o] for o in self.order[start : start + count]]

    def __len__(self) -> int:
        return len(self.order)

    def let_go(self) -> None:
        """Empty the store one entry at a time (see :func:`let_go`)."""
        let_go(self.docs, self.keys, self.queues, self.numbers)
        self.order, self.timed = [], set()

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
        """The queue of original ``oid``, made when first needed (an idle document has none)."""
        queue = self.queues.get(oid)
        if queue is None:
            queue = self.queues[oid] = InterventionQueue()
        return queue

    def request_count(self, oid: int) -> int:
        queue = self.queues.get(oid)
        return 0 if queue is None else queue.requests

    def originals(self) -> list[Document]:
        return [doc for doc in self.docs.values() if not doc.is_working_copy]

    def save(self, families: Iterable[int]) -> _Saved:
        """Copies of the families of ``families`` (object ids of originals), to
        :meth:`restore` if what follows must be undone. What follows may change only those
        families and add documents; it costs what those families cost, not the store."""
        wanted = {oid for oid in families if oid in self.docs}
        docs = []
        for oid in wanted:
            doc = self.docs[oid]
            docs.append(doc.copy())
            if doc.working_copy is not None:
                docs.append(self.docs[doc.working_copy].copy())
        queues = {oid: q.copy() if (q := self.queues.get(oid)) else None for oid in wanted}
        return _Saved(docs, queues, self.timed & wanted, self._next_oid)

    def restore(self, saved: _Saved) -> None:
        """Put the saved families back as they were and forget documents added since."""
        for oid in self.order[bisect.bisect_left(self.order, saved.next_oid) :]:
            self.discard(oid)
        for family, queue in saved.queues.items():
            original = self.docs.get(family)
            if original is not None:
                if original.working_copy is not None and original.working_copy in self.docs:
                    self.discard(original.working_copy)
                self.discard(family)
            if queue is not None:
                self.queues[family] = queue
            if family in saved.timed:
                self.timed.add(family)
        for doc in saved.docs:
            self.add(doc)
        self._next_oid = saved.next_oid


def let_go(*containers: dict[Any, Any] | deque[Any]) -> None:
    """Empty big containers an entry at a time, so that other threads run in between:
    dropping a container of a hundred thousand objects at once frees them all in one step,
    during which no other Python code runs."""
    for container in containers:
        if isinstance(container, deque):
            while container:
                container.pop()
        else:
            while container:
                container.popitem()


def _keys_of(doc: Document) -> list[str]:
    if doc.is_working_copy:
        return [doc.id]
    return [doc.id, f"VR:wt.doc.WTDocument:{doc.vid}"]
