"""The history checker: judge one client's update from the mock's journal.

:func:`check_update` reads the journal of a scenario and the outcome the client reported,
and raises :class:`ConcurrencyViolation` naming the first property violated:

``lost-update``
    a client write changed a field that another writer had changed after this client's first
    read, to something else — it overwrote a change it never saw;
``unconditional-write``
    a PATCH without ``If-Match`` (or with ``*``) that the server accepted, where the server
    sends ETags and refuses a stale one (so the client could have protected its write);
``truthful-outcome``
    "applied"/"merged" while the server does not hold the client's values, or
    "review"/"failed" while the client's write was applied (a lost response included);
``stale-iteration``
    the client wrote again to an ``OR:`` the server had refused as a past iteration, instead
    of re-reading the object through its ``VersionID`` (where iterations have their own
    ``OR:``);
``stale-retry``
    a retry after 409/412 sent the very ETag that had just been refused;
``blind-retry-after-412``
    a PATCH without reading the document first, after the status by which the profile says
    "a new version" (the ``thread`` profile's 412);
``bounded-effort``
    more PATCH attempts than the policy allows;
``backoff``
    a retry sooner than the policy's backoff or than ``Retry-After``;
``lock-hygiene``
    the client left the document checked out;
``liveness``
    the client gave up although the interference was within what its policy can ride out.

The checker judges by the rules in force: the resolved profile's knobs
(:class:`~pytest_windchill.rules.ServerRules`), never by a profile's name.

The message shows the schedule as Python, the seed to replay, and an ASCII timeline.

About 450 lines on purpose: the ten properties read best side by side, each a short method of
one judge over one history (reconstruction lives in :mod:`.history`, the timeline in
:mod:`.report`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from mock_server.core.journal import SKIPPED_PREFIX, Event
from mock_server.core.profiles import Profile

from .client.policy import RetryPolicy
from .history import History
from .outcomes import (
    SUCCESS,
    TRANSIENT_STATUSES,
    Outcome,
    UpdateResult,
    explain_etags,
    outcome_status,
)
from .report import format_timeline, report
from .rules import ServerRules

if TYPE_CHECKING:
    from .schedules import ConflictSchedule

__all__ = ["PROPERTIES", "ConcurrencyViolation", "check_update", "format_timeline"]

PROPERTIES = (
    "lost-update",
    "unconditional-write",
    "truthful-outcome",
    "stale-iteration",
    "stale-retry",
    "blind-retry-after-412",
    "bounded-effort",
    "backoff",
    "lock-hygiene",
    "liveness",
)
_EPSILON = 1e-6


class ConcurrencyViolation(AssertionError):
    """A client's update broke a concurrency property; the message says which and how."""

    def __init__(self, prop: str, explanation: str, report: str) -> None:
        super().__init__(f"[{prop}] {explanation}\n\n{report}")
        self.property = prop
        self.explanation = explanation


def check_update(
    events: Sequence[Event],
    doc_id: str,
    changes: Mapping[str, Any],
    outcome: UpdateResult | Outcome,
    *,
    user: str = "wcadmin",
    profile: Profile | str = "thread",
    policy: RetryPolicy | None = None,
    schedule: ConflictSchedule | None = None,
    seed: int | None = None,
    since: int = 0,
    initial: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
    batch: Sequence[str] = (),
) -> None:
    """Judge the update of ``doc_id`` by ``user``; raise :class:`ConcurrencyViolation`.

    ``events`` is the mock's journal; only the client's operations recorded after journal
    sequence number ``since`` belong to the update judged (earlier history still counts as
    the document's past). ``profile`` is the server's resolved ``Profile`` — its knobs, with
    any overrides — or a profile's name; the fixtures pass the resolved one. ``notes`` are
    added to a violation's report (e.g. which interventions never fired). ``policy`` is the
    client's retry policy (default ``RetryPolicy()``).
    ``initial`` is the document's writable values before the history begins; the mock
    journals set-up (``create_document``), so it is needed only for a history that starts
    part-way, such as a bounded journal. Without either, the first journalled values are the
    earliest the checker knows. ``batch`` names the objects updated in the same ``$batch``
    change set (``UpdateResult.batch`` adds its own): the update stood or fell with them, so
    liveness weighs the interference on all of them.
    """
    status = outcome_status(outcome)
    policy = policy if policy is not None else RetryPolicy()
    history = [e for e in events if e.document == _first_id(events, doc_id)]
    # An update made in one change set with others stood or fell with them.
    batched = (*batch, *getattr(outcome, "batch", ()))
    together = {_first_id(events, d) for d in batched} | {_first_id(events, doc_id)}
    rules = ServerRules.of(profile)
    judge = _Judge(history, dict(changes), status, user, rules, policy, since, initial)
    judge.batch_history = [e for e in events if e.document in together]
    failure = judge.first_violation()
    if failure is None:
        return
    prop, explanation = failure
    raise ConcurrencyViolation(
        prop, explanation, report(history, user, schedule, seed, status, changes, notes)
    )


class _Judge(History):
    def __init__(
        self,
        history: list[Event],
        changes: dict[str, Any],
        outcome: Outcome,
        user: str,
        rules: ServerRules,
        policy: RetryPolicy,
        since: int,
        initial: Mapping[str, Any] | None,
    ) -> None:
        super().__init__(history, user, since, initial)
        #: The history of every object updated in the same change set (this one's alone
        #: outside a batch): what liveness weighs.
        self.batch_history = history
        self.changes = changes
        self.outcome = outcome
        self.rules = rules
        self.policy = policy

    def first_violation(self) -> tuple[str, str] | None:
        for check in (
            self.unconditional_write,
            self.lost_update,
            self.truthful_outcome,
            # Before the ETag properties: resending to a past iteration is the root cause.
            self.stale_iteration,
            self.stale_retry,
            self.blind_retry_after_412,
            self.bounded_effort,
            self.backoff,
            self.lock_hygiene,
            self.liveness,
        ):
            found = check()
            if found is not None:
                return found
        return None

    # ---------------------------------------------------------------- properties

    def unconditional_write(self) -> tuple[str, str] | None:
        if not self.rules.conditional_writes:
            return None  # no ETags, or If-Match is ignored: the client cannot do better
        for patch in self.patches():
            sent = patch.invoke.if_match
            if (sent is None or sent.strip() == "*") and patch.applied:
                return (
                    "unconditional-write",
                    f"the PATCH at t={patch.invoke.t:g}s sent "
                    f"{'no If-Match' if sent is None else 'If-Match: *'} and the server "
                    f"applied it; this server ({self.rules.name} profile) sends ETags and "
                    "refuses a stale one, so an unconditional write is last-write-wins and can "
                    "silently overwrite another user's change. Send If-Match with the ETag "
                    "of your last read",
                )
        return None

    def lost_update(self) -> tuple[str, str] | None:
        # The first read of the object as it is: a past iteration's OR: shows old values.
        reads = [
            o
            for o in self.ops
            if o.op == "read" and o.outcome == "ok" and o.invoke.addressed != "past_iteration"
        ]
        if not reads:
            return None
        base = reads[0].end
        assert base is not None
        foreign = [e for e in self.foreign_changes() if (e.t, e.seq) > (base.t, base.seq)]
        seen = self.known_values_before(base)
        for write in [o for o in self.ops if o.op == "update" and o.applied]:
            written = write.invoke.changes or {}
            before = self.values_before(write.invoke)
            for change in foreign:
                if (change.t, change.seq) > (write.invoke.t, write.invoke.seq):
                    continue
                for name, theirs in (change.changes or {}).items():
                    if name not in written:
                        continue
                    # Overwritten already, or the client writes the same value: nothing lost.
                    if before.get(name, theirs) != theirs or written[name] == theirs:
                        continue
                    # Set to the value the client read: it saw that value, so it lost nothing.
                    if seen is not None and seen.get(name) == theirs:
                        continue
                    return (
                        "lost-update",
                        f"the client's write at t={write.invoke.t:g}s set {name}="
                        f"{written[name]!r}, overwriting {change.process}'s {name}={theirs!r} "
                        f"made at t={change.t:g}s — after the client first read the document "
                        f"(t={base.t:g}s), so the client never saw it. Merge against the "
                        "state first read, and send conflicting fields to review",
                    )
        return None

    def truthful_outcome(self) -> tuple[str, str] | None:
        final = self.final_values()
        held = all(final.get(k) == v for k, v in self.changes.items())
        client_wrote = bool(self.writes())
        if self.outcome in SUCCESS:
            if not client_wrote and not held:
                return (
                    "truthful-outcome",
                    f"the client reported {self.outcome!r}, but none of its writes was applied "
                    f"and the server holds {_subset(final, self.changes)}, not "
                    f"{self.changes} (at t={self._end_time():g}s). Report success only for a "
                    "2xx answer to your own write, or after a read that shows your values",
                )
            if not held and not self._overwritten_later():
                return (
                    "truthful-outcome",
                    f"the client reported {self.outcome!r}, but the server holds "
                    f"{_subset(final, self.changes)}, not {self.changes} (at "
                    f"t={self._end_time():g}s). Report success only for a 2xx answer to your "
                    "own write, or after a read that shows your values",
                )
            return None
        if client_wrote and held and not self._could_not_learn():
            lost = [o for o in self.writes() if o.outcome == "info"]
            hint = (
                " — its response was lost, but the write was applied: re-read and recognise "
                "your own write (the values you sent) before retrying or giving up"
                if lost
                else ""
            )
            return (
                "truthful-outcome",
                f"the client reported {self.outcome!r}, but its write at "
                f"t={self.writes()[-1].invoke.t:g}s is on the server "
                f"({_subset(final, self.changes)}){hint or '; report what the server holds'}",
            )
        return None

    def _end_time(self) -> float:
        """When the client's last operation ended (its last request, if none ended)."""
        ends = [o.end.t for o in self.ops if o.end is not None]
        if ends:
            return max(ends)
        return self.ops[-1].invoke.t if self.ops else 0.0

    def _could_not_learn(self) -> bool:
        """Every applied write lost its response, and every read the client tried afterwards
        failed: the server never let it learn the outcome, so no report can be called false."""
        writes = self.writes()
        if not writes or any(o.outcome != "info" for o in writes):
            return False
        last = writes[-1]
        reads = [
            o
            for o in self.ops
            if o.op == "read" and (o.invoke.t, o.invoke.seq) > (last.invoke.t, last.invoke.seq)
        ]
        return bool(reads) and all(o.outcome != "ok" for o in reads)

    def _overwritten_later(self) -> bool:
        """Another writer changed the document after the client's last write."""
        last = self.writes()[-1].invoke
        return any((e.t, e.seq) > (last.t, last.seq) for e in self.foreign_changes())

    def stale_retry(self) -> tuple[str, str] | None:
        patches = self.patches()
        for previous, retry in pairwise(patches):
            sent = previous.invoke.if_match
            # Resending the ETag the 409 itself reported as current (an operation was merely
            # in flight) is fine; resending one the server had already moved past is not. A
            # failed change set rolled back in between makes its restored ETag current.
            current = previous.end.etag_after if previous.end is not None else None
            since = previous.end.seq if previous.end is not None else previous.invoke.seq
            for e in self.history:
                if e.type == "rollback" and since < e.seq < retry.invoke.seq:
                    current = e.etag_after
            if (
                previous.status in self.rules.conflict_statuses
                and sent is not None
                and retry.invoke.if_match == sent
                and sent != current
            ):
                moved = f" (it was {current}: {explain_etags(sent, current)})" if current else ""
                return (
                    "stale-retry",
                    f"after {previous.status} at t={previous.invoke.t:g}s the client "
                    f"retried at t={retry.invoke.t:g}s with the same If-Match "
                    f"{previous.invoke.if_match}; fetch a fresh ETag first{moved}",
                )
        return None

    def blind_retry_after_412(self) -> tuple[str, str] | None:
        moved = self.rules.version_moved_status
        if moved is None:
            return None  # the profile's statuses do not tell a new version apart
        for index, op in enumerate(self.ops):
            if op.op != "update" or op.status != moved or op.on_working_copy:
                continue
            for later in self.ops[index + 1 :]:
                if later.op == "read":
                    break
                if later.op == "update" and not later.on_working_copy:
                    return (
                        "blind-retry-after-412",
                        f"{moved} at t={op.invoke.t:g}s means the version moved (another user's "
                        f"edit), yet the client PATCHed again at t={later.invoke.t:g}s without "
                        "reading the document: merge against the base or send it to review",
                    )
        return None

    def stale_iteration(self) -> tuple[str, str] | None:
        refused: dict[str, float] = {}
        for op in self.ops:
            if op.op == "read" or op.invoke.addressed != "past_iteration" or op.key is None:
                continue
            if op.key in refused:
                return (
                    "stale-iteration",
                    f"at t={op.invoke.t:g}s the client sent {op.op} to {op.key} again, after "
                    f"the server refused it at t={refused[op.key]:g}s: that OR: names a past "
                    "iteration (a check-in made a new one, with its own OR:), and retrying it "
                    "can never succeed. Read the object through its VersionID (VR:), which "
                    "names the latest iteration, then merge or send the change to review",
                )
            if op.outcome == "fail":
                refused[op.key] = op.invoke.t
        return None

    def bounded_effort(self) -> tuple[str, str] | None:
        attempts = len(self.patches())
        allowed = self.policy.max_retries + 1
        if attempts > allowed:
            return (
                "bounded-effort",
                f"{attempts} PATCH attempts on the document (t={self.patches()[0].invoke.t:g}s "
                f"to t={self.patches()[-1].invoke.t:g}s); the policy allows "
                f"{allowed} (max_retries={self.policy.max_retries} plus the first). Stop "
                "after the last retry: report 'failed', or fall back to check-out",
            )
        return None

    def backoff(self) -> tuple[str, str] | None:
        patches = self.patches()
        for number, (previous, retry) in enumerate(pairwise(patches), 1):
            failure = previous.end
            if failure is None:
                continue
            needs_backoff = previous.outcome == "info" or (
                failure.type == "fail"
                and failure.status is not None
                and self.rules.needs_backoff(failure.status)
            )
            if not needs_backoff:
                continue
            gap = retry.invoke.t - failure.t
            minimum = self.policy.min_delay(number, retry_after=failure.retry_after)
            if gap + _EPSILON < minimum:
                after = f" and Retry-After {failure.retry_after:g}s" if failure.retry_after else ""
                return (
                    "backoff",
                    f"retry {number} came {gap:.3f}s after the "
                    f"{'lost response' if previous.outcome == 'info' else failure.status} at "
                    f"t={failure.t:g}s; the policy's backoff{after} asks for at least "
                    f"{minimum:.3f}s (retries are numbered from 1 over every PATCH after the "
                    "first, a merge after a 412 included). Sleep the policy's delay before "
                    "retrying",
                )
        return None

    def lock_hygiene(self) -> tuple[str, str] | None:
        held: list[float] = []  # when each check-out still open was made
        for op in self.ops:
            if op.op == "check_out" and op.applied:
                held.append(op.invoke.t)
            elif op.op in ("check_in", "undo_check_out") and op.applied and held:
                held.pop()
        if held:
            return (
                "lock-hygiene",
                f"the client ({self.user}) checked the document out at t={held[-1]:g}s "
                "and left it checked out; undo the check-out when anything after it fails",
            )
        return None

    def _checked_out_by_others(self, history: list[Event]) -> bool:
        """Whether another user held the document checked out during the update: a check-out
        made before it and not released when it began, or one made during it (and not
        rolled back with a failed change set)."""
        holder: str | None = None
        undone = {e.op_id for e in history if e.type == "rollback"}
        for e in history:
            if e.process == self.user or e.type not in ("intervention", "ok"):
                continue
            if e.type == "ok" and e.op_id in undone:
                continue
            if (e.message or "").startswith(SKIPPED_PREFIX):
                continue
            if e.op == "check_out":
                holder = e.process
            elif e.op in ("check_in", "undo_check_out") and e.process == holder:
                if e.seq > self.since:
                    return True  # still held when the update began
                holder = None
        return holder is not None

    def _cost(self, event: Event) -> int:
        """How many failed attempts ``event`` can force on a client that follows the policy.

        One, plus one per retry that the policy's shortest backoff would still place inside
        the event's in-flight window: a 5 s indexer run outlasts 0.5 + 1 + 2 s of backoff.
        """
        duration = event.duration or 0.0
        cost, waited = 1, 0.0
        for retry in range(1, self.policy.max_retries + 1):
            waited += self.policy.min_delay(retry)
            if waited >= duration:
                break
            cost += 1
        return cost

    def liveness(self) -> tuple[str, str] | None:
        if self.outcome not in ("failed", "review"):
            return None
        foreign_checkout = any(
            self._checked_out_by_others([e for e in self.batch_history if e.document == doc])
            for doc in {e.document for e in self.batch_history}
        )
        failures = [o for o in self.ops if o.outcome in ("fail", "info")]
        # A client must ride out conflicts, lost responses and the transient statuses; any
        # other refusal (a 4xx, or a 500: an error, not a "try again later") may end it.
        refused = any(
            o.outcome == "fail"
            and o.status is not None
            and o.status >= 400
            and not self.rules.rides_out(o.status)
            for o in failures
        )
        if foreign_checkout or refused:
            return None
        start = self.ops[0].invoke.t if self.ops else 0.0
        quiet = (
            not failures
            and not self.foreign_changes()
            and not any(
                e.type in ("intervention", "background")
                and e.process != "setup"
                and (e.seq > self.since or e.t + (e.duration or 0.0) > start)
                for e in self.batch_history
            )
        )
        if quiet:
            # Whatever the policy (a deadline included): nothing stood in the way.
            return (
                "liveness",
                f"the client reported {self.outcome!r} although nothing interfered: no other "
                "process touched the document and none of its requests failed. With nothing in "
                "the way an update must be written; report 'applied' only once it is",
            )
        if self.outcome == "review" or self.policy.deadline is not None:
            return None
        interference = sum(
            self._cost(e)
            for e in self.batch_history
            if e.type in ("intervention", "background")
            and e.process != "setup"
            # during this update, or earlier but still in flight when it began
            and (e.seq > self.since or e.t + (e.duration or 0.0) > start)
        )
        interference += sum(
            1 for o in failures if o.outcome == "info" or o.status in TRANSIENT_STATUSES
        )
        if interference > self.policy.max_retries:
            return None
        return (
            "liveness",
            f"the client gave up after {len(failures)} failed request(s) (at "
            + ", ".join(f"t={o.invoke.t:g}s" for o in failures)
            + f"), although the interference ({interference} event(s)) is within what its "
            f"policy (max_retries={self.policy.max_retries}) can ride out and nobody else held "
            "the document checked out. Retry conflicts, lost responses and transient statuses "
            "(with backoff) until the policy's retries are spent",
        )


def _subset(values: Mapping[str, Any], keys: Mapping[str, Any]) -> dict[str, Any]:
    return {k: values.get(k) for k in keys}


def _first_id(events: Sequence[Event], doc_id: str) -> str:
    """The journal's name of the object ``doc_id`` names: its first ``OR:``. A client may be
    judged by a later ID (the latest iteration's, or the ``VR:``); the invokes that addressed
    it by that key tell which object it is."""
    if any(e.document == doc_id for e in events):
        return doc_id
    return next((e.document for e in events if e.target == doc_id and e.document), doc_id)
