"""The document store: the only place a document's state changes.

Rules of this module, in the manner of a protocol state machine:

1. Every public operation takes the store lock; a compare-and-set (``If-Match`` check plus
   write) is therefore atomic and no acknowledged write can be lost.
2. A rejected operation raises a :class:`~mock_server.core.errors.WindchillError` carrying an
   HTTP status hint and leaves every document exactly as it was (ETag included).
3. Before a document is used, everything due on it up to "now" is applied in time order:
   background arrivals (:mod:`.background`) and ``at=`` interventions. Nothing runs on its own.
4. The store never reads the time or a global random generator: the clock, the seed and the
   sleep used for injected latency are given to it.

Client operations are journalled as ``invoke`` then ``ok`` / ``fail`` / ``info``, through one
small recorder per operation.

Why this module is longer than the others: it is the one class whose lock guards every
state change, so the public verbs and the transitions they make stay together here. What has
no rules lives elsewhere: the intervention queue (:mod:`.queue`), the books of keys and ids
(:mod:`.store`), the conditional-write decision (:mod:`.conditions`), the demo documents
(:mod:`.demo`).
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .background import SOURCES, Arrival, Background, SourceSettings
from .clock import Clock, scale_of
from .conditions import (
    MODIFIED_BY_ANOTHER_PROCESS,
    WriteConditions,
    check_action,
    check_read,
    check_write,
)
from .demo import demo_documents
from .documents import (
    DEFAULT_SOFT_ATTRIBUTES,
    Document,
    Scalar,
    validate_changes,
)
from .errors import (
    BadRequest,
    CheckedOut,
    Conflict,
    InjectedFault,
    MockError,
    NotFound,
    NotLatestIteration,
    WindchillError,
)
from .etag import ETag
from .interventions import (
    Action,
    CheckInBy,
    CheckOutBy,
    ConcurrentEdit,
    Fault,
    Intervention,
    Latency,
    LifecycleChange,
    LoseResponse,
    MicroUpdate,
    NewIteration,
    UndoCheckOutBy,
)
from .journal import (
    LOST_RESPONSE_MESSAGE,
    SKIPPED_PREFIX,
    ClientOp,
    Event,
    EventType,
    Journal,
    Metrics,
    Op,
    is_flat_body,
    summarise_body,
)
from .kinds import DOCUMENT, EntityKind, kind_named
from .profiles import Profile, profile_named
from .store import DocumentStore

__all__ = ["MODIFIED_BY_ANOTHER_PROCESS", "ChangeSet", "OpResult", "Repository", "WriteConditions"]


_NO_CONDITIONS = WriteConditions()  # a write without any concurrency header
#: Documents a filtering scan reads per hold of the lock (about a millisecond's work).
_SCAN_CHUNK = 500


class _StepAsideLock:
    """A re-entrant lock that a long reader, between two holds, can step aside for.

    Python's locks are not fair: a lock let go and taken straight back is seldom won by the
    thread that was waiting for it, so a scan that lets go between chunks would still keep
    writers out. This lock counts the threads that waited for it and those that got it, and
    :meth:`step_aside` yields until every thread waiting when it was called has had its turn.
    """

    __slots__ = ("_count_lock", "_depth", "_lock", "_owner", "_served", "_waiting")

    #: A bound on the yields of one step aside (a thread that waits forever cannot hold up
    #: the reader forever).
    MAX_YIELDS = 1_000_000

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._count_lock = threading.Lock()
        self._waiting = 0
        self._served = 0
        self._owner: int | None = None
        self._depth = 0

    def acquire(self) -> None:
        if not self._lock.acquire(blocking=False):
            with self._count_lock:
                self._waiting += 1
            try:
                self._lock.acquire()
            finally:
                with self._count_lock:
                    self._waiting -= 1
                    self._served += 1
        self._owner = threading.get_ident()
        self._depth += 1

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
        self._lock.release()

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def step_aside(self) -> None:
        """Called without holding the lock: yield until the threads waiting now got it. (A
        caller that still holds it, one level down, lets nobody in: it does not wait.)"""
        if self._owner == threading.get_ident():
            return
        with self._count_lock:
            target = self._served + self._waiting
        for _ in range(self.MAX_YIELDS):
            if self._served >= target:
                return
            os.sched_yield()  # lets the interpreter run another thread, then goes on


class _Journalled:
    """Returned by a state action that journalled itself."""


_JOURNALLED = _Journalled()


class _Unset:
    """Marks an argument that was not given (``None`` is a meaningful value)."""


_UNSET = _Unset()


@dataclass(frozen=True)
class OpResult:
    """What a client operation produced: the entity, its ETag, and whether to drop the answer."""

    entity: dict[str, Any] | None
    etag: str | None
    lost: bool = False
    update_token: str | None = None
    #: A conditional GET whose ``If-None-Match`` matched: answer 304 without the entity.
    not_modified: bool = False


class Repository:
    """The state machine of every document; see the module docstring for its rules."""

    def __init__(
        self,
        *,
        clock: Clock,
        profile: Profile | str = "thread",
        seed: int = 0,
        background: Mapping[str, SourceSettings] | None = None,
        soft_attributes: Iterable[str] = DEFAULT_SOFT_ATTRIBUTES,
        sleep: Callable[[float], None] | None = None,
        journal_limit: int | None = None,
        journal_limit_bytes: int | None = None,
        utc_offset_minutes: int = 0,
    ) -> None:
        self._clock = clock
        self._lock = _StepAsideLock()
        self.profile = profile_named(profile) if isinstance(profile, str) else profile
        self.seed = seed
        self.soft_attributes = tuple(soft_attributes)
        self.utc_offset_minutes = utc_offset_minutes
        self._sleep = sleep if sleep is not None else clock.sleep
        self.journal = Journal(journal_limit, journal_limit_bytes)
        self.metrics = Metrics()
        self._initial_background = dict(background or {})
        #: The change set in progress (only ever seen by the thread holding the lock).
        self._transaction: _Transaction | None = None
        self._reset_state()

    # ------------------------------------------------------------------ set-up

    def _reset_state(self) -> None:
        self.epoch = self._clock.now()
        self._store = DocumentStore()
        settings = {s: SourceSettings() for s in SOURCES}
        settings.update(self._initial_background)
        self._background = Background(self.seed, settings, self.epoch)
        self.journal.clear()
        self.metrics.clear()

    def reset(
        self,
        *,
        seed: int | None = None,
        background: Mapping[str, SourceSettings] | None = None,
        journal_limit: int | _Unset | None = _UNSET,
        journal_limit_bytes: int | _Unset | None = _UNSET,
        documents: int = 0,
        user: str = "wcadmin",
    ) -> None:
        """Forget every document, intervention and event; virtual time is not rewound.

        ``seed`` and ``background`` replace the ones given at construction, so a reset mock
        draws exactly the arrivals a fresh mock with those settings would; ``documents`` demo
        documents are created, as :meth:`seed_demo_documents` would.

        The new state is built before the lock is taken and swapped in under it, and the old
        state is let go after: however many documents either holds, other requests wait only
        for the swap.
        """
        seed = self.seed if seed is None else seed
        initial = dict(self._initial_background if background is None else background)
        limit = self.journal.limit if isinstance(journal_limit, _Unset) else journal_limit
        limit_bytes = (
            self.journal.limit_bytes
            if isinstance(journal_limit_bytes, _Unset)
            else journal_limit_bytes
        )
        epoch = self._clock.now()
        store = DocumentStore()
        with _no_cycle_collection():
            for properties in demo_documents(documents):
                self._new_document(properties, user=user, now=epoch, store=store)
        settings = {s: SourceSettings() for s in SOURCES}
        settings.update(initial)
        fresh_background = Background(seed, settings, epoch)
        with self._lock:
            old_store, old_background, old_journal = self._store, self._background, self.journal
            self.seed, self._initial_background = seed, initial
            self.epoch, self._store, self._background = epoch, store, fresh_background
            self.journal, self.metrics = Journal(limit, limit_bytes), Metrics()
        # Freed after the lock is let go, and piece by piece: freeing a whole store in one
        # step would hold the interpreter for tens of milliseconds.
        old_store.let_go()
        old_background.let_go()
        old_journal.let_go()

    @property
    def clock(self) -> Clock:
        return self._clock

    def background_settings(self) -> dict[str, SourceSettings]:
        with self._lock:
            return self._background.settings()

    def configure_background(self, settings: Mapping[str, SourceSettings]) -> None:
        """Change background rates and durations from now on."""
        with self._lock:
            self._background.configure(settings, self._clock.now())

    def configure(
        self,
        *,
        profile: Profile,
        background: Mapping[str, SourceSettings],
        soft_attributes: Iterable[str],
        utc_offset_minutes: int,
    ) -> None:
        """Apply a new configuration at once, under the store's lock: the next request sees
        all of it or none of it."""
        with self._lock:
            self.profile = profile
            self._background.configure(background, self._clock.now())
            self.soft_attributes = tuple(soft_attributes)
            self.utc_offset_minutes = utc_offset_minutes

    def seed_demo_documents(self, count: int, *, user: str = "wcadmin") -> list[str]:
        """Create ``count`` demo documents without journalling them; returns their IDs."""
        with self._lock:
            return [
                self._new_document(p, user=user, now=self._clock.now()).id
                for p in demo_documents(count)
            ]

    def add_document(
        self, properties: object, *, user: str = "wcadmin", kind: str | EntityKind = DOCUMENT
    ) -> str:
        """Create a document (or a part: ``kind="part"``) as test set-up: no client request
        is counted or journalled.

        The journal gets one ``intervention`` event (op ``create``, process ``setup``) with
        the document's values, so a history checker knows what every field started as.
        """
        with self._lock:
            now = self._clock.now()
            kind = kind_named(kind)
            doc = self._new_document(
                self._creatable(properties, kind), user=user, now=now, kind=kind
            )
            self._record(
                now,
                "intervention",
                "create",
                "setup",
                document=doc.first_id,
                etag_after=str(self._etag(doc)),
                version=doc.version,
                values=doc.writable_values(),
            )
            return doc.id

    # ------------------------------------------------------------------ queries

    def ids(self, kind: str | EntityKind | None = None) -> list[str]:
        """The IDs of every original (of ``kind`` if given), in object id order."""
        wanted = None if kind is None else kind_named(kind)
        with self._lock:
            docs = list(self._store.docs.values())  # one quick copy: the rest needs no lock
        return [
            doc.id
            for doc in sorted(docs, key=_oid)
            if not doc.is_working_copy and wanted in (None, doc.kind)
        ]

    def __len__(self) -> int:
        """Documents held, working copies included."""
        with self._lock:
            return len(self._store)

    def object_count(self) -> int:
        """Objects held: documents and parts, working copies and past iterations included."""
        with self._lock:
            return len(self._store) + len(self._store.past)

    def peek(self, key: str) -> dict[str, Any]:
        """The server's truth for ``key`` now, without a journal entry or request count. A
        past iteration's ``OR:`` gives the latest iteration: what the object holds now."""
        with self._lock:
            return self._entity(self._current(key))

    def _current(self, key: str) -> Document:
        """The object ``key`` names, brought up to date; the latest for a past iteration."""
        doc = self._store.resolve(key)
        self._materialise(self._store.family_oid(doc), self._clock.now())
        return self._store.docs[doc.oid] if not doc.latest else self._store.resolve(key)

    def latest_id(self, key: str) -> str:
        """The ``ID`` of the latest iteration of the object ``key`` names (any of its keys)."""
        with self._lock:
            doc = self._store.resolve(key)
            return self._store.docs[self._store.family_oid(doc)].id

    def snapshot(self, key: str) -> tuple[dict[str, Any], str]:
        """``peek`` and ``current_etag`` together, read under one lock: they always agree."""
        with self._lock:
            return self.peek(key), self.current_etag(key)

    def current_etag(self, key: str) -> str:
        with self._lock:
            return str(self._etag(self._current(key)))

    def query(
        self,
        *,
        matches: Callable[[Mapping[str, object]], bool] | None = None,
        number: str | None = None,
        orderby: Sequence[tuple[str, bool]] = (),
        filters: Iterable[tuple[str, str]] = (),
        skip: int = 0,
        top: int | None = None,
        current: bool = False,
        kind: str | EntityKind = DOCUMENT,
    ) -> tuple[list[tuple[dict[str, Any], str | None]], int]:
        """The documents (working copies included) that ``matches`` accepts, ordered by
        ``orderby`` (property paths of :data:`~.documents.QUERY_PROPERTIES`, each ascending or
        descending, nulls first), then by object id.

        ``matches`` is given each document's :meth:`~.documents.Document.query_values`;
        ``number`` says that every match has that Number (the store then looks it up instead
        of scanning); ``filters`` are plain equalities, for tests and Python callers;
        ``current`` brings each document up to date (background arrivals) before it is judged,
        which a query reading ``LastModified`` needs and others can skip.

        Returns one page of ``(entity, etag)`` and the total count. Only the page's documents
        have their background arrivals applied. Without a filter or an order, a page costs
        what the page holds and the count nothing; anything else reads the documents
        :data:`_SCAN_CHUNK` at a time, letting go of the lock between chunks so that writers
        never wait long behind a scan. A document changed meanwhile is judged as it was when
        its chunk was read (OData promises no snapshot of a whole collection).
        """
        kind = kind_named(kind)
        wanted = list(filters)
        if wanted:
            matches = _all_equal(wanted, matches)
            number = number or next((v for name, v in wanted if name == "Number"), None)
        if matches is None and not orderby:
            with self._lock:
                page = self._store.page(skip, top, kind)
                return self._rows(page), self._store.count(kind)
        accept = matches if matches is not None else _anything
        keys = [path for path, _ in orderby]
        while True:  # once more if a reset swapped the store in the middle
            scanned = self._scan(accept, keys, number, current=current, kind=kind)
            if scanned is None:
                continue
            found, found_in = scanned
            for index in range(len(keys) - 1, -1, -1):  # stable sorts, the last key first
                found.sort(key=lambda row: _sort_key(row[0][index]), reverse=orderby[index][1])
            chosen = found[skip : None if top is None else skip + top]
            with self._lock:
                if self._store is not found_in:
                    continue
                page = [self._store.docs[oid] for _, oid in chosen if oid in self._store.docs]
                return self._rows(page), len(found)

    def _scan(
        self,
        accept: Callable[[Mapping[str, object]], bool],
        keys: list[str],
        number: str | None,
        *,
        current: bool,
        kind: EntityKind,
    ) -> tuple[list[tuple[list[object], int]], DocumentStore] | None:
        """The accepted documents as (sort values, object id), and the store they are from;
        None if a reset swapped the store while the scan let go of the lock."""
        with self._lock:
            store = self._store
            # An ``at=`` intervention due by now may change a filtered property (a concurrent
            # edit, a lifecycle change): apply those before filtering. Only families with such
            # an intervention pending are touched.
            self._materialise_due_interventions(self._clock.now())
            if number is not None:
                same_number = store.with_number(number, kind)
                return self._judge(same_number, accept, keys, current), store
        found: list[tuple[list[object], int]] = []
        cursor = None
        while True:
            with self._lock:
                if self._store is not store:
                    return None
                chunk = store.after(cursor, _SCAN_CHUNK, kind)
                found += self._judge(chunk, accept, keys, current)
            if len(chunk) < _SCAN_CHUNK:
                return found, store
            cursor = chunk[-1].oid
            self._lock.step_aside()

    def _judge(
        self,
        docs: Iterable[Document],
        accept: Callable[[Mapping[str, object]], bool],
        keys: list[str],
        current: bool,
    ) -> list[tuple[list[object], int]]:
        """The accepted documents of ``docs``, each as (its sort values, its object id)."""
        now = self._clock.now()
        rows = []
        for doc in docs:
            if current:
                self._materialise(self._store.family_oid(doc), now)
            values = doc.query_values(self.soft_attributes)
            if accept(values):
                rows.append(([values.get(key) for key in keys], doc.oid))
        return rows

    def _rows(self, page: list[Document]) -> list[tuple[dict[str, Any], str | None]]:
        now = self._clock.now()
        rows = []
        for doc in page:
            self._materialise(self._store.family_oid(doc), now)
            rows.append((self._entity(doc), self._etag_header(doc)))
        return rows

    # ------------------------------------------------------------------ client operations

    def create(
        self, properties: object, *, user: str, kind: str | EntityKind = DOCUMENT
    ) -> OpResult:
        kind = kind_named(kind)
        with self._lock:
            now = self._clock.now()
            journal = _OpRecorder(self, "create", user, self.journal.next_op_id(), None)
            journal.invoke(now, changes=_as_dict(properties))
            try:
                doc = self._new_document(
                    self._creatable(properties, kind), user=user, now=now, kind=kind
                )
            except WindchillError as error:
                journal.fail(now, error)
                raise
            journal.about(doc.first_id)
            journal.succeed(now, doc)
            if self._transaction is not None:
                self._transaction.created.append(doc.oid)
                self._transaction.applied(journal.op_id, "create", user, doc.oid, doc.first_id)
            return self._result(doc)

    def read(
        self,
        key: str,
        *,
        user: str,
        if_match: str | None = None,
        if_none_match: str | None = None,
        kind: str | EntityKind | None = None,
    ) -> OpResult:
        """GET, conditional where the profile sends ETags: ``If-Match`` that does not match is
        412, ``If-None-Match`` that matches answers 304 (``OpResult.not_modified``)."""
        unmodified = False

        def body(doc: Document, now: float) -> Document:
            nonlocal unmodified
            if self.profile.emit_etags:
                unmodified = check_read(
                    self.profile, self._etag(doc), if_match=if_match, if_none_match=if_none_match
                )
            return doc

        result = self._client_op(
            "read",
            key,
            user,
            body,
            if_match=if_match,
            status=lambda: 304 if unmodified else 200,
            kind=kind,
        )
        return replace(result, not_modified=unmodified)

    def update(
        self,
        key: str,
        changes: object,
        *,
        user: str,
        conditions: WriteConditions = _NO_CONDITIONS,
        kind: str | EntityKind | None = None,
    ) -> OpResult:
        """PATCH: validate, check the concurrency rules of the profile, apply.

        A PATCH that names no property (``{}``, or instance annotations only) is checked like
        any other, and then changes nothing: not the values, the ETag, ``ModifiedBy`` or the
        update token. OData's PATCH replaces the properties it names and no others.
        """

        def body(doc: Document, now: float) -> Document:
            values = validate_changes(changes, soft_attributes=self.soft_attributes, kind=doc.kind)
            self._check_writable(doc, user)
            self._check_preconditions(doc, conditions, now)
            if not values:
                return doc
            doc.apply(values)
            doc.modified_by = user
            doc.update_token = conditions.update_token
            doc.touch(now)
            return doc

        return self._client_op(
            "update",
            key,
            user,
            body,
            changes=_as_dict(changes),
            if_match=conditions.if_match,
            kind=kind,
        )

    def delete(
        self,
        key: str,
        *,
        user: str,
        conditions: WriteConditions = _NO_CONDITIONS,
        kind: str | EntityKind | None = None,
    ) -> OpResult:
        def body(doc: Document, now: float) -> None:
            if doc.is_working_copy:
                raise BadRequest(
                    f"{doc.id} is a working copy; use PTC.DocMgmt.UndoCheckOut to discard it"
                )
            self._check_writable(doc, user)
            self._check_preconditions(doc, conditions, now)
            self._remove(doc)

        return self._client_op("delete", key, user, body, if_match=conditions.if_match, kind=kind)

    def check_out(
        self,
        key: str,
        *,
        user: str,
        note: str | None = None,
        if_match: str | None = None,
        kind: str | EntityKind | None = None,
    ) -> OpResult:
        """Check out an original; the result is its new working copy.

        Every bound action takes ``if_match`` and judges it as a PATCH would (428 where the
        profile requires it, 409/412 on a mismatch), without the busy window."""

        def body(doc: Document, now: float) -> Document:
            if doc.is_working_copy:
                raise CheckedOut(f"{doc.id} is a working copy and cannot be checked out")
            if doc.checked_out_by is not None:
                raise CheckedOut(_checked_out_message(doc, user))
            check_action(self.profile, self._etag(doc), if_match)
            return self._check_out(doc, user, note, now)

        return self._client_op("check_out", key, user, body, if_match=if_match, kind=kind)

    def check_in(
        self,
        key: str,
        *,
        user: str,
        note: str | None = None,
        keep_checked_out: bool = False,
        if_match: str | None = None,
        kind: str | EntityKind | None = None,
    ) -> OpResult:
        """Check in (given the original or its working copy): makes the next iteration.
        ``if_match`` is compared with the ETag of the document the key names."""

        def body(doc: Document, now: float) -> Document:
            original = self._checked_out_by_you(doc, user)
            check_action(self.profile, self._etag(doc), if_match)
            self._check_in(original, user, now)
            if keep_checked_out:
                self._check_out(original, user, note, now)
            return original

        return self._client_op("check_in", key, user, body, if_match=if_match, kind=kind)

    def undo_check_out(
        self,
        key: str,
        *,
        user: str,
        if_match: str | None = None,
        kind: str | EntityKind | None = None,
    ) -> OpResult:
        def body(doc: Document, now: float) -> Document:
            original = self._checked_out_by_you(doc, user)
            check_action(self.profile, self._etag(doc), if_match)
            self._undo_check_out(original, now)
            return original

        return self._client_op("undo_check_out", key, user, body, if_match=if_match, kind=kind)

    def update_common_properties(
        self,
        key: str,
        values: object,
        *,
        user: str,
        if_match: str | None = None,
        kind: str | EntityKind | None = None,
    ) -> OpResult:
        """``PTC.DocMgmt.UpdateCommonProperties``: change Name and/or Number.

        As PTC documents it: refused on a checked-out object, and no new iteration.
        """

        def body(doc: Document, now: float) -> Document:
            if not isinstance(values, Mapping) or not values:
                raise BadRequest("UpdateCommonProperties takes an object with Name and/or Number")
            unknown = sorted(set(values) - {"Name", "Number"})
            if unknown:
                raise BadRequest(
                    f"UpdateCommonProperties changes Name and Number only, not {unknown}"
                )
            checked = (
                validate_changes(values, soft_attributes=(), creating=True)
                if ("Name" in values)
                else validate_changes(
                    {"Name": doc.name, **values}, soft_attributes=(), creating=True
                )
            )
            if doc.is_working_copy or doc.checked_out_by is not None:
                raise CheckedOut(
                    f"{doc.id} is checked out; UpdateCommonProperties cannot be called on a "
                    "checked-out object"
                )
            check_action(self.profile, self._etag(doc), if_match)
            number = checked.get("Number")
            taken = number is not None and self._store.number_taken(
                str(number), by_other_than=doc.oid, kind=doc.kind
            )
            if taken:
                raise Conflict(f"A {doc.kind.name} with number {number} already exists")
            doc.apply({k: v for k, v in checked.items() if k in values and k != "Number"})
            if number is not None:
                self._store.renumber(doc, str(number))
            doc.modified_by = user
            doc.touch(now)
            return doc

        return self._client_op(
            "update_common_properties",
            key,
            user,
            body,
            changes=_as_dict(values),
            if_match=if_match,
            kind=kind,
        )

    # ------------------------------------------------------------------ change sets

    @contextlib.contextmanager
    def change_set(self) -> Iterator[ChangeSet]:
        """Run the operations of a ``$batch`` change set atomically.

        The lock is held from start to end, so no other request sees a change set half
        done. Operations inside run as usual (counted, with their interventions and
        background arrivals, journalled); :meth:`ChangeSet.roll_back` then puts every
        object they changed back as it was before the change set, forgets what they
        created, and journals a ``rollback`` event for each operation it undid. What other
        processes did meanwhile (background work, interventions that fired) stays done.
        An exception inside rolls back too.
        """
        with self._lock:
            if self._transaction is not None:
                raise MockError("change sets do not nest")
            transaction = _Transaction(self._store)
            self._transaction = transaction
            handle = ChangeSet(self, transaction)
            try:
                yield handle
            except BaseException:
                if not handle.rolled_back:
                    handle.roll_back("the change set was interrupted")
                raise
            finally:
                self._transaction = None
            for commit in transaction.on_commit:
                commit()

    def _keep_through_rollback(self, doc: Document, again: Callable[[Document], None]) -> None:
        """Other processes' work on an object a change set changed: a rollback puts the
        object back as it was, then does this work again (journalled once, when it happened)."""
        transaction = self._transaction
        if transaction is not None and transaction.changed(doc.oid) and not transaction.replaying:
            transaction.replay.append((doc.oid, again))

    def _roll_back(self, transaction: _Transaction, reason: str) -> list[int]:
        for saved in reversed(transaction.saves):
            self._store.restore(saved)
        self._store.restore(transaction.start)
        # Background work and interventions that hit those objects meanwhile stay done
        # (journalled and counted when they happened, so not again).
        transaction.replaying = True
        try:
            for family_oid, again in transaction.replay:
                doc = self._store.docs.get(family_oid)
                if doc is not None:
                    again(doc)
        finally:
            transaction.replaying = False
        for oid in transaction.created:  # gone again: their arrivals with them
            if oid not in self._store.docs:
                self._background.forget(oid)
        now = self._clock.now()
        undone = []
        for op_id, op, user, family_oid, document in transaction.ops:
            doc = self._store.docs.get(family_oid)
            fields: dict[str, Any] = {"document": document}
            if doc is not None:
                fields.update(
                    etag_after=str(self._etag(doc)),
                    version=doc.version,
                    values=doc.writable_values(),
                )
            self._record(
                now,
                "rollback",
                op,
                user,
                op_id=op_id,
                message=f"rolled back: {reason}",
                **fields,
            )
            undone.append(op_id)
        return undone

    # ------------------------------------------------------------------ interventions

    def inject(self, intervention: Intervention) -> None:
        """Schedule an intervention, or apply it now when it has no trigger.

        A state action without a trigger that cannot apply (say, a concurrent edit of a
        document somebody has checked out) raises; a triggered one that cannot apply when its
        time comes is journalled as skipped.
        """
        action = intervention.action
        with self._lock:
            doc = self._store.resolve(intervention.document)
            doc = self._store.docs[doc.oid] if not doc.latest else doc
            if doc.is_working_copy:
                raise MockError(f"{doc.id} is a working copy; target the original document")
            self._validate_action(action, doc.kind)
            queue = self._store.queue(doc.oid)
            now = self._clock.now()
            if intervention.before_request is not None and intervention.before_request <= (
                queue.requests
            ):
                raise MockError(
                    f"before_request={intervention.before_request} can never fire: "
                    f"{doc.id} has already had {queue.requests} client request(s)"
                )
            if intervention.before_request is None and intervention.at is None:
                if action.request_action:
                    queue.add(intervention)
                else:
                    self._materialise(doc.oid, now)
                    self._apply_action(doc, action, now, strict=True)
            else:
                at_abs = None if intervention.at is None else self.epoch + intervention.at
                queue.add(intervention, at_abs)
                if at_abs is not None and not action.request_action:
                    self._store.timed.add(doc.oid)
            self.metrics.count_intervention()

    def inject_all(self, interventions: Sequence[Intervention]) -> None:
        """Inject every intervention, or none: if one is refused, the others are undone."""
        with self._lock:
            now = self._clock.now()
            families = set()
            for intervention in interventions:  # arrivals due now stay applied on a rollback
                doc = self._store.get(intervention.document)
                if doc is not None:
                    families.add(self._store.family_oid(doc))
                    self._materialise(self._store.family_oid(doc), now)
            saved, mark, counted = self._store.save(families), self.journal.mark(), 0
            try:
                for intervention in interventions:
                    self.inject(intervention)
                    counted += 1
            except BaseException:
                self._store.restore(saved)
                self.journal.rewind(mark)
                self.metrics.uncount_interventions(counted)
                raise

    def pending(self) -> list[Intervention]:
        with self._lock:
            return [i for queue in self._store.queues.values() for i in queue.interventions()]

    def request_count(self, key: str) -> int:
        with self._lock:
            return self._store.request_count(self._store.family_oid(self._store.resolve(key)))

    def _validate_action(self, action: Action, kind: EntityKind) -> None:
        changes = getattr(action, "changes", None)  # the actions that edit values
        if changes:
            try:
                validate_changes(changes, soft_attributes=self.soft_attributes, kind=kind)
            except BadRequest as error:
                raise MockError(f"{action.kind}: {error.message}") from None

    # ------------------------------------------------------------------ internals: ops

    def _client_op(
        self,
        op: ClientOp,
        key: str,
        user: str,
        body: Callable[[Document, float], Document | None],
        *,
        changes: dict[str, Any] | None = None,
        if_match: str | None = None,
        status: Callable[[], int] | None = None,
        kind: str | EntityKind | None = None,
    ) -> OpResult:
        """Run one client operation under the store lock, journalled as invoke → outcome.

        ``status`` gives the success status when it depends on the body's work (a 304).

        The lock is let go only while injected latency passes, so that other requests (and
        background work) can happen meanwhile, as they would on a slow server.
        """
        self._lock.acquire()
        try:
            now = self._clock.now()
            journal = _OpRecorder(self, op, user, self.journal.next_op_id(), key)
            wanted = None if kind is None else kind_named(kind)
            try:
                doc = self._store.resolve(key, wanted)
            except NotFound as error:
                journal.invoke(now, if_match=if_match, changes=changes)
                journal.fail(now, error)
                raise
            family_oid = self._store.family_oid(doc)
            request = self._store.queue(family_oid).count_request()
            shaping = self._take_request_actions(family_oid, request, now)
            self._materialise(family_oid, now)
            family = self._store.docs[family_oid]
            journal.about(family.first_id, request)
            journal.invoke(
                now,
                target=None if key == family.first_id else key,
                # What the key names now: an intervention that fired may have made it past.
                addressed=_addressed(key, self._store.get(key) or doc, family),
                if_match=if_match,
                changes=changes,
                etag_before=self._etag_of_key(key),
            )
            latency = sum(a.seconds for a in shaping if isinstance(a, Latency))
            if latency:
                self._lock.release()
                try:
                    self._sleep(latency)
                finally:
                    self._lock.acquire()
                now = self._clock.now()
                self._materialise(family_oid, now)
                # Meanwhile a new iteration may have made the key past: say so.
                journal.readdress(_addressed(key, self._store.get(key) or doc, family))
            fault = next((a for a in shaping if isinstance(a, Fault)), None)
            try:
                if fault is not None:
                    raise _fault_error(fault, scale_of(self._clock))
                target = self._store.resolve(key)  # inside: an intervention may have removed it
                if not target.latest and op != "read":
                    raise self._not_latest(target)
                if self._transaction is not None:
                    self._transaction.before_change(family_oid)
                # Every body validates before it changes anything: a rejection changes nothing.
                result_doc = body(target, now)
            except WindchillError as error:
                journal.fail(now, error, etag_after=self._etag_of_key(key))
                raise
            lost = any(isinstance(a, LoseResponse) for a in shaping)
            journal.succeed(now, result_doc, lost=lost, status=None if status is None else status())
            if self._transaction is not None and op != "read":
                self._transaction.applied(journal.op_id, op, user, family_oid, family.first_id)
            if result_doc is None:
                return OpResult(None, None, lost=lost)
            return self._result(result_doc, lost=lost)
        finally:
            self._lock.release()

    def _not_latest(self, past: Document) -> NotLatestIteration:
        latest = self._store.docs[past.oid]
        return NotLatestIteration(
            f"{past.id} is iteration {past.version}, not the latest: {latest.version} is "
            f"{latest.id}. Only the latest iteration can change; read the object through its "
            f"VersionID {past.version_id}, which names the latest, and apply the change there",
            status=self.profile.past_iteration_status,
        )

    def _check_writable(self, doc: Document, user: str) -> None:
        if doc.is_working_copy:
            original = self._store.original_of(doc)
            if original.checked_out_by != user:
                raise CheckedOut(
                    f"{doc.id} is the working copy of {original.id}, "
                    f"checked out by {original.checked_out_by}"
                )
            return
        if doc.checked_out_by is not None:
            if doc.checked_out_by != user:
                raise CheckedOut(_checked_out_message(doc, user))
            assert doc.working_copy is not None
            raise CheckedOut(
                f"{doc.id} is checked out by you; update its working copy "
                f"{self._store.docs[doc.working_copy].id} and check it in"
            )

    def _checked_out_by_you(self, doc: Document, user: str) -> Document:
        """The original of ``doc``, which ``user`` must hold checked out (check-in, undo)."""
        original = self._store.original_of(doc)
        if original.checked_out_by is None:
            raise BadRequest(f"{original.id} is not checked out")
        if original.checked_out_by != user:
            raise CheckedOut(_checked_out_message(original, user))
        return original

    def _check_preconditions(self, doc: Document, conditions: WriteConditions, now: float) -> None:
        check_write(
            self.profile,
            self._etag(doc),
            conditions,
            now=now,
            busy_until=doc.busy_until,
            busy_source=doc.busy_source,
        )

    # ------------------------------------------------------------------ internals: state

    def _creatable(self, properties: object, kind: EntityKind) -> dict[str, Scalar]:
        """Validate the properties of a new object; its Number must be unused by its kind."""
        values = validate_changes(
            properties, soft_attributes=self.soft_attributes, creating=True, kind=kind
        )
        number = values.get("Number")
        if number is not None and self._store.number_taken(str(number), kind=kind):
            raise Conflict(f"A {kind.name} with number {number} already exists")
        return values

    def _new_document(
        self,
        values: Mapping[str, Scalar],
        *,
        user: str,
        now: float,
        store: DocumentStore | None = None,
        kind: EntityKind = DOCUMENT,
    ) -> Document:
        store = self._store if store is None else store
        oid = store.allocate()
        chosen = values.get("Number")
        number = str(chosen) if chosen is not None else _automatic_number(store, oid, kind)
        doc = Document(
            oid=oid,
            vid=store.allocate(),
            number=number,
            name=str(values["Name"]),
            created_on=now,
            created_by=user,
            modified_by=user,
            stamp=0,
            kind=kind,
        )
        doc.apply({k: v for k, v in values.items() if k not in ("Name", "Number")})
        doc.touch(now)
        store.add(doc)
        return doc

    def _check_out(self, doc: Document, user: str, note: str | None, now: float) -> Document:
        doc.touch(now)
        working = doc.copy()
        working.oid, working.ref = self._store.allocate(), 0  # its own OR:
        working.working_copy_of = doc.oid
        working.checked_out_by = None
        working.working_copy = None
        working.busy_until = 0.0
        working.modified_by = user
        working.checkout_note = note
        working.touch(now)  # after the original's: the two never share an ETag
        self._store.add(working)
        doc.checked_out_by = user
        doc.working_copy = working.oid
        doc.checkout_note = note
        return working

    def _check_in(self, original: Document, user: str, now: float) -> None:
        """The working copy becomes the next iteration; where iterations have their own
        ``OR:``, it keeps the working copy's (as in Windchill) and the old one names the
        checked-in iteration before."""
        assert original.working_copy is not None
        working = self._store.docs[original.working_copy]
        if self.profile.per_iteration_ids:
            self._store.keep_past_iteration(original)
        original.attributes = dict(working.attributes)
        original.update_token = working.update_token
        original.iteration += 1
        original.modified_by = user
        self._drop_working_copy(original)
        if self.profile.per_iteration_ids:
            self._store.rekey(original, working.oid)
        original.touch(now)

    def _undo_check_out(self, original: Document, now: float) -> None:
        self._drop_working_copy(original)
        original.touch(now)

    def _drop_working_copy(self, original: Document) -> None:
        assert original.working_copy is not None
        self._store.discard(original.working_copy)
        original.checked_out_by = None
        original.working_copy = None
        original.checkout_note = None

    def _remove(self, doc: Document) -> None:
        if doc.working_copy is not None:
            self._drop_working_copy(doc)
        self._store.discard(doc.oid)
        if self._transaction is not None:  # a rollback brings it back, with its arrivals
            self._transaction.on_commit.append(lambda: self._background.forget(doc.oid))
        else:
            self._background.forget(doc.oid)

    # ------------------------------------------------------------------ internals: time

    def _materialise_due_interventions(self, now: float) -> None:
        """Materialise every family with an ``at=`` state intervention due by ``now``."""
        for family_oid in sorted(self._store.timed):
            queue = self._store.queues.get(family_oid)
            if queue is not None and queue.has_due_state_actions(now):
                self._materialise(family_oid, now)
            if queue is None or not queue.has_state_actions_at_times():
                self._store.timed.discard(family_oid)

    def _materialise(self, family_oid: int, now: float) -> None:
        """Apply every background arrival and ``at=`` intervention due by ``now``, in order."""
        doc = self._store.docs.get(family_oid)
        if doc is None:
            return
        due: list[tuple[float, int, Arrival | Action]] = [
            (arrival.t, 0, arrival)
            for arrival in self._background.take_due(family_oid, doc.created_on, now)
        ]
        queue = self._store.queues.get(family_oid)
        if queue is not None:
            due += [(when, 1, action) for when, action in queue.take_due_state_actions(now)]
        due.sort(key=lambda item: (item[0], item[1]))
        for when, _, item in due:
            if family_oid not in self._store.docs:
                return
            if isinstance(item, Arrival):
                self._apply_arrival(self._store.docs[family_oid], item)
            else:
                self._apply_action(self._store.docs[family_oid], item, when, strict=False)

    def _take_request_actions(self, family_oid: int, request: int, now: float) -> list[Action]:
        """Take the interventions that fire on this request; apply the state ones at once and
        return the ones that shape the request (fault, lost response, latency)."""
        fire = self._store.queue(family_oid).take_for_request(request, now)
        if fire:
            self._materialise(family_oid, now)
        shaping: list[Action] = []
        for action in fire:
            if action.request_action:
                shaping.append(action)
            elif family_oid in self._store.docs:
                self._apply_action(self._store.docs[family_oid], action, now, strict=False)
        return shaping

    def _apply_arrival(self, doc: Document, arrival: Arrival) -> None:
        self._keep_through_rollback(doc, lambda d: self._apply_arrival(d, arrival))
        doc.touch(arrival.t)
        doc.busy_until = max(doc.busy_until, arrival.t + arrival.duration)
        doc.busy_source = arrival.source
        if self._transaction is None or not self._transaction.replaying:
            self.metrics.count_background(arrival.source)
        self._record(
            arrival.t,
            "background",
            "micro_update",
            arrival.source,
            document=doc.first_id,
            etag_after=str(self._etag(doc)),
            version=doc.version,
            duration=arrival.duration,
        )

    def _apply_action(self, doc: Document, action: Action, when: float, *, strict: bool) -> None:
        try:
            self._apply_state_action(doc, action, when)
            if not isinstance(action, MicroUpdate):  # an arrival keeps itself
                self._keep_through_rollback(
                    doc, lambda d: self._apply_action(d, action, when, strict=False)
                )
        except WindchillError as error:
            if strict:
                raise
            self._record_intervention(doc, action, when, message=f"{SKIPPED_PREFIX}{error.message}")

    def _apply_state_action(self, doc: Document, action: Action, when: float) -> None:
        """Apply one state action to ``doc`` and journal it; raises when it cannot apply."""
        handler = next(
            (_STATE_ACTIONS[c] for c in type(action).__mro__ if c in _STATE_ACTIONS), None
        )
        if handler is None:  # request actions shape a request; they never reach here
            raise MockError(f"{action.kind} is not a state action")
        changes = handler(self, doc, action, when)
        if isinstance(changes, _Journalled):
            return
        self._record_intervention(
            doc,
            action,
            when,
            changes=None if changes is None else dict(changes),
            values=doc.writable_values(),
        )

    # Each returns the changes it made to the values, if it edits them.

    def _micro_update(self, doc: Document, action: MicroUpdate, when: float) -> _Journalled:
        self._apply_arrival(doc, Arrival(when, action.source, action.duration))
        return _JOURNALLED  # as background work, like an arrival

    def _lifecycle_change(self, doc: Document, action: LifecycleChange, when: float) -> None:
        doc.state = action.state
        doc.touch(when)

    def _concurrent_edit(
        self, doc: Document, action: ConcurrentEdit, when: float
    ) -> Mapping[str, Any]:
        if doc.checked_out_by is not None:
            raise CheckedOut(
                f"{doc.id} is checked out by {doc.checked_out_by}: a concurrent edit needs "
                "it checked in"
            )
        values = validate_changes(
            action.changes, soft_attributes=self.soft_attributes, kind=doc.kind
        )
        self._next_iteration(doc, values, action.user, when)
        return values

    def _next_iteration(
        self, doc: Document, values: Mapping[str, Scalar], user: str, when: float
    ) -> None:
        """Another user's edit, checked in at once: a new iteration holding ``values``."""
        if self.profile.per_iteration_ids:
            self._store.keep_past_iteration(doc)
            self._store.rekey(doc, self._store.allocate())
        doc.apply(values)
        doc.iteration += 1
        doc.modified_by = user
        doc.update_token = None
        doc.touch(when)

    def _new_iteration(self, doc: Document, action: NewIteration, when: float) -> None:
        if doc.checked_out_by is not None:
            raise CheckedOut(
                f"{doc.id} is checked out by {doc.checked_out_by}: a new iteration by "
                f"{action.user} needs it checked in"
            )
        self._next_iteration(doc, {}, action.user, when)

    def _check_out_by(self, doc: Document, action: CheckOutBy, when: float) -> None:
        if doc.checked_out_by is not None:
            raise CheckedOut(_checked_out_message(doc, action.user))
        self._check_out(doc, action.user, action.note, when)

    def _check_in_by(self, doc: Document, action: CheckInBy, when: float) -> Mapping[str, Any]:
        self._require_checked_out_by(doc, action.user)
        assert doc.working_copy is not None
        values = validate_changes(
            action.changes or {}, soft_attributes=self.soft_attributes, kind=doc.kind
        )
        self._store.docs[doc.working_copy].apply(values)
        self._check_in(doc, action.user, when)
        return values

    def _undo_check_out_by(self, doc: Document, action: UndoCheckOutBy, when: float) -> None:
        self._require_checked_out_by(doc, action.user)
        self._undo_check_out(doc, when)

    def _require_checked_out_by(self, doc: Document, user: str) -> None:
        if doc.checked_out_by != user:
            raise Conflict(f"{doc.id} is not checked out by {user}")

    def _record_intervention(
        self, doc: Document, action: Action, when: float, **fields: Any
    ) -> None:
        self._record(
            when,
            "intervention",
            action.kind,
            _actor(action),
            document=doc.first_id,
            etag_after=str(self._etag(doc)),
            version=doc.version,
            **fields,
        )

    # ------------------------------------------------------------------ internals: lookup

    def _etag(self, doc: Document) -> ETag:
        return doc.etag(weak=self.profile.weak_etags)

    def _etag_header(self, doc: Document) -> str | None:
        return str(self._etag(doc)) if self.profile.emit_etags else None

    def _etag_of_key(self, key: str) -> str | None:
        doc = self._store.get(key)
        return None if doc is None else str(self._etag(doc))

    def _entity(self, doc: Document) -> dict[str, Any]:
        return doc.to_entity(
            soft_attributes=self.soft_attributes, utc_offset_minutes=self.utc_offset_minutes
        )

    def _result(self, doc: Document, *, lost: bool = False) -> OpResult:
        return OpResult(self._entity(doc), self._etag_header(doc), lost, doc.update_token)

    def _record(self, when: float, type_: EventType, op: Op, process: str, **fields: Any) -> Event:
        if self._transaction is not None and self._transaction.replaying:
            return Event(0, when, type_, op, process)  # done again after a rollback: not news
        return self.journal.record(
            t=round(when - self.epoch, 6), type=type_, op=op, process=process, **fields
        )


class _OpRecorder:
    """Journals one client operation: its ``invoke``, then exactly one outcome.

    Every event of the operation carries the same op id, user and document (once known) and,
    for requests on an existing document, the request number.
    """

    def __init__(
        self, repository: Repository, op: ClientOp, user: str, op_id: int, document: str | None
    ) -> None:
        self._repository, self._op, self._user = repository, op, user
        self.op_id = op_id
        self._fields: dict[str, Any] = {"op_id": op_id}
        self._invoke: Event | None = None
        if document is not None:
            self._fields["document"] = document

    def about(self, document: str, request: int | None = None) -> None:
        """The document the operation turned out to be about (and its request number)."""
        self._fields["document"] = document
        if request is not None:
            self._fields["request"] = request

    def readdress(self, addressed: str | None) -> None:
        """What the key names changed while the operation waited (injected latency)."""
        if self._invoke is not None and self._invoke.addressed != addressed:
            self._invoke = self._repository.journal.amend(self._invoke, addressed=addressed)

    def invoke(self, now: float, *, changes: Any = None, **fields: Any) -> None:
        """The ``invoke``: a body's ``changes`` are kept only while they look like a write."""
        if changes is not None and not is_flat_body(changes):
            fields["refused_body"] = summarise_body(changes)
            changes = None
        self._invoke = self._write(now, "invoke", changes=changes, **fields)

    def fail(self, now: float, error: WindchillError, **fields: Any) -> None:
        """The ``fail``; a refused body is not kept verbatim, only its bounded summary."""
        invoke = self._invoke
        if invoke is not None and invoke.changes is not None:
            self._repository.journal.amend(
                invoke, changes=None, refused_body=summarise_body(invoke.changes)
            )
        if isinstance(error, InjectedFault) and error.retry_after is not None:
            fields["retry_after"] = float(math.ceil(error.retry_after))
        self._write(now, "fail", status=error.http_status, message=error.message, **fields)

    def succeed(
        self, now: float, doc: Document | None, *, lost: bool = False, status: int | None = None
    ) -> None:
        """``ok``, or ``info`` when the answer is lost (the client cannot know the outcome)."""
        fields: dict[str, Any] = {"status": status or _success_status(self._op)}
        if doc is not None:
            fields["etag_after"] = str(self._repository._etag(doc))
            fields["version"] = doc.version
            if self._op != "read":
                fields["values"] = doc.writable_values()
        if lost:
            fields["message"] = LOST_RESPONSE_MESSAGE
        self._write(now, "info" if lost else "ok", **fields)

    def _write(self, now: float, type_: EventType, **fields: Any) -> Event:
        return self._repository._record(now, type_, self._op, self._user, **self._fields, **fields)


class _Transaction:
    """What a change set changed, to put back: copies of each family before its first
    change, and the store's next object id at the start (what was created after goes)."""

    def __init__(self, store: DocumentStore) -> None:
        self._store = store
        self.start = store.save((), queues=False)
        self.saves: list[Any] = []
        self._saved: set[int] = set()
        #: (op id, op, user, family, its first OR:) of every operation that changed something.
        self.ops: list[tuple[int, ClientOp, str, int, str]] = []
        #: Work that only a commit may do (forgetting a deleted object's background streams).
        self.on_commit: list[Callable[[], None]] = []
        #: Other processes' work on changed objects, to do again after a rollback.
        self.replay: list[tuple[int, Callable[[Document], None]]] = []
        self.replaying = False
        #: Objects the change set created.
        self.created: list[int] = []

    def changed(self, family_oid: int) -> bool:
        return family_oid in self._saved

    def before_change(self, family_oid: int) -> None:
        if family_oid not in self._saved:
            self._saved.add(family_oid)
            self.saves.append(self._store.save([family_oid], queues=False))

    def applied(self, op_id: int, op: ClientOp, user: str, family_oid: int, document: str) -> None:
        self.ops.append((op_id, op, user, family_oid, document))


class ChangeSet:
    """The handle of a change set in progress (see :meth:`Repository.change_set`)."""

    def __init__(self, repository: Repository, transaction: _Transaction) -> None:
        self._repository = repository
        self._transaction = transaction
        self.rolled_back = False

    def roll_back(self, reason: str) -> list[int]:
        """Undo every change of the change set so far; returns the op ids undone."""
        if self.rolled_back:
            raise MockError("this change set was rolled back already")
        self.rolled_back = True
        self._transaction.on_commit.clear()
        return self._repository._roll_back(self._transaction, reason)


_StateAction = Callable[
    [Repository, Document, Any, float], "Mapping[str, Any] | _Journalled | None"
]

#: What each state action does to a document: a table, so that adding an action adds a row.
_STATE_ACTIONS: dict[type[Action], _StateAction] = {
    MicroUpdate: Repository._micro_update,
    LifecycleChange: Repository._lifecycle_change,
    ConcurrentEdit: Repository._concurrent_edit,
    NewIteration: Repository._new_iteration,
    CheckOutBy: Repository._check_out_by,
    CheckInBy: Repository._check_in_by,
    UndoCheckOutBy: Repository._undo_check_out_by,
}


def _fault_error(fault: Fault, scale: float = 1.0) -> WindchillError:
    headers = {}
    if fault.retry_after is not None:
        # Retry-After takes whole seconds; round up so a client never retries too early. On a
        # sped-up clock it speaks in the client's real seconds: waiting that long lets at
        # least ``retry_after`` of the mock's seconds pass (the journal keeps those).
        headers["Retry-After"] = str(max(0, math.ceil(fault.retry_after / scale)))
    error = InjectedFault(
        fault.message or f"Injected fault: HTTP {fault.status}",
        status=fault.status,
        headers=headers,
    )
    error.retry_after = fault.retry_after
    return error


def _success_status(op: ClientOp) -> int:
    return {"create": 201, "delete": 204}.get(op, 200)


def _checked_out_message(doc: Document, user: str) -> str:
    owner = doc.checked_out_by
    if owner == user:
        return f"{doc.id} is already checked out by you"
    return f"{doc.id} is checked out by {owner}; it cannot be modified by {user}"


def _actor(action: Action) -> str:
    user = getattr(action, "user", None)
    if isinstance(user, str):
        return user
    return getattr(action, "source", "mock")


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector while many long-lived objects are made.

    Making a hundred thousand documents would start several full collections, each of
    which stops every thread for tens of milliseconds; the documents make no cycles to
    collect, so nothing is lost by pausing it. What was made meanwhile then moves to the
    oldest generation without being scanned (a freeze and unfreeze, both constant time;
    skipped if the program froze objects itself), so that the first collection after does
    not scan them all at once either.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if paused:
            gc.enable()


def _automatic_number(store: DocumentStore, oid: int, kind: EntityKind) -> str:
    """The object id as ten digits, or (taken by a client already) with a suffix."""
    number, suffix = f"{oid:010d}", 1
    while store.number_taken(number, kind=kind):
        suffix += 1
        number = f"{oid:010d}-{suffix}"
    return number


def _oid(doc: Document) -> int:
    return doc.oid


def _anything(values: Mapping[str, object]) -> bool:
    return True


def _all_equal(
    wanted: list[tuple[str, str]], also: Callable[[Mapping[str, object]], bool] | None
) -> Callable[[Mapping[str, object]], bool]:
    """Equalities on property paths (``State`` meaning ``State/Value``), and ``also``."""
    pairs = [("State/Value" if name == "State" else name, value) for name, value in wanted]

    def accept(values: Mapping[str, object]) -> bool:
        return all(values.get(name) == value for name, value in pairs) and (
            also is None or also(values)
        )

    return accept


def _sort_key(value: object) -> tuple[bool, Any]:
    """Nulls first, as OData sorts them ascending."""
    return (value is not None, value if value is not None else 0)


def _as_dict(value: object) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, Mapping) else None


def _addressed(key: str, doc: Document, family: Document) -> str | None:
    """What the key of a client operation named, when it is not the family's first ``OR:``:
    a ``working_copy``, a ``past_iteration``, the ``latest`` iteration by its own ``OR:``, or
    the ``version`` (``VR:``) reference."""
    if key == family.first_id:
        return None if doc.latest else "past_iteration"
    if doc.is_working_copy:
        return "working_copy"
    if not doc.latest:
        return "past_iteration"
    return "version" if key == doc.version_id else "latest"
