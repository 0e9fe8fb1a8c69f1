"""The journal: an ordered history of what happened to documents.

Client operations appear as ``invoke`` followed by ``ok``, ``fail`` or ``info`` (``info``: the
client cannot know the outcome, e.g. a lost response). Background operations and
interventions appear as ``background`` and ``intervention`` events. Events are ordered by
virtual time, then by the order they were recorded; times are seconds since the mock started
or was reset. The history serialises to JSON lines, one event a line.

What a client sends is kept only as long as it is a plausible write: an ``invoke`` keeps the
body's ``changes`` while they are a flat object of scalars, and a refused operation's body is
replaced by a bounded summary (``refused_body``: size, top-level keys, a short preview), so a
hostile body can neither fill the memory nor break the journal's serialisation.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal, get_args

__all__ = [
    "ACTION_KINDS",
    "CLIENT_OPS",
    "ENDS",
    "EVENT_TYPES",
    "IN_PROCESS_ENVIRON",
    "LOST_RESPONSE_ENVIRON",
    "LOST_RESPONSE_MESSAGE",
    "SKIPPED_PREFIX",
    "ActionKind",
    "ClientOp",
    "End",
    "Event",
    "EventType",
    "Journal",
    "Metrics",
    "Op",
    "events_to_jsonl",
    "is_flat_body",
    "summarise_body",
]

#: How a client operation ended: done, refused, or unknown to the client (a lost response).
End = Literal["ok", "fail", "info"]
#: Every kind of event: a client operation's ``invoke`` and its end, background work, and
#: interventions (set-up included).
EventType = Literal["invoke", "ok", "fail", "info", "background", "intervention", "rollback"]
#: What a client asked for.
ClientOp = Literal[
    "read",
    "update",
    "delete",
    "create",
    "check_out",
    "check_in",
    "undo_check_out",
    "update_common_properties",
]
#: The kinds of intervention action (``Action.kind``); the state actions appear as ``op``.
ActionKind = Literal[
    "micro_update",
    "lifecycle_change",
    "concurrent_edit",
    "new_iteration",
    "check_out",
    "check_in",
    "undo_check_out",
    "fault",
    "lose_response",
    "latency",
]
#: An event's ``op``: a client operation or an action.
Op = ClientOp | ActionKind
ENDS: tuple[End, ...] = get_args(End)
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
CLIENT_OPS: tuple[ClientOp, ...] = get_args(ClientOp)
ACTION_KINDS: tuple[ActionKind, ...] = get_args(ActionKind)
#: The ``message`` of an ``info`` event whose response the mock dropped.
LOST_RESPONSE_MESSAGE = "response lost: the connection was dropped after handling"
#: The WSGI environ key by which the HTTP layer tells the server (or the in-process
#: transport) to drop the connection instead of sending the response.
LOST_RESPONSE_ENVIRON = "windchill.lost_response"
#: The WSGI environ key by which the in-process transport says that no socket (and so no
#: browser) is involved: the admin API then accepts its made-up host name.
IN_PROCESS_ENVIRON = "windchill.in_process"
#: How the ``message`` of an intervention that could not apply begins (e.g. an edit of a
#: document checked out by someone else): journalled, but it changed nothing.
SKIPPED_PREFIX = "skipped: "


@dataclass(frozen=True)
class Event:
    """One line of history. Fields that do not apply are ``None`` and left out of JSON."""

    seq: int
    t: float
    type: EventType
    op: Op
    process: str
    document: str | None = None
    #: The key the client addressed, when it is not ``document`` (the object's first ``OR:``).
    target: str | None = None
    #: What the key named, when not simply the object: ``working_copy``, ``past_iteration``
    #: (an ``OR:`` a later iteration has replaced), ``latest`` (the latest iteration's own
    #: ``OR:``) or ``version`` (its ``VR:``).
    addressed: str | None = None
    op_id: int | None = None
    request: int | None = None
    if_match: str | None = None
    etag_before: str | None = None
    etag_after: str | None = None
    version: str | None = None
    status: int | None = None
    changes: Mapping[str, Any] | None = None
    values: Mapping[str, Any] | None = None
    duration: float | None = None
    #: ``Retry-After`` seconds sent with a failure (injected faults).
    retry_after: float | None = None
    message: str | None = None
    #: On the ``invoke`` of a refused operation, or of a body that is no flat object of
    #: scalars: a bounded summary of the body instead of its ``changes``.
    refused_body: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        # Shallow on purpose: a body is flat (see is_flat_body) or summarised, never walked.
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                data[f.name] = dict(value) if isinstance(value, Mapping) else value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        if data.get("type") not in EVENT_TYPES:
            raise ValueError(f"unknown event type {data.get('type')!r}; known: {EVENT_TYPES}")
        if data.get("op") not in (*CLIENT_OPS, *ACTION_KINDS):
            raise ValueError(f"unknown event op {data.get('op')!r}")
        return cls(**data)


#: What a summary of a refused body keeps: top-level keys, their length, the preview's length.
SUMMARY_KEYS = 20
SUMMARY_KEY_CHARS = 64
SUMMARY_PREVIEW_CHARS = 200
#: How many values a summary looks at to size a body; a bigger one is "at least" that big.
_SUMMARY_NODES = 10_000
_SCALARS = (str, int, float, bool, type(None))


def is_flat_body(body: object) -> bool:
    """Whether ``body`` is an object of scalar values: the shape of every valid write."""
    return isinstance(body, Mapping) and all(
        isinstance(key, str) and isinstance(value, _SCALARS) for key, value in body.items()
    )


def summarise_body(body: object) -> dict[str, Any]:
    """A bounded summary of a request body: its JSON size in characters (``size``; with
    ``"size_at_least": true`` when it was too big to measure), up to 20 top-level keys (each cut
    to 64 characters) with their count, and the start of its JSON text (200 characters).

    Walks the body without recursion and looks at no more than 10,000 values, so any body the
    parser accepted can be summarised: however deep, however big.
    """
    size, preview, seen = 0, "", 0
    stack: list[object] = [body]
    while stack and seen <= _SUMMARY_NODES:
        item = stack.pop()
        if isinstance(item, _Literal):
            text = item.text
        elif isinstance(item, Mapping):
            seen += 1
            stack.append(_Literal("}"))
            for index, (key, value) in enumerate(reversed(list(item.items()))):
                stack += [value, _Literal(json.dumps(str(key)) + ":")]
                if index < len(item) - 1:
                    stack.append(_Literal(","))
            stack.append(_Literal("{"))
            continue
        elif isinstance(item, list | tuple):
            seen += 1
            stack.append(_Literal("]"))
            for index, value in enumerate(reversed(item)):
                stack.append(value)
                if index < len(item) - 1:
                    stack.append(_Literal(","))
            stack.append(_Literal("["))
            continue
        else:
            seen += 1
            text = json.dumps(item if isinstance(item, _SCALARS) else str(item))
        size += len(text)
        preview += text[: max(0, SUMMARY_PREVIEW_CHARS - len(preview))]
    summary: dict[str, Any] = {"size": size, "preview": preview}
    if stack:  # stopped at the budget
        summary["size_at_least"] = True
    if isinstance(body, Mapping):
        summary["keys"] = [str(key)[:SUMMARY_KEY_CHARS] for key in list(body)[:SUMMARY_KEYS]]
        summary["key_count"] = len(body)
    else:
        summary["type"] = type(body).__name__
    return summary


@dataclass(frozen=True)
class _Literal:
    text: str


def events_to_jsonl(events: Iterable[Event]) -> str:
    """One compact JSON object a line, keys sorted: byte-identical for identical histories."""
    return "".join(_line(e) for e in events)


def _line(event: Event) -> str:
    # ASCII only (json's default), so its length in characters is its size in bytes.
    return json.dumps(event.to_json(), sort_keys=True, separators=(",", ":")) + "\n"


class Journal:
    """Thread-safe, optionally bounded (oldest events dropped first).

    ``limit`` bounds the number of events, ``limit_bytes`` the size of their JSON lines as
    ``GET /__mock/journal`` sends them. The newest event is always kept, however big.
    """

    def __init__(self, limit: int | None = None, limit_bytes: int | None = None) -> None:
        self._events: deque[Event] = deque(maxlen=limit)
        #: With a byte bound: each event's size, in step with ``_events``.
        self._sizes: deque[int] = deque(maxlen=limit)
        self._limit_bytes = limit_bytes
        self._bytes = 0
        self._seq = 0
        self._op = 0
        self._dropped = 0
        self._lock = threading.Lock()

    @property
    def limit(self) -> int | None:
        return self._events.maxlen

    @property
    def limit_bytes(self) -> int | None:
        return self._limit_bytes

    @property
    def size_bytes(self) -> int | None:
        """The size of the events kept, in bytes of JSON lines (counted only with a byte bound)."""
        with self._lock:
            return self._bytes if self._limit_bytes is not None else None

    @property
    def dropped(self) -> int:
        """Events dropped (the oldest first) to stay within the limit since the last clear."""
        with self._lock:
            return self._dropped

    def record(self, **fields: Any) -> Event:
        with self._lock:
            self._seq += 1
            event = Event(seq=self._seq, **fields)
            if self._events.maxlen is not None and len(self._events) == self._events.maxlen:
                self._drop_oldest()
            self._events.append(event)
            if self._limit_bytes is not None:
                size = len(_line(event))
                self._sizes.append(size)
                self._bytes += size
                while self._bytes > self._limit_bytes and len(self._events) > 1:
                    self._drop_oldest()
            return event

    def _drop_oldest(self) -> None:
        self._events.popleft()
        if self._limit_bytes is not None:
            self._bytes -= self._sizes.popleft()
        self._dropped += 1

    def amend(self, event: Event, **changed: Any) -> Event:
        """Replace ``event`` (still in the journal) by a copy with ``changed`` fields."""
        with self._lock:
            for index in range(len(self._events) - 1, -1, -1):
                if self._events[index] is event:
                    amended = replace(event, **changed)
                    self._events[index] = amended
                    if self._limit_bytes is not None:
                        size = len(_line(amended))
                        self._bytes += size - self._sizes[index]
                        self._sizes[index] = size
                    return amended
        return event  # dropped by the journal's bound meanwhile

    def next_op_id(self) -> int:
        with self._lock:
            self._op += 1
            return self._op

    def events(self, document: str | None = None) -> list[Event]:
        """The history in order (time, then recording order), optionally for one document."""
        with self._lock:
            selected = [e for e in self._events if document is None or e.document == document]
        return sorted(selected, key=lambda e: (e.t, e.seq))

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events())

    def __len__(self) -> int:
        return len(self._events)

    def to_jsonl(self, document: str | None = None) -> str:
        return events_to_jsonl(self.events(document))

    def clear(self) -> None:
        with self._lock:
            self._events.clear()
            self._sizes.clear()
            self._bytes = 0
            self._seq = 0
            self._op = 0
            self._dropped = 0

    def let_go(self) -> None:
        """Forget every event, one at a time: for a journal nobody uses any more."""
        while True:
            with self._lock:
                if not self._events:
                    self._sizes.clear()
                    self._bytes = 0
                    return
                self._events.pop()

    def mark(self) -> tuple[int, int]:
        """A point to :meth:`rewind` to."""
        with self._lock:
            return self._seq, len(self._events)

    def rewind(self, mark: tuple[int, int]) -> None:
        """Drop every event recorded since ``mark`` (an operation that was undone)."""
        seq, _ = mark
        with self._lock:
            # By sequence number, not length: the bound may have dropped old events meanwhile.
            while self._events and self._events[-1].seq > seq:
                self._events.pop()
                if self._limit_bytes is not None:
                    self._bytes -= self._sizes.pop()
            self._seq = seq


class Metrics:
    """Counters for ``GET /__mock/metrics``. Background events count when materialised."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.requests = 0
            self.responses: dict[int, int] = {}
            self.background: dict[str, int] = {}
            self.interventions = 0

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def count_response(self, status: int) -> None:
        with self._lock:
            self.responses[status] = self.responses.get(status, 0) + 1

    def count_background(self, source: str) -> None:
        with self._lock:
            self.background[source] = self.background.get(source, 0) + 1

    def count_intervention(self) -> None:
        with self._lock:
            self.interventions += 1

    def uncount_interventions(self, count: int) -> None:
        with self._lock:
            self.interventions -= count

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            responses = dict(sorted(self.responses.items()))
            return {
                "requests": self.requests,
                "responses": {str(k): v for k, v in responses.items()},
                "conflicts": responses.get(409, 0) + responses.get(412, 0),
                "background": dict(sorted(self.background.items())),
                "interventions": self.interventions,
            }
