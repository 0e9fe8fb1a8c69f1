"""The client's history, reconstructed from the mock's journal, for the checker.

:class:`History` pairs each client operation's ``invoke`` with its end (``ok``, ``fail`` or
``info``) and answers what the properties ask: which requests were the client's PATCHes, which
of its operations wrote the document, which changes other writers made, and what the document
held at any point. It judges nothing; :mod:`pytest_windchill.checks` does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mock_server.core.journal import ENDS, SKIPPED_PREFIX, Event

__all__ = ["History", "Operation", "client_operations"]


@dataclass(frozen=True)
class Operation:
    """A client operation: its invoke, its completion (ok / fail / info), and the rollback
    that undid it when it was part of a change set that failed."""

    invoke: Event
    end: Event | None
    rollback: Event | None = None

    @property
    def op(self) -> str:
        return self.invoke.op

    @property
    def outcome(self) -> str:
        return self.end.type if self.end is not None else "pending"

    @property
    def status(self) -> int | None:
        return self.end.status if self.end is not None else None

    @property
    def applied(self) -> bool:
        """It changed the server, and no failed change set undid it."""
        return self.outcome in ("ok", "info") and self.rollback is None

    @property
    def on_working_copy(self) -> bool:
        return self.invoke.addressed == "working_copy"

    @property
    def key(self) -> str | None:
        """The key the client addressed."""
        return self.invoke.target or self.invoke.document


def client_operations(history: Sequence[Event], user: str, since: int) -> list[Operation]:
    """``user``'s operations recorded after journal sequence number ``since``, in order."""
    invokes: dict[int, Event] = {}
    order: list[int] = []
    ends: dict[int, Event] = {}
    rollbacks: dict[int, Event] = {}
    for event in history:
        if event.process != user or event.op_id is None or event.seq <= since:
            continue
        if event.type == "invoke":
            invokes[event.op_id] = event
            order.append(event.op_id)
        elif event.type in ENDS:
            ends[event.op_id] = event
        elif event.type == "rollback":
            rollbacks[event.op_id] = event
    return [Operation(invokes[i], ends.get(i), rollbacks.get(i)) for i in order]


class History:
    """One document's journal as seen by one client (``user``)."""

    def __init__(
        self,
        history: list[Event],
        user: str,
        since: int,
        initial: Mapping[str, Any] | None = None,
    ) -> None:
        self.history = history
        self.user = user
        self.since = since
        self.ops = client_operations(history, user, since)
        #: The document's writable values before the history begins (when it starts part-way).
        self.initial: dict[str, Any] = dict(initial or {})
        self.working_copy_ops = {
            e.op_id for e in history if e.type == "invoke" and e.addressed == "working_copy"
        }

    def patches(self) -> list[Operation]:
        """The client's PATCHes of the original document (not of a working copy)."""
        return [o for o in self.ops if o.op == "update" and not o.on_working_copy]

    def writes(self) -> list[Operation]:
        """Client operations that change the original's values: updates of the original, and
        check-ins (addressed to the original or to its working copy)."""
        return [
            o
            for o in self.ops
            if o.applied and ((o.op == "update" and not o.on_working_copy) or o.op == "check_in")
        ]

    def foreign_changes(self) -> list[Event]:
        """Changes other writers made, when they were made: interventions that applied, and
        other users' PATCHes that completed (the end event, with the changes its invoke
        sent). Skipped interventions changed nothing; set-up journals values, not changes."""
        sent = {
            e.op_id: e.changes
            for e in self.history
            if e.type == "invoke" and e.op == "update" and e.process != self.user
        }
        undone = {e.op_id for e in self.history if e.type == "rollback"}
        changes: list[Event] = []
        for e in self.history:
            if e.process == self.user or (e.message or "").startswith(SKIPPED_PREFIX):
                continue
            if e.type == "intervention" and e.changes is not None:
                changes.append(e)
            elif (
                e.type in ("ok", "info")
                and e.op == "update"
                and sent.get(e.op_id)
                and e.op_id not in undone
            ):
                changes.append(dataclasses.replace(e, changes=sent[e.op_id]))
        return changes

    def describes_original(self, event: Event) -> bool:
        """Whether ``event`` carries the original's values (not a working copy's)."""
        if event.values is None or event.op == "check_out":
            return False
        # Only an invoke names its target; its completion carries the working copy's values.
        return not (event.op == "update" and event.op_id in self.working_copy_ops)

    def values_before(self, seq_event: Event) -> dict[str, Any]:
        values: dict[str, Any] = dict(self.initial)
        for e in self.history:
            if (e.t, e.seq) >= (seq_event.t, seq_event.seq):
                break
            if self.describes_original(e):
                assert e.values is not None
                values = dict(e.values)
        return values

    def known_values_before(self, seq_event: Event) -> dict[str, Any] | None:
        """The document's writable values just before ``seq_event``; None when unknown."""
        known = bool(self.initial) or any(
            self.describes_original(e)
            for e in self.history
            if (e.t, e.seq) < (seq_event.t, seq_event.seq)
        )
        return self.values_before(seq_event) if known else None

    def final_values(self) -> dict[str, Any]:
        values: dict[str, Any] = dict(self.initial)
        for e in self.history:
            if self.describes_original(e):
                assert e.values is not None
                values = dict(e.values)
        return values
