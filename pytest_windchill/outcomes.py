"""The words the reference client and the checker share: outcomes and status classes.

Declared once so that the client and the checker that judges it cannot drift apart, and so
that mypy catches a misspelt outcome (``Outcome`` is a ``Literal``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from .client.review import ReviewItem

__all__ = [
    "CONFLICT_STATUSES",
    "OUTCOMES",
    "SUCCESS",
    "TRANSIENT_STATUSES",
    "EtagMove",
    "Outcome",
    "UpdateResult",
    "UpdateStatus",
    "explain_etags",
    "is_backoff_status",
    "outcome_status",
]

#: How an update ended: written as asked, written after a merge, sent to review, failed.
Outcome = Literal["applied", "merged", "review", "failed"]
#: The former name of :data:`Outcome`, kept for imports from ``pytest_windchill.client``.
UpdateStatus = Outcome
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
#: The outcomes that claim the server holds the client's values.
SUCCESS: frozenset[Outcome] = frozenset({"applied", "merged"})

#: The forum thread's conflicts: 409 (ETag moved, same version, or a background operation in
#: flight) and 412 (a new version). A profile may use other statuses; the checker reads the
#: profile's knobs (see ``pytest_windchill.rules``).
CONFLICT_STATUSES = frozenset({409, 412})
#: "Try again later": overload and gateway trouble. A client must wait and retry these.
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})


def is_backoff_status(status: int) -> bool:
    """Whether a refusal with ``status`` asks the client to wait before it tries again:
    a 409, a transient status, or any other server error."""
    return status == 409 or status in TRANSIENT_STATUSES or status >= 500


@dataclass
class UpdateResult:
    """What one update did and how it ended (the reference client returns it)."""

    document: str
    status: Outcome = "failed"
    #: PATCH requests sent (the working copy's included).
    attempts: int = 0
    #: Every ETag the client saw, in order.
    etags: list[str] = field(default_factory=list)
    #: Every delay slept, in seconds, in order.
    delays: list[float] = field(default_factory=list)
    #: Every non-success status met on the way (409, 412, 503, …; 0 for a lost response).
    conflicts: list[int] = field(default_factory=list)
    #: Fields re-applied by a three-way merge.
    merged_fields: tuple[str, ...] = ()
    review: ReviewItem | None = None
    via_checkout: bool = False
    reason: str | None = None
    #: The ID the change was written to, when not ``document``: the latest iteration's, after
    #: a new iteration (with its own ``OR:``) replaced the one ``document`` names.
    written_to: str | None = None
    #: The objects updated together with this one in one change set (``update_batch``): the
    #: checker then weighs the interference on all of them (liveness).
    batch: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status in SUCCESS


def outcome_status(outcome: UpdateResult | str) -> Outcome:
    """The outcome word of ``outcome``; a ``ValueError`` that lists the words otherwise."""
    status = outcome.status if isinstance(outcome, UpdateResult) else outcome
    if status not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES} or an UpdateResult, not {status!r}")
    return status


# ---------------------------------------------------------------------------- ETag moves

#: A composite ETag as Windchill sends it: ``"v<iteration>.<milliseconds>"``, ``W/`` if weak.
_COMPOSITE = re.compile(r'\s*(W/)?"v(\d{1,9})\.(\d{1,16})"\s*')
_EXPECTED = (
    'a composite ETag such as "v2.1708523400000" (iteration 2, a timestamp in ms; W/ if weak)'
)


@dataclass(frozen=True)
class EtagMove:
    """What moved between two ETags of one object, in the words the checker, the reference
    client and ``windchill-mock explain-etag`` share.

    ``kind``: ``"touch"`` (same iteration, timestamp moved: background work, safe to re-read
    and retry), ``"new-version"`` (the iteration moved: merge or send to review), ``"same"``,
    ``"backwards"`` (a timestamp earlier than before: not a later state of that version), or
    ``"unreadable"`` (not the composite form).
    """

    kind: Literal["touch", "new-version", "same", "backwards", "unreadable"]
    words: str
    #: Milliseconds the timestamp part moved (``None`` when it cannot be told).
    delta_ms: int | None = None

    def __str__(self) -> str:
        return self.words


def explain_etags(before: str, after: str) -> EtagMove:
    """Say what moved from ``before`` (the ETag a client read) to ``after`` (the one the
    server holds now)."""
    parsed = []
    for label, text in (("first", before), ("second", after)):
        found = _COMPOSITE.fullmatch(text)
        if found is None:
            quotes = (
                " (keep its double quotes: in a shell, write '\"v2.1708523400000\"')"
                if re.fullmatch(r"\s*(W/)?v\d+\.\d+\s*", text)
                else ""
            )
            return EtagMove(
                "unreadable",
                f"cannot read the {label} ETag {text!r}: expected {_EXPECTED}{quotes}; other "
                "ETags can only be compared whole (equal or not)",
            )
        parsed.append((found.group(1) is not None, int(found.group(2)), int(found.group(3))))
    (weak_a, iteration_a, stamp_a), (weak_b, iteration_b, stamp_b) = parsed
    delta = stamp_b - stamp_a
    weak = (
        " (one is weak: If-Match compares strongly, so a weak ETag never matches there)"
        if weak_a != weak_b
        else ""
    )
    if iteration_b < iteration_a:
        return EtagMove(
            "backwards",
            f"iteration {iteration_a} → {iteration_b} ⇒ not a later state of this object: "
            "iterations only grow, so these are ETags of two objects (or of an older iteration "
            "read by its own ID), not one that moved" + weak,
            delta,
        )
    if iteration_a != iteration_b:
        return EtagMove(
            "new-version",
            f"iteration {iteration_a} → {iteration_b}, timestamp {delta:+,} ms ⇒ a new version: "
            "someone checked in or edited it; merge your change with theirs, or send it to "
            "review" + weak,
            delta,
        )
    if delta > 0:
        return EtagMove(
            "touch",
            f"same iteration {iteration_a}, timestamp {delta:+,} ms ⇒ a touch without a new "
            "version (indexing, cache sync or lifecycle evaluation): safe to re-read and "
            "retry" + weak,
            delta,
        )
    if delta < 0:
        return EtagMove(
            "backwards",
            f"same iteration {iteration_a}, timestamp {delta:+,} ms ⇒ not a later state of this "
            "version: ETags of two objects, or a state restored (a rolled-back change set)" + weak,
            delta,
        )
    return EtagMove("same", f"same iteration {iteration_a} and timestamp: nothing moved" + weak, 0)
