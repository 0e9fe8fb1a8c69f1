"""The history checker, one property at a time, on hand-played scenarios and journals.

Each test plays a client by hand with plain requests (``buggy_clients.Wrs``) against a
scenario whose schedule sets up the situation, then asks the checker for its verdict.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from buggy_clients import Wrs, correct_update

from mock_server.core.journal import Event
from pytest_windchill.checks import (
    PROPERTIES,
    ConcurrencyViolation,
    check_update,
    format_timeline,
)
from pytest_windchill.client.policy import RetryPolicy
from pytest_windchill.client.updater import UpdateResult
from pytest_windchill.health import HealthCheck
from pytest_windchill.scenarios import Scenario, WindchillFactory
from pytest_windchill.schedules import (
    ConflictSchedule,
    Step,
    check_in_as,
    check_out_as,
    concurrent_edit,
    fault,
    lose_response,
    micro_update,
)

MINE = {"Title": "mine"}


@pytest.fixture
def play(windchill_factory: WindchillFactory) -> Any:
    """``with play(step, ..., profile=...) as (mock, wrs):`` — a scenario and a client."""

    @contextmanager
    def scenario(*steps: Step, **kwargs: Any) -> Iterator[tuple[Scenario, Wrs]]:
        # The hand-played client addresses the document by its VersionID, which names the
        # latest iteration whatever check-ins happen: these tests are about ETags and values.
        # (Writing to a stale OR: has tests of its own.)
        with windchill_factory.scenario(ConflictSchedule(steps), **kwargs) as mock:
            version_id = str(mock.document(mock.doc)["VersionID"])
            yield mock, Wrs(mock.session, mock.service_root, version_id, mock.sleep)

    return scenario


def verdict(
    mock: Scenario,
    outcome: str | UpdateResult,
    changes: Mapping[str, Any] = MINE,
    policy: RetryPolicy | None = None,
) -> str | None:
    """The property the checker names, or None when it finds nothing."""
    found: ConcurrencyViolation | None = None
    try:
        mock.check_update(mock.doc, changes, outcome, policy=policy)
    except ConcurrencyViolation as violation:
        found = violation
    if found is None:
        return None
    assert found.property in PROPERTIES
    assert str(found).startswith(f"[{found.property}] ")
    return found.property


# ------------------------------------------------------------------ unconditional-write


def test_a_patch_without_if_match_is_an_unconditional_write(play: Any) -> None:
    with play() as (mock, wrs):
        wrs.read()
        assert wrs.patch(MINE, None).ok

        assert verdict(mock, "applied") == "unconditional-write"


def test_if_match_star_is_an_unconditional_write(play: Any) -> None:
    with play(profile="odata") as (mock, wrs):
        assert wrs.patch(MINE, "*").ok

        assert verdict(mock, "applied") == "unconditional-write"


def test_without_etags_a_patch_without_if_match_is_all_a_client_can_do(play: Any) -> None:
    with play(profile="wrs") as (mock, wrs):
        wrs.read()
        assert wrs.patch(MINE, None).ok

        assert verdict(mock, "applied") is None


# ------------------------------------------------------------------ lost-update


def test_overwriting_an_edit_the_client_never_saw_is_a_lost_update(play: Any) -> None:
    with play(concurrent_edit(before_request=2, changes={"Title": "theirs"}), profile="wrs") as (
        mock,
        wrs,
    ):
        wrs.read()
        assert wrs.patch(MINE, None).ok

        assert verdict(mock, "applied") == "lost-update"


def test_an_edit_of_another_field_is_not_lost(play: Any) -> None:
    with play(
        concurrent_edit(before_request=2, changes={"Description": "theirs"}), profile="wrs"
    ) as (mock, wrs):
        wrs.read()
        assert wrs.patch(MINE, None).ok

        assert verdict(mock, "applied") is None


# The edit lands before the client's read, so it meets no conflict: that is the point here.
@pytest.mark.windchill(suppress_health_check=[HealthCheck.unfired_interventions])
def test_overwriting_an_edit_the_client_read_is_no_lost_update(play: Any) -> None:
    with play(concurrent_edit(before_request=1, changes={"Title": "theirs"}), profile="wrs") as (
        mock,
        wrs,
    ):
        wrs.read()
        assert wrs.patch(MINE, None).ok

        assert verdict(mock, "applied") is None


@pytest.mark.parametrize("earlier_edit", [False, True], ids=["set-up", "journalled"])
def test_an_edit_back_to_the_value_the_client_read_loses_nothing(
    play: Any, earlier_edit: bool
) -> None:
    # The other user "changes" Title to what it already was when the client read it.
    steps = [concurrent_edit(before_request=2, changes={"Title": "same"})]
    if earlier_edit:
        steps.insert(0, concurrent_edit(before_request=1, changes={"Title": "same"}))
    with play(*steps, profile="wrs", documents={"Name": "n", "Title": "same"}) as (mock, wrs):
        wrs.read()
        assert wrs.patch(MINE, None).ok

        assert verdict(mock, "applied") is None


# ------------------------------------------------------------------ truthful-outcome


def test_claiming_success_without_writing_is_untruthful(play: Any) -> None:
    with play() as (mock, wrs):
        wrs.read()

        assert verdict(mock, "applied") == "truthful-outcome"
        # Nothing interfered: sending it to review is giving up without a cause.
        assert verdict(mock, "review") == "liveness"


def test_giving_up_with_nothing_in_the_way_breaks_liveness_even_under_a_deadline(
    play: Any,
) -> None:
    with play() as (mock, wrs):
        wrs.read()

        with pytest.raises(ConcurrencyViolation, match="although nothing interfered") as caught:
            mock.check_update(mock.doc, MINE, "failed", policy=RetryPolicy(deadline=5.0))
        assert caught.value.property == "liveness"


def test_review_after_another_users_change_is_not_judged_by_liveness(play: Any) -> None:
    with play(concurrent_edit(changes={"Description": "theirs"}, before_request=2)) as (
        mock,
        wrs,
    ):
        wrs.read()
        wrs.read()

        assert verdict(mock, "review") is None


def test_reporting_failure_after_a_lost_but_applied_write_is_untruthful(play: Any) -> None:
    with play(lose_response(before_request=2)) as (mock, wrs):
        etag = wrs.read().etag
        with pytest.raises(requests.ConnectionError):
            wrs.patch(MINE, etag)

        with pytest.raises(ConcurrencyViolation, match="response was lost") as caught:
            mock.check_update(mock.doc, MINE, "failed")
        assert caught.value.property == "truthful-outcome"


def test_a_client_the_server_never_let_learn_the_outcome_may_report_failure(play: Any) -> None:
    with play(lose_response(before_request=2), fault(before_request=3, status=500)) as (
        mock,
        wrs,
    ):
        etag = wrs.read().etag
        with pytest.raises(requests.ConnectionError):
            wrs.patch(MINE, etag)
        assert wrs.session.get(wrs.doc_url).status_code == 500

        assert verdict(mock, "failed") is None


def test_success_overwritten_later_by_another_user_is_still_truthful(play: Any) -> None:
    with play(concurrent_edit(before_request=3, changes={"Title": "theirs"})) as (mock, wrs):
        assert wrs.patch(MINE, wrs.read().etag).ok
        wrs.read()

        assert mock.document(mock.doc)["Title"] == "theirs"
        assert verdict(mock, "applied") is None


def test_the_outcome_may_be_an_update_result(play: Any) -> None:
    with play() as (mock, wrs):
        assert wrs.patch(MINE, wrs.read().etag).ok

        assert verdict(mock, UpdateResult(mock.doc, status="applied")) is None
        assert verdict(mock, UpdateResult(mock.doc, status="failed")) == "truthful-outcome"


def test_an_unknown_outcome_is_refused(play: Any) -> None:
    with play() as (mock, _), pytest.raises(ValueError, match="outcome must be one of"):
        mock.check_update(mock.doc, MINE, "done")


# ------------------------------------------------------------------ stale-retry


def test_retrying_with_the_refused_etag_is_a_stale_retry(play: Any) -> None:
    with play(micro_update(before_request=2)) as (mock, wrs):
        stale = wrs.read().etag
        assert wrs.patch(MINE, stale).status_code == 409
        mock.sleep(0.5)
        assert wrs.patch(MINE, stale).status_code == 409

        assert verdict(mock, "failed") == "stale-retry"


def test_resending_the_etag_a_busy_409_reported_as_current_is_fine(play: Any) -> None:
    with play(micro_update(before_request=1, duration=1.0)) as (mock, wrs):
        etag = wrs.read().etag
        refused = wrs.patch(MINE, etag)
        assert refused.status_code == 409
        assert refused.headers["ETag"] == etag  # busy, not stale
        mock.sleep(1.0)
        assert wrs.patch(MINE, etag).ok

        assert verdict(mock, "applied") is None


# ------------------------------------------------------------------ blind-retry-after-412


def test_patching_again_after_412_without_reading_is_a_blind_retry(play: Any) -> None:
    with play(concurrent_edit(before_request=2, changes={"Description": "a"})) as (mock, wrs):
        refused = wrs.patch(MINE, wrs.read().etag)
        assert refused.status_code == 412
        assert wrs.patch(MINE, refused.headers["ETag"]).ok

        assert verdict(mock, "applied") == "blind-retry-after-412"


def test_in_the_odata_profile_412_is_also_background_work(play: Any) -> None:
    # A 412 there may mean a micro-update: retrying with the ETag the 412 carries is fine.
    with play(micro_update(before_request=2), profile="odata") as (mock, wrs):
        refused = wrs.patch(MINE, wrs.read().etag)
        assert refused.status_code == 412
        assert wrs.patch(MINE, refused.headers["ETag"]).ok

        assert verdict(mock, "applied") is None


# ------------------------------------------------------------------ bounded-effort, backoff


def test_more_attempts_than_the_policy_allows_is_unbounded_effort(play: Any) -> None:
    policy = RetryPolicy(max_retries=1, base_delay=0.5)
    with play(micro_update(before_request=2), micro_update(before_request=4)) as (mock, wrs):
        for _ in range(3):
            response = wrs.patch(MINE, wrs.read().etag)
            mock.sleep(1.0)
        assert response.ok

        with pytest.raises(ConcurrencyViolation, match="allows 2") as caught:
            mock.check_update(mock.doc, MINE, "applied", policy=policy)
        assert caught.value.property == "bounded-effort"


def test_retrying_sooner_than_the_backoff_breaks_the_backoff(play: Any) -> None:
    with play(micro_update(before_request=2)) as (mock, wrs):
        assert wrs.patch(MINE, wrs.read().etag).status_code == 409
        mock.sleep(0.2)
        assert wrs.patch(MINE, wrs.read().etag).ok

        assert verdict(mock, "applied") == "backoff"
        assert verdict(mock, "applied", policy=RetryPolicy(base_delay=0.2)) is None


def test_retrying_sooner_than_retry_after_breaks_the_backoff(play: Any) -> None:
    with play(fault(before_request=2, status=503, retry_after=5.0)) as (mock, wrs):
        assert wrs.patch(MINE, wrs.read().etag).status_code == 503
        mock.sleep(1.0)
        assert wrs.patch(MINE, wrs.read().etag).ok

        with pytest.raises(ConcurrencyViolation, match="Retry-After 5s") as caught:
            mock.check_update(mock.doc, MINE, "applied")
        assert caught.value.property == "backoff"


# ------------------------------------------------------------------ lock-hygiene


def test_leaving_a_check_out_behind_breaks_lock_hygiene(play: Any) -> None:
    with play() as (mock, wrs):
        assert wrs.action(wrs.doc_url, "CheckOut").status_code == 200

        assert verdict(mock, "review") == "lock-hygiene"


def test_an_undone_check_out_leaves_no_lock(play: Any) -> None:
    with play() as (mock, wrs):
        assert wrs.action(wrs.doc_url, "CheckOut").status_code == 200
        assert wrs.action(wrs.doc_url, "UndoCheckOut").status_code == 200

        # Lock hygiene holds (it is judged before liveness): only the review without a
        # cause is wrong.
        assert verdict(mock, "review") == "liveness"


def test_lock_hygiene_on_a_hand_built_journal() -> None:
    doc = "OR:wt.doc.WTDocument:1"
    journal = [
        Event(1, 0.0, "invoke", "check_out", "wcadmin", document=doc, op_id=1, request=1),
        Event(2, 0.0, "ok", "check_out", "wcadmin", document=doc, op_id=1, status=200),
        Event(3, 1.0, "invoke", "update", "wcadmin", document=doc, op_id=2, target="WC"),
        Event(4, 1.0, "fail", "update", "wcadmin", document=doc, op_id=2, status=503),
    ]

    with pytest.raises(ConcurrencyViolation) as caught:
        check_update(journal, doc, MINE, "review")
    assert caught.value.property == "lock-hygiene"
    # The check-out never completed: no lock left (only the review without a cause is wrong).
    with pytest.raises(ConcurrencyViolation) as caught:
        check_update(journal[:1], doc, MINE, "review")
    assert caught.value.property == "liveness"


# ------------------------------------------------------------------ liveness


def test_giving_up_without_any_interference_breaks_liveness(play: Any) -> None:
    with play() as (mock, wrs):
        wrs.read()

        assert verdict(mock, "failed") == "liveness"


def test_giving_up_on_interference_the_policy_rides_out_breaks_liveness(play: Any) -> None:
    with play(micro_update(before_request=2)) as (mock, wrs):
        assert wrs.patch(MINE, wrs.read().etag).status_code == 409

        assert verdict(mock, "failed") == "liveness"
        assert verdict(mock, "failed", policy=RetryPolicy(max_retries=0)) is None


def test_a_background_job_longer_than_the_backoff_excuses_giving_up(play: Any) -> None:
    # 0.5 + 1 + 2 s of backoff do not outlast a 5-s indexer run: four 409s, then give up.
    with play(micro_update(before_request=2, duration=5.0)) as (mock, _):
        outcome = correct_update(mock.session, mock.service_root, mock.doc, MINE, mock.sleep)

        assert outcome == "failed"
        assert verdict(mock, outcome) is None


@pytest.mark.parametrize(
    "step",
    [
        check_out_as(before_request=2),
        fault(before_request=2, status=500),
        fault(before_request=2, status=400),
    ],
    ids=["checked-out-by-another-user", "internal-server-error", "bad-request"],
)
def test_giving_up_when_the_server_refuses_for_good_is_live(play: Any, step: Step) -> None:
    with play(step, check_in_as(before_request=4)) as (mock, wrs):
        assert not wrs.patch(MINE, wrs.read().etag).ok

        assert verdict(mock, "failed") is None


# ------------------------------------------------------------------ judging one update


def test_only_operations_after_since_are_judged(play: Any) -> None:
    with play() as (mock, wrs):
        assert wrs.patch({"Title": "first"}, None).ok  # unconditional, but not judged
        since = max(event.seq for event in mock.journal)
        assert wrs.patch(MINE, wrs.read().etag).ok

        mock.check_update(mock.doc, MINE, "applied", since=since)
        with pytest.raises(ConcurrencyViolation):
            mock.check_update(mock.doc, MINE, "applied")


# ------------------------------------------------------------------ the message


def test_the_message_names_the_property_and_shows_schedule_seed_and_timeline(
    play: Any,
) -> None:
    edit = concurrent_edit(before_request=2, changes={"Title": "theirs"})
    with play(edit, seed=7, profile="wrs") as (mock, wrs):
        wrs.read()
        assert wrs.patch(MINE, None).ok

        with pytest.raises(ConcurrencyViolation) as caught:
            mock.check_update(mock.doc, MINE, "applied")

    message = str(caught.value)
    assert message.startswith("[lost-update] the client's write at t=0s set Title='mine'")
    assert "overwriting other's Title='theirs'" in message
    assert "reported 'applied'" in message
    assert repr(ConflictSchedule([edit])) in message
    assert "from pytest_windchill.schedules import *" in message
    assert "Seed to replay: 7" in message
    timeline = message.split("Timeline:\n", 1)[1]
    assert re.search(r"t \(s\)\s+client wcadmin\s+others\s+ETag after", timeline)
    assert re.search(r"0\.000\s+GET \(by VersionID\) → 200", timeline)
    assert re.search(r"other concurrent_edit \{'Title': 'theirs'\}\s+\"v2\.", timeline)
    assert re.search(r"PATCH \(by VersionID\) → 200\s+\"v2\.", timeline)


def test_the_timeline_shows_etags_sent_and_lost_responses(play: Any) -> None:
    with play(lose_response(before_request=2)) as (mock, wrs):
        etag = wrs.read().etag
        with pytest.raises(requests.ConnectionError):
            wrs.patch(MINE, etag)

        timeline = format_timeline(mock.journal)

    assert f"PATCH (by VersionID) If-Match {etag} → 200 LOST" in timeline
