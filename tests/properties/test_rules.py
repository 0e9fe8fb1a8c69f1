"""The checker judges by the knobs in force, and its idea of the server is the server's.

``ServerRules`` is the checker's own reading of a profile's knobs. For random knob
combinations and random writes, what it predicts (accepted, or refused with which status) is
what the mock did, as the journal records it; and the ``unconditional-write`` verdict follows
the knobs, not the profile's name.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_server.core.profiles import PROFILES, profile_named
from pytest_windchill.checks import ConcurrencyViolation
from pytest_windchill.rules import ServerRules
from pytest_windchill.scenarios import Scenario, WindchillFactory

STATUSES = st.sampled_from([None, 409, 412, 422, 423, 503])
KNOBS = st.fixed_dictionaries(
    {
        "emit_etags": st.booleans(),
        "weak_etags": st.booleans(),
        "weak_comparison": st.booleans(),
        "stale_same_iteration_status": STATUSES,
        "stale_new_iteration_status": STATUSES,
        "busy_status": STATUSES,
        "require_if_match": st.booleans(),
        "honour_update_mode": st.booleans(),
        "honour_ignore_version_check": st.booleans(),
    }
)
IF_MATCH = st.sampled_from(
    ["absent", "any", "current", "stale_same_iteration", "stale_new_iteration"]
)


def _nonce(mock: Scenario) -> str:
    response = mock.session.get(f"{mock.service_root}/PTC/GetCSRFToken()")
    return str(response.json()["NonceValue"])


def _write(
    mock: Scenario, if_match: str, *, busy: bool, optimistic: bool, ignore: bool
) -> tuple[int, str]:
    """Bring the document into the situation, PATCH it (by its VersionID, which names the
    latest iteration whatever the edits: these rules are about ETags); the status, and the
    journal's end."""
    doc = mock.doc
    version_id = str(mock.document(doc)["VersionID"])
    read = mock.etag(doc)
    if if_match == "stale_same_iteration":
        mock.micro_update(doc)
    elif if_match == "stale_new_iteration":
        mock.concurrent_edit(doc, {"Description": "theirs"})
    if busy:
        mock.micro_update(doc, duration=5.0)
    if if_match in ("current", "absent", "any"):
        read = mock.etag(doc)  # after everything: the current tag
    headers = {"CSRF_NONCE": _nonce(mock)}
    if if_match == "any":
        headers["If-Match"] = "*"
    elif if_match != "absent":
        headers["If-Match"] = read
    if optimistic:
        headers["X-PTC-UpdateMode"] = "optimistic"
    if ignore:
        headers["X-PTC-IgnoreVersionCheck"] = "true"
    response = mock.session.patch(mock.url(version_id), json={"Title": "mine"}, headers=headers)
    [end] = [e for e in mock.journal if e.op == "update" and e.type in ("ok", "fail", "info")]
    return response.status_code, end.type


@settings(max_examples=300, deadline=None)
@given(
    knobs=KNOBS,
    if_match=IF_MATCH,
    busy=st.booleans(),
    optimistic=st.booleans(),
    ignore=st.booleans(),
)
def test_the_checkers_idea_of_a_write_agrees_with_the_mock(
    windchill_factory: WindchillFactory,
    knobs: dict[str, Any],
    if_match: Any,
    busy: bool,
    optimistic: bool,
    ignore: bool,
) -> None:
    with windchill_factory.scenario(profile="thread", overrides=knobs) as mock:
        rules = mock.rules
        status, end = _write(mock, if_match, busy=busy, optimistic=optimistic, ignore=ignore)
        expected = rules.write_status(
            if_match, busy=busy, optimistic=optimistic, ignore_version_check=ignore
        )

        if expected is None:
            assert (end, status) in (("ok", 200), ("ok", 204)), (knobs, if_match)
        else:
            assert (end, status) == ("fail", expected), (knobs, if_match)
            if expected != 428:  # a concurrent change refused it: one of the conflicts
                assert expected in rules.conflict_statuses
                stale = if_match.startswith("stale") or (
                    if_match == "current" and knobs["weak_etags"] and not knobs["weak_comparison"]
                )
                if not stale:  # refused for the busy window alone: wait, then retry
                    assert rules.needs_backoff(expected)
                if expected == rules.version_moved_status:
                    assert if_match == "stale_new_iteration"

        # The verdict on an unconditional write follows the knobs, not the name.
        unconditional = if_match in ("absent", "any") and end == "ok" and rules.conditional_writes
        outcome = "applied" if end == "ok" else "failed"
        flagged = None
        try:
            mock.check_update(mock.doc, {"Title": "mine"}, outcome)
        except ConcurrencyViolation as violation:
            flagged = violation.property
        assert (flagged == "unconditional-write") == unconditional, (knobs, if_match, flagged)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_the_rules_of_a_name_are_the_rules_of_its_profile(name: str) -> None:
    assert ServerRules.of(name) == ServerRules.of(profile_named(name))


def test_the_named_profiles_read_as_documented() -> None:
    thread, odata, wrs = (ServerRules.of(n) for n in ("thread", "odata", "wrs"))
    assert (thread.conditional_writes, odata.conditional_writes, wrs.conditional_writes) == (
        True,
        True,
        False,
    )
    assert thread.version_moved_status == 412
    assert odata.version_moved_status is None  # 412 there means a touch as well
    assert thread.conflict_statuses == {409, 412}
    assert odata.conflict_statuses == {412}
    assert (thread.needs_backoff(409), thread.needs_backoff(412)) == (True, False)
    assert (odata.needs_backoff(412), odata.needs_backoff(503)) == (False, True)
    assert thread.rides_out(412)
    assert thread.rides_out(429)
    assert not thread.rides_out(400)


# ------------------------------------------------------------------ the two probes


def _blind_patch(mock: Scenario, changes: dict[str, Any]) -> str:
    """GET, then PATCH without If-Match, by the VersionID (the latest iteration)."""
    version_id = str(mock.document(mock.doc)["VersionID"])
    mock.session.get(mock.url(version_id))
    headers = {"CSRF_NONCE": _nonce(mock)}
    response = mock.session.patch(mock.url(version_id), json=changes, headers=headers)
    return "applied" if response.ok else "failed"


def test_thread_without_etags_reports_no_unconditional_write(
    windchill_factory: WindchillFactory,
) -> None:
    # The client never got an ETag: a PATCH without If-Match is all it can send.
    with windchill_factory.scenario(overrides={"emit_etags": False}) as mock:
        assert "ETag" not in mock.session.get(mock.url(mock.doc)).headers
        outcome = _blind_patch(mock, {"Title": "mine"})

        assert outcome == "applied"
        mock.check_update(mock.doc, {"Title": "mine"}, outcome)  # no violation


def test_wrs_overridden_to_send_etags_flags_a_patch_without_if_match(
    windchill_factory: WindchillFactory,
) -> None:
    knobs = {
        "emit_etags": True,
        "stale_same_iteration_status": 409,
        "stale_new_iteration_status": 412,
    }
    with windchill_factory.scenario(profile="wrs", overrides=knobs) as mock:
        mock.concurrent_edit(mock.doc, {"Title": "theirs"}, before_request=2)
        outcome = _blind_patch(mock, {"Title": "mine"})

        assert outcome == "applied"
        assert mock.document(mock.doc)["Title"] == "mine"  # another user's change overwritten
        with pytest.raises(ConcurrencyViolation) as caught:
            mock.check_update(mock.doc, {"Title": "mine"}, outcome)
    assert caught.value.property == "unconditional-write"
    assert "sent no If-Match and the server applied it" in str(caught.value)
    assert "Send If-Match with the ETag of your last read" in str(caught.value)


def test_a_profile_name_alone_still_judges_by_that_profiles_knobs(
    windchill_factory: WindchillFactory,
) -> None:
    from pytest_windchill.checks import check_update

    with windchill_factory.scenario(profile="wrs") as mock:
        outcome = _blind_patch(mock, {"Title": "mine"})
        events = mock.journal
    check_update(events, mock.doc, {"Title": "mine"}, outcome, profile="wrs")
    with pytest.raises(ConcurrencyViolation, match="unconditional-write"):
        check_update(events, mock.doc, {"Title": "mine"}, outcome, profile="thread")


def test_a_stale_etag_without_a_busy_window_needs_a_fresh_read_not_a_wait() -> None:
    rules = ServerRules(profile_named("thread").replace(busy_status=None))

    assert not rules.needs_backoff(409)  # only a stale ETag answers 409 here
    assert rules.needs_backoff(503)
    assert ServerRules.of("thread").needs_backoff(409)  # may be a busy window: wait


def test_weak_tags_under_strong_comparison_leave_no_conditional_write() -> None:
    rules = ServerRules(profile_named("thread").replace(weak_etags=True))

    assert rules.write_status("current") == 409  # even the current tag never matches
    assert not rules.conditional_writes  # so If-Match: * is no fault of the client's


def test_an_immediate_retry_after_a_409_without_busy_windows_is_no_backoff_fault(
    windchill_factory: WindchillFactory,
) -> None:
    with windchill_factory.scenario(overrides={"busy_status": None}) as mock:
        mock.micro_update(mock.doc, before_request=2)
        stale = mock.session.get(mock.url(mock.doc)).headers["ETag"]
        nonce = _nonce(mock)
        refused = mock.session.patch(
            mock.url(mock.doc),
            json={"Title": "mine"},
            headers={"If-Match": stale, "CSRF_NONCE": nonce},
        )
        assert refused.status_code == 409
        fresh = mock.session.get(mock.url(mock.doc)).headers["ETag"]
        assert mock.session.patch(
            mock.url(mock.doc),
            json={"Title": "mine"},
            headers={"If-Match": fresh, "CSRF_NONCE": nonce},
        ).ok

        mock.check_update(mock.doc, {"Title": "mine"}, "applied")  # no violation


def test_a_current_etag_on_a_quiet_document_is_accepted_by_default() -> None:
    rules = ServerRules.of("thread")

    assert rules.write_status("current") is None  # not busy unless told
    assert rules.write_status("absent") is None  # last-write-wins unless optimistic
    assert rules.write_status("absent", optimistic=True) == 428
    assert rules.write_status("current", busy=True) == 409
