"""Hypothesis strategies for Windchill concurrency tests.

Every strategy takes keyword-only arguments and says what it shrinks towards. The schedules
shrink to the simplest explanation of a failure: fewer interventions, micro-updates before
concurrent edits, shorter durations, earlier triggers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from mock_server.core.background import SOURCES
from mock_server.core.documents import DEFAULT_SOFT_ATTRIBUTES, STATES, WRITABLE
from mock_server.core.etag import ETag

from .client.policy import RetryPolicy
from .schedules import (
    ConflictSchedule,
    Step,
    check_in_as,
    check_out_as,
    concurrent_edit,
    fault,
    latency,
    lifecycle_change,
    lose_response,
    micro_update,
)

__all__ = [
    "ACTION_KINDS",
    "changes",
    "conflict_schedules",
    "documents",
    "etags",
    "retry_policies",
    "steps",
]

#: Action kinds in shrink order: a failing schedule shrinks towards the earlier ones.
ACTION_KINDS = (
    "micro_update",
    "lifecycle_change",
    "concurrent_edit",
    "fault",
    "lose_response",
    "latency",
    "check_out",
)
_FIELDS = (*WRITABLE, *DEFAULT_SOFT_ATTRIBUTES)
_TEXT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=12)


def changes(
    *, fields: Sequence[str] = _FIELDS, min_size: int = 1, max_size: int | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Partial updates over writable properties: ``{"Title": "abc"}``.

    Shrinks towards one field (the first of ``fields``) with a one-letter value.
    """
    return st.dictionaries(
        st.sampled_from(tuple(fields)),
        _TEXT,
        min_size=min_size,
        max_size=len(fields) if max_size is None else max_size,
    )


def documents(
    *, soft_attributes: Sequence[str] = DEFAULT_SOFT_ATTRIBUTES
) -> st.SearchStrategy[dict[str, Any]]:
    """Properties to create a document with: a Name, and optionally Title, Description and
    soft attributes. Shrinks towards ``{"Name": "a"}``."""
    optional = {name: st.none() | _TEXT for name in (*WRITABLE, *soft_attributes)}
    return st.fixed_dictionaries({"Name": _TEXT}, optional=optional)


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
    fields: Sequence[str] = _FIELDS,
) -> st.SearchStrategy[Step]:
    """One intervention with a ``before_request`` trigger in ``[1, max_request]``.

    Shrinks towards an indexer micro-update of no duration before the first request; among
    action kinds, towards the earlier ones of :data:`ACTION_KINDS`.
    """
    unknown = sorted(set(actions) - set(ACTION_KINDS))
    if unknown:
        raise ValueError(f"unknown action kind(s) {unknown}; known: {list(ACTION_KINDS)}")
    request = st.integers(min_value=1, max_value=max_request)
    document = st.integers(min_value=0, max_value=max(0, documents - 1))
    by_kind: dict[str, st.SearchStrategy[Step]] = {
        "micro_update": st.builds(
            micro_update,
            before_request=request,
            source=st.sampled_from(SOURCES),
            duration=st.sampled_from((0.0, 0.1, 0.5, 1.0, 2.0, 5.0)),
            document=document,
        ),
        "lifecycle_change": st.builds(
            lifecycle_change,
            before_request=request,
            state=st.sampled_from(tuple(STATES)),
            document=document,
        ),
        "concurrent_edit": st.builds(
            concurrent_edit,
            before_request=request,
            changes=changes(fields=fields, max_size=2),
            document=document,
        ),
        "fault": st.builds(
            fault,
            before_request=request,
            status=st.sampled_from((503, 429, 500)),
            retry_after=st.none() | st.sampled_from((1.0, 2.0, 5.0)),
            document=document,
        ),
        "lose_response": st.builds(lose_response, before_request=request, document=document),
        "latency": st.builds(
            latency,
            before_request=request,
            seconds=st.sampled_from((0.1, 0.5, 1.0, 3.0)),
            document=document,
        ),
        "check_out": st.builds(check_out_as, before_request=request, document=document),
    }
    return st.one_of(*(by_kind[kind] for kind in ACTION_KINDS if kind in actions))


def conflict_schedules(
    *,
    max_interventions: int = 3,
    actions: Sequence[str] = ACTION_KINDS,
    quiet_after: int | None = None,
    max_request: int = 8,
    documents: int = 1,
    release_check_outs: bool = True,
) -> st.SearchStrategy[ConflictSchedule]:
    """Schedules of up to ``max_interventions`` interventions, ordered by trigger.

    ``quiet_after=n``: no intervention fires after the client's n-th request, so a correct
    client must succeed afterwards. A check-out by another user is followed by that user's
    check-in two requests later unless ``release_check_outs=False``.

    Shrinks towards fewer interventions, micro-updates before anything else, shorter
    durations and earlier triggers.
    """
    last = quiet_after if quiet_after is not None else max_request
    # Built once per call, not per draw: constructing and validating the nested strategies
    # on every example cost more than running the example itself.
    drawn = st.lists(
        steps(actions=actions, max_request=max(1, last), documents=documents),
        max_size=max_interventions,
    )
    return drawn.map(lambda picked: _schedule(picked, release_check_outs=release_check_outs))


def _schedule(drawn: Sequence[Step], *, release_check_outs: bool) -> ConflictSchedule:
    result = list(drawn)
    if release_check_outs:
        result += [
            check_in_as(before_request=(step.before_request or 0) + 2, document=step.document)
            for step in drawn
            if step.action.kind == "check_out"
        ]
    return ConflictSchedule(sorted(result, key=_step_order))


def _step_order(step: Step) -> tuple[int, int]:
    kind = step.action.kind
    rank = ACTION_KINDS.index(kind) if kind in ACTION_KINDS else len(ACTION_KINDS)
    return (step.before_request or 0, rank)
