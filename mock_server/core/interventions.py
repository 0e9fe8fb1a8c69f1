"""Interventions: something that happens to a document, and when.

An :class:`Intervention` is a trigger plus an action. Triggers:

* ``before_request=n`` — right before the mock handles the n-th client request that touches
  the document (its working copy included), counting from 1;
* ``at=t`` — at virtual time ``t`` seconds after the mock started (or was reset);
* neither — at once (state actions) or on the next request (request actions).

Each action class is the one place an action is declared: besides its fields and validation
it carries what the rest of the project derives from it (see :class:`ActionSpec`): the name of
its schedule helper and ``WindchillMock`` method (``helper``), its place in the shrink order
of generated schedules (``rank``), and what a generated schedule draws for its fields
(``draws``). Adding an action is adding a class here, its row in the repository's table of
state changes (or its handling as a request action), and its tests.

*State* actions change the document (a micro-update, a lifecycle change, an edit or a
check-out by another user). *Request* actions shape the handling of one client request
(a fault, a lost response, latency).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar, Literal, Protocol

from .background import SOURCES
from .documents import STATES, Scalar
from .errors import MockError
from .journal import ActionKind

__all__ = [
    "ACTIONS",
    "Action",
    "ActionSpec",
    "CheckInBy",
    "CheckOutBy",
    "ConcurrentEdit",
    "Domain",
    "Fault",
    "Intervention",
    "Latency",
    "LifecycleChange",
    "LoseResponse",
    "MicroUpdate",
    "UndoCheckOutBy",
    "check_fields",
    "field_defaults",
]


#: What a generated schedule draws for one field: one of these values, or a token the strategy
#: module turns into a strategy (``"fields"``: one or two of the fields a client may write;
#: ``"text"``: a short text).
Domain = tuple[object, ...] | Literal["fields", "text"]


class ActionSpec(Protocol):
    """The metadata every action class declares (class attributes, not fields)."""

    kind: ClassVar[ActionKind]
    #: True when the action shapes one request (fault, lost response, latency) instead of
    #: changing the document.
    request_action: ClassVar[bool]
    #: The name of its schedule helper (``pytest_windchill.schedules``) and of its
    #: ``WindchillMock`` method.
    helper: ClassVar[str]
    #: Its place in the shrink order of generated schedules (lower is simpler); ``None``:
    #: never drawn on its own (a check-in only follows a drawn check-out).
    rank: ClassVar[int | None]
    #: What a generated schedule draws, ``(name, domain)`` in draw order, at most two.
    draws: ClassVar[tuple[tuple[str, Domain], ...]]

    @classmethod
    def from_draws(cls, drawn: dict[str, Any]) -> Any: ...


class _Drawn:
    """What every action can do: be built from the values a generated schedule drew."""

    @classmethod
    def from_draws(cls, drawn: dict[str, Any]) -> Any:
        return cls(**drawn)


def field_defaults(action_class: type[Any]) -> list[tuple[str, object]]:
    """``(name, default)`` of each field of an action class, in order (helpers' signatures);
    a required field's default is ``inspect.Parameter.empty``."""
    result: list[tuple[str, object]] = []
    for f in fields(action_class):
        if f.default_factory is not MISSING:
            result.append((f.name, f.default_factory()))
        elif f.default is not MISSING:
            result.append((f.name, f.default))
        else:
            result.append((f.name, inspect.Parameter.empty))
    return result


def check_fields(action_class: type[Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Raise ``TypeError`` naming the fields when ``args``/``kwargs`` do not fit the class
    (an unknown or missing field, too many values); the values themselves are checked when
    the action is built."""
    try:
        inspect.signature(action_class).bind(*args, **kwargs)
    except TypeError as error:
        known = [f.name for f in fields(action_class)]
        raise TypeError(f"{action_class.helper}() takes the fields {known}: {error}") from None


def _non_negative(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MockError(f"{name} must be a finite number, got {value!r}")
    if value < 0:
        raise MockError(f"{name} must be >= 0, got {value!r}")


def _user(value: object) -> None:
    if not isinstance(value, str) or not value:
        raise MockError(f"user must be a non-empty string, got {value!r}")


@dataclass(frozen=True)
class MicroUpdate(_Drawn):
    """A background operation: changes the ETag's timestamp part, holds the document busy."""

    kind: ClassVar[ActionKind] = "micro_update"
    request_action: ClassVar[bool] = False
    helper: ClassVar[str] = "micro_update"
    rank: ClassVar[int | None] = 0
    draws: ClassVar[tuple[tuple[str, Domain], ...]] = (
        ("duration", (0.0, 0.1, 0.5, 1.0, 2.0, 5.0)),
        ("source", SOURCES),
    )
    source: str = "indexer"
    duration: float = 0.0

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise MockError(f"unknown source {self.source!r}; known: {list(SOURCES)}")
        _non_negative("duration", self.duration)


@dataclass(frozen=True)
class LifecycleChange(_Drawn):
    """A lifecycle evaluation that moves ``State``: a visible change, no new iteration."""

    kind: ClassVar[ActionKind] = "lifecycle_change"
    request_action: ClassVar[bool] = False
    helper: ClassVar[str] = "lifecycle_change"
    rank: ClassVar[int | None] = 1
    draws: ClassVar[tuple[tuple[str, Domain], ...]] = (("state", tuple(STATES)),)
    state: str = "RELEASED"

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise MockError(f"unknown state {self.state!r}; known: {list(STATES)}")


@dataclass(frozen=True)
class ConcurrentEdit(_Drawn):
    """Another user edits the document: the changes land in a new iteration."""

    kind: ClassVar[ActionKind] = "concurrent_edit"
    request_action: ClassVar[bool] = False
    helper: ClassVar[str] = "concurrent_edit"
    rank: ClassVar[int | None] = 2
    draws: ClassVar[tuple[tuple[str, Domain], ...]] = (("changes", "fields"), ("value", "text"))
    changes: Mapping[str, Scalar]
    user: str = "other"

    def __post_init__(self) -> None:
        if not isinstance(self.changes, Mapping) or not self.changes:
            raise MockError("concurrent_edit needs a non-empty object of changes")
        object.__setattr__(self, "changes", dict(self.changes))  # the caller's stays theirs
        _user(self.user)

    @classmethod
    def from_draws(cls, drawn: dict[str, Any]) -> ConcurrentEdit:
        # One value for every edited field: what matters is whether it equals the client's.
        return cls(dict.fromkeys(drawn["changes"], drawn["value"]))


@dataclass(frozen=True)
class NewIteration(_Drawn):
    """Another user checks the document out and back in at once, changing nothing: a new
    iteration. Where iterations have their own ``OR:`` (``wrs``, ``thread``), the ID a
    client holds then names a past iteration: the stale ``OR:`` in its simplest form."""

    kind: ClassVar[ActionKind] = "new_iteration"
    request_action: ClassVar[bool] = False
    helper: ClassVar[str] = "new_iteration"
    rank: ClassVar[int | None] = 7
    draws: ClassVar[tuple[tuple[str, Domain], ...]] = ()
    user: str = "other"

    def __post_init__(self) -> None:
        _user(self.user)


@dataclass(frozen=True)
class CheckOutBy(_Drawn):
    """Another user checks the document out (and keeps it)."""

    kind: ClassVar[ActionKind] = "check_out"
    request_action: ClassVar[bool] = False
    helper: ClassVar[str] = "check_out_as"
    rank: ClassVar[int | None] = 6
    draws: ClassVar[tuple[tuple[str, Domain], ...]] = ()
    user: str = "other"
    note: str | None = None

    def __post_init__(self) -> None:
        _user(self.user)


@dataclass(frozen=True)
class CheckInBy(_Drawn):
    """The user holding the check-out applies ``changes`` to the working copy and checks in."""

    kind: ClassVar[ActionKind] = "check_in"
    request_action: ClassVar[bool] = False
    helper: ClassVar[str] = "check_in_as"
    rank: ClassVar[int | None] = None
    draws: ClassVar[tuple[tuple[str, Domain], ...]] = ()
    user: str = "other"
    #: ``None`` (the default) or ``{}``: check in the working copy as it is.
    changes: Mapping[str, Scalar] | None = None

    def __post_init__(self) -> None:
        if self.changes is not None:
            if not isinstance(self.changes, Mapping):
                raise MockError(f"check_in changes must be an object, got {self.changes!r}")
            object.__setattr__(self, "changes", dict(self.changes))  # the caller's stays theirs
        _user(self.user)


@dataclass(frozen=True)
class UndoCheckOutBy(_Drawn):
    """The user holding the check-out abandons it."""

    kind: ClassVar[ActionKind] = "undo_check_out"
    request_action: ClassVar[bool] = False
    helper: ClassVar[str] = "undo_check_out_as"
    rank: ClassVar[int | None] = None
    draws: ClassVar[tuple[tuple[str, Domain], ...]] = ()
    user: str = "other"

    def __post_init__(self) -> None:
        _user(self.user)


@dataclass(frozen=True)
class Fault(_Drawn):
    """Answer one request with an error status instead of handling it. Nothing changes."""

    kind: ClassVar[ActionKind] = "fault"
    request_action: ClassVar[bool] = True
    helper: ClassVar[str] = "fault"
    rank: ClassVar[int | None] = 3
    draws: ClassVar[tuple[tuple[str, Domain], ...]] = (
        ("status", (503, 429, 500)),
        ("retry_after", (None, 1.0, 2.0, 5.0)),
    )
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
class LoseResponse(_Drawn):
    """Handle the request (a write is applied), then drop the connection before answering."""

    kind: ClassVar[ActionKind] = "lose_response"
    request_action: ClassVar[bool] = True
    helper: ClassVar[str] = "lose_response"
    rank: ClassVar[int | None] = 4
    draws: ClassVar[tuple[tuple[str, Domain], ...]] = ()


@dataclass(frozen=True)
class Latency(_Drawn):
    """Delay handling one request by ``seconds`` (virtual seconds on a virtual clock)."""

    kind: ClassVar[ActionKind] = "latency"
    request_action: ClassVar[bool] = True
    helper: ClassVar[str] = "latency"
    rank: ClassVar[int | None] = 5
    draws: ClassVar[tuple[tuple[str, Domain], ...]] = (("seconds", (0.1, 0.5, 1.0, 3.0)),)
    seconds: float = 1.0

    def __post_init__(self) -> None:
        _non_negative("seconds", self.seconds)


Action = (
    MicroUpdate
    | LifecycleChange
    | ConcurrentEdit
    | NewIteration
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
        NewIteration,
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
        if not isinstance(kind, str) or kind not in ACTIONS:
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
