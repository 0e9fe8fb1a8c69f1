"""The conditional-write rules of a profile: the table in docs/profiles.md, as one function.

:func:`check_write` decides whether a write may go ahead given the profile, the document's
current ETag and busy window, and the request's concurrency headers. It changes nothing and
raises the error the client must see.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConcurrentModification, PreconditionFailed, PreconditionRequired
from .etag import ANY, ETag, explain_difference, parse_if_match, strong_match, weak_match
from .profiles import Profile

__all__ = [
    "MODIFIED_BY_ANOTHER_PROCESS",
    "WriteConditions",
    "check_action",
    "check_read",
    "check_write",
]

#: The 409 message reported in the forum thread.
MODIFIED_BY_ANOTHER_PROCESS = "The resource has been modified by another process"


@dataclass(frozen=True)
class WriteConditions:
    """The concurrency headers of one write."""

    if_match: str | None = None
    update_mode: str | None = None
    ignore_version_check: bool = False
    update_token: str | None = None


def check_write(
    profile: Profile,
    current: ETag,
    conditions: WriteConditions,
    *,
    now: float,
    busy_until: float = 0.0,
    busy_source: str | None = None,
) -> None:
    """Raise the error ``profile`` gives this write, or return if it may proceed.

    Order: missing ``If-Match`` (428 where required), a mismatch (409 or 412 by whether the
    iteration moved), then a background operation in flight (409). ``X-PTC-IgnoreVersionCheck``
    skips all three where the profile honours it.
    """
    ignore = profile.honour_ignore_version_check and conditions.ignore_version_check
    if ignore:
        return
    _check_if_match(profile, current, conditions)
    if profile.busy_status is not None and now < busy_until:
        raise ConcurrentModification(
            MODIFIED_BY_ANOTHER_PROCESS,
            status=profile.busy_status,
            headers={"ETag": str(current)},
            detail=f"a background {busy_source} operation holds the document for "
            f"another {busy_until - now:.3f} s",
        )


def check_action(profile: Profile, current: ETag, if_match: str | None) -> None:
    """A bound action's ``If-Match``, judged as a write's: required where the profile requires
    it (428), compared where sent (409 or 412 on a mismatch). The busy window does not apply:
    a check-out is how a client gets past background work."""
    _check_if_match(profile, current, WriteConditions(if_match=if_match))


def _check_if_match(profile: Profile, current: ETag, conditions: WriteConditions) -> None:
    uses_if_match = (
        profile.stale_same_iteration_status is not None
        or profile.stale_new_iteration_status is not None
    )
    if uses_if_match:
        if conditions.if_match is None:
            optimistic = (conditions.update_mode or "").strip().lower() == "optimistic"
            if profile.require_if_match or (profile.honour_update_mode and optimistic):
                raise PreconditionRequired(
                    "This update requires an If-Match header with the document's ETag",
                    headers={"ETag": str(current)},
                )
        else:
            sent = parse_if_match(conditions.if_match)
            if sent != ANY:
                assert isinstance(sent, tuple)
                match = weak_match if profile.weak_comparison else strong_match
                if not any(match(tag, current) for tag in sent):
                    _reject_stale(profile, sent, current)


def check_read(
    profile: Profile, current: ETag, *, if_match: str | None, if_none_match: str | None
) -> bool:
    """The conditional GET of RFC 9110 §13.2.2: ``If-Match`` first (compared as the profile
    compares it for writes; a mismatch is 412), then ``If-None-Match`` (weak comparison).
    Returns whether the answer is 304 Not Modified."""
    if if_match is not None:
        sent = parse_if_match(if_match)
        if sent != ANY:
            assert isinstance(sent, tuple)
            match = weak_match if profile.weak_comparison else strong_match
            if not any(match(tag, current) for tag in sent):
                raise PreconditionFailed(
                    f"Precondition failed: the If-Match ETag {sent[0]} does not match the "
                    f"current ETag {current}",
                    headers={"ETag": str(current)},
                    detail=explain_difference(sent[0], current),
                )
    if if_none_match is None:
        return False
    unmodified = parse_if_match(if_none_match)
    if unmodified == ANY:
        return True
    assert isinstance(unmodified, tuple)
    return any(weak_match(tag, current) for tag in unmodified)


def _reject_stale(profile: Profile, sent: tuple[ETag, ...], current: ETag) -> None:
    """A tag the server never issued (``foreign``) tells no iteration: it gets the status of
    a stale ETag of the same iteration (a re-read fixes it), or, where the profile ignores
    those, that of a new iteration; it never passes as a match."""
    same_iteration = any(tag.foreign is None and tag.iteration == current.iteration for tag in sent)
    status = (
        profile.stale_same_iteration_status
        if same_iteration
        else profile.stale_new_iteration_status
    )
    if all(tag.foreign is not None for tag in sent):
        same, new = profile.stale_same_iteration_status, profile.stale_new_iteration_status
        status = same if same is not None else new
    if status is None:  # this profile ignores a mismatch of this kind
        return
    detail = explain_difference(sent[0], current)
    headers = {"ETag": str(current)}
    if status == 409:
        raise ConcurrentModification(MODIFIED_BY_ANOTHER_PROCESS, headers=headers, detail=detail)
    raise PreconditionFailed(
        f"Precondition failed: the If-Match ETag {sent[0]} does not match the current "
        f"ETag {current}",
        status=status,
        headers=headers,
        detail=detail,
    )
