"""The checker's report: the client's requests against everything else, as an ASCII timeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mock_server.core.journal import Event

if TYPE_CHECKING:
    from .schedules import ConflictSchedule

__all__ = ["format_timeline", "report"]


def format_timeline(history: Sequence[Event], user: str = "wcadmin") -> str:
    """An ASCII timeline: the client's requests against everything else, with ETags."""
    rows = [f"{'t (s)':>9}  {'client ' + user:<46}  {'others':<40}  ETag after"]
    rows.append("-" * len(rows[0]))
    for event in history:
        if event.type == "invoke":
            continue
        if event.process == user:
            invoke = next(
                (e for e in history if e.op_id == event.op_id and e.type == "invoke"), None
            )
            sent = invoke.if_match if invoke is not None else None
            addressed = invoke.addressed if invoke is not None else None
            target = f" ({_ADDRESSED[addressed]})" if addressed in _ADDRESSED else ""
            what = f"{_verb(event.op)}{target}"
            if sent:
                what += f" If-Match {sent}"
            if event.type == "rollback":
                cell = f"{_verb(event.op)} rolled back (change set failed)"
            else:
                result = {"ok": "", "fail": "", "info": " LOST"}[event.type]
                cell = f"{what} → {event.status}{result}"
            rows.append(f"{event.t:>9.3f}  {cell:<46}  {'':<40}  {event.etag_after or ''}")
        else:
            label = (
                f"{event.process} {event.op}"
                + (f" ({event.duration:g}s)" if event.duration else "")
                + (f" {dict(event.changes)}" if event.changes else "")
                + (f" [{event.message}]" if event.message else "")
            )
            rows.append(f"{event.t:>9.3f}  {'':<46}  {label:<40}  {event.etag_after or ''}")
    return "\n".join(rows)


#: How the timeline marks a request by the key it used (see ``Event.addressed``).
_ADDRESSED = {
    "working_copy": "working copy",
    "past_iteration": "past iteration",
    "version": "by VersionID",
    "latest": "latest iteration",
}


def _verb(op: str) -> str:
    return {
        "read": "GET",
        "update": "PATCH",
        "delete": "DELETE",
        "create": "POST",
        "check_out": "CheckOut",
        "check_in": "CheckIn",
        "undo_check_out": "UndoCheckOut",
    }.get(op, op)


def report(
    history: Sequence[Event],
    user: str,
    schedule: ConflictSchedule | None,
    seed: int | None,
    outcome: str,
    changes: Mapping[str, Any],
    notes: Sequence[str] = (),
) -> str:
    parts = [f"The client ({user}) updated {dict(changes)} and reported {outcome!r}."]
    parts.extend(f"Note: {note}" for note in notes)
    if schedule is not None:
        parts.append(
            "Schedule (paste into a test; `from pytest_windchill.schedules import *`):\n"
            + repr(schedule)
        )
    if seed is not None:
        parts.append(f"Seed to replay: {seed}")
    parts.append("Timeline:\n" + format_timeline(history, user))
    return "\n\n".join(parts)
