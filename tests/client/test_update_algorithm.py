"""The update algorithm, request by request, against a scripted server.

``test_updater.py`` runs the reference client against the mock and judges it by the journal.
Here a scripted fake session answers each request with the reply the test wrote, and checks
that the request is the one the script expects, so every rule of the algorithm is stated
exactly: which request comes next, with which headers and body, how long the client sleeps,
and what the result says. A failing step names the request the client sent instead.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, cast

import pytest
import requests

from pytest_windchill.client import InMemoryReviewQueue, RetryPolicy
from pytest_windchill.client.policy import rng
from pytest_windchill.client.updater import DocumentUpdater, UpdateResult

ROOT = "http://wrs.test/Windchill/servlet/odata/"
DOC = "OR:wt.doc.WTDocument:1"
WORKING = "OR:wt.doc.WTDocument:2"
URL = f"http://wrs.test/Windchill/servlet/odata/DocMgmt/Documents('{DOC}')"
WORKING_URL = f"http://wrs.test/Windchill/servlet/odata/DocMgmt/Documents('{WORKING}')"
CHECK_OUT = URL + "/PTC.DocMgmt.CheckOut"
UNDO = URL + "/PTC.DocMgmt.UndoCheckOut"
CHECK_IN = WORKING_URL + "/PTC.DocMgmt.CheckIn"
NONCE_URL = "http://wrs.test/Windchill/servlet/odata/PTC/GetCSRFToken()"
LOGGER = "pytest_windchill.client"
POLICY = RetryPolicy()
MINE = {"Description": "mine"}


def token(number: int) -> re.Pattern[str]:
    """An updater's update token number ``number``: random hex, then a counter from 1."""
    return re.compile(rf"pytest-windchill-[0-9a-f]{{16}}-{number}")


#: A reply that never comes: the connection breaks.
LOST = "lost"


def reply(
    status: int = 200,
    body: Any = None,
    *,
    etag: str | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = "Scripted"
    response._content = b"" if body is None else json.dumps(body).encode()
    response.headers.update(headers or {})
    if etag is not None:
        response.headers["ETag"] = etag
    if token is not None:
        response.headers["X-Client-UpdateToken"] = token
    return response


def document(
    version: str = "A.1", checkout: str = "Checked in", doc_id: str = DOC, **values: Any
) -> dict[str, Any]:
    return {
        "ID": doc_id,
        "Name": "Spec",
        "Description": "base",
        "Title": "title",
        "Version": version,
        "CheckoutState": checkout,
        **values,
    }


def read(etag: str | None = "v1", token: str | None = None, **values: Any) -> requests.Response:
    return reply(200, document(**values), etag=etag, token=token)


def error(status: int, code: str = "Error", message: str = "it went wrong") -> requests.Response:
    return reply(status, {"error": {"code": code, "message": message}})


@dataclass
class Sent:
    method: str
    url: str
    headers: dict[str, str]
    body: Any
    timeout: float


#: A scripted reply: a response, :data:`LOST`, or a function of the requests sent so far.
Answer = requests.Response | str | Callable[["Scripted"], requests.Response]


@dataclass
class Scripted:
    """A stand-in for ``requests.Session``: the next scripted reply to the expected request.

    Each step is ``(method, url, reply)``; ``reply`` may be :data:`LOST`. The CSRF nonce
    (``session.get``) is answered outside the script, counting ``nonce-1``, ``nonce-2``...
    """

    steps: list[tuple[str, str, Answer]]
    sent: list[Sent] = field(default_factory=list)
    nonces: int = 0

    def get(self, url: str, *, timeout: float) -> requests.Response:
        assert url == NONCE_URL
        self.nonces += 1
        return reply(200, {"NonceValue": f"nonce-{self.nonces}"})

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        timeout: float,
        json: Any = None,
    ) -> requests.Response:
        self.sent.append(Sent(method, url, dict(headers), json, timeout))
        assert self.steps, f"the script had ended, but the client sent {method} {url}"
        expected_method, expected_url, answer = self.steps.pop(0)
        assert (method, url) == (expected_method, expected_url), (
            f"expected {expected_method} {expected_url}, the client sent {method} {url}"
        )
        if isinstance(answer, str):
            raise requests.ConnectionError("connection reset by peer")
        return answer(self) if callable(answer) else answer

    def done(self) -> None:
        assert not self.steps, f"the client stopped before {self.steps[0][:2]}"

    def patches(self) -> list[Sent]:
        return [s for s in self.sent if s.method == "PATCH"]


@dataclass
class Run:
    server: Scripted
    updater: DocumentUpdater
    slept: list[float]
    queue: InMemoryReviewQueue

    def update(self, changes: dict[str, Any] | None = None) -> UpdateResult:
        result = self.updater.update(DOC, MINE if changes is None else changes)
        self.server.done()
        assert result.delays == self.slept, "every sleep is reported, and nothing else"
        return result


def script(*steps: tuple[str, str, Answer], **options: Any) -> Run:
    server = Scripted(list(steps))
    slept: list[float] = []
    queue = InMemoryReviewQueue()
    options.setdefault("seed", 0)
    updater = DocumentUpdater(
        server,  # type: ignore[arg-type]
        ROOT,
        sleep=slept.append,
        review_queue=queue,
        **options,
    )
    return Run(server, updater, slept, queue)


def delays(
    count: int, policy: RetryPolicy = POLICY, seed: int = 0, *, after_patches: bool = True
) -> list[float]:
    """The delays the policy gives retries 1..count with the updater's seeded jitter.

    The updater draws an update token from the same generator before each PATCH, so a delay
    that follows a PATCH comes after one more draw.
    """
    generator = rng(seed)
    result = []
    for retry in range(1, count + 1):
        if after_patches:
            generator.getrandbits(64)
        result.append(policy.delay(retry, rng=generator))
    return result


def check_out_and_in(
    working: requests.Response | None = None,
) -> list[tuple[str, str, Answer]]:
    return [
        (
            "POST",
            CHECK_OUT,
            working or reply(200, document(doc_id=WORKING, checkout="Checked out")),
        ),
        ("PATCH", WORKING_URL, reply(200, etag="w2")),
        ("POST", CHECK_IN, reply(200, document(version="A.2"), etag="v9")),
    ]


def checked_out(**working: Any) -> list[tuple[str, str, Answer]]:
    """A server without ETags: the read, then a check-out that answers with the working copy."""
    return [
        ("GET", URL, read(etag=None)),
        ("POST", CHECK_OUT, reply(200, document(doc_id=WORKING, **working))),
    ]


def working_copy_patched() -> list[tuple[str, str, Answer]]:
    return [*checked_out(), ("PATCH", WORKING_URL, reply(204))]


# --- the optimistic path --------------------------------------------------------------------


def test_a_clean_update_is_one_read_and_one_conditional_patch() -> None:
    run = script(("GET", URL, read("v1")), ("PATCH", URL, reply(200, etag="v2")))

    result = run.update()

    get, patch = run.server.sent
    assert "CSRF_NONCE" not in get.headers, "reads need no nonce"
    assert patch.body == MINE
    assert patch.headers["If-Match"] == "v1", "the PATCH carries the ETag just read"
    assert patch.headers["X-PTC-UpdateMode"] == "optimistic"
    assert patch.headers["Content-Type"] == "application/json"
    assert patch.headers["CSRF_NONCE"] == "nonce-1"
    assert token(1).fullmatch(patch.headers["X-Client-UpdateToken"])
    assert (result.status, result.attempts, result.conflicts) == ("applied", 1, [])
    assert result.etags == ["v1", "v2"]
    assert result.ok
    assert not result.via_checkout
    assert result.reason is None


def test_204_no_content_is_a_success_too() -> None:
    run = script(("GET", URL, read()), ("PATCH", URL, reply(204)))
    assert run.update().status == "applied"


def test_the_updater_keeps_what_it_was_given() -> None:
    run = script(timeout=4.5)
    assert run.updater.session is cast(object, run.server)
    assert run.updater.timeout == 4.5
    assert run.updater.service_root == ROOT.rstrip("/")


def test_every_request_carries_the_timeout() -> None:
    run = script(
        ("GET", URL, read()),
        ("PATCH", URL, reply(409)),
        ("GET", URL, read()),
        ("PATCH", URL, reply(200)),
        timeout=4.5,
    )
    run.update()
    assert [s.timeout for s in run.server.sent] == [4.5] * 4


def test_the_default_timeout_is_thirty_seconds() -> None:
    run = script(("GET", URL, read()), ("PATCH", URL, reply(200)))
    run.update()
    assert {s.timeout for s in run.server.sent} == {30.0}


# --- 409: background work -------------------------------------------------------------------


def test_409_backs_off_re_reads_and_retries_with_the_fresh_etag_and_a_new_token() -> None:
    run = script(
        ("GET", URL, read("v1")),
        ("PATCH", URL, reply(409, etag="v1b")),
        ("GET", URL, read("v1b")),
        ("PATCH", URL, reply(200, etag="v2")),
    )

    result = run.update()

    first, second = run.server.patches()
    assert second.headers["If-Match"] == "v1b"
    assert first.headers["X-Client-UpdateToken"] != second.headers["X-Client-UpdateToken"]
    assert token(2).fullmatch(second.headers["X-Client-UpdateToken"])
    assert second.body == MINE
    assert run.slept == delays(1)
    assert (result.status, result.attempts, result.conflicts) == ("applied", 2, [409])
    assert result.etags == ["v1", "v1b", "v2"], "each ETag once, in the order seen"


def test_backoff_doubles_between_retries() -> None:
    run = script(
        ("GET", URL, read()),
        ("PATCH", URL, reply(409)),
        ("GET", URL, read()),
        ("PATCH", URL, reply(409)),
        ("GET", URL, read()),
        ("PATCH", URL, reply(409)),
        ("GET", URL, read()),
        ("PATCH", URL, reply(200)),
    )
    result = run.update()
    assert run.slept == delays(3)
    assert 2.0 <= run.slept[2] <= 2.2
    assert result.attempts == 4
    assert result.conflicts == [409, 409, 409]


def test_409_honours_retry_after_in_seconds() -> None:
    run = script(
        ("GET", URL, read()),
        ("PATCH", URL, reply(409, headers={"Retry-After": "7"})),
        ("GET", URL, read()),
        ("PATCH", URL, reply(200)),
    )
    run.update()
    assert run.slept == [7.0]


def test_retry_after_as_an_http_date_is_read_against_the_updaters_clock() -> None:
    now = 1_700_000_000.0
    when = format_datetime(datetime.fromtimestamp(now + 12, UTC), usegmt=True)
    run = script(
        ("GET", URL, read()),
        ("PATCH", URL, reply(409, headers={"Retry-After": when})),
        ("GET", URL, read()),
        ("PATCH", URL, reply(200)),
        now=lambda: now,
    )
    run.update()
    assert run.slept == [12.0]


def test_an_http_date_retry_after_is_read_right_in_any_local_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # UTC+05:30 (POSIX spelling, no zone database needed): a naive local time would be off.
    monkeypatch.setenv("TZ", "IST-5:30")
    time.tzset()
    try:
        test_retry_after_as_an_http_date_is_read_against_the_updaters_clock()
    finally:
        monkeypatch.undo()
        time.tzset()


def test_409s_past_the_retries_fall_back_to_check_out_merge_and_check_in(
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = script(
        ("GET", URL, read("v1")),
        ("PATCH", URL, reply(409)),
        ("GET", URL, read("v1")),
        ("PATCH", URL, reply(409)),
        *check_out_and_in(),
        policy=RetryPolicy(max_retries=1),
    )

    with caplog.at_level(logging.INFO, logger=LOGGER):
        result = run.update()

    assert caplog.messages == [f"{DOC}: conflicts persisted; falling back to check-out / check-in"]
    check_out, working_patch, check_in = run.server.sent[-3:]
    assert check_out.body == {"CheckOutNote": "update"}
    assert check_out.headers["CSRF_NONCE"] == "nonce-1"
    assert check_out.headers["Content-Type"] == "application/json"
    assert check_out.headers["If-Match"] == "*", "actions honour If-Match; * locks any state"
    assert check_in.headers["If-Match"] == "*"
    assert working_patch.body == MINE
    assert "If-Match" not in working_patch.headers, "the lock protects the working copy"
    assert working_patch.headers["Content-Type"] == "application/json"
    assert check_in.body == {"CheckInNote": "update"}
    assert run.slept == delays(1, RetryPolicy(max_retries=1))
    assert result.status == "applied"
    assert result.via_checkout
    assert result.attempts == 3, "the working copy's PATCH counts as an attempt"
    assert result.conflicts == [409, 409]
    assert result.etags == ["v1", "v9"]


def test_409s_past_the_retries_fail_when_the_fallback_is_off() -> None:
    run = script(
        ("GET", URL, read()),
        ("PATCH", URL, reply(409)),
        policy=RetryPolicy(max_retries=0),
        check_out_fallback=False,
    )
    result = run.update()
    assert result.status == "failed"
    assert not result.via_checkout
    assert result.reason == "409 Conflict persisted and the retries are spent"
    assert run.slept == []


def test_409_checked_out_by_someone_else_fails_at_once() -> None:
    run = script(
        ("GET", URL, read()),
        ("PATCH", URL, error(409, "CheckedOut", "checked out by alice")),
    )
    result = run.update()
    assert result.status == "failed"
    assert result.reason == "the document is checked out: checked out by alice"
    assert result.conflicts == [409]
    assert run.slept == []


def test_a_409_that_reveals_a_new_version_is_merged_not_retried_blindly() -> None:
    run = script(
        ("GET", URL, read("v1")),
        ("PATCH", URL, reply(409)),
        ("GET", URL, read("v2", version="A.2", Title="theirs")),
        ("PATCH", URL, reply(200)),
        policy=RetryPolicy(max_retries=1),
    )
    result = run.update({"Description": "mine", "Name": "Spec 2"})
    assert result.status == "merged"
    assert run.server.patches()[1].headers["If-Match"] == "v2"
    assert result.merged_fields == ("Description", "Name")


def test_a_409_that_reveals_a_conflicting_new_version_goes_to_review() -> None:
    run = script(
        ("GET", URL, read("v1")),
        ("PATCH", URL, reply(409)),
        ("GET", URL, read("v2", version="A.2", Description="theirs")),
    )
    result = run.update()
    assert result.status == "review"
    assert result.review is not None
    assert result.review.current_etag == "v2"


# --- transient faults -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_overload_and_server_errors_are_waited_out(status: int) -> None:
    run = script(
        ("GET", URL, read()),
        ("PATCH", URL, reply(status, headers={"Retry-After": "3"})),
        ("GET", URL, read()),
        ("PATCH", URL, reply(200)),
    )
    result = run.update()
    assert result.status == "applied"
    assert result.conflicts == [status]
    assert run.slept == [3.0]


def test_a_fault_that_persists_past_the_retries_fails_with_its_status() -> None:
    run = script(
        ("GET", URL, read()),
        ("PATCH", URL, reply(503)),
        ("GET", URL, read()),
        ("PATCH", URL, reply(503)),
        policy=RetryPolicy(max_retries=1),
    )
    result = run.update()
    assert result.status == "failed"
    assert not result.via_checkout
    assert result.reason == "HTTP 503 persisted and the retries are spent"
    assert result.conflicts == [503, 503]


@pytest.mark.parametrize("status", [400, 403, 404, 428])
def test_a_refusal_that_waiting_cannot_cure_fails_at_once_with_the_servers_message(
    status: int,
) -> None:
    run = script(("GET", URL, read()), ("PATCH", URL, error(status, message="no such thing")))
    result = run.update()
    assert result.status == "failed"
    assert result.reason == f"HTTP {status}: no such thing"
    assert result.conflicts == [status]
    assert run.slept == []


def test_an_error_without_an_odata_body_is_reported_by_its_text() -> None:
    response = reply(400)
    response._content = b"Bad things"
    run = script(("GET", URL, read()), ("PATCH", URL, response))
    assert run.update().reason == "HTTP 400: Bad things"


# --- 412: a new version ---------------------------------------------------------------------


def test_412_re_applies_only_the_fields_nobody_else_changed_without_waiting() -> None:
    run = script(
        ("GET", URL, read("v1")),
        ("PATCH", URL, reply(412)),
        ("GET", URL, read("v2", version="A.2", Name="Spec 2")),
        ("PATCH", URL, reply(200, etag="v3")),
    )
    result = run.update({"Description": "mine", "Name": "Spec 2"})
    assert run.server.patches()[1].body == {"Description": "mine"}
    assert run.server.patches()[1].headers["If-Match"] == "v2"
    assert result.status == "merged"
    assert result.merged_fields == ("Description",)
    assert run.slept == [], "a merge is not a blind retry: nothing to wait for"
    assert result.conflicts == [412]
    assert result.attempts == 2


def test_a_merge_counts_against_the_retries() -> None:
    run = script(
        ("GET", URL, read("v1")),
        ("PATCH", URL, reply(412)),
        ("GET", URL, read("v2", version="A.2", Title="theirs")),
        policy=RetryPolicy(max_retries=0),
    )
    result = run.update()
    assert result.status == "failed"
    assert result.reason == "412 Precondition Failed persisted and the retries are spent"


def test_a_merge_after_a_409_and_a_412_spends_both_retries() -> None:
    run = script(
        ("GET", URL, read("v1")),
        ("PATCH", URL, reply(409)),
        ("GET", URL, read("v1")),
        ("PATCH", URL, reply(412)),
        ("GET", URL, read("v2", version="A.2", Title="theirs")),
        policy=RetryPolicy(max_retries=1),
    )
    assert run.update().reason == "412 Precondition Failed persisted and the retries are spent"


def test_412_where_the_server_already_holds_my_values_succeeds_without_a_write() -> None:
    run = script(
        ("GET", URL, read("v1")),
        ("PATCH", URL, reply(412)),
        ("GET", URL, read("v2", version="A.2", Description="mine")),
    )
    result = run.update()
    assert result.status == "merged"
    assert result.merged_fields == ()
    assert result.attempts == 1


def test_412_with_a_field_someone_else_changed_goes_to_review_with_both_etags(
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = script(
        ("GET", URL, read("v1")),
        ("PATCH", URL, reply(412)),
        ("GET", URL, read("v2", version="A.2", Description="theirs")),
    )
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result = run.update({"Description": "mine", "Name": "Spec 2"})

    item = result.review
    assert result.status == "review"
    assert item is not None
    assert run.queue.items == [item]
    assert item.document == DOC
    assert item.changes == {"Description": "mine", "Name": "Spec 2"}
    assert [(c.field, c.base, c.mine, c.theirs) for c in item.conflicts] == [
        ("Description", "base", "mine", "theirs")
    ]
    assert (item.base_etag, item.current_etag) == ("v1", "v2")
    assert item.reason == (
        "a field this update changes was changed by someone else since it was read"
    )
    assert len(run.server.patches()) == 1, "nothing is written past a conflict"
    assert caplog.messages == [
        f"{DOC}: conflicting concurrent change; sent to review (ETag v1 → v2)"
    ]


def test_review_without_a_queue_still_reports_the_item() -> None:
    server = Scripted(
        [
            ("GET", URL, read("v1")),
            ("PATCH", URL, reply(412)),
            ("GET", URL, read("v2", version="A.2", Description="theirs")),
        ]
    )
    result = DocumentUpdater(server, ROOT, sleep=lambda s: None).update(DOC, MINE)  # type: ignore[arg-type]
    assert result.status == "review"
    assert result.review is not None


def test_the_merge_is_against_the_first_read_not_the_latest() -> None:
    # A 409 re-read (same version), then a 412: the field another user changed since the
    # *first* read is a conflict, even though the latest read before the 412 already had it.
    run = script(
        ("GET", URL, read("v1")),
        ("PATCH", URL, reply(409)),
        ("GET", URL, read("v1b", Description="theirs")),
        ("PATCH", URL, reply(412)),
        ("GET", URL, read("v2", version="A.2", Description="theirs")),
    )
    assert run.update().status == "review"


# --- lost responses -------------------------------------------------------------------------


def test_a_lost_patch_recognised_by_its_token_is_not_sent_again() -> None:
    def with_my_token(server: Scripted) -> requests.Response:
        return read("v2", token=server.patches()[-1].headers["X-Client-UpdateToken"])

    run = script(("GET", URL, read("v1")), ("PATCH", URL, LOST), ("GET", URL, with_my_token))
    result = run.update()
    assert (result.status, result.attempts, result.conflicts) == ("applied", 1, [0])
    assert run.slept == [], "no wait when the write is known to have happened"


def test_a_lost_merged_patch_recognised_by_its_token_is_a_merge() -> None:
    def with_my_token(server: Scripted) -> requests.Response:
        mine = server.patches()[-1].headers["X-Client-UpdateToken"]
        return read("v3", version="A.2", token=mine, Description="mine", Title="theirs")

    run = script(
        ("GET", URL, read("v1")),
        ("PATCH", URL, reply(412)),
        ("GET", URL, read("v2", version="A.2", Title="theirs")),
        ("PATCH", URL, LOST),
        ("GET", URL, with_my_token),
    )
    result = run.update()
    assert result.status == "merged"
    assert result.conflicts == [412, 0]


def test_a_lost_patch_with_someone_elses_token_is_retried_after_a_backoff() -> None:
    run = script(
        ("GET", URL, read("v1")),
        ("PATCH", URL, LOST),
        ("GET", URL, read("v1b", token="somebody-else")),
        ("PATCH", URL, reply(200)),
    )
    result = run.update()
    assert run.server.patches()[1].headers["If-Match"] == "v1b"
    assert (result.status, result.attempts, result.conflicts) == ("applied", 2, [0])
    assert run.slept == delays(1)


def test_a_lost_patch_on_a_server_without_tokens_is_recognised_by_the_values() -> None:
    run = script(
        ("GET", URL, read("v1")),
        ("PATCH", URL, LOST),
        ("GET", URL, read("v2", Description="mine")),
    )
    result = run.update()
    assert (result.status, result.attempts) == ("applied", 1)


def test_a_lost_patch_whose_values_are_not_there_is_retried() -> None:
    run = script(
        ("GET", URL, read("v1")),
        ("PATCH", URL, LOST),
        ("GET", URL, read("v1")),
        ("PATCH", URL, reply(200)),
    )
    result = run.update({"Description": "mine", "Title": "title"})
    assert result.attempts == 2
    assert result.status == "applied"


def test_a_lost_patch_with_the_retries_spent_fails() -> None:
    run = script(
        ("GET", URL, read("v1")),
        ("PATCH", URL, LOST),
        ("GET", URL, read("v1")),
        policy=RetryPolicy(max_retries=0),
    )
    result = run.update()
    assert result.status == "failed"
    assert result.reason == "the response was lost and the retries are spent"


def test_a_lost_patch_then_a_new_version_is_merged() -> None:
    run = script(
        ("GET", URL, read("v1")),
        ("PATCH", URL, LOST),
        ("GET", URL, read("v2", version="A.2", Title="theirs")),
        ("PATCH", URL, reply(200)),
    )
    result = run.update()
    assert result.status == "merged"
    assert result.merged_fields == ("Description",)


# --- reads ----------------------------------------------------------------------------------


def test_a_lost_read_is_retried_after_a_backoff() -> None:
    run = script(("GET", URL, LOST), ("GET", URL, read()), ("PATCH", URL, reply(200)))
    result = run.update()
    assert result.status == "applied"
    assert result.conflicts == [0]
    assert run.slept == delays(1, after_patches=False)


def test_reads_that_keep_breaking_fail_the_update() -> None:
    run = script(("GET", URL, LOST), ("GET", URL, LOST), policy=RetryPolicy(max_retries=1))
    result = run.update()
    assert result.status == "failed"
    assert result.reason == "the connection kept breaking on GET"
    assert result.conflicts == [0, 0]
    assert result.attempts == 0


@pytest.mark.parametrize("status", [429, 500, 503])
def test_an_overloaded_read_is_waited_out(status: int) -> None:
    run = script(
        ("GET", URL, reply(status, headers={"Retry-After": "2"})),
        ("GET", URL, read()),
        ("PATCH", URL, reply(200)),
    )
    result = run.update()
    assert result.status == "applied"
    assert result.conflicts == [status]
    assert run.slept == [2.0]


def test_reads_that_keep_failing_fail_the_update_with_the_status() -> None:
    run = script(
        ("GET", URL, reply(503)),
        ("GET", URL, reply(503)),
        policy=RetryPolicy(max_retries=1),
    )
    result = run.update()
    assert result.reason == "GET kept failing with HTTP 503"
    assert result.conflicts == [503, 503]


def test_a_read_refused_for_good_fails_at_once() -> None:
    run = script(("GET", URL, error(404, "NotFound", "no such document")))
    result = run.update()
    assert result.status == "failed"
    assert result.reason == "GET failed: HTTP 404: no such document"
    assert run.slept == []


# --- check-out / check-in -------------------------------------------------------------------


def test_a_server_without_etags_is_updated_through_check_out_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = script(("GET", URL, read(etag=None)), *check_out_and_in())
    with caplog.at_level(logging.INFO, logger=LOGGER):
        result = run.update()
    assert result.status == "applied"
    assert result.via_checkout
    assert result.attempts == 1
    assert result.conflicts == []
    assert caplog.messages == [
        f"{DOC}: the server sends no ETags; optimistic control is unavailable, "
        "using check-out / check-in",
        f"{DOC}: the server sends no ETags; falling back to check-out / check-in",
    ]


def test_a_lost_check_out_is_undone() -> None:
    run = script(
        ("GET", URL, read(etag=None)),
        ("POST", CHECK_OUT, LOST),
        ("POST", UNDO, reply(200)),
    )
    result = run.update()
    assert run.server.sent[-1].body == {}
    assert run.server.sent[-1].headers["CSRF_NONCE"] == "nonce-1"
    assert run.server.sent[-1].headers["If-Match"] == "*"
    assert result.status == "failed"
    assert result.via_checkout
    assert result.reason == "the connection broke during check-out; undone"


def test_a_refused_check_out_fails_without_an_undo() -> None:
    run = script(
        ("GET", URL, read(etag=None)),
        ("POST", CHECK_OUT, error(409, "CheckedOut", "checked out by alice")),
    )
    result = run.update()
    assert result.reason == "check-out failed: HTTP 409: checked out by alice"
    assert result.conflicts == [409]


def test_a_working_copy_with_a_conflicting_value_is_undone_and_sent_to_review() -> None:
    run = script(
        ("GET", URL, read(etag=None)),
        ("POST", CHECK_OUT, reply(200, document(doc_id=WORKING, Description="theirs"))),
        ("POST", UNDO, reply(200)),
        ("GET", URL, read("v7", Description="theirs")),
    )
    result = run.update()
    assert result.status == "review"
    assert result.review is not None
    assert result.review.current_etag == "v7"
    assert [c.field for c in result.review.conflicts] == ["Description"]


def test_a_working_copy_that_already_holds_my_values_is_undone_not_checked_in() -> None:
    run = script(
        ("GET", URL, read(etag=None)),
        ("POST", CHECK_OUT, reply(200, document(doc_id=WORKING, Description="mine"))),
        ("POST", UNDO, reply(200)),
    )
    result = run.update()
    assert result.status == "merged"
    assert result.attempts == 0


def test_only_the_missing_fields_are_written_to_the_working_copy() -> None:
    working = reply(200, document(doc_id=WORKING, Description="mine"))
    run = script(("GET", URL, read(etag=None)), *check_out_and_in(working))
    result = run.update({"Description": "mine", "Name": "Spec 2"})
    assert run.server.patches()[0].body == {"Name": "Spec 2"}
    assert result.status == "merged"


def test_a_refused_working_copy_patch_is_undone() -> None:
    run = script(
        *checked_out(),
        ("PATCH", WORKING_URL, error(400, message="bad value")),
        ("POST", UNDO, reply(200)),
    )
    result = run.update()
    assert result.reason == "PATCH of the working copy failed: HTTP 400: bad value"


def test_a_refused_check_in_is_undone() -> None:
    run = script(
        *working_copy_patched(),
        ("POST", CHECK_IN, error(500, message="vault offline")),
        ("POST", UNDO, reply(200)),
    )
    result = run.update()
    assert result.status == "failed"
    assert result.reason == "check-in failed: HTTP 500: vault offline"


def test_a_lost_check_in_that_happened_is_a_success() -> None:
    run = script(
        *working_copy_patched(),
        ("POST", CHECK_IN, LOST),
        ("GET", URL, read(None, version="A.2", Description="mine")),
    )
    result = run.update()
    assert result.status == "applied"
    assert result.via_checkout


def test_a_lost_check_in_of_a_partly_merged_update_that_happened_is_merged() -> None:
    run = script(
        ("GET", URL, read(etag=None)),
        ("POST", CHECK_OUT, reply(200, document(doc_id=WORKING, Name="Spec 2"))),
        ("PATCH", WORKING_URL, reply(204)),
        ("POST", CHECK_IN, LOST),
        ("GET", URL, read(None, version="A.2", Description="mine", Name="Spec 2")),
    )
    assert run.update({"Description": "mine", "Name": "Spec 2"}).status == "merged"


@pytest.mark.parametrize(
    "after",
    [
        {"checkout": "Checked out", "Description": "mine"},
        {"checkout": "Checked in", "Description": "base"},
    ],
    ids=["still-checked-out", "values-missing"],
)
def test_a_lost_check_in_that_did_not_happen_is_undone(after: dict[str, Any]) -> None:
    # Checked in without our values: did our working copy become an iteration? No (404).
    became = [("GET", WORKING_URL, error(404))] if after["checkout"] == "Checked in" else []
    run = script(
        *checked_out(),
        ("PATCH", WORKING_URL, LOST),
        ("GET", URL, read(None, **after)),
        *became,
        ("POST", UNDO, reply(200)),
    )
    result = run.update()
    assert result.status == "failed"
    assert result.reason == "the connection broke during check-out / check-in; undone"


def test_a_lost_check_in_that_became_an_iteration_is_a_success_whatever_came_after() -> None:
    # Another user's edit after our check-in changed the values; the working copy's OR:,
    # now our iteration (a past one), proves the check-in happened.
    run = script(
        *working_copy_patched(),
        ("POST", CHECK_IN, LOST),
        ("GET", URL, read(None, checkout="Checked in", Description="theirs")),
        ("GET", WORKING_URL, read(None, checkout="Checked in", Description="mine")),
    )
    assert run.update().status == "applied"


def test_a_lost_check_in_whose_read_fails_is_undone_and_reports_the_read() -> None:
    run = script(
        *working_copy_patched(),
        ("POST", CHECK_IN, LOST),
        ("GET", URL, error(404, message="gone")),
        ("POST", UNDO, reply(200)),
    )
    assert run.update().reason == "GET failed: HTTP 404: gone"


# --- undoing a check-out --------------------------------------------------------------------


def failed_check_in(*undo: Answer) -> Run:
    return script(
        *working_copy_patched(),
        ("POST", CHECK_IN, error(500)),
        *[("POST", UNDO, answer) for answer in undo],
    )


@pytest.mark.parametrize(
    "answer",
    [reply(200), error(400, "NotCheckedOut"), error(409, "CheckedOut")],
    ids=["undone", "not-checked-out", "someone-elses-lock"],
)
def test_an_undo_that_is_answered_is_sent_once(
    answer: requests.Response, caplog: pytest.LogCaptureFixture
) -> None:
    run = failed_check_in(answer)
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        run.update()
    assert "could not undo" not in caplog.text


@pytest.mark.parametrize(
    "first", [LOST, error(500), error(409, "Busy")], ids=["lost", "500", "other-409"]
)
def test_an_undo_that_fails_is_tried_again(first: Answer) -> None:
    run = failed_check_in(first, reply(200))
    assert run.update().status == "failed"


def test_an_undo_that_fails_twice_is_logged_as_a_possible_lock(
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = failed_check_in(error(500), LOST)
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        run.update()
    assert caplog.messages == [
        f"{DOC}: could not undo the check-out; the document may still be locked"
    ]


# --- the retry budget -----------------------------------------------------------------------


def test_the_deadline_counts_every_sleep_so_far() -> None:
    # 0.5 s slept; the next delay (1 s or more) would pass the 1.2 s deadline.
    policy = RetryPolicy(deadline=1.2, jitter=0)
    run = script(
        ("GET", URL, read()),
        ("PATCH", URL, reply(409)),
        ("GET", URL, read()),
        ("PATCH", URL, reply(409)),
        policy=policy,
        check_out_fallback=False,
    )
    result = run.update()
    assert run.slept == [0.5]
    assert result.reason == "409 Conflict persisted and the retries are spent"


def test_the_deadline_adds_up_every_sleep_not_just_the_last() -> None:
    policy = RetryPolicy(base_delay=1.0, factor=1.0, jitter=0, deadline=2.5, max_retries=9)
    steps = [("GET", URL, read()), ("PATCH", URL, reply(409))] * 3
    run = script(*steps, policy=policy, check_out_fallback=False)
    result = run.update()
    assert run.slept == [1.0, 1.0], "a third second would make 3 s, past the 2.5 s deadline"
    assert result.status == "failed"


def test_a_delay_that_exactly_meets_the_deadline_is_slept() -> None:
    policy = RetryPolicy(deadline=1.5, jitter=0)
    run = script(
        ("GET", URL, read()),
        ("PATCH", URL, reply(409)),
        ("GET", URL, read()),
        ("PATCH", URL, reply(409)),
        ("GET", URL, read()),
        ("PATCH", URL, reply(200)),
        policy=policy,
    )
    run.update()
    assert run.slept == [0.5, 1.0]


def test_a_merge_respects_the_deadline_already_spent() -> None:
    policy = RetryPolicy(deadline=0.4, jitter=0)
    run = script(
        ("GET", URL, read("v1")),
        ("PATCH", URL, reply(412)),
        ("GET", URL, read("v2", version="A.2")),
        ("PATCH", URL, reply(200)),
        policy=policy,
    )
    assert run.update().status == "merged", "a merge sleeps nothing, so the deadline allows it"


# --- the updater over many updates ----------------------------------------------------------


def test_the_same_seed_gives_the_same_tokens_and_delays() -> None:
    def tokens_and_delays(seed: int) -> tuple[list[str], list[float]]:
        run = script(
            ("GET", URL, read()),
            ("PATCH", URL, reply(409)),
            ("GET", URL, read()),
            ("PATCH", URL, reply(200)),
            seed=seed,
        )
        run.update()
        return [p.headers["X-Client-UpdateToken"] for p in run.server.patches()], run.slept

    assert tokens_and_delays(7) == tokens_and_delays(7)
    assert tokens_and_delays(7) != tokens_and_delays(8)


def test_every_result_is_counted_and_handed_to_on_result() -> None:
    seen: list[UpdateResult] = []
    steps: list[tuple[str, str, Answer]] = [
        ("GET", URL, read()),
        ("PATCH", URL, reply(200)),
        ("GET", URL, read()),
        ("PATCH", URL, reply(409)),
        ("GET", URL, read()),
        ("PATCH", URL, reply(200)),
        ("GET", URL, read()),
        ("PATCH", URL, reply(503)),
        ("GET", URL, read()),
        ("PATCH", URL, reply(200)),
    ]
    run = script(*steps, on_result=seen.append)
    results = [run.updater.update(DOC, MINE) for _ in range(3)]
    run.server.done()
    assert seen == results
    assert run.updater.updates == 3
    assert run.updater.conflicted_updates == 1, "a 503 is not a conflict"
    assert run.updater.conflict_rate == pytest.approx(1 / 3)


def test_a_fresh_updater_has_a_conflict_rate_of_zero() -> None:
    run = script()
    assert (run.updater.conflict_rate, run.updater.updates) == (0.0, 0)
    assert run.updater.url(DOC) == URL
    assert run.updater.service_root == ROOT.rstrip("/")
