"""Interventions: something that happens to a document, and when.

An :class:`Intervention` is a trigger plus an action. Triggers:

* ``before_request=n`` — right before the mock handles the n-th client request that touches
  the document (its working copy included), counting from 1;
* ``at=t`` — at virtual time ``t`` seconds after the mock started (or was reset);
* neither — at once (state actions) or on the next request (request actions).

*State* actions change the document (a micro-update, a lifecycle change, an edit or a
check-out by another user). *Request* actions shape the handling of one client request
(a fault, a lost response, latency).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from .background import SOURCES
from .documents import STATES, Scalar
from .errors import MockError
from .journal import ActionKind

__all__ = [
    "ACTIONS",
    "Action",
    "CheckInBy",
    "CheckOutBy",
    "ConcurrentEdit",
    "Fault",
    "Intervention",
    "Latency",
    "LifecycleChange",
    "LoseResponse",
    "MicroUpdate",
    "UndoCheckOutBy",
]


def _non_negative(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MockError(f"{name} must be a finite number, got {value!r}")
    if value < 0:
        raise MockError(f"{name} must be >= 0, got {value!r}")


def _user(value: object) -> None:
    if not isinstance(value, str) or not value:
        raise MockError(f"user must be a non-empty string, got {value!r}")


@dataclass(frozen=True)
class MicroUpdate:
    """A background operation: changes the ETag's timestamp part, holds the document busy."""

    kind: ClassVar[ActionKind] = "micro_update"
    request_action: ClassVar[bool] = False
    source: str = "indexer"
    duration: float = 0.0

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise MockError(f"unknown source {self.source!r}; known: {list(SOURCES)}")
        _non_negative("duration", self.duration)


@dataclass(frozen=True)
class LifecycleChange:
    """A lifecycle evaluation that moves ``State``: a visible change, no new iteration."""

    kind: ClassVar[ActionKind] = "lifecycle_change"
    request_action: ClassVar[bool] = False
    state: str = "RELEASED"

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise MockError(f"unknown state {self.state!r}; known: {list(STATES)}")


@dataclass(frozen=True)
class ConcurrentEdit:
    """Another user edits the document: the changes land in a new iteration."""

    kind: ClassVar[ActionKind] = "concurrent_edit"
    request_action: ClassVar[bool] = False
    changes: Mapping[str, Scalar] = field(default_factory=dict)
    user: str = "other"

    def __post_init__(self) -> None:
        if not isinstance(self.changes, Mapping) or not self.changes:
            raise MockError("concurrent_edit needs a non-empty object of changes")
        _user(self.user)


@dataclass(frozen=True)
class CheckOutBy:
    """Another user checks the document out (and keeps it)."""

    kind: ClassVar[ActionKind] = "check_out"
    request_action: ClassVar[bool] = False
    user: str = "other"
    note: str | None = None

    def __post_init__(self) -> None:
        _user(self.user)


@dataclass(frozen=True)
class CheckInBy:
    """The user holding the check-out applies ``changes`` to the working copy and checks in."""

    kind: ClassVar[ActionKind] = "check_in"
    request_action: ClassVar[bool] = False
    user: str = "other"
    changes: Mapping[str, Scalar] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _user(self.user)


@dataclass(frozen=True)
class UndoCheckOutBy:
    """The user holding the check-out abandons it."""

    kind: ClassVar[ActionKind] = "undo_check_out"
    request_action: ClassVar[bool] = False
    user: str = "other"

    def __post_init__(self) -> None:
        _user(self.user)


@dataclass(frozen=True)
class Fault:
    """Answer one request with an error status instead of handling it. Nothing changes."""

    kind: ClassVar[ActionKind] = "fault"
    request_action: ClassVar[bool] = True
    status: int = 503
    retry_after: float | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.status, bool) or not isinstance(self.status, int):
            raise MockError(f"status must be an integer, got {self.status!r}")
        if not 400 <= self.status <= 599:
            raise MockError(f"a fault status must be 4xx or 5xx, got {self.status}")
        if self.retry_after is not None:
            _non_negative("retry_after", self.retry_after)


@dataclass(frozen=True)
class LoseResponse:
    """Handle the request (a write is applied), then drop the connection before answering."""

    kind: ClassVar[ActionKind] = "lose_response"
    request_action: ClassVar[bool] = True


@dataclass(frozen=True)
class Latency:
    """Delay handling one request by ``seconds`` (virtual seconds on a virtual clock)."""

    kind: ClassVar[ActionKind] = "latency"
    request_action: ClassVar[bool] = True
    seconds: float = 1.0

    def __post_init__(self) -> None:
        _non_negative("seconds", self.seconds)


Action = (
    MicroUpdate
    | LifecycleChange
    | ConcurrentEdit
    | CheckOutBy
    | CheckInBy
    | UndoCheckOutBy
    | Fault
    | LoseResponse
    | Latency
)

ACTIONS: Mapping[str, type[Action]] = {
    cls.kind: cls
    for cls in (
        MicroUpdate,
        LifecycleChange,
        ConcurrentEdit,
        CheckOutBy,
        CheckInBy,
        UndoCheckOutBy,
        Fault,
        LoseResponse,
        Latency,
    )
}


@dataclass(frozen=True)
class Intervention:
    """An action on ``document`` with at most one trigger."""

    document: str
    action: Action
    before_request: int | None = None
    at: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.document, str) or not self.document:
            raise MockError(f"document must be a document ID, got {self.document!r}")
        if self.before_request is not None and self.at is not None:
            raise MockError("give at most one trigger: before_request or at")
        if self.before_request is not None and (
            isinstance(self.before_request, bool)
            or not isinstance(self.before_request, int)
            or self.before_request < 1
        ):
            raise MockError(f"before_request counts from 1, got {self.before_request!r}")
        if self.at is not None:
            _non_negative("at", self.at)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"action": self.action.kind, "document": self.document}
        for f in fields(self.action):
            value = getattr(self.action, f.name)
            data[f.name] = dict(value) if isinstance(value, Mapping) else value
        if self.before_request is not None:
            data["before_request"] = self.before_request
        if self.at is not None:
            data["at"] = self.at
        return data

    @classmethod
    def from_json(cls, data: object) -> Intervention:
        """Build from the admin API's JSON form; :class:`MockError` names what is wrong."""
        if not isinstance(data, Mapping):
            raise MockError("an intervention is a JSON object")
        values = dict(data)
        kind = values.pop("action", None)
        if kind not in ACTIONS:
            raise MockError(f"unknown action {kind!r}; known: {sorted(ACTIONS)}")
        action_cls = ACTIONS[kind]
        document = values.pop("document", None)
        before_request = values.pop("before_request", None)
        at = values.pop("at", None)
        names = {f.name for f in fields(action_cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise MockError(f"unknown field(s) {unknown} for {kind}; known: {sorted(names)}")
        try:
            action = action_cls(**values)
        except TypeError as error:
            raise MockError(f"bad fields for {kind}: {error}") from None
        return cls(document=document, action=action, before_request=before_request, at=at)
