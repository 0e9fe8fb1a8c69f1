"""Concurrency profiles: named presets of orthogonal knobs (see docs/profiles.md).

* ``thread`` (default): what the forum thread reports — composite ETags, 409 for a stale ETag
  of the same iteration and for writes during a background operation, 412 when the iteration
  moved, last-write-wins without ``If-Match`` unless ``X-PTC-UpdateMode: optimistic``.
* ``odata``: OData 4.01 / RFC 9110 — weak ETags, 412 on any mismatch, 428 without ``If-Match``.
* ``wrs``: what PTC documents — no ETags at all, ``If-Match`` ignored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import MockError

__all__ = ["PROFILES", "Profile", "profile_named"]


@dataclass(frozen=True)
class Profile:
    """Every knob the conditional-update rules read. Override any with :meth:`replace`."""

    name: str
    #: Send an ``ETag`` header and ``@odata.etag``.
    emit_etags: bool
    #: Issue weak tags (``W/"…"``).
    weak_etags: bool
    #: Compare ``If-Match`` weakly (the OData deviation) instead of strongly (RFC 9110).
    weak_comparison: bool
    #: Status for a mismatch when the iteration is unchanged; ``None`` ignores ``If-Match``.
    stale_same_iteration_status: int | None
    #: Status for a mismatch when the iteration changed; ``None`` ignores ``If-Match``.
    stale_new_iteration_status: int | None
    #: Status for a write while a background operation is in flight; ``None`` allows it.
    busy_status: int | None
    #: A write without ``If-Match`` is refused with 428.
    require_if_match: bool
    #: ``X-PTC-UpdateMode: optimistic`` makes ``If-Match`` required (forum thread).
    honour_update_mode: bool
    #: ``X-PTC-IgnoreVersionCheck: true`` skips the ETag and in-flight checks (forum thread).
    honour_ignore_version_check: bool
    #: A successful PATCH returns the entity (200) unless ``Prefer: return=minimal``.
    patch_returns_entity: bool
    #: Advertise ``Core.OptimisticConcurrency`` in ``$metadata``.
    advertise_optimistic_concurrency: bool
    #: Each iteration has its own ``OR:`` (PTC-documented): a check-in or another user's
    #: edit gives the object a new ID, and the old one names a read-only past iteration.
    #: False: one ``ID`` for every iteration (the simplification of a generic OData service).
    per_iteration_ids: bool = True
    #: The status of a write to a past iteration's ``OR:`` (error code ``NotLatestIteration``).
    past_iteration_status: int = 409

    def replace(self, **knobs: Any) -> Profile:
        """A copy with some knobs changed; unknown knob names are a :class:`MockError`."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(knobs) - known)
        if unknown:
            raise MockError(f"unknown profile knob(s) {unknown}; known: {sorted(known)}")
        return dataclasses.replace(self, **knobs)

    def knobs(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PROFILES: Mapping[str, Profile] = {
    "thread": Profile(
        name="thread",
        emit_etags=True,
        weak_etags=False,
        weak_comparison=False,
        stale_same_iteration_status=409,
        stale_new_iteration_status=412,
        busy_status=409,
        require_if_match=False,
        honour_update_mode=True,
        honour_ignore_version_check=True,
        patch_returns_entity=True,
        advertise_optimistic_concurrency=False,
        # The thread: "412 Precondition Failed means the version itself changed".
        past_iteration_status=412,
    ),
    "odata": Profile(
        name="odata",
        emit_etags=True,
        weak_etags=True,
        weak_comparison=True,
        stale_same_iteration_status=412,
        stale_new_iteration_status=412,
        busy_status=None,
        require_if_match=True,
        honour_update_mode=False,
        honour_ignore_version_check=False,
        patch_returns_entity=False,
        advertise_optimistic_concurrency=True,
        per_iteration_ids=False,
    ),
    "wrs": Profile(
        name="wrs",
        emit_etags=False,
        weak_etags=False,
        weak_comparison=False,
        stale_same_iteration_status=None,
        stale_new_iteration_status=None,
        busy_status=None,
        require_if_match=False,
        honour_update_mode=False,
        honour_ignore_version_check=False,
        patch_returns_entity=False,
        advertise_optimistic_concurrency=False,
    ),
}


def profile_named(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise MockError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}") from None
