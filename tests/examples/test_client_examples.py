"""Configuring the reference update client. docs/client.md quotes these tests verbatim.

Each test sets up one situation with the ``windchill`` fixture and shows what
``DocumentUpdater.update`` does about it.
"""

from __future__ import annotations

import logging

import pytest

from pytest_windchill.client import JsonLinesReviewQueue, RetryPolicy, rng
from pytest_windchill.client.updater import DocumentUpdater


def test_the_delay_maths():
    policy = RetryPolicy()  # 3 retries, 0.5 s doubling, capped at 8 s, up to 10 % jitter

    assert [policy.backoff(n) for n in (1, 2, 3, 4, 5, 6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert 0.5 <= policy.delay(1, rng=rng(0)) <= 0.55  # jitter only ever adds
    assert policy.delay(1, retry_after=5) == 5.0  # a longer Retry-After wins
    assert policy.delay(1, retry_after=120) == 30.0  # but only up to retry_after_cap
    assert policy.allows_retry(3)
    assert not policy.allows_retry(4)
    assert not RetryPolicy(deadline=1.0).allows_retry(2, slept=0.5, next_delay=1.0)


def test_a_custom_retry_policy(windchill):
    policy = RetryPolicy(max_retries=5, base_delay=0.2, factor=2.0, max_delay=1.0, jitter=0.0)
    updater = DocumentUpdater(
        windchill.session, windchill.service_root, policy=policy, sleep=windchill.sleep
    )
    doc = windchill.create_document()
    for request in (2, 4, 6, 8):  # every PATCH but the fifth meets a fresh background touch
        windchill.micro_update(doc, before_request=request)

    result = updater.update(doc, {"Description": "Updated text"})

    assert result.status == "applied"
    assert result.conflicts == [409, 409, 409, 409]
    assert result.delays == [0.2, 0.4, 0.8, 1.0]  # doubling, capped at max_delay
    assert result.attempts == 5


class TestWithAPatientClient:
    # Override `windchill_client` for a class like this, or in a conftest.py for a directory.
    @pytest.fixture
    def windchill_client(self, windchill):
        return DocumentUpdater(
            windchill.session,
            windchill.service_root,
            policy=RetryPolicy(max_retries=6),
            sleep=windchill.sleep,
            seed=windchill.config.seed,
        )

    def test_six_retries_before_check_out(self, windchill, windchill_client):
        doc = windchill.create_document()
        for request in (2, 4, 6, 8, 10, 12):
            windchill.micro_update(doc, before_request=request)

        result = windchill_client.update(doc, {"Description": "Updated text"})

        assert result.status == "applied"
        assert not result.via_checkout
        assert len(result.delays) == 6


def test_a_long_background_operation_costs_no_wall_time(windchill, windchill_client):
    doc = windchill.create_document()
    # The indexer holds the document for 2 s: every PATCH in that window gets a 409.
    windchill.micro_update(doc, duration=2.0, before_request=2)

    result = windchill_client.update(doc, {"Description": "Updated text"})

    assert result.status == "applied"
    assert result.conflicts == [409, 409, 409]
    assert sum(result.delays) > 2.0
    assert windchill.elapsed == pytest.approx(sum(result.delays))  # virtual seconds


def test_retry_after_is_honoured(windchill, windchill_client):
    doc = windchill.create_document()
    windchill.fault(doc, 503, retry_after=5, before_request=2)

    result = windchill_client.update(doc, {"Description": "Updated text"})

    assert result.status == "applied"
    assert result.conflicts == [503]
    assert result.delays == [5.0]  # the server's 5 s, not the 0.5 s backoff


def test_412_re_applies_fields_nobody_else_changed(windchill, windchill_client):
    doc = windchill.create_document(Description="Draft", Title="Housing")
    windchill.concurrent_edit(doc, {"Title": "Pump housing"}, user="other", before_request=2)

    result = windchill_client.update(doc, {"Description": "Updated text"})

    assert result.status == "merged"
    assert result.conflicts == [412]
    assert result.merged_fields == ("Description",)
    server = windchill.document(doc)
    assert (server["Title"], server["Description"]) == ("Pump housing", "Updated text")


def test_412_with_a_real_conflict_goes_to_a_review_queue(windchill, tmp_path):
    queue = JsonLinesReviewQueue(tmp_path / "review.jsonl")
    updater = DocumentUpdater(
        windchill.session, windchill.service_root, sleep=windchill.sleep, review_queue=queue
    )
    doc = windchill.create_document(Description="Draft")
    windchill.concurrent_edit(doc, {"Description": "Their text"}, before_request=2)

    result = updater.update(doc, {"Description": "My text", "Title": "Pump housing"})

    assert result.status == "review"
    assert windchill.document(doc)["Description"] == "Their text"  # nothing was written
    [item] = queue.read()
    [conflict] = item.conflicts
    assert (conflict.field, conflict.base, conflict.mine, conflict.theirs) == (
        "Description",
        "Draft",
        "My text",
        "Their text",
    )
    assert item.base_etag != item.current_etag


def test_persistent_409s_fall_back_to_check_out(windchill, windchill_client):
    doc = windchill.create_document()
    for request in (2, 4, 6, 8):  # the first PATCH and all three retries meet a touch
        windchill.micro_update(doc, before_request=request)

    result = windchill_client.update(doc, {"Description": "Updated text"})

    assert result.status == "applied"
    assert result.via_checkout
    assert result.conflicts == [409, 409, 409, 409]
    server = windchill.document(doc)
    assert (server["Version"], server["CheckoutState"]) == ("A.2", "Checked in")


def test_without_the_check_out_fallback_persistent_409s_fail(windchill):
    updater = DocumentUpdater(
        windchill.session, windchill.service_root, sleep=windchill.sleep, check_out_fallback=False
    )
    doc = windchill.create_document()
    for request in (2, 4, 6, 8):
        windchill.micro_update(doc, before_request=request)

    result = updater.update(doc, {"Description": "Updated text"})

    assert result.status == "failed"
    assert result.reason == "409 Conflict persisted and the retries are spent"


def test_a_lost_response_is_recognised_as_its_own_write(windchill, windchill_client):
    doc = windchill.create_document()
    windchill.lose_response(doc, before_request=2)  # the PATCH is applied, its answer lost

    result = windchill_client.update(doc, {"Description": "Updated text"})

    assert result.status == "applied"
    assert result.conflicts == [0]  # 0 stands for "no answer"
    assert result.attempts == 1  # recognised, not sent twice


def test_a_document_checked_out_by_someone_else_fails_cleanly(windchill, windchill_client):
    doc = windchill.create_document()
    windchill.check_out_as(doc, "other")

    result = windchill_client.update(doc, {"Description": "Updated text"})

    assert result.status == "failed"
    assert "checked out by other" in result.reason
    assert windchill.document(doc)["CheckoutState"] == "Checked out"  # still other's lock


@pytest.mark.windchill(profile="wrs")
def test_without_etags_the_client_uses_check_out(windchill, windchill_client):
    doc = windchill.create_document()

    result = windchill_client.update(doc, {"Description": "Updated text"})

    assert result.status == "applied"
    assert result.via_checkout
    assert result.etags == []


def test_the_conflict_rate_monitor_warns_above_10_percent(windchill, caplog):
    updater = DocumentUpdater(windchill.session, windchill.service_root, sleep=windchill.sleep)
    docs = [windchill.create_document() for _ in range(10)]
    for doc in docs[:2]:  # 2 of 10 updates meet a 409: 20 %
        windchill.micro_update(doc, before_request=2)

    for doc in docs:
        updater.update(doc, {"Description": "Updated text"})

    assert updater.conflict_rate == pytest.approx(0.2)
    assert [r.levelno for r in caplog.records if r.name == "pytest_windchill.client"] == [
        logging.WARNING
    ]
