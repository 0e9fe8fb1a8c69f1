"""The reference update client against the in-process mock: one test per path.

Every scenario is built from injections with ``before_request=n`` triggers. The mock counts
the client's requests on a document from 1, reads included (the CSRF nonce request is not
about a document and does not count), so in the ``thread`` profile request 1 is the first
GET and request 2 the first PATCH. The journal is the oracle for what the client did.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import pytest
import requests

from mock_server.core.journal import Event
from pytest_windchill.client import InMemoryReviewQueue, RetryPolicy
from pytest_windchill.client.updater import DocumentUpdater, UpdateResult
from pytest_windchill.handle import WindchillMock

USER = "wcadmin"
LOGGER = "pytest_windchill.client"
POLICY = RetryPolicy()


# --- helpers --------------------------------------------------------------------------------


def updater(
    windchill: WindchillMock,
    *,
    policy: RetryPolicy | None = None,
    seed: int = 0,
    check_out_fallback: bool = True,
) -> DocumentUpdater:
    """A ``DocumentUpdater`` on ``windchill``, sleeping in virtual time."""
    return DocumentUpdater(
        windchill.session,
        windchill.service_root,
        policy=policy,
        sleep=windchill.sleep,
        seed=seed,
        check_out_fallback=check_out_fallback,
    )


def client_events(
    windchill: WindchillMock, op: str, types: Iterable[str], user: str = USER
) -> list[Event]:
    wanted = set(types)
    return [e for e in windchill.journal if e.op == op and e.type in wanted and e.process == user]


def assert_no_lock_left(windchill: WindchillMock, doc_id: str, user: str = USER) -> None:
    """Every check-out ``user`` made was checked in or undone."""
    taken = len(client_events(windchill, "check_out", ["ok", "info"], user))
    released = len(client_events(windchill, "check_in", ["ok", "info"], user)) + len(
        client_events(windchill, "undo_check_out", ["ok", "info"], user)
    )
    assert taken == released, f"{user} checked out {taken} times, released {released}"


def assert_delays_follow_policy(result: UpdateResult, policy: RetryPolicy = POLICY) -> None:
    for retry, delay in enumerate(result.delays, start=1):
        assert policy.min_delay(retry) <= delay <= policy.max_delay_for(retry), (retry, delay)


def keep_an_indexer_busy(windchill: WindchillMock, doc_id: str, seconds: float = 60.0) -> None:
    """A background operation in flight from the first PATCH on: every write gets 409."""
    windchill.micro_update(doc_id, duration=seconds, before_request=2)


# --- 409: background activity ---------------------------------------------------------------


def test_409_from_a_micro_update_is_retried_once_after_a_virtual_backoff(
    windchill: WindchillMock, windchill_client: DocumentUpdater
) -> None:
    doc_id = windchill.create_document(Description="base")
    windchill.micro_update(doc_id, before_request=2)

    result = windchill_client.update(doc_id, {"Description": "mine"})

    assert result.status == "applied"
    assert result.attempts == 2
    assert result.conflicts == [409]
    assert len(result.delays) == 1
    assert 0.5 <= result.delays[0] <= 0.55
    # The sleep moved the mock's virtual clock: nobody waited for real.
    assert windchill.elapsed == pytest.approx(result.delays[0])
    assert windchill.document(doc_id)["Description"] == "mine"
    updates = client_events(windchill, "update", ["ok", "fail"])
    assert [(e.type, e.status) for e in updates] == [("fail", 409), ("ok", 200)]


def test_persistent_409_falls_back_to_check_out_and_check_in(
    windchill: WindchillMock, windchill_client: DocumentUpdater
) -> None:
    doc_id = windchill.create_document(Description="base")
    assert windchill.document(doc_id)["Version"] == "A.1"
    keep_an_indexer_busy(windchill, doc_id)

    result = windchill_client.update(doc_id, {"Description": "mine"})

    assert result.status == "applied"
    assert result.via_checkout
    assert result.conflicts == [409, 409, 409, 409]
    assert len(result.delays) == 3
    assert_delays_follow_policy(result)
    document = windchill.document(doc_id)
    assert document["Version"] == "A.2"
    assert document["CheckoutState"] == "Checked in"
    assert document["Description"] == "mine"
    assert len(client_events(windchill, "check_in", ["ok"])) == 1
    assert_no_lock_left(windchill, doc_id)


# --- 412: a new version ---------------------------------------------------------------------


def test_412_with_a_disjoint_concurrent_edit_is_merged(
    windchill: WindchillMock, windchill_client: DocumentUpdater
) -> None:
    doc_id = windchill.create_document(Description="base", Title="base title")
    windchill.concurrent_edit(doc_id, {"Title": "their title"}, before_request=2)

    result = windchill_client.update(doc_id, {"Description": "mine"})

    assert result.status == "merged"
    assert result.conflicts == [412]
    assert result.merged_fields == ("Description",)
    assert result.delays == []  # a merge is not a blind retry: nothing to wait for
    document = windchill.document(doc_id)
    assert document["Title"] == "their title"
    assert document["Description"] == "mine"


def test_412_with_a_field_conflict_goes_to_review_and_keeps_the_other_users_value(
    windchill: WindchillMock, windchill_client: DocumentUpdater
) -> None:
    doc_id = windchill.create_document(Description="base")
    base_etag = windchill.etag(doc_id)
    windchill.concurrent_edit(doc_id, {"Description": "theirs"}, before_request=2)

    result = windchill_client.update(doc_id, {"Description": "mine"})

    assert result.status == "review"
    assert not result.ok
    assert windchill.document(doc_id)["Description"] == "theirs"
    queue = windchill_client.review_queue
    assert isinstance(queue, InMemoryReviewQueue)
    assert queue.items == [result.review]
    item = queue.items[0]
    assert item.document == doc_id
    assert item.base_etag == base_etag
    assert item.current_etag == windchill.etag(doc_id) != base_etag
    assert [(c.field, c.base, c.mine, c.theirs) for c in item.conflicts] == [
        ("Description", "base", "mine", "theirs")
    ]
    journal = windchill.journal
    rejected = next(e for e in journal if e.op == "update" and e.status == 412)
    assert not [
        e
        for e in journal
        if e.seq > rejected.seq and e.op == "update" and e.type == "ok" and e.process == USER
    ]


def test_a_concurrent_edit_after_a_transient_fault_is_merged_not_overwritten(
    windchill: WindchillMock, windchill_client: DocumentUpdater
) -> None:
    # The retry after a 503 re-reads: the new version must be merged, not blindly re-sent.
    doc_id = windchill.create_document(Description="base")
    windchill.fault(doc_id, 503, before_request=2)
    windchill.concurrent_edit(doc_id, {"Description": "theirs"}, before_request=3)

    result = windchill_client.update(doc_id, {"Description": "mine"})

    assert result.status == "review"
    assert windchill.document(doc_id)["Description"] == "theirs"
    assert not client_events(windchill, "update", ["ok", "info"])


@pytest.mark.windchill(profile="odata")
def test_odata_412_on_a_stale_etag_is_merged(
    windchill: WindchillMock, windchill_client: DocumentUpdater
) -> None:
    # In the odata profile a micro-update's new ETag gives 412 even in the same iteration.
    doc_id = windchill.create_document(Description="base")
    windchill.micro_update(doc_id, before_request=2)

    result = windchill_client.update(doc_id, {"Description": "mine"})

    assert result.status == "merged"
    assert result.conflicts == [412]
    assert result.attempts == 2
    assert all(etag.startswith('W/"') for etag in result.etags)
    assert windchill.document(doc_id)["Description"] == "mine"


# --- lost responses, CSRF, locks, faults ----------------------------------------------------


def test_lost_response_is_recognised_by_the_update_token_without_a_second_write(
    windchill: WindchillMock, windchill_client: DocumentUpdater
) -> None:
    doc_id = windchill.create_document(Description="base")
    windchill.lose_response(doc_id, before_request=2)

    result = windchill_client.update(doc_id, {"Description": "mine"})

    assert result.status == "applied"
    assert result.conflicts == [0]
    assert result.attempts == 1
    writes = client_events(windchill, "update", ["ok", "info"])
    assert [e.type for e in writes] == ["info"]
    assert windchill.document(doc_id)["Description"] == "mine"


def test_expired_csrf_nonce_is_refreshed_and_the_update_succeeds(
    windchill: WindchillMock, windchill_client: DocumentUpdater
) -> None:
    doc_id = windchill.create_document(Description="base")
    assert windchill_client.update(doc_id, {"Description": "first"}).status == "applied"
    base = windchill.service_root.removesuffix("/Windchill/servlet/odata")
    expired = windchill.session.post(f"{base}/__mock/csrf/expire", timeout=5)
    assert expired.status_code == 200
    seen: list[tuple[str, int]] = []

    def record(response: requests.Response, *args: object, **kwargs: object) -> None:
        seen.append(
            (f"{response.request.method} {response.url.rsplit('/', 1)[-1]}", response.status_code)
        )

    windchill.session.hooks["response"].append(record)

    result = windchill_client.update(doc_id, {"Description": "second"})

    assert result.status == "applied"
    assert windchill.document(doc_id)["Description"] == "second"
    statuses = [status for _, status in seen]
    assert 403 in statuses, seen  # the stale nonce was really rejected first
    assert any(request == "GET GetCSRFToken()" for request, _ in seen[statuses.index(403) :])


def test_document_checked_out_by_someone_else_fails_without_leaving_a_lock(
    windchill: WindchillMock, windchill_client: DocumentUpdater
) -> None:
    doc_id = windchill.create_document(Description="base")
    windchill.check_out_as(doc_id, "other")

    result = windchill_client.update(doc_id, {"Description": "mine"})

    assert result.status == "failed"
    assert result.reason is not None
    assert "checked out" in result.reason
    assert "other" in result.reason
    # A lock a person holds does not go away with backoff: no retry, no check-out attempt.
    assert result.attempts == 1
    assert result.delays == []
    assert not client_events(windchill, "check_out", ["invoke"])
    document = windchill.document(doc_id)
    assert document["CheckoutState"] == "Checked out"
    assert document["Description"] == "base"
    assert_no_lock_left(windchill, doc_id)


def test_retry_after_of_a_503_is_honoured(
    windchill: WindchillMock, windchill_client: DocumentUpdater
) -> None:
    doc_id = windchill.create_document(Description="base")
    windchill.fault(doc_id, 503, retry_after=5, before_request=2)

    result = windchill_client.update(doc_id, {"Description": "mine"})

    assert result.status == "applied"
    assert result.conflicts == [503]
    assert len(result.delays) == 1
    assert result.delays[0] >= 5
    assert windchill.elapsed >= 5
    assert windchill.document(doc_id)["Description"] == "mine"


@pytest.mark.windchill(profile="wrs")
def test_wrs_profile_without_etags_uses_check_out_and_says_so(
    windchill: WindchillMock, windchill_client: DocumentUpdater, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    doc_id = windchill.create_document(Description="base")

    result = windchill_client.update(doc_id, {"Description": "mine"})

    assert result.status == "applied"
    assert result.via_checkout
    assert "optimistic control is unavailable" in caplog.text
    assert not client_events(windchill, "update", ["fail"])
    document = windchill.document(doc_id)
    assert document["Description"] == "mine"
    assert document["Version"] == "A.2"
    assert_no_lock_left(windchill, doc_id)


@pytest.mark.windchill(profile="wrs")
def test_failed_check_in_is_undone_and_leaves_no_lock(
    windchill: WindchillMock, windchill_client: DocumentUpdater
) -> None:
    # wrs: 1 GET, 2 CheckOut, 3 PATCH of the working copy, 4 CheckIn.
    doc_id = windchill.create_document(Description="base")
    windchill.fault(doc_id, 500, before_request=4)

    result = windchill_client.update(doc_id, {"Description": "mine"})

    failed = [e for e in windchill.journal if e.type == "fail"]
    assert [(e.op, e.request, e.status) for e in failed] == [("check_in", 4, 500)]
    assert result.status == "failed"
    assert result.reason is not None
    assert "check-in failed" in result.reason
    assert len(client_events(windchill, "undo_check_out", ["ok"])) == 1
    assert_no_lock_left(windchill, doc_id)
    document = windchill.document(doc_id)
    assert document["CheckoutState"] == "Checked in"
    assert document["Version"] == "A.1"
    assert document["Description"] == "base"


@pytest.mark.windchill(profile="wrs")
def test_lost_check_out_response_is_undone_and_reported_as_failed(
    windchill: WindchillMock, windchill_client: DocumentUpdater
) -> None:
    doc_id = windchill.create_document(Description="base")
    windchill.lose_response(doc_id, before_request=2)

    result = windchill_client.update(doc_id, {"Description": "mine"})

    assert [e.op for e in client_events(windchill, "check_out", ["info"])] == ["check_out"]
    assert result.status == "failed"
    assert_no_lock_left(windchill, doc_id)
    assert windchill.document(doc_id)["CheckoutState"] == "Checked in"


# --- the retry policy -----------------------------------------------------------------------


def test_deadline_stops_retrying_before_it_would_be_passed(windchill: WindchillMock) -> None:
    doc_id = windchill.create_document(Description="base")
    keep_an_indexer_busy(windchill, doc_id)
    policy = RetryPolicy(deadline=1.0)

    result = updater(windchill, policy=policy, check_out_fallback=False).update(
        doc_id, {"Description": "mine"}
    )

    # Retry 1 sleeps ~0.5 s; retry 2 would sleep ~1 s more and pass the 1 s deadline.
    assert result.status == "failed"
    assert result.attempts == 2
    assert len(result.delays) == 1
    assert sum(result.delays) <= policy.deadline
    assert windchill.elapsed <= policy.deadline


def test_max_retries_zero_means_no_retry(windchill: WindchillMock) -> None:
    doc_id = windchill.create_document(Description="base")
    keep_an_indexer_busy(windchill, doc_id)

    result = updater(windchill, policy=RetryPolicy(max_retries=0), check_out_fallback=False).update(
        doc_id, {"Description": "mine"}
    )

    assert result.status == "failed"
    assert result.attempts == 1
    assert result.delays == []
    assert windchill.elapsed == 0
    assert len(client_events(windchill, "update", ["invoke"])) == 1


def test_same_seed_gives_the_same_delays(windchill: WindchillMock) -> None:
    def delays(seed: int) -> list[float]:
        doc_id = windchill.create_document(Description="base")
        keep_an_indexer_busy(windchill, doc_id)
        return updater(windchill, seed=seed).update(doc_id, {"Description": "mine"}).delays

    first = delays(7)
    assert len(first) == 3
    assert delays(7) == first
    assert delays(8) != first


def test_default_sleep_of_an_updater_built_in_a_test_is_virtual(
    windchill: WindchillMock,
) -> None:
    # No sleep= given: the plugin's patched time.sleep must be the one used.
    doc_id = windchill.create_document(Description="base")
    windchill.micro_update(doc_id, before_request=2)

    result = DocumentUpdater(windchill.session, windchill.service_root).update(
        doc_id, {"Description": "mine"}
    )

    assert result.status == "applied"
    assert len(result.delays) == 1
    assert windchill.elapsed == pytest.approx(result.delays[0])


# --- the conflict-rate monitor --------------------------------------------------------------


def run_updates(
    windchill: WindchillMock, client: DocumentUpdater, *, total: int, conflicts: int
) -> None:
    """``total`` updates, each on a new document; the first ``conflicts`` of them meet a 409."""
    for i in range(total):
        doc_id = windchill.create_document(Description="base")
        if i < conflicts:
            windchill.micro_update(doc_id, before_request=2)
        assert client.update(doc_id, {"Description": f"mine {i}"}).ok


def conflict_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == LOGGER and r.levelno == logging.WARNING and "conflict rate" in r.message
    ]


def test_conflict_rate_above_ten_percent_logs_a_warning(
    windchill: WindchillMock, windchill_client: DocumentUpdater, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)

    run_updates(windchill, windchill_client, total=10, conflicts=2)

    assert windchill_client.conflict_rate == pytest.approx(0.2)
    assert len(conflict_warnings(caplog)) == 1


def test_conflict_rate_of_ten_percent_logs_no_warning(
    windchill: WindchillMock, windchill_client: DocumentUpdater, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)

    run_updates(windchill, windchill_client, total=10, conflicts=1)

    assert windchill_client.conflict_rate == pytest.approx(0.1)
    assert conflict_warnings(caplog) == []


# --- the README example ---------------------------------------------------------------------


def test_seconds_of_backoff_are_simulated_in_virtual_time(
    windchill: WindchillMock, windchill_client: DocumentUpdater
) -> None:
    # An indexer holds the document for 3 s: 409, 409, 409, then the write goes through.
    doc_id = windchill.create_document(Description="base")
    windchill.micro_update(doc_id, duration=3.0, before_request=2)

    started = time.perf_counter()
    result = windchill_client.update(doc_id, {"Description": "mine"})
    wall = time.perf_counter() - started

    assert result.status == "applied"
    assert not result.via_checkout
    assert result.conflicts == [409, 409, 409]
    assert windchill.elapsed == pytest.approx(sum(result.delays))
    assert windchill.elapsed >= 3.0
    # Measured, not asserted: wall time is not something a unit test may depend on.
    print(f"backoff: {windchill.elapsed:.3f} s virtual in {wall * 1000:.1f} ms wall")
