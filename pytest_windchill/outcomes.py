"""The words the reference client and the checker share: outcomes and status classes.

Declared once so that the client and the checker that judges it cannot drift apart, and so
that mypy catches a misspelt outcome (``Outcome`` is a ``Literal``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from .client.review import ReviewItem

__all__ = [
    "CONFLICT_STATUSES",
    "OUTCOMES",
    "SUCCESS",
    "TRANSIENT_STATUSES",
    "Outcome",
    "UpdateResult",
    "UpdateStatus",
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
