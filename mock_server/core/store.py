"""The document store's bookkeeping: documents by object id, the keys that reach them, id
allocation and one intervention queue per original document.

No rules live here, and no locking: the :class:`~mock_server.core.repository.Repository`
holds the lock and decides every state change; this module only keeps the books straight.

Keys: an original is reached by its ``OR:`` and its ``VR:`` reference, a working copy by its
``OR:`` only, and a past iteration (kept when iterations have their own ``OR:``) by its old
``OR:``. Object ids are allocated in order from ``first_oid``, for documents, parts, version
series and iterations alike, so the same requests always give the same ids.

Indexes, so that no request costs more because the store holds more documents: the object
ids of each kind in order (a page is a slice of it, a count its length), the Number of every
original of each kind, and the families with an ``at=`` state action waiting (the only ones
a query must bring up to date before it filters).
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .documents import Document
from .errors import NotFound
from .kinds import DOCUMENT, EntityKind, kind_of_key
from .queue import InterventionQueue

__all__ = ["FIRST_OID", "MAX_PAST_ITERATIONS", "DocumentStore"]

FIRST_OID = 164057
#: Past iterations kept per object; older ones are forgotten (their ``OR:`` then answers 404),
#: so that a client checking in over and over cannot fill the memory.
MAX_PAST_ITERATIONS = 100


@dataclass
class _Saved:
    """Copies of some families (an original, its working copy and its past iterations) and,
    unless left out, their queues."""

    docs: list[Document]
    past: dict[int, list[Document]]
    queues: dict[int, InterventionQueue | None]
    timed: set[int]
    next_oid: int


class DocumentStore:
    """Documents, keys, ids and queues; see the module docstring."""

    def __init__(self, first_oid: int = FIRST_OID) -> None:
        self.docs: dict[int, Document] = {}
        self.keys: dict[str, int] = {}
        self.queues: dict[int, InterventionQueue] = {}
        #: Every object id of each kind, ascending: the order of a collection.
        self.orders: dict[str, list[int]] = {}
        #: (kind, Number) → object id of the original that has it (working copies share it).
        self.numbers: dict[tuple[str, str], int] = {}
        #: Originals whose queue holds an ``at=`` state action.
        self.timed: set[int] = set()
        #: Past iterations: by their ``OR:``, and each family's, oldest first.
        self.past: dict[str, Document] = {}
        self.past_of: dict[int, list[Document]] = {}
        self._next_oid = first_oid

    def order(self, kind: EntityKind = DOCUMENT) -> list[int]:
        order = self.orders.get(kind.name)
        if order is None:
            order = self.orders[kind.name] = []
        return order

    def allocate(self) -> int:
        oid = self._next_oid
        self._next_oid += 1
        return oid

    def add(self, doc: Document) -> None:
        self.docs[doc.oid] = doc
        for key in _keys_of(doc):
            self.keys[key] = doc.oid
        order = self.order(doc.kind)
        if not order or order[-1] < doc.oid:
            order.append(doc.oid)
        else:
            bisect.insort(order, doc.oid)
        if not doc.is_working_copy:
            self.numbers[doc.kind.name, doc.number] = doc.oid

    def discard(self, oid: int) -> Document:
        """Forget document ``oid``, its keys, its past iterations and its queue; returns it."""
        doc = self.docs.pop(oid)
        for key in _keys_of(doc):
            self.keys.pop(key, None)
        order = self.order(doc.kind)
        del order[bisect.bisect_left(order, oid)]
        if not doc.is_working_copy and self.numbers.get((doc.kind.name, doc.number)) == oid:
            del self.numbers[doc.kind.name, doc.number]
        for past in self.past_of.pop(oid, ()):
            self.past.pop(past.id, None)
        self.queues.pop(oid, None)
        self.timed.discard(oid)
        return doc

    def keep_past_iteration(self, doc: Document) -> None:
        """Keep the current iteration of original ``doc`` as a past one, reached by its
        ``OR:`` (read-only); :meth:`rekey` then gives ``doc`` the ``OR:`` of the next."""
        past = doc.copy()
        past.latest = False
        past.checked_out_by, past.working_copy, past.checkout_note = None, None, None
        past.busy_until, past.busy_source = 0.0, None
        self.keys.pop(doc.id, None)
        self._keep_past(past)

    def rekey(self, doc: Document, ref: int) -> None:
        """Original ``doc`` answers to the ``OR:`` of object id ``ref`` from now on."""
        self.keys.pop(doc.id, None)
        doc.ref = ref
        self.keys[doc.id] = doc.oid

    def _keep_past(self, past: Document) -> None:
        self.past[past.id] = past
        kept = self.past_of.setdefault(past.oid, [])
        kept.append(past)
        if len(kept) > MAX_PAST_ITERATIONS:
            self.past.pop(kept.pop(0).id, None)

    def renumber(self, doc: Document, number: str) -> None:
        """Give original ``doc`` a new Number, keeping the index of Numbers true."""
        if self.numbers.get((doc.kind.name, doc.number)) == doc.oid:
            del self.numbers[doc.kind.name, doc.number]
        doc.number = number
        self.numbers[doc.kind.name, number] = doc.oid

    def number_taken(
        self, number: str, *, by_other_than: int | None = None, kind: EntityKind = DOCUMENT
    ) -> bool:
        owner = self.numbers.get((kind.name, number))
        return owner is not None and owner != by_other_than

    def with_number(self, number: str, kind: EntityKind = DOCUMENT) -> list[Document]:
        """The original with ``number`` and its working copy, if any (they share it)."""
        oid = self.numbers.get((kind.name, number))
        if oid is None:
            return []
        doc = self.docs[oid]
        if doc.working_copy is None:
            return [doc]
        return sorted([doc, self.docs[doc.working_copy]], key=lambda d: d.oid)

    def page(self, skip: int, top: int | None, kind: EntityKind = DOCUMENT) -> list[Document]:
        """Objects of ``kind`` (working copies included) in object id order, ``skip`` then
        ``top``."""
        oids = self.order(kind)[skip : None if top is None else skip + top]
        return [self.docs[oid] for oid in oids]

    def after(self, oid: int | None, count: int, kind: EntityKind = DOCUMENT) -> list[Document]:
        """Up to ``count`` objects of ``kind`` following object id ``oid`` (from the first
        if None)."""
        order = self.order(kind)
        start = 0 if oid is None else bisect.bisect_right(order, oid)
        return [self.docs[o] for o in order[start : start + count]]

    def count(self, kind: EntityKind = DOCUMENT) -> int:
        return len(self.order(kind))

    def __len__(self) -> int:
        return len(self.docs)

    def let_go(self) -> None:
        """Empty the store one entry at a time (see :func:`let_go`)."""
        let_go(self.docs, self.keys, self.queues, self.numbers, self.past, self.past_of)
        self.orders, self.timed = {}, set()

    def resolve(self, key: str, kind: EntityKind | None = None) -> Document:
        """The object ``key`` names (a past iteration included), of ``kind`` if given."""
        doc = self.get(key)
        if doc is None or (kind is not None and doc.kind is not kind):
            kind = kind or kind_of_key(key) or DOCUMENT
            raise NotFound(f"No {kind.name} with key '{key}' in {kind.entity_set}")
        return doc

    def get(self, key: str) -> Document | None:
        oid = self.keys.get(key)
        return self.past.get(key) if oid is None else self.docs[oid]

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

    def save(self, families: Iterable[int], *, queues: bool = True) -> _Saved:
        """Copies of the families of ``families`` (object ids of originals), to
        :meth:`restore` if what follows must be undone. What follows may change only those
        families and add objects; it costs what those families cost, not the store.
        ``queues=False`` keeps the queues themselves instead of copies: a restore then keeps
        what fired and the requests counted meanwhile (a rolled-back change set)."""
        wanted = {oid for oid in families if oid in self.docs}
        docs = []
        for oid in wanted:
            doc = self.docs[oid]
            docs.append(doc.copy())
            if doc.working_copy is not None:
                docs.append(self.docs[doc.working_copy].copy())
        past = {oid: list(self.past_of.get(oid, ())) for oid in wanted}
        saved_queues = {
            oid: q.copy() if (q := self.queues.get(oid)) and queues else q for oid in wanted
        }
        return _Saved(docs, past, saved_queues, self.timed & wanted, self._next_oid)

    def restore(self, saved: _Saved) -> None:
        """Put the saved families back as they were and forget objects added since (their ids
        stay used), but for the working copy of an original that stays checked out (another
        user's check-out of an object not saved)."""
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
        for order in list(self.orders.values()):
            for oid in order[bisect.bisect_left(order, saved.next_oid) :]:
                doc = self.docs[oid]
                original = self.docs.get(doc.working_copy_of or -1)
                if original is None or original.working_copy != oid:
                    self.discard(oid)
        for past in saved.past.values():
            for iteration in past:
                self._keep_past(iteration)
        # Object ids are not handed out again: what stays (another user's new iteration made
        # meanwhile) may hold one, and a journal must never mix two objects under one ID.


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
    return [doc.id, doc.version_id]
