"""Hypothesis strategies for Windchill concurrency tests.

Every strategy takes keyword-only arguments and says what it shrinks towards. The schedules
shrink to the simplest explanation of a failure: fewer interventions, micro-updates before
concurrent edits, shorter durations, earlier triggers.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from itertools import combinations
from typing import Any

from hypothesis import strategies as st

from mock_server.core.documents import DEFAULT_SOFT_ATTRIBUTES
from mock_server.core.etag import ETag
from mock_server.core.interventions import ACTIONS, Domain
from mock_server.core.kinds import kind_named

from .client.policy import RetryPolicy
from .schedules import ConflictSchedule, Step, check_in_as

__all__ = [
    "ACTION_KINDS",
    "changes",
    "conflict_schedules",
    "documents",
    "etags",
    "fields_of",
    "retry_policies",
    "steps",
]

#: Action kinds in shrink order: a failing schedule shrinks towards the earlier ones. Derived
#: from the action classes: every class with a ``rank``, in rank order.
ACTION_KINDS: tuple[str, ...] = tuple(
    kind
    for kind, action_class in sorted(ACTIONS.items(), key=lambda item: item[1].rank or 0)
    if action_class.rank is not None
)


def fields_of(kind: str = "document") -> tuple[str, ...]:
    """What a client may write on ``kind`` by default: its writable properties and the
    default soft attributes (a part has ``Description`` and ``Source``, no ``Title``)."""
    return (*kind_named(kind).writable, *DEFAULT_SOFT_ATTRIBUTES)


_FIELDS = fields_of("document")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_TEXT = st.text(alphabet=_LETTERS + " ", min_size=1, max_size=12)
#: A document's Name must not be blank: a letter first.
_NAMES = st.builds(operator.add, st.sampled_from(_LETTERS), st.text(_LETTERS + " ", max_size=11))


def changes(
    *,
    fields: Sequence[str] | None = None,
    min_size: int = 1,
    max_size: int | None = None,
    kind: str = "document",
) -> st.SearchStrategy[dict[str, Any]]:
    """Partial updates over writable properties: ``{"Title": "abc"}``; of a part with
    ``kind="part"``, over its fields (``fields`` overrides either).

    Shrinks towards one field (the first of ``fields``) with a one-letter value.
    """
    fields = fields_of(kind) if fields is None else fields
    return st.dictionaries(
        st.sampled_from(tuple(fields)),
        _TEXT,
        min_size=min_size,
        max_size=len(fields) if max_size is None else max_size,
    )


def documents(
    *, soft_attributes: Sequence[str] = DEFAULT_SOFT_ATTRIBUTES, kind: str = "document"
) -> st.SearchStrategy[dict[str, Any]]:
    """Properties to create a document (or a part, ``kind="part"``) with: a Name, and
    optionally its kind's writable properties and soft attributes. Shrinks towards
    ``{"Name": "a"}``."""
    writable = kind_named(kind).writable
    optional = {name: st.none() | _TEXT for name in (*writable, *soft_attributes)}
    return st.fixed_dictionaries({"Name": _NAMES}, optional=optional)


def etags(*, profile: str = "thread") -> st.SearchStrategy[str]:
    """ETags as the profile sends them (strong in ``thread``, weak in ``odata``).

    Shrinks towards ``"v1.0"``.
    """
    weak = profile == "odata"
    return st.builds(
        lambda iteration, stamp: str(ETag(iteration, stamp, weak=weak)),
        st.integers(min_value=1, max_value=99),
        st.integers(min_value=0, max_value=2**45),
    )


def retry_policies(*, max_retries: int = 5) -> st.SearchStrategy[RetryPolicy]:
    """Valid ``RetryPolicy`` values; shrinks towards no retries, no delay, no jitter."""
    return st.builds(
        RetryPolicy,
        max_retries=st.integers(min_value=0, max_value=max_retries),
        base_delay=st.floats(min_value=0.0, max_value=2.0),
        factor=st.floats(min_value=1.0, max_value=4.0),
        max_delay=st.floats(min_value=2.0, max_value=60.0),
        jitter=st.floats(min_value=0.0, max_value=1.0),
    )


def steps(
    *,
    actions: Sequence[str] = ACTION_KINDS,
    max_request: int = 8,
    documents: int = 1,
    fields: Sequence[str] | None = None,
    kind: str = "document",
) -> st.SearchStrategy[Step]:
    """One intervention with a ``before_request`` trigger in ``[1, max_request]``; another
    user's edits change ``fields`` (by default those of ``kind``: give ``kind="part"`` for
    scenarios of parts).

    Shrinks towards an indexer micro-update of no duration before the first request; among
    action kinds, towards the earlier ones of :data:`ACTION_KINDS`.
    """
    unknown = sorted(set(actions) - set(ACTION_KINDS))
    if unknown:
        raise ValueError(f"unknown action kind(s) {unknown}; known: {list(ACTION_KINDS)}")
    kinds = [name for name in ACTION_KINDS if name in actions]
    if not kinds:
        raise ValueError("actions must name at least one action kind")
    kind_strategy = st.sampled_from(kinds)
    fields = fields_of(kind) if fields is None else fields
    request = st.integers(min_value=1, max_value=max_request)
    document = st.just(0) if documents <= 1 else st.integers(0, documents - 1)
    layouts = {name: _layout(name, tuple(fields)) for name in kinds}

    @st.composite
    def one_step(draw: st.DrawFn) -> Step:
        action_kind = draw(kind_strategy)
        trigger = draw(request)
        index = draw(document)
        details = [draw(strategy) for strategy in layouts[action_kind]]
        return _build(action_kind, trigger, index, details)

    return one_step()


# How shrinking finds the simplest explanation. Hypothesis prefers shorter choice sequences,
# then smaller choices. So every kind makes the same number of draws, used or not — with
# uneven draws a lost response (no details) would pass for simpler than a micro-update — and
# the kind comes first, then the trigger, then the details (in the order of the action class's
# ``draws``: a duration before its source). A step is four choices: with the list's "one
# more?" flag that is five, few enough for the shrinker's deletion of a run of choices to drop
# a whole needless intervention.
_DETAILS = 2
_UNUSED: st.SearchStrategy[Any] = st.booleans()


def _domain(domain: Domain, fields: tuple[str, ...]) -> st.SearchStrategy[Any]:
    if domain == "fields":  # one field or two: what matters is which the client also writes
        return st.sampled_from([(name,) for name in fields] + list(combinations(fields, 2)))
    if domain == "text":
        return _TEXT
    return st.sampled_from(domain)


def _layout(kind: str, fields: tuple[str, ...]) -> tuple[st.SearchStrategy[Any], ...]:
    """The detail draws of one action kind, padded to the same number for every kind."""
    draws = [_domain(domain, fields) for _, domain in ACTIONS[kind].draws]
    return (*draws, *[_UNUSED] * (_DETAILS - len(draws)))


def _build(kind: str, trigger: int, document: int, details: list[Any]) -> Step:
    action_class = ACTIONS[kind]
    drawn = {name: value for (name, _), value in zip(action_class.draws, details, strict=False)}
    return Step(action_class.from_draws(drawn), before_request=trigger, document=document)


def conflict_schedules(
    *,
    max_interventions: int = 3,
    actions: Sequence[str] = ACTION_KINDS,
    quiet_after: int | None = None,
    max_request: int = 8,
    documents: int = 1,
    release_check_outs: bool = True,
    kind: str = "document",
) -> st.SearchStrategy[ConflictSchedule]:
    """Schedules of up to ``max_interventions`` interventions, ordered by trigger.

    ``quiet_after=n`` (n >= 1): no intervention fires after the client's n-th request, so a
    correct client must succeed afterwards. A check-out by another user is followed by that
    user's check-in two requests later (at the latest at request n) unless
    ``release_check_outs=False``.

    ``kind="part"``: schedules for scenarios of parts (another user's edits change a part's
    fields).

    Shrinks towards fewer interventions, micro-updates before anything else, shorter
    durations and earlier triggers.
    """
    if quiet_after is not None and quiet_after < 1:
        raise ValueError(f"quiet_after counts requests from 1, got {quiet_after}")
    last = quiet_after if quiet_after is not None else max_request
    # Built once per call, not per draw: constructing and validating the nested strategies
    # on every example cost more than running the example itself.
    drawn = st.lists(
        steps(actions=actions, max_request=max(1, last), documents=documents, kind=kind),
        max_size=max_interventions,
    )
    return drawn.map(
        lambda picked: _schedule(picked, release_check_outs=release_check_outs, last=quiet_after)
    )


def _schedule(
    drawn: Sequence[Step], *, release_check_outs: bool, last: int | None
) -> ConflictSchedule:
    result = list(drawn)
    if release_check_outs:
        for step in drawn:
            if step.action.kind == "check_out":
                release = (step.before_request or 0) + 2
                if last is not None:  # never after the quiet point (same request: right after)
                    release = min(release, last)
                result.append(check_in_as(before_request=release, document=step.document))
    return ConflictSchedule(sorted(result, key=_step_order))


def _step_order(step: Step) -> tuple[int, int]:
    kind = step.action.kind
    rank = ACTION_KINDS.index(kind) if kind in ACTION_KINDS else len(ACTION_KINDS)
    return (step.before_request or 0, rank)
