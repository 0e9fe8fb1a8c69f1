"""The checker's rules, one by one, on hand-built journals: each test states a rule a user
relies on, so that a checker that silently stopped applying it fails a test named after it.

Journals are written by hand (not played against the mock) where the rule is about an order of
events or a boundary that a played scenario reaches only by chance.
"""

from __future__ import annotations

from typing import Any

import pytest

from mock_server.core.journal import Event
from pytest_windchill.checks import ConcurrencyViolation, check_update
from pytest_windchill.client.policy import RetryPolicy

DOC = "OR:wt.doc.WTDocument:1"
ME = "wcadmin"


class Journal:
    """A journal written by hand: the client's operations and other writers' changes."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._op = 0

    def _add(self, t: float, type_: Any, op: Any, process: str, **fields: Any) -> Event:
        fields.setdefault("document", DOC)
        event = Event(len(self.events) + 1, t, type_, op, process, **fields)
        self.events.append(event)
        return event

    def setup(self, **values: Any) -> Journal:
        self._add(0.0, "intervention", "create", "setup", values=dict(values))
        return self

    def client(
        self,
        t: float,
        op: str,
        end: str | None,
        status: int | None = None,
        *,
        until: float | None = None,
        if_match: str | None = '"v1.1"',
        changes: dict[str, Any] | None = None,
        values: dict[str, Any] | None = None,
        target: str | None = None,
        addressed: str | None = None,
        etag_after: str | None = None,
        user: str = ME,
    ) -> Journal:
        """One client operation: its invoke at ``t`` and its end (``None``: still pending)."""
        self._op += 1
        self._add(
            t,
            "invoke",
            op,
            user,
            op_id=self._op,
            if_match=if_match if op == "update" else None,
            changes=changes,
            target=target,
            addressed=addressed if addressed else ("working_copy" if target else None),
        )
        if end is not None:
            if status is None:
                status = 200 if end != "fail" else 409
            self._add(
                t if until is None else until,
                end,
                op,
                user,
                op_id=self._op,
                status=status,
                values=values,
                etag_after=etag_after,
            )
        return self

    def other(
        self,
        t: float,
        op: str,
        changes: dict[str, Any] | None = None,
        values: dict[str, Any] | None = None,
        *,
        by: str = "other",
        type_: str = "intervention",
        duration: float | None = None,
        message: str | None = None,
        document: str = DOC,
    ) -> Journal:
        """Someone else's change (an intervention or background work)."""
        self._add(
            t,
            type_,
            op,
            by,
            changes=changes,
            values=values,
            duration=duration,
            message=message,
            document=document,
        )
        return self

    def rollback(
        self,
        t: float,
        *,
        values: dict[str, Any] | None = None,
        etag_after: str | None = None,
        user: str = ME,
    ) -> Journal:
        """A failed change set undoes the last client operation."""
        self._add(
            t,
            "rollback",
            self.events[-1].op,
            user,
            op_id=self._op,
            values=values,
            etag_after=etag_after,
            message="rolled back: change set failed",
        )
        return self


def judge(
    journal: Journal,
    outcome: str,
    changes: dict[str, Any] | None = None,
    **kwargs: Any,
) -> ConcurrencyViolation | None:
    try:
        check_update(journal.events, DOC, changes or {"Title": "mine"}, outcome, **kwargs)  # type: ignore[arg-type]
    except ConcurrencyViolation as violation:
        return violation
    return None


def prop(violation: ConcurrencyViolation | None) -> str | None:
    return None if violation is None else violation.property


def explanation(violation: ConcurrencyViolation | None, expected: str) -> str:
    """The explanation of a violation of ``expected`` (failing when it is another one)."""
    assert violation is not None, f"expected a {expected} violation, found none"
    assert violation.property == expected, str(violation)
    return violation.explanation


# ------------------------------------------------------------------ unconditional-write


def test_an_unconditional_write_names_what_was_sent_and_the_fix() -> None:
    for sent, words in ((None, "sent no If-Match"), ("*", "sent If-Match: *")):
        journal = Journal().setup(Title="a").client(0, "read", "ok")
        journal.client(1, "update", "ok", if_match=sent, values={"Title": "mine"})

        violation = judge(journal, "applied")

        assert prop(violation) == "unconditional-write"
        assert violation is not None
        assert violation.explanation == (
            f"the PATCH at t=1s {words} and the server applied it; this server (thread "
            "profile) sends ETags and refuses a stale one, so an unconditional write is "
            "last-write-wins and can silently overwrite another user's change. Send If-Match "
            "with the ETag of your last read"
        )


# ------------------------------------------------------------------ lost-update


def _lost(journal: Journal, changes: dict[str, Any]) -> ConcurrencyViolation | None:
    return judge(journal, "applied", changes, profile="wrs")


def test_a_failed_read_is_no_base_for_what_the_client_saw() -> None:
    journal = Journal().setup(Title="a")
    journal.client(0, "read", "fail", 503)
    journal.other(1, "concurrent_edit", {"Title": "theirs"}, {"Title": "theirs"})
    journal.client(2, "read", "ok")  # the client saw "theirs" here
    journal.client(3, "update", "ok", changes={"Title": "mine"}, values={"Title": "mine"})

    assert prop(_lost(journal, {"Title": "mine"})) is None


def test_a_refused_patch_loses_nothing() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.other(1, "concurrent_edit", {"Title": "theirs"}, {"Title": "theirs"})
    journal.client(2, "update", "fail", 412, changes={"Title": "mine"})

    assert prop(judge(journal, "review")) is None


def test_a_change_of_two_fields_does_not_hide_the_one_the_client_overwrites() -> None:
    journal = Journal().setup(Title="a", Description="d").client(0, "read", "ok")
    journal.other(
        1,
        "concurrent_edit",
        {"Description": "theirs", "Title": "theirs"},
        {"Description": "theirs", "Title": "theirs"},
    )
    journal.client(2, "update", "ok", changes={"Title": "mine"}, values={"Title": "mine"})

    violation = _lost(journal, {"Title": "mine"})

    assert prop(violation) == "lost-update"
    assert violation is not None
    assert violation.explanation == (
        "the client's write at t=2s set Title='mine', overwriting other's Title='theirs' made "
        "at t=1s — after the client first read the document (t=0s), so the client never saw "
        "it. Merge against the state first read, and send conflicting fields to review"
    )


@pytest.mark.parametrize(
    "theirs",
    [
        {"Title": "mine", "Description": "theirs"},  # the same value as the client's: nothing lost
        {"Title": "a", "Description": "theirs"},  # back to the value the client read
    ],
)
def test_each_field_of_a_foreign_change_is_judged_on_its_own(theirs: dict[str, Any]) -> None:
    journal = Journal().setup(Title="a", Description="d").client(0, "read", "ok")
    journal.other(1, "concurrent_edit", theirs, theirs)
    mine = {"Title": "mine", "Description": "mine"}
    journal.client(2, "update", "ok", changes=mine, values=mine)

    violation = _lost(journal, mine)

    assert prop(violation) == "lost-update"
    assert "Description='theirs'" in str(violation)


def test_the_change_overwritten_is_the_last_one_not_an_earlier_one() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.other(1, "concurrent_edit", {"Title": "B"}, {"Title": "B"})
    journal.other(2, "concurrent_edit", {"Title": "C"}, {"Title": "C"}, by="third")
    journal.client(3, "update", "ok", changes={"Title": "D"}, values={"Title": "D"})

    violation = _lost(journal, {"Title": "D"})

    assert prop(violation) == "lost-update"
    assert "overwriting third's Title='C' made at t=2s" in str(violation)


def test_a_history_starting_part_way_still_shows_a_lost_update() -> None:
    # No set-up event and no values: the checker knows only the change and the write.
    journal = Journal().client(0, "read", "ok")
    journal.other(1, "concurrent_edit", {"Title": "theirs"})
    journal.client(2, "update", "ok", changes={"Title": "mine"})

    assert prop(_lost(journal, {"Title": "mine"})) == "lost-update"


def test_the_clients_own_writes_and_set_up_are_no_foreign_changes() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(1, "update", "ok", changes={"Title": "x"}, values={"Title": "x"})
    journal.other(1.5, "create", {"Title": "other doc"}, by="setup")
    journal.client(2, "update", "ok", changes={"Title": "mine"}, values={"Title": "mine"})

    assert prop(_lost(journal, {"Title": "mine"})) is None


def test_a_skipped_intervention_changed_nothing() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.other(1, "concurrent_edit", {"Title": "theirs"}, message="skipped: checked out")
    journal.client(2, "update", "ok", changes={"Title": "mine"}, values={"Title": "mine"})

    assert prop(_lost(journal, {"Title": "mine"})) is None


def test_another_users_completed_write_is_a_foreign_change() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(1, "update", "ok", changes={"Title": "bob"}, values={"Title": "bob"}, user="bob")
    journal.client(2, "update", "ok", changes={"Title": "mine"}, values={"Title": "mine"})

    violation = _lost(journal, {"Title": "mine"})

    assert prop(violation) == "lost-update"
    assert "overwriting bob's Title='bob'" in str(violation)


# ------------------------------------------------------------------ truthful-outcome


def test_success_without_any_write_says_none_was_applied() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(1, "update", "fail", 412, until=2)

    assert explanation(judge(journal, "applied"), "truthful-outcome") == (
        "the client reported 'applied', but none of its writes was applied and the server "
        "holds {'Title': 'a'}, not {'Title': 'mine'} (at t=2s). Report success only for a 2xx "
        "answer to your own write, or after a read that shows your values"
    )


def test_success_claimed_with_no_request_at_all_is_untruthful_at_t0() -> None:
    violation = judge(Journal().setup(Title="a"), "applied")

    assert prop(violation) == "truthful-outcome"
    assert "(at t=0s)" in str(violation)


def test_the_time_of_an_untruthful_report_is_the_last_request_sent() -> None:
    journal = Journal().setup(Title="a")
    for t in (1, 2, 3):
        journal.client(t, "read", None)  # never answered

    assert "(at t=3s)" in str(judge(journal, "applied"))


def test_success_when_the_server_holds_something_else_says_what_it_holds() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(1, "update", "ok", changes={"Title": "x"}, values={"Title": "x"})

    assert explanation(judge(journal, "applied"), "truthful-outcome") == (
        "the client reported 'applied', but the server holds {'Title': 'x'}, not "
        "{'Title': 'mine'} (at t=1s). Report success only for a 2xx answer to your own "
        "write, or after a read that shows your values"
    )


def test_failure_reported_after_an_acknowledged_write_is_untruthful() -> None:
    # A 200 for the write, then a failed GET: the 200 already told the client.
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(1, "update", "ok", changes={"Title": "mine"}, values={"Title": "mine"})
    journal.client(2, "read", "fail", 503)

    assert explanation(judge(journal, "failed"), "truthful-outcome") == (
        "the client reported 'failed', but its write at t=1s is on the server "
        "({'Title': 'mine'}); report what the server holds"
    )


def test_failure_reported_after_a_lost_write_that_a_read_then_showed_is_untruthful() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(1, "update", "info", 200, changes={"Title": "mine"}, values={"Title": "mine"})
    journal.client(2, "read", "ok")  # it could see its write here

    violation = judge(journal, "failed")

    assert prop(violation) == "truthful-outcome"
    assert "its response was lost, but the write was applied: re-read and recognise your own " in (
        str(violation)
    )
    assert "write (the values you sent) before retrying or giving up" in str(violation)


def test_a_lost_write_and_only_failed_reads_after_it_excuse_a_failure_report() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(1, "update", "info", 200, changes={"Title": "mine"}, values={"Title": "mine"})
    journal.client(2, "read", "fail", 503)

    assert prop(judge(journal, "failed", policy=RetryPolicy(max_retries=1))) is None


# ------------------------------------------------------------------ stale-retry, blind retry


def test_a_patch_that_never_ended_is_no_refusal_to_retry_after() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(1, "update", None)  # pending
    journal.client(2, "update", "ok", values={"Title": "mine"})

    assert prop(judge(journal, "applied")) is None


def test_a_read_between_a_412_and_the_next_patch_is_no_blind_retry() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(1, "update", "fail", 412, etag_after='"v2.5"')
    journal.client(2, "read", "ok")
    journal.client(3, "update", "ok", if_match='"v2.5"', values={"Title": "mine"})

    assert prop(judge(journal, "merged")) is None


def test_every_412_of_an_update_is_examined_not_only_the_first() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(1, "update", "fail", 412, etag_after='"v2.5"')
    journal.client(2, "read", "ok")
    journal.client(3, "update", "fail", 412, if_match='"v2.5"', etag_after='"v3.6"')
    journal.client(4, "update", "ok", if_match='"v3.6"', values={"Title": "mine"})

    assert explanation(judge(journal, "applied"), "blind-retry-after-412") == (
        "412 at t=3s means the version moved (another user's edit), yet the client PATCHed "
        "again at t=4s without reading the document: merge against the base or send it to "
        "review"
    )


def test_a_check_out_after_a_412_is_no_blind_patch() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(1, "update", "fail", 412)
    journal.client(2, "check_out", "ok")
    journal.client(3, "undo_check_out", "ok")

    assert prop(judge(journal, "review")) is None


# ------------------------------------------------------------------ bounded effort, backoff


def test_unbounded_effort_names_the_first_and_last_attempt_and_the_fix() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    for t in (1, 3, 6):
        journal.client(t, "update", "fail", 503, if_match=f'"v1.{t}"')

    assert explanation(
        judge(journal, "failed", policy=RetryPolicy(max_retries=1)), "bounded-effort"
    ) == (
        "3 PATCH attempts on the document (t=1s to t=6s); the policy allows 2 "
        "(max_retries=1 plus the first). Stop after the last retry: report 'failed', or fall "
        "back to check-out"
    )


def test_a_retry_a_tenth_of_a_second_after_a_409_late_in_the_run_is_too_soon() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(5, "update", "fail", 409, if_match='"v1.1"')
    journal.client(5.1, "update", "ok", if_match='"v1.2"', values={"Title": "mine"})

    assert explanation(judge(journal, "applied"), "backoff") == (
        "retry 1 came 0.100s after the 409 at t=5s; the policy's backoff asks for at least "
        "0.500s (retries are numbered from 1 over every PATCH after the first, a merge after a "
        "412 included). Sleep the policy's delay before retrying"
    )


def test_a_retry_ten_milliseconds_after_a_lost_response_is_too_soon() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(1, "update", "info", 200, if_match='"v1.1"', values={"Title": "a"})
    journal.client(1.01, "update", "ok", if_match='"v1.2"', values={"Title": "mine"})

    violation = judge(journal, "applied")

    assert prop(violation) == "backoff"
    assert "retry 1 came 0.010s after the lost response at t=1s" in str(violation)


def test_backoff_is_checked_after_a_pending_patch_and_after_a_412() -> None:
    for first in ((None, None), ("fail", 412)):
        journal = Journal().setup(Title="a").client(0, "read", "ok")
        journal.client(1, "update", first[0], first[1], if_match='"v1.1"')
        journal.client(2, "read", "ok")
        journal.client(3, "update", "fail", 409, if_match='"v2.2"')
        journal.client(3.2, "update", "ok", if_match='"v2.3"', values={"Title": "mine"})

        violation = judge(journal, "applied", profile="odata")

        assert prop(violation) == "backoff"
        assert "retry 2 came 0.200s after the 409 at t=3s" in str(violation)


# ------------------------------------------------------------------ lock hygiene


def test_a_check_in_releases_the_lock_and_counts_as_the_clients_write() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(1, "check_out", "ok")
    journal.client(2, "update", "ok", target="WC", values={"Title": "mine"})
    journal.client(3, "check_in", "ok", values={"Title": "mine"})

    assert prop(judge(journal, "applied")) is None  # written, and no lock left
    violation = judge(journal, "failed")
    assert prop(violation) == "truthful-outcome"  # the check-in wrote it


def test_a_failed_check_in_does_not_release_the_lock() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(2, "check_out", "ok")
    journal.client(3, "check_in", "fail", 409)

    assert explanation(judge(journal, "failed"), "lock-hygiene") == (
        "the client (wcadmin) checked the document out at t=2s and left it checked out; undo "
        "the check-out when anything after it fails"
    )


def test_every_check_out_needs_its_own_release() -> None:
    journal = Journal().setup(Title="a")
    journal.client(1, "check_out", "ok")
    journal.client(2, "check_out", "ok")
    journal.client(3, "undo_check_out", "ok")

    assert prop(judge(journal, "failed")) == "lock-hygiene"
    journal.client(4, "check_in", "ok")
    journal.client(5, "check_out", "ok")
    assert prop(judge(journal, "failed")) == "lock-hygiene"


# ------------------------------------------------------------------ liveness


def _gave_up_after(duration: float | None, max_retries: int) -> str | None:
    """A background run of ``duration`` seconds, then one refused PATCH; the client gives up."""
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.other(0, "micro_update", by="indexer", type_="background", duration=duration)
    journal.client(1, "update", "fail", 409)
    return prop(judge(journal, "failed", policy=RetryPolicy(max_retries=max_retries)))


@pytest.mark.parametrize(
    ("duration", "max_retries", "expected"),
    [
        (None, 1, "liveness"),  # a touch forces one failure; one retry rides it out
        (0.5, 1, "liveness"),  # over by the first backoff (0.5 s)
        (1.2, 1, None),  # still busy after 0.5 s: two failures, more than one retry
        (1.2, 2, "liveness"),  # 0.5 + 1 s of backoff outlast it: two retries suffice
        (5.0, 3, None),  # outlasts 0.5 + 1 + 2 s: no policy of three retries gets through
    ],
)
def test_interference_a_policy_can_ride_out_is_weighed_by_its_backoff(
    duration: float | None, max_retries: int, expected: str | None
) -> None:
    assert _gave_up_after(duration, max_retries) == expected


def test_lost_responses_and_transient_statuses_count_as_interference() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(1, "update", "info", 200, values={"Title": "a"})
    journal.client(2, "read", "fail", 503)
    journal.client(3, "read", "ok")

    assert prop(judge(journal, "failed", policy=RetryPolicy(max_retries=1))) is None
    assert prop(judge(journal, "failed", policy=RetryPolicy(max_retries=2))) == "liveness"


def test_a_fault_injected_as_an_intervention_counts_as_interference() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.other(0.5, "lifecycle_change", {"State": "RELEASED"})
    journal.client(1, "update", "fail", 409)

    assert prop(judge(journal, "failed", policy=RetryPolicy(max_retries=0))) is None
    assert prop(judge(journal, "failed", policy=RetryPolicy(max_retries=1))) == "liveness"


def test_background_work_still_in_flight_when_the_update_began_counts() -> None:
    journal = Journal().setup(Title="a")
    journal.other(0, "micro_update", by="indexer", type_="background", duration=2.0)
    since = journal.events[-1].seq
    journal.client(1, "read", "ok")
    journal.client(1.5, "update", "fail", 409, if_match='"v1.1"')
    journal.other(1.6, "micro_update", by="indexer", type_="background", duration=0.0)
    journal.client(2.5, "update", "fail", 409, if_match='"v1.2"')

    assert prop(judge(journal, "failed", policy=RetryPolicy(max_retries=1), since=since)) is None


def test_set_up_is_no_interference() -> None:
    journal = Journal().setup(Title="a").client(1, "read", "ok")
    journal.client(2, "update", "fail", 409)

    assert prop(judge(journal, "failed", policy=RetryPolicy(max_retries=0))) == "liveness"


def test_a_check_out_by_another_user_excuses_giving_up_but_a_skipped_one_does_not() -> None:
    for message, expected in ((None, None), ("skipped: checked out", "liveness")):
        journal = Journal().setup(Title="a").client(0, "read", "ok")
        journal.other(0.5, "check_out", message=message)
        journal.client(1, "update", "fail", 409)

        assert prop(judge(journal, "failed", policy=RetryPolicy(max_retries=5))) == expected


def test_liveness_names_every_failure_its_time_and_the_fix() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(1, "update", "fail", 409)
    journal.client(2.5, "update", "fail", 409, if_match='"v1.2"')

    assert explanation(
        judge(journal, "failed", policy=RetryPolicy(max_retries=3, base_delay=1)), "liveness"
    ) == (
        "the client gave up after 2 failed request(s) (at t=1s, t=2.5s), although the "
        "interference (0 event(s)) is within what its policy (max_retries=3) can ride out and "
        "nobody else held the document checked out. Retry conflicts, lost responses and "
        "transient statuses (with backoff) until the policy's retries are spent"
    )


# ------------------------------------------------------------------ whose operations


def test_another_users_operations_in_the_journal_are_not_the_clients() -> None:
    journal = Journal().setup(Title="a")
    journal.client(0, "check_out", "ok", user="bob")  # bob's lock, bob's business
    journal.client(1, "update", "ok", if_match=None, user="bob", values={"Title": "b"})
    journal.client(2, "read", "ok")

    assert prop(judge(journal, "failed", {"Title": "b"})) is None


# ------------------------------------------------------------------ what the history says


def test_notes_given_to_the_checker_appear_in_its_report() -> None:
    journal = Journal().setup(Title="a")

    violation = judge(journal, "applied", notes=["none of the interventions interfered"])

    assert "Note: none of the interventions interfered" in str(violation)


def test_a_working_copys_values_are_not_the_originals() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(1, "check_out", "ok", values={"Title": "a"})
    journal.client(2, "update", "ok", target="WC", values={"Title": "mine"})

    # Never checked in: the original still holds "a", so "applied" is untruthful.
    assert prop(judge(journal, "applied")) == "truthful-outcome"


@pytest.mark.parametrize(("end", "status", "lost"), [("fail", 412, False), ("info", 200, True)])
def test_another_users_patch_is_a_foreign_change_only_if_it_was_applied(
    end: str, status: int, lost: bool
) -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    values = {"Title": "bob"} if lost else None
    journal.client(1, "update", end, status, changes={"Title": "bob"}, values=values, user="bob")
    journal.client(2, "update", "ok", changes={"Title": "mine"}, values={"Title": "mine"})

    assert (prop(_lost(journal, {"Title": "mine"})) == "lost-update") is lost


def test_known_starting_values_tell_what_the_client_read() -> None:
    # No set-up event; the caller says the document held Title="a" before the history.
    journal = Journal().client(0, "read", "ok")
    journal.other(1, "concurrent_edit", {"Title": "a"})  # set to the value the client read
    journal.client(2, "update", "ok", changes={"Title": "mine"}, values={"Title": "mine"})
    mine = {"Title": "mine"}

    assert prop(_lost(journal, mine)) == "lost-update"  # unknown start: assume unseen
    assert prop(judge(journal, "applied", mine, profile="wrs", initial={"Title": "a"})) is None


def test_an_unknown_start_never_excuses_a_change_to_none() -> None:
    journal = Journal().client(0, "read", "ok")
    journal.other(1, "concurrent_edit", {"Title": None})
    journal.client(2, "update", "ok", changes={"Title": "mine"})

    assert prop(_lost(journal, {"Title": "mine"})) == "lost-update"


def test_operations_up_to_since_belong_to_an_earlier_update() -> None:
    journal = Journal().setup(Title="a")
    journal.client(0, "update", None, if_match='"v1.0"')  # an earlier update, never answered
    since = journal.events[-1].seq
    journal.client(1, "read", "ok")
    journal.client(2, "update", "fail", 503, if_match='"v1.1"')
    journal.client(3, "update", "ok", if_match='"v1.2"', values={"Title": "mine"})

    policy = RetryPolicy(max_retries=1)
    assert prop(judge(journal, "applied", policy=policy, since=since)) is None
    assert prop(judge(journal, "applied", policy=policy, since=since - 1)) == "bounded-effort"


# ------------------------------------------------------------------ liveness at the edges


def _gave_up_after_earlier(t: float, duration: float | None) -> str | None:
    """Background work at ``t`` before the update (which starts at t=5); one refusal."""
    journal = Journal().setup(Title="a")
    journal.other(t, "micro_update", by="indexer", type_="background", duration=duration)
    since = journal.events[-1].seq
    journal.client(5, "read", "ok")
    journal.client(5, "update", "fail", 409)
    return prop(judge(journal, "failed", policy=RetryPolicy(max_retries=0), since=since))


@pytest.mark.parametrize(
    ("t", "duration", "expected"),
    [
        (1.0, None, "liveness"),  # over long before the update began
        (4.5, None, "liveness"),  # a touch just before: over too
        (4.0, 1.0, "liveness"),  # ended exactly when the update began
        (4.0, 1.5, None),  # still in flight when it began
    ],
)
def test_interference_counts_only_if_it_reaches_into_the_update(
    t: float, duration: float | None, expected: str | None
) -> None:
    assert _gave_up_after_earlier(t, duration) == expected


def test_giving_up_without_a_single_request_is_no_liveness_when_work_was_in_flight() -> None:
    journal = Journal().setup(Title="a")
    journal.other(0.2, "micro_update", by="indexer", type_="background", duration=0.5)
    since = journal.events[-1].seq
    policy = RetryPolicy(max_retries=0)

    assert prop(judge(journal, "failed", policy=policy, since=since)) is None
    assert prop(judge(Journal().setup(Title="a"), "failed", policy=policy)) == "liveness"


@pytest.mark.parametrize(
    ("release_at", "expected"),
    [
        (None, None),  # checked out before the update and still held: giving up is fine
        (0.5, "liveness"),  # released before the update began
        (1.5, None),  # released during it: held when it began
    ],
)
def test_a_check_out_before_the_update_counts_while_it_is_held(
    release_at: float | None, expected: str | None
) -> None:
    journal = Journal().setup(Title="a").other(0.2, "check_out")
    if release_at is not None and release_at < 1:
        journal.other(release_at, "undo_check_out")
    since = journal.events[-1].seq
    journal.client(1, "read", "ok")
    journal.client(1.2, "update", "fail", 409)
    if release_at is not None and release_at >= 1:
        journal.other(release_at, "undo_check_out")

    assert prop(judge(journal, "failed", policy=RetryPolicy(max_retries=5), since=since)) == (
        expected
    )


def test_only_another_users_release_of_their_own_check_out_ends_it() -> None:
    for release, by, expected in (
        ("check_in", "other", "liveness"),  # released by its holder before the update
        ("undo_check_out", "third", None),  # someone else's "release" ends nothing
    ):
        journal = Journal().setup(Title="a").other(0.2, "check_out")
        journal.other(0.5, release, by=by)
        since = journal.events[-1].seq
        journal.client(1, "read", "ok")
        journal.client(1.2, "update", "fail", 409)

        policy = RetryPolicy(max_retries=5)
        assert prop(judge(journal, "failed", policy=policy, since=since)) == expected


def test_the_clients_own_check_out_excuses_nothing() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(1, "check_out", "ok")
    journal.client(2, "update", "fail", 503, target="WC")
    journal.client(3, "undo_check_out", "ok")

    assert prop(judge(journal, "failed", policy=RetryPolicy(max_retries=5))) == "liveness"


def test_a_skipped_intervention_does_not_hide_a_later_check_out() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.other(0.5, "concurrent_edit", {"Title": "x"}, message="skipped: checked out")
    journal.other(0.6, "check_out")
    journal.client(1, "update", "fail", 409)

    assert prop(judge(journal, "failed", policy=RetryPolicy(max_retries=5))) is None


def test_another_users_refused_patch_does_not_excuse_an_untruthful_success() -> None:
    # The client wrote Description, then claimed Title: bob's refused PATCH changed nothing.
    journal = Journal().setup(Title="a", Description="d").client(0, "read", "ok")
    journal.client(
        1, "update", "ok", changes={"Description": "x"}, values={"Title": "a", "Description": "x"}
    )
    journal.client(2, "update", "fail", 412, changes={"Title": "bob"}, user="bob")

    assert prop(judge(journal, "applied", {"Title": "mine"})) == "truthful-outcome"


# ------------------------------------------------------------------ iterations and change sets

PAST = "OR:wt.doc.WTDocument:1"
LATEST = "OR:wt.doc.WTDocument:9"


def _stale(*writes: tuple[str, str, str | None]) -> Journal:
    """A read, then writes ``(op, addressed, end)`` to the past iteration's key."""
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    for number, (op, addressed, end) in enumerate(writes, 1):
        status = 412 if end == "fail" else 200
        target = LATEST if addressed == "latest" else None
        journal.client(number, op, end, status, addressed=addressed, target=target)
    return journal


def test_writing_again_to_an_or_refused_as_a_past_iteration_is_stale_iteration() -> None:
    journal = _stale(("update", "past_iteration", "fail"), ("update", "past_iteration", "fail"))

    text = explanation(judge(journal, "failed"), "stale-iteration")
    assert f"sent update to {DOC} again, after the server refused it at t=1s" in text
    assert "VersionID" in text


def test_one_refused_write_to_a_past_iteration_then_the_latest_is_no_stale_iteration() -> None:
    journal = _stale(("update", "past_iteration", "fail"), ("update", "latest", "ok"))

    assert prop(judge(journal, "applied", {})) != "stale-iteration"


def test_reads_of_a_past_iteration_are_no_writes_to_it() -> None:
    journal = _stale(("read", "past_iteration", "ok"), ("read", "past_iteration", "ok"))

    assert prop(judge(journal, "failed", {}, policy=RetryPolicy(max_retries=0))) != (
        "stale-iteration"
    )


def test_an_action_sent_again_to_a_past_iteration_counts_too() -> None:
    journal = _stale(
        ("check_out", "past_iteration", "fail"), ("check_out", "past_iteration", "fail")
    )

    assert prop(judge(journal, "failed")) == "stale-iteration"


def test_a_write_to_a_past_iteration_that_was_not_refused_sets_no_trap() -> None:
    # Only a refusal tells the client; an unanswered attempt (pending) teaches nothing.
    journal = _stale(("update", "past_iteration", None), ("update", "past_iteration", "fail"))

    assert prop(judge(journal, "failed")) != "stale-iteration"


def test_the_checker_finds_the_object_by_any_id_a_client_used() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok", target=LATEST)
    journal.client(1, "update", "ok", changes={"Title": "mine"}, values={"Title": "mine"})

    assert prop(judge_by(journal, LATEST, "applied")) is None
    assert prop(judge_by(journal, LATEST, "failed")) == "truthful-outcome"


def judge_by(journal: Journal, doc_id: str, outcome: str) -> ConcurrencyViolation | None:
    try:
        check_update(journal.events, doc_id, {"Title": "mine"}, outcome)  # type: ignore[arg-type]
    except ConcurrencyViolation as violation:
        return violation
    return None


def test_a_write_a_failed_change_set_rolled_back_is_not_applied() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(1, "update", "ok", changes={"Title": "mine"}, values={"Title": "mine"})
    journal.rollback(1, values={"Title": "a"})

    assert prop(judge(journal, "applied")) == "truthful-outcome"
    assert prop(judge(journal, "failed")) != "truthful-outcome"


def test_another_users_write_rolled_back_is_no_foreign_change() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(1, "update", "ok", changes={"Title": "bob"}, values={"Title": "bob"}, user="bob")
    journal.rollback(1, values={"Title": "a"}, user="bob")
    journal.client(2, "update", "ok", changes={"Title": "mine"}, values={"Title": "mine"})

    assert prop(judge(journal, "applied")) is None  # bob's Title never stood: nothing lost


def test_a_retry_with_the_etag_a_rollback_restored_is_no_stale_retry() -> None:
    e0, e1 = '"v1.1"', '"v1.2"'
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(1, "update", "fail", 409, if_match=e0, etag_after=e1)
    journal.rollback(1, etag_after=e0, values={"Title": "a"})
    journal.client(
        2, "update", "ok", if_match=e0, changes={"Title": "mine"}, values={"Title": "mine"}
    )

    assert prop(judge(journal, "applied")) is None
    without = Journal().setup(Title="a").client(0, "read", "ok")
    without.client(1, "update", "fail", 409, if_match=e0, etag_after=e1)
    without.client(
        2, "update", "ok", if_match=e0, changes={"Title": "mine"}, values={"Title": "mine"}
    )
    assert prop(judge(without, "applied")) == "stale-retry"


def test_a_read_of_a_past_iteration_is_no_base_for_lost_update() -> None:
    journal = Journal().setup(Title="a")
    journal.client(0, "read", "ok", addressed="past_iteration")
    journal.other(1, "concurrent_edit", {"Title": "theirs"}, {"Title": "theirs"})
    journal.client(2, "read", "ok", target=LATEST, addressed="version")
    journal.client(3, "update", "ok", changes={"Title": "mine"}, values={"Title": "mine"})

    assert prop(judge(journal, "applied")) is None  # it read "theirs" before writing
    unseen = Journal().setup(Title="a").client(0, "read", "ok")
    unseen.other(1, "concurrent_edit", {"Title": "theirs"}, {"Title": "theirs"})
    unseen.client(3, "update", "ok", changes={"Title": "mine"}, values={"Title": "mine"})
    assert prop(judge(unseen, "applied")) == "lost-update"


def test_liveness_weighs_the_interference_on_every_object_of_the_change_set() -> None:
    other = "OR:wt.doc.WTDocument:2"
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    for t in (1, 2, 3, 4):
        journal.other(t, "micro_update", type_="background", document=other)
    journal.client(5, "update", "ok", changes={"Title": "mine"}, values={"Title": "mine"})
    journal.rollback(5, values={"Title": "a"})

    assert prop(judge(journal, "failed")) == "liveness"  # alone, nothing interfered
    assert prop(judge(journal, "failed", batch=[other])) is None


def test_a_rolled_back_check_out_by_another_user_held_nothing() -> None:
    journal = Journal().setup(Title="a").client(0, "read", "ok")
    journal.client(1, "check_out", "ok", user="bob")
    journal.rollback(1, user="bob")
    journal.client(2, "update", "fail", 503)

    assert prop(judge(journal, "failed", policy=RetryPolicy(max_retries=3))) == "liveness"
    held = Journal().setup(Title="a").client(0, "read", "ok")
    held.client(1, "check_out", "ok", user="bob")
    held.client(2, "update", "fail", 503)
    assert prop(judge(held, "failed", policy=RetryPolicy(max_retries=3))) is None
