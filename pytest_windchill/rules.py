"""What a profile's knobs mean for a client: the rules the checker judges by.

The checker never branches on a profile's *name*: a ``thread`` profile with ETags switched
off, or a ``wrs`` profile overridden to send them, must be judged by what the server really
does. :class:`ServerRules` reads the resolved :class:`~mock_server.core.profiles.Profile`
(its knobs) and answers the questions the properties ask: can the client write
conditionally, which statuses mean "your ETag is stale", which one means "a new version",
which ones ask it to wait.

This is the checker's own reading of the knobs, written independently of the mock's
``mock_server.core.conditions``; a property test drives both with random knobs and checks that
they agree (``tests/properties/test_rules.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mock_server.core.profiles import Profile, profile_named

from .outcomes import TRANSIENT_STATUSES, is_backoff_status

__all__ = ["IfMatch", "ServerRules"]

#: What a write's ``If-Match`` carried, as far as the rules care.
IfMatch = Literal["absent", "any", "current", "stale_same_iteration", "stale_new_iteration"]


@dataclass(frozen=True)
class ServerRules:
    """The conditional-write rules of one resolved profile."""

    profile: Profile

    @classmethod
    def of(cls, profile: Profile | str) -> ServerRules:
        """The rules of ``profile``: a resolved ``Profile`` (knobs), or a profile's name."""
        return cls(profile_named(profile) if isinstance(profile, str) else profile)

    @property
    def name(self) -> str:
        return self.profile.name

    def write_status(
        self,
        if_match: IfMatch,
        *,
        busy: bool = False,
        optimistic: bool = False,
        ignore_version_check: bool = False,
    ) -> int | None:
        """The status the server refuses a write with, or ``None`` when it accepts it.

        ``busy``: a background operation is in flight; ``optimistic``: the write carries
        ``X-PTC-UpdateMode: optimistic``; ``ignore_version_check``: it carries
        ``X-PTC-IgnoreVersionCheck: true``.
        """
        p = self.profile
        if ignore_version_check and p.honour_ignore_version_check:
            return None
        if if_match == "current" and p.weak_etags and not p.weak_comparison:
            # RFC 9110: a weak tag never matches strongly, not even the current one.
            if_match = "stale_same_iteration"
        if self.checks_if_match:
            if if_match == "absent":
                if p.require_if_match or (p.honour_update_mode and optimistic):
                    return 428
            elif if_match == "stale_same_iteration" and p.stale_same_iteration_status:
                return p.stale_same_iteration_status
            elif if_match == "stale_new_iteration" and p.stale_new_iteration_status:
                return p.stale_new_iteration_status
        if busy and p.busy_status is not None:
            return p.busy_status
        return None

    @property
    def checks_if_match(self) -> bool:
        """The server compares ``If-Match`` with the current ETag (for one kind of mismatch
        at least)."""
        p = self.profile
        return p.stale_same_iteration_status is not None or p.stale_new_iteration_status is not None

    @property
    def conditional_writes(self) -> bool:
        """A client can protect its write with ``If-Match``: the server sends ETags, accepts the
        current one and refuses a stale one. Only then is a write without ``If-Match`` a
        client's choice, and a fault (weak tags under strong comparison never match, so there
        a client has no conditional write to make)."""
        return (
            self.profile.emit_etags
            and self.write_status("current") is None
            and (
                self.write_status("stale_same_iteration") is not None
                or self.write_status("stale_new_iteration") is not None
            )
        )

    @property
    def stale_statuses(self) -> frozenset[int]:
        """Statuses that refuse a stale ``If-Match``."""
        p = self.profile
        return frozenset(
            s for s in (p.stale_same_iteration_status, p.stale_new_iteration_status) if s
        )

    @property
    def conflict_statuses(self) -> frozenset[int]:
        """Statuses a concurrent change can cause: a stale ETag or a write while busy."""
        busy = self.profile.busy_status
        return self.stale_statuses | ({busy} if busy else set())

    @property
    def version_moved_status(self) -> int | None:
        """The status that means "another user made a new version", when the profile has one
        of its own (the ``thread`` profile's 412); ``None`` where the status does not tell a
        new version from a touch (``odata`` answers 412 to both)."""
        p = self.profile
        new = p.stale_new_iteration_status
        if new is None or new in (p.stale_same_iteration_status, p.busy_status):
            return None
        return new

    def needs_backoff(self, status: int) -> bool:
        """A refusal that asks the client to wait before trying again: the profile's busy
        status (a background operation is in flight; in ``thread`` 409, which a stale ETag
        shares), another 409 (a check-out), 429 and the server errors — never the new-version
        status, which asks for a merge, nor a stale-ETag status that is not also the busy
        status (``odata``'s 412), after which a fresh read is enough."""
        if status == self.version_moved_status:
            return False
        if status == self.profile.busy_status:
            return True
        if status in self.stale_statuses:
            return False  # a stale ETag without a busy window: a fresh read is enough
        return is_backoff_status(status)  # 409 (a check-out), 429 and the server errors

    def rides_out(self, status: int) -> bool:
        """A refusal a client must ride out (retry, merge or fall back) rather than give up on:
        the profile's conflict statuses and the transient ones."""
        return status in self.conflict_statuses or status in TRANSIENT_STATUSES
