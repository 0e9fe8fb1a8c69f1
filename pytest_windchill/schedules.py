"""Conflict schedules: what interferes with a client's update, and when.

A :class:`ConflictSchedule` is an ordered list of :class:`Step` — an action from
:mod:`mock_server.core.interventions` plus a trigger (``before_request=n``: right before the
n-th client request on the document; ``at=t``: at virtual time t) and the index of the
scenario document it hits. Its ``repr`` is Python you can paste into a test::

    from pytest_windchill.schedules import *

    schedule = ConflictSchedule([
        micro_update(before_request=2, source="indexer", duration=0.5),
        concurrent_edit(before_request=4, changes={"Title": "theirs"}),
    ])

It round-trips through JSON (:meth:`ConflictSchedule.to_json` / :meth:`from_json`) and
replays exactly: :meth:`apply` injects the same interventions into any fresh mock.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from mock_server.core.interventions import (
    ACTIONS,
    Action,
    ConcurrentEdit,
    Intervention,
    check_fields,
    field_defaults,
)


class Injector(Protocol):
    """Anything a schedule can be applied to: a ``WindchillMock``, or a test double."""

    def inject(self, intervention: Intervention) -> object: ...


#: The helper of every action kind, one per action class (its ``helper`` name); derived below.
HELPERS: dict[str, StepHelper]


@dataclass(frozen=True)
class Step:
    """One intervention of a schedule, on scenario document number ``document`` (from 0)."""

    action: Action
    before_request: int | None = None
    at: float | None = None
    document: int = 0

    def __post_init__(self) -> None:
        # Validates the trigger the same way the mock will.
        Intervention("check", self.action, before_request=self.before_request, at=self.at)
        if self.document < 0:
            raise ValueError(f"document is an index from 0, got {self.document}")

    def intervention(self, doc_id: str) -> Intervention:
        return Intervention(doc_id, self.action, before_request=self.before_request, at=self.at)

    @property
    def trigger(self) -> str:
        if self.before_request is not None:
            return f"before request {self.before_request}"
        if self.at is not None:
            return f"at t={self.at:g}s"
        return "at once"

    def to_json(self) -> dict[str, Any]:
        data = Intervention("-", self.action, self.before_request, self.at).to_json()
        data["document"] = self.document
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Step:
        values = dict(data)
        index = values.pop("document", 0)
        if not isinstance(index, int) or isinstance(index, bool):
            raise ValueError(f"a step's document is an index, got {index!r}")
        parsed = Intervention.from_json({**values, "document": "-"})
        return cls(parsed.action, parsed.before_request, parsed.at, index)

    def __repr__(self) -> str:
        args = []
        if self.before_request is not None:
            args.append(f"before_request={self.before_request!r}")
        if self.at is not None:
            args.append(f"at={self.at!r}")
        for name, default in field_defaults(type(self.action)):
            value = getattr(self.action, name)
            if value != default or isinstance(self.action, ConcurrentEdit):
                if isinstance(value, Mapping):
                    value = dict(value)
                args.append(f"{name}={value!r}")
        if self.document:
            args.append(f"document={self.document!r}")
        return f"{self.action.helper}({', '.join(args)})"


class ConflictSchedule(Sequence[Step]):
    """An ordered list of steps; printable as Python, JSON round-trip, exact replay."""

    def __init__(self, steps: Iterable[Step] = ()) -> None:
        self.steps: tuple[Step, ...] = tuple(steps)

    def __getitem__(self, index: Any) -> Any:
        return self.steps[index]

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConflictSchedule) and self.steps == other.steps

    def __hash__(self) -> int:
        return hash(tuple(repr(s) for s in self.steps))

    def __repr__(self) -> str:
        if not self.steps:
            return "ConflictSchedule([])"
        inner = "".join(f"    {step!r},\n" for step in self.steps)
        return f"ConflictSchedule([\n{inner}])"

    def to_json(self) -> list[dict[str, Any]]:
        return [step.to_json() for step in self.steps]

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)

    @classmethod
    def from_json(cls, data: Iterable[Mapping[str, Any]] | str) -> ConflictSchedule:
        items = json.loads(data) if isinstance(data, str) else data
        return cls(Step.from_json(item) for item in items)

    def apply(self, mock: Injector, documents: Sequence[str]) -> None:
        """Inject every step into ``mock``; ``documents[i]`` is scenario document ``i``."""
        for step in self.steps:
            if step.document >= len(documents):
                raise ValueError(
                    f"{step!r} targets document {step.document}, "
                    f"but the scenario has {len(documents)}"
                )
            mock.inject(step.intervention(documents[step.document]))

    @property
    def last_trigger(self) -> int:
        """The last ``before_request`` of the schedule (0 without any)."""
        return max((s.before_request or 0 for s in self.steps), default=0)


# A protocol: its defaults document the helpers' signature, they never run.
# pragma: no mutate start
class StepHelper(Protocol):
    """A schedule helper: ``micro_update(before_request=2, duration=0.5)`` and the like.

    Keywords: the trigger (``before_request`` or ``at``), the scenario ``document`` (an index
    from 0), and the fields of the action (see its class in
    :mod:`mock_server.core.interventions`).
    """

    __name__: str

    def __call__(
        self,
        *,
        before_request: int | None = None,
        at: float | None = None,
        document: int = 0,
        **fields: Any,
    ) -> Step: ...


# pragma: no mutate end


def _make_step(
    action_class: type[Action],
    values: Mapping[str, Any],
    *,
    before_request: int | None,
    at: float | None,
    document: int,
) -> Step:
    """What every schedule helper does: build the action from its fields, then the step."""
    check_fields(action_class, (), dict(values))
    action = action_class(**values)
    return Step(action, before_request=before_request, at=at, document=document)


# The helpers are made once, when this module is imported; mutation testing cannot change
# code that ran before the tests, so what follows is left out of it (the logic is above).
# pragma: no mutate start
def _helper(action_class: type[Action]) -> StepHelper:
    def helper(
        *,
        before_request: int | None = None,
        at: float | None = None,
        document: int = 0,
        **values: Any,
    ) -> Step:
        return _make_step(
            action_class, values, before_request=before_request, at=at, document=document
        )

    helper.__name__ = helper.__qualname__ = action_class.helper
    helper.__doc__ = action_class.__doc__
    helper.__module__ = __name__
    parameters = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
        for name, default in (("before_request", None), ("at", None))
    ]
    parameters += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
        for name, default in field_defaults(action_class)
    ]
    parameters.append(inspect.Parameter("document", inspect.Parameter.KEYWORD_ONLY, default=0))
    helper.__signature__ = inspect.Signature(parameters, return_annotation=Step)  # type: ignore[attr-defined]
    return helper


HELPERS = {kind: _helper(action_class) for kind, action_class in ACTIONS.items()}
globals().update({helper.__name__: helper for helper in HELPERS.values()})

if TYPE_CHECKING:
    # What a type checker sees of the helpers made above, one per action class.
    # tests/test_actions.py checks that these match the action classes.

    def micro_update(
        *,
        before_request: int | None = None,
        at: float | None = None,
        source: str = "indexer",
        duration: float = 0.0,
        document: int = 0,
    ) -> Step: ...

    def lifecycle_change(
        *,
        before_request: int | None = None,
        at: float | None = None,
        state: str = "RELEASED",
        document: int = 0,
    ) -> Step: ...

    def concurrent_edit(
        *,
        before_request: int | None = None,
        at: float | None = None,
        changes: Mapping[str, Any],
        user: str = "other",
        document: int = 0,
    ) -> Step: ...

    def new_iteration(
        *,
        before_request: int | None = None,
        at: float | None = None,
        user: str = "other",
        document: int = 0,
    ) -> Step: ...

    def check_out_as(
        *,
        before_request: int | None = None,
        at: float | None = None,
        user: str = "other",
        note: str | None = None,
        document: int = 0,
    ) -> Step: ...

    def check_in_as(
        *,
        before_request: int | None = None,
        at: float | None = None,
        user: str = "other",
        changes: Mapping[str, Any] | None = None,
        document: int = 0,
    ) -> Step: ...

    def undo_check_out_as(
        *,
        before_request: int | None = None,
        at: float | None = None,
        user: str = "other",
        document: int = 0,
    ) -> Step: ...

    def fault(
        *,
        before_request: int | None = None,
        at: float | None = None,
        status: int = 503,
        retry_after: float | None = None,
        message: str | None = None,
        document: int = 0,
    ) -> Step: ...

    def lose_response(
        *, before_request: int | None = None, at: float | None = None, document: int = 0
    ) -> Step: ...

    def latency(
        *,
        before_request: int | None = None,
        at: float | None = None,
        seconds: float = 1.0,
        document: int = 0,
    ) -> Step: ...


# pragma: no mutate end

__all__ = [
    "HELPERS",
    "ConflictSchedule",
    "Injector",
    "Step",
    "StepHelper",
    "check_in_as",
    "check_out_as",
    "concurrent_edit",
    "fault",
    "latency",
    "lifecycle_change",
    "lose_response",
    "micro_update",
    "new_iteration",
    "undo_check_out_as",
]
