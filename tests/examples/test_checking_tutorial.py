"""Checking your own update function. docs/checking-your-client.md quotes this file verbatim.

The tutorial in five steps: an update function written with plain ``requests`` and a bug in
its retry; a property test that runs it under generated conflict schedules and catches the
bug; the shrunk schedule replayed in an ordinary test; the fixed function, which passes; and
several users running it at once. The last tests are the examples of docs/strategies.md.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis.stateful import rule

from pytest_windchill import schedules as schedules_module
from pytest_windchill.checks import ConcurrencyViolation
from pytest_windchill.client import RetryPolicy
from pytest_windchill.schedules import ConflictSchedule, concurrent_edit, fault, micro_update
from pytest_windchill.stateful import WindchillStateMachine
from pytest_windchill.strategies import changes, conflict_schedules, documents, steps

# Step 1: your update function, as it is today.


def update_document_naive(session, service_root, doc_id, changes, *, retries=5):
    """GET, then PATCH with If-Match; on 409 wait and try again."""
    url = f"{service_root}/DocMgmt/Documents('{doc_id}')"
    nonce = session.get(f"{service_root}/PTC/GetCSRFToken()").json()["NonceValue"]
    etag = session.get(url).headers["ETag"]
    for attempt in range(retries + 1):
        response = session.patch(url, json=changes, headers={"If-Match": etag, "CSRF_NONCE": nonce})
        if response.status_code in (200, 204):
            return "applied"
        if response.status_code != 409 or attempt == retries:
            return "failed"
        time.sleep(0.5 * 2**attempt)  # back off: 0.5 s, 1 s, 2 s, ...
        # The bug: the loop goes round with the ETag read before the first PATCH.
    return "failed"


# Step 2: a property test. What the function changes, and the retry policy it follows.

CHANGES = {"Description": "Updated text"}
POLICY = RetryPolicy(max_retries=5, base_delay=0.5, factor=2.0, max_delay=8.0)
ACTIONS = ("micro_update", "lifecycle_change", "concurrent_edit")
SCHEDULES = conflict_schedules(actions=ACTIONS)


def test_the_naive_function_is_caught(windchill_factory):
    @settings(max_examples=100, database=None, deadline=None, derandomize=True)
    @given(schedule=SCHEDULES)
    def check_naive_function(schedule):
        with windchill_factory.scenario(schedule) as mock:
            outcome = update_document_naive(mock.session, mock.service_root, mock.doc, CHANGES)
            mock.check_update(mock.doc, CHANGES, outcome, policy=POLICY)

    with pytest.raises(ConcurrencyViolation) as caught:
        check_naive_function()

    message = str(caught.value)
    assert caught.value.property == "stale-retry"
    assert message.startswith("[stale-retry] after 409")
    assert "ConflictSchedule([\n" in message
    assert "    micro_update(before_request=2),\n" in message
    assert "Seed to replay: 0" in message
    assert "Timeline:" in message


# Step 3: the shrunk schedule, pasted from the failure message into an ordinary test.


def test_the_shrunk_schedule_replays_the_failure(windchill_factory):
    schedule = ConflictSchedule([micro_update(before_request=2)])
    with windchill_factory.scenario(schedule) as mock:
        outcome = update_document_naive(mock.session, mock.service_root, mock.doc, CHANGES)

        with pytest.raises(ConcurrencyViolation, match=r"^\[stale-retry\]"):
            mock.check_update(mock.doc, CHANGES, outcome, policy=POLICY)


# Step 4: the fixed function re-reads the document before every retry.


def update_document(session, service_root, doc_id, changes, *, retries=5):
    """GET, then PATCH with If-Match; on 409 or 412 re-read, and retry or give way."""
    documents = f"{service_root}/DocMgmt/Documents"
    url = f"{documents}('{doc_id}')"
    nonce = session.get(f"{service_root}/PTC/GetCSRFToken()").json()["NonceValue"]
    base = session.get(url)
    base_values, etag = base.json(), base.headers["ETag"]
    for attempt in range(retries + 1):
        response = session.patch(url, json=changes, headers={"If-Match": etag, "CSRF_NONCE": nonce})
        if response.status_code in (200, 204):
            return "applied"
        if response.status_code not in (409, 412) or attempt == retries:
            return "failed"
        if response.status_code == 409:  # background work: wait for it
            time.sleep(0.5 * 2**attempt)
        # The fix: a fresh ETag for every retry, read through the VersionID, which names the
        # latest iteration (a check-in gives it a new ID: the old one names a past iteration).
        current = session.get(f"{documents}('{base_values['VersionID']}')")
        url, etag = f"{documents}('{current.json()['ID']}')", current.headers["ETag"]
        if any(current.json().get(name) != base_values.get(name) for name in changes):
            return "review"  # someone changed a field we change: do not overwrite it
    return "failed"


@settings(max_examples=200, database=None, deadline=None, derandomize=True)
@given(schedule=SCHEDULES)
def test_update_document_under_generated_schedules(windchill_factory, schedule):
    with windchill_factory.scenario(schedule) as mock:
        outcome = update_document(mock.session, mock.service_root, mock.doc, CHANGES)
        mock.check_update(mock.doc, CHANGES, outcome, policy=POLICY)


def test_the_fixed_function_passes_the_shrunk_schedule(windchill_factory):
    schedule = ConflictSchedule([micro_update(before_request=2)])
    with windchill_factory.scenario(schedule) as mock:
        outcome = update_document(mock.session, mock.service_root, mock.doc, CHANGES)

        mock.check_update(mock.doc, CHANGES, outcome, policy=POLICY)
        assert outcome == "applied"
        assert mock.document(mock.doc)["Description"] == "Updated text"


# Step 5: several users running the function at once, on two documents.


class TwoUsersUpdating(WindchillStateMachine):
    client_users = ("alice", "bob")
    policy = POLICY

    def client_update(self, mock, session, user, doc_id, changes):
        # time.sleep in your function moves the mock's virtual clock: the machine sees to it.
        return update_document(session, mock.service_root, doc_id, changes)

    # The same kinds of interference as the property test above.
    @rule(doc=WindchillStateMachine.documents, step=steps(actions=ACTIONS, max_request=4))
    def interfere(self, doc, step):
        super().interfere(doc, step)


TwoUsersUpdating.TestCase.settings = settings(
    max_examples=50, database=None, deadline=None, derandomize=True, stateful_step_count=20
)
test_two_users_updating = TwoUsersUpdating.TestCase


# For docs/strategies.md: schedules as Python and JSON, several documents, generated documents.


def test_a_schedule_is_python_and_json():
    schedule = ConflictSchedule(
        [
            micro_update(before_request=2, duration=0.5),
            concurrent_edit(before_request=4, changes={"Title": "theirs"}),
            fault(at=3.0, status=503, retry_after=2.0),
        ]
    )

    assert repr(schedule) == (
        "ConflictSchedule([\n"
        "    micro_update(before_request=2, duration=0.5),\n"
        "    concurrent_edit(before_request=4, changes={'Title': 'theirs'}, user='other'),\n"
        "    fault(at=3.0, retry_after=2.0),\n"
        "])"
    )
    assert eval(repr(schedule), vars(schedules_module)) == schedule
    assert schedule.to_json()[0] == {
        "action": "micro_update",
        "before_request": 2,
        "document": 0,
        "duration": 0.5,
        "source": "indexer",
    }
    assert ConflictSchedule.from_json(schedule.dumps()) == schedule


def test_a_step_can_target_another_scenario_document(windchill_factory):
    schedule = ConflictSchedule(
        [concurrent_edit(before_request=2, changes={"Title": "theirs"}, document=1)]
    )
    with windchill_factory.scenario(schedule, documents=2) as mock:
        first, second = mock.documents
        assert mock.doc == first

        result = mock.updater().update(second, {"Description": "mine"})  # the reference client

        mock.check_update(second, {"Description": "mine"}, result)  # judge the one it targets
        assert result.status == "merged"  # a 412, then a clean merge: Title is not ours
        assert mock.document(second)["Title"] == "theirs"
        assert mock.document(first)["Title"] is None  # the first document met nothing


@settings(max_examples=50, database=None, deadline=None, derandomize=True)
@given(
    document=documents(),
    update=changes(max_size=2),
    schedule=conflict_schedules(max_interventions=2),
)
def test_the_reference_client_on_generated_documents(windchill_factory, document, update, schedule):
    with windchill_factory.scenario(schedule, documents=document) as mock:
        result = mock.updater().update(mock.doc, update)
        mock.check_update(mock.doc, update, result)
