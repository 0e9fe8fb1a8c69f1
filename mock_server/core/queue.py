"""The per-document intervention queue: which interventions fire on which request, and when.

Pure bookkeeping: the queue decides *what* is due and hands it out in order; the repository
applies it. One queue belongs to an original document and counts the client requests on it
(its working copy's included) from 1.

Rules:

1. An intervention with ``before_request=n`` fires on request ``n`` and on no other.
2. An ``at=`` *state* action is due once the clock reaches its time, request or not.
3. A *request* action without a trigger, or with an ``at=`` time reached, fires on the next
   request; at most one of each kind per request, the earliest injected first (the others wait
   for the following requests). A ``before_request`` action of that kind aimed at this very
   request comes first: the untriggered one waits, whatever the order they were injected in.
4. What fires leaves the queue; everything else keeps its place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .interventions import Action, Intervention

__all__ = ["InterventionQueue", "Pending"]


@dataclass(frozen=True)
class Pending:
    """An intervention waiting in a queue; ``at_abs`` is its ``at=`` as an absolute clock time."""

    intervention: Intervention
    at_abs: float | None = None

    @property
    def action(self) -> Action:
        return self.intervention.action

    def due_state_action(self, now: float) -> bool:
        """An ``at=`` state action whose time has come (rule 2)."""
        return self.at_abs is not None and self.at_abs <= now and not self.action.request_action


@dataclass(slots=True)
class InterventionQueue:
    """One original document's request counter and its waiting interventions."""

    requests: int = 0
    pending: list[Pending] = field(default_factory=list)

    def copy(self) -> InterventionQueue:
        return InterventionQueue(self.requests, list(self.pending))

    def add(self, intervention: Intervention, at_abs: float | None = None) -> None:
        self.pending.append(Pending(intervention, at_abs))

    def count_request(self) -> int:
        """Count one more client request; returns its number (from 1)."""
        self.requests += 1
        return self.requests

    def interventions(self) -> list[Intervention]:
        return [p.intervention for p in self.pending]

    def has_state_actions_at_times(self) -> bool:
        """Whether an ``at=`` state action waits, due or not."""
        return any(p.at_abs is not None and not p.action.request_action for p in self.pending)

    def has_due_state_actions(self, now: float) -> bool:
        return any(p.due_state_action(now) for p in self.pending)

    def take_due_state_actions(self, now: float) -> list[tuple[float, Action]]:
        """Remove and return the ``at=`` state actions due by ``now``, with their times."""
        if not self.pending:
            return []
        due = [p for p in self.pending if p.due_state_action(now)]
        self.pending = [p for p in self.pending if not p.due_state_action(now)]
        return [(p.at_abs, p.action) for p in due if p.at_abs is not None]

    def take_for_request(self, request: int, now: float) -> list[Action]:
        """Remove and return, in queue order, the actions that fire on request ``request``."""
        if not self.pending:
            return []
        fire: list[Action] = []
        keep: list[Pending] = []
        kinds_taken = {
            p.action.kind
            for p in self.pending
            if p.action.request_action and p.intervention.before_request == request
        }
        for pending in self.pending:
            intervention, action = pending.intervention, pending.action
            if intervention.before_request is not None:
                hit = intervention.before_request == request
            elif action.request_action:
                hit = (pending.at_abs is None or pending.at_abs <= now) and (
                    action.kind not in kinds_taken
                )
            else:
                hit = False
            if hit:
                fire.append(action)
                kinds_taken.add(action.kind)
            else:
                keep.append(pending)
        self.pending = keep
        return fire
