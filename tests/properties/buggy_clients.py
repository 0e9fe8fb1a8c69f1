"""Update clients a user might write: one correct, and a catalogue with one classic bug each.

Every client is a plain function ``(session, service_root, doc_id, changes, sleep) ->
outcome`` that updates a document through Windchill REST Services and reports
``"applied"``, ``"merged"``, ``"review"`` or ``"failed"``. They speak HTTP with ``requests``
only — nothing from the reference client — and all of them work in the happy path: the bugs
show only under interference, which is what ``test_catalogue.py`` proves the checker notices.

Unless its bug says otherwise, each follows the checker's default ``RetryPolicy()``: at most
3 retries, backoff 0.5 s doubling (capped at 8 s), never sooner than ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

Sleep = Callable[[float], None]
UpdateFunction = Callable[[requests.Session, str, str, Mapping[str, Any], Sleep], str]

MAX_RETRIES = 3
#: Statuses worth waiting for and retrying: conflicts with background work, and overload.
RETRYABLE = frozenset({409, 412, 429, 502, 503, 504})
TRANSIENT = frozenset({429, 502, 503, 504})
#: What a client may write (what it copies when it sends the whole entity).
WRITABLE = ("Description", "Title", "Department", "ExternalReference", "ReviewComment")


class Failed(Exception):
    """The server refused for good: the update reports ``"failed"``."""


@dataclass(frozen=True)
class Snapshot:
    """The document as one GET saw it."""

    values: dict[str, Any]
    etag: str | None

    @property
    def version(self) -> Any:
        return self.values.get("Version")

    def holds(self, changes: Mapping[str, Any]) -> bool:
        return all(self.values.get(name) == value for name, value in changes.items())


class Wrs:
    """The thin wrapper a user writes around ``requests``: URLs, the CSRF nonce, reads.

    It knows one thing about Windchill's versions: an ``OR:`` can come to name a past
    iteration (``"Latest": false``), and then a read follows the ``VersionID`` to the latest
    and uses the latest's ``ID`` from then on. A client that re-reads therefore writes to the
    latest iteration; one that never re-reads keeps writing to the past one."""

    def __init__(
        self, session: requests.Session, service_root: str, doc_id: str, sleep: Sleep
    ) -> None:
        self.session = session
        self.root = service_root.rstrip("/")
        self.doc_url = self.url_of(doc_id)
        self.sleep = sleep
        self._nonce: str | None = None

    def url_of(self, key: str) -> str:
        return f"{self.root}/DocMgmt/Documents('{key}')"

    def nonce(self) -> str:
        if self._nonce is None:
            response = self.session.get(f"{self.root}/PTC/GetCSRFToken()")
            self._nonce = str(response.json()["NonceValue"])
        return self._nonce

    def read(self) -> Snapshot:
        """GET the document (the latest iteration, see the class), riding out lost responses
        and transient statuses."""
        snapshot = self._get()
        if snapshot.values.get("Latest") is False:
            self.doc_url = self.url_of(str(snapshot.values["VersionID"]))
            snapshot = self._get()
            self.doc_url = self.url_of(str(snapshot.values["ID"]))
        return snapshot

    def _get(self) -> Snapshot:
        for retry in range(1, MAX_RETRIES + 2):
            try:
                response = self.session.get(self.doc_url)
            except requests.ConnectionError:
                wait = delay(retry)
            else:
                if response.status_code == 200:
                    return Snapshot(response.json(), response.headers.get("ETag"))
                if response.status_code not in TRANSIENT:
                    raise Failed(f"GET: HTTP {response.status_code}")
                wait = delay(retry, response)
            if retry > MAX_RETRIES:
                raise Failed("GET kept failing")
            self.sleep(wait)
        raise AssertionError("unreachable")

    def patch(
        self, body: Mapping[str, Any], etag: str | None, url: str | None = None
    ) -> requests.Response:
        headers = {"CSRF_NONCE": self.nonce()}
        if etag is not None:
            headers["If-Match"] = etag
        return self.session.patch(url or self.doc_url, json=dict(body), headers=headers)

    def action(self, url: str, name: str) -> requests.Response:
        headers = {"CSRF_NONCE": self.nonce()}
        return self.session.post(f"{url}/PTC.DocMgmt.{name}", json={}, headers=headers)


def delay(retry: int, response: requests.Response | None = None) -> float:
    """Backoff before retry ``retry`` (from 1), at least the server's ``Retry-After``."""
    wait = min(0.5 * 2.0 ** (retry - 1), 8.0)
    retry_after = response.headers.get("Retry-After") if response is not None else None
    if retry_after is not None and retry_after.isdigit():
        wait = max(wait, float(retry_after))
    return wait


def checked_out(response: requests.Response) -> bool:
    return response.status_code == 409 and error_code(response) == "CheckedOut"


def error_code(response: requests.Response) -> str | None:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


def three_way_merge(
    base: Snapshot, changes: Mapping[str, Any], current: Snapshot
) -> tuple[dict[str, Any], list[str]]:
    """What is left to write, and the fields someone else changed to something else."""
    pending, conflicts = {}, []
    for name, mine in changes.items():
        theirs = current.values.get(name)
        if theirs == mine:
            continue
        if theirs != base.values.get(name):
            conflicts.append(name)
        else:
            pending[name] = mine
    return pending, conflicts


def reports_failure(client: UpdateFunction) -> UpdateFunction:
    """A refusal deep inside the client (``Failed``) ends the update as ``"failed"``."""

    def run(
        session: requests.Session,
        service_root: str,
        doc_id: str,
        changes: Mapping[str, Any],
        sleep: Sleep,
    ) -> str:
        try:
            return client(session, service_root, doc_id, changes, sleep)
        except Failed:
            return "failed"

    run.__name__ = client.__name__
    run.__doc__ = client.__doc__
    return run


# --------------------------------------------------------------------------- the baseline


@reports_failure
def correct_update(
    session: requests.Session,
    service_root: str,
    doc_id: str,
    changes: Mapping[str, Any],
    sleep: Sleep,
) -> str:
    """Correct: a partial PATCH with ``If-Match``; on 409 or overload back off, re-read and
    retry with the fresh ETag; when the version moved, merge against the first read (a field
    someone else changed goes to review); after a lost response, look before writing again."""
    wrs = Wrs(session, service_root, doc_id, sleep)
    base = current = wrs.read()
    pending, merged = dict(changes), False
    for attempt in range(1, MAX_RETRIES + 2):
        response: requests.Response | None
        try:
            response = wrs.patch(pending, current.etag)
        except requests.ConnectionError:
            response = None
            current = wrs.read()
            if current.holds(pending):  # it was applied after all
                return "merged" if merged else "applied"
        else:
            if response.ok:
                return "merged" if merged else "applied"
            if checked_out(response) or response.status_code not in RETRYABLE:
                return "failed"
        if attempt > MAX_RETRIES:
            return "failed"
        if response is None or response.status_code != 412:  # a 412 needs a merge, not a wait
            sleep(delay(attempt, response))
        current = wrs.read()
        if current.version != base.version:
            pending, conflicts = three_way_merge(base, changes, current)
            if conflicts:
                return "review"
            if not pending:
                return "merged"
            merged = True
    return "failed"


# --------------------------------------------------------------------------- the catalogue


@reports_failure
def keeps_writing_a_stale_or(
    session: requests.Session,
    service_root: str,
    doc_id: str,
    changes: Mapping[str, Any],
    sleep: Sleep,
) -> str:
    """Bug: caches the document's URL (its OR:) and, after a conflict, re-reads that URL and
    retries there. Fine while nobody checks in; once another user makes a new iteration, the
    OR: names a past one, every read shows it unchanged, and every write is refused."""
    url = f"{service_root.rstrip('/')}/DocMgmt/Documents('{doc_id}')"
    wrs = Wrs(session, service_root, doc_id, sleep)
    etag = session.get(url).headers.get("ETag")
    for attempt in range(1, MAX_RETRIES + 2):
        response = wrs.patch(changes, etag, url)
        if response.ok:
            return "applied"
        if response.status_code not in RETRYABLE or attempt > MAX_RETRIES:
            return "failed"
        sleep(delay(attempt, response))
        etag = session.get(url).headers.get("ETag")
    return "failed"


@reports_failure
def retries_with_the_stale_etag(
    session: requests.Session,
    service_root: str,
    doc_id: str,
    changes: Mapping[str, Any],
    sleep: Sleep,
) -> str:
    """Bug: backs off after a 409 as it should, but retries with the ETag it read first — the
    one the server just refused — so every retry is doomed."""
    wrs = Wrs(session, service_root, doc_id, sleep)
    base = wrs.read()
    for attempt in range(1, MAX_RETRIES + 2):
        response = wrs.patch(changes, base.etag)
        if response.ok:
            return "applied"
        if response.status_code not in RETRYABLE or attempt > MAX_RETRIES:
            return "failed"
        sleep(delay(attempt, response))
    return "failed"


@reports_failure
def retries_blindly_after_412(
    session: requests.Session,
    service_root: str,
    doc_id: str,
    changes: Mapping[str, Any],
    sleep: Sleep,
) -> str:
    """Bug: on a conflict, takes the current ETag from the error response and sends the same
    changes again. Harmless after a 409 (background work, same version); after a 412 another
    user has made a new version, and the client writes without ever looking at it."""
    wrs = Wrs(session, service_root, doc_id, sleep)
    etag = wrs.read().etag
    for attempt in range(1, MAX_RETRIES + 2):
        response = wrs.patch(changes, etag)
        if response.ok:
            return "applied"
        if response.status_code not in RETRYABLE or attempt > MAX_RETRIES:
            return "failed"
        etag = response.headers.get("ETag", etag)
        if response.status_code != 412:
            sleep(delay(attempt, response))
    return "failed"


@reports_failure
def retries_without_backoff(
    session: requests.Session,
    service_root: str,
    doc_id: str,
    changes: Mapping[str, Any],
    sleep: Sleep,
) -> str:
    """Bug: re-reads and retries at once after a 409, hammering a server that is busy."""
    wrs = Wrs(session, service_root, doc_id, sleep)
    base = current = wrs.read()
    for attempt in range(1, MAX_RETRIES + 2):
        response = wrs.patch(changes, current.etag)
        if response.ok:
            return "applied"
        if response.status_code not in RETRYABLE or attempt > MAX_RETRIES:
            return "failed"
        current = wrs.read()
        if current.version != base.version:
            return "review"
    return "failed"


@reports_failure
def retries_until_it_succeeds(
    session: requests.Session,
    service_root: str,
    doc_id: str,
    changes: Mapping[str, Any],
    sleep: Sleep,
) -> str:
    """Bug: backs off and re-reads correctly, but never gives up while the server answers 409
    (only a hard cap of 50 attempts stops it): a long background job turns one update into a
    stream of requests."""
    wrs = Wrs(session, service_root, doc_id, sleep)
    base = current = wrs.read()
    for attempt in range(1, 51):
        response = wrs.patch(changes, current.etag)
        if response.ok:
            return "applied"
        if response.status_code not in RETRYABLE:
            return "failed"
        sleep(delay(attempt, response))
        current = wrs.read()
        if current.version != base.version:
            return "review"
    return "failed"


@reports_failure
def drops_if_match_on_retry(
    session: requests.Session,
    service_root: str,
    doc_id: str,
    changes: Mapping[str, Any],
    sleep: Sleep,
) -> str:
    """Bug: "the ETag is what makes it fail" — retries a 409 without ``If-Match``, which the
    server applies as last-write-wins."""
    wrs = Wrs(session, service_root, doc_id, sleep)
    etag = wrs.read().etag
    for attempt in range(1, MAX_RETRIES + 2):
        response = wrs.patch(changes, etag if attempt == 1 else None)
        if response.ok:
            return "applied"
        if response.status_code not in RETRYABLE or attempt > MAX_RETRIES:
            return "failed"
        sleep(delay(attempt, response))
    return "failed"


@reports_failure
def patches_the_whole_entity(
    session: requests.Session,
    service_root: str,
    doc_id: str,
    changes: Mapping[str, Any],
    sleep: Sleep,
) -> str:
    """Bug: PATCHes every writable property it read, not just the changed ones; on a conflict
    it refreshes the ETag and sends the same body again — writing back old values over
    whatever another user has changed meanwhile."""
    wrs = Wrs(session, service_root, doc_id, sleep)
    first = wrs.read()
    body = {name: first.values.get(name) for name in WRITABLE} | dict(changes)
    etag = first.etag
    for attempt in range(1, MAX_RETRIES + 2):
        response = wrs.patch(body, etag)
        if response.ok:
            return "applied"
        if response.status_code not in RETRYABLE or attempt > MAX_RETRIES:
            return "failed"
        if response.status_code != 412:
            sleep(delay(attempt, response))
        etag = wrs.read().etag
    return "failed"


@reports_failure
def merges_against_the_current_state(
    session: requests.Session,
    service_root: str,
    doc_id: str,
    changes: Mapping[str, Any],
    sleep: Sleep,
) -> str:
    """Bug: on a new version it does a three-way merge — but against the state it just
    re-read instead of the state it first read, so no field ever looks changed by someone
    else and its values overwrite theirs."""
    wrs = Wrs(session, service_root, doc_id, sleep)
    base = current = wrs.read()
    pending, merged = dict(changes), False
    for attempt in range(1, MAX_RETRIES + 2):
        response = wrs.patch(pending, current.etag)
        if response.ok:
            return "merged" if merged else "applied"
        if response.status_code not in RETRYABLE or attempt > MAX_RETRIES:
            return "failed"
        if response.status_code != 412:
            sleep(delay(attempt, response))
        current = wrs.read()
        if current.version != base.version:
            pending, conflicts = three_way_merge(current, changes, current)
            if conflicts:
                return "review"
            if not pending:
                return "merged"
            merged = True
    return "failed"


@reports_failure
def leaves_the_document_checked_out(
    session: requests.Session,
    service_root: str,
    doc_id: str,
    changes: Mapping[str, Any],
    sleep: Sleep,
) -> str:
    """Bug: the forum thread's workaround — on a 409, check out, edit the working copy, check
    in — but when editing the working copy or checking in fails, it reports the failure and
    never undoes the check-out: the document stays locked for everyone."""
    wrs = Wrs(session, service_root, doc_id, sleep)
    current = wrs.read()
    for attempt in range(1, MAX_RETRIES + 2):
        response = wrs.patch(changes, current.etag)
        if response.ok:
            return "applied"
        if response.status_code == 409 and not checked_out(response):
            break
        if response.status_code not in TRANSIENT or attempt > MAX_RETRIES:
            return "failed"
        sleep(delay(attempt, response))
        current = wrs.read()
    else:
        return "failed"
    for attempt in range(1, MAX_RETRIES + 2):
        checkout = wrs.action(wrs.doc_url, "CheckOut")
        if checkout.status_code == 200:
            break
        if checkout.status_code not in TRANSIENT or attempt > MAX_RETRIES:
            return "failed"
        sleep(delay(attempt, checkout))
    working_url = f"{wrs.root}/DocMgmt/Documents('{checkout.json()['ID']}')"
    if not wrs.patch(changes, None, url=working_url).ok:
        return "failed"
    if wrs.action(working_url, "CheckIn").status_code != 200:
        return "failed"
    return "applied"


@reports_failure
def reports_success_on_409(
    session: requests.Session,
    service_root: str,
    doc_id: str,
    changes: Mapping[str, Any],
    sleep: Sleep,
) -> str:
    """Bug: reads 409 Conflict as "an identical save is already in progress" and reports the
    update applied, though nothing was written."""
    wrs = Wrs(session, service_root, doc_id, sleep)
    base = current = wrs.read()
    for attempt in range(1, MAX_RETRIES + 2):
        response = wrs.patch(changes, current.etag)
        if response.ok or response.status_code == 409:
            return "applied"
        if response.status_code not in RETRYABLE or attempt > MAX_RETRIES:
            return "failed"
        if response.status_code != 412:
            sleep(delay(attempt, response))
        current = wrs.read()
        if current.version != base.version:
            return "review"
    return "failed"


@reports_failure
def reports_a_lost_response_as_failed(
    session: requests.Session,
    service_root: str,
    doc_id: str,
    changes: Mapping[str, Any],
    sleep: Sleep,
) -> str:
    """Bug: a dropped connection after the PATCH is taken for a failed write: it reports
    "failed" (so its caller will apply the change again) although the server applied it."""
    wrs = Wrs(session, service_root, doc_id, sleep)
    base = current = wrs.read()
    for attempt in range(1, MAX_RETRIES + 2):
        try:
            response = wrs.patch(changes, current.etag)
        except requests.ConnectionError:
            return "failed"
        if response.ok:
            return "applied"
        if response.status_code not in RETRYABLE or attempt > MAX_RETRIES:
            return "failed"
        if response.status_code != 412:
            sleep(delay(attempt, response))
        current = wrs.read()
        if current.version != base.version:
            return "review"
    return "failed"


@reports_failure
def applies_again_after_a_lost_response(
    session: requests.Session,
    service_root: str,
    doc_id: str,
    changes: Mapping[str, Any],
    sleep: Sleep,
) -> str:
    """Bug: a dropped connection is taken for a failed write, so after backing off it fetches
    a fresh ETag and sends the same changes again — without looking whether they landed or
    whether someone else changed those fields since."""
    wrs = Wrs(session, service_root, doc_id, sleep)
    base = current = wrs.read()
    for attempt in range(1, MAX_RETRIES + 2):
        try:
            response = wrs.patch(changes, current.etag)
        except requests.ConnectionError:
            if attempt > MAX_RETRIES:
                return "failed"
            sleep(delay(attempt))
            current = wrs.read()
            continue
        if response.ok:
            return "applied"
        if response.status_code not in RETRYABLE or attempt > MAX_RETRIES:
            return "failed"
        if response.status_code != 412:
            sleep(delay(attempt, response))
        current = wrs.read()
        if current.version != base.version:
            return "review"
    return "failed"


# ------------------------------------------------- bugs that only a profile's knobs reveal


@reports_failure
def never_sends_if_match(
    session: requests.Session,
    service_root: str,
    doc_id: str,
    changes: Mapping[str, Any],
    sleep: Sleep,
) -> str:
    """Bug where ETags exist: "PTC documents no ETags" — never sends ``If-Match``. Right
    against a server that sends none (``wrs``), last-write-wins against one that does."""
    wrs = Wrs(session, service_root, doc_id, sleep)
    wrs.read()
    for attempt in range(1, MAX_RETRIES + 2):
        response = wrs.patch(changes, None)
        if response.ok:
            return "applied"
        if checked_out(response) or response.status_code not in RETRYABLE:
            return "failed"
        if attempt > MAX_RETRIES:
            return "failed"
        sleep(delay(attempt, response))
        wrs.read()
    return "failed"


@reports_failure
def waits_only_after_409(
    session: requests.Session,
    service_root: str,
    doc_id: str,
    changes: Mapping[str, Any],
    sleep: Sleep,
) -> str:
    """Bug where the busy status is not 409: "409 means wait, anything else means read again
    and retry now". Right where a background operation answers 409 (``thread``), a retry
    storm where it answers another status (a busy window reported as 423 Locked)."""
    wrs = Wrs(session, service_root, doc_id, sleep)
    current = wrs.read()
    for attempt in range(1, MAX_RETRIES + 2):
        response = wrs.patch(changes, current.etag)
        if response.ok:
            return "applied"
        if checked_out(response) or attempt > MAX_RETRIES:
            return "failed"
        if response.status_code == 409:
            sleep(delay(attempt, response))
        current = wrs.read()
    return "failed"


# --------------------------------------------------------------------------- change sets


def batch_reports_the_first_request_applied(
    session: requests.Session,
    service_root: str,
    updates: Mapping[str, Mapping[str, Any]],
    sleep: Sleep,
) -> dict[str, str]:
    """Bug: sends every update in one change set and, when the change set fails, reports the
    requests before the failing one as applied — as if a change set were a list of separate
    requests. A change set is atomic: when one request fails, none is applied."""
    first = Wrs(session, service_root, next(iter(updates)), sleep)
    etags = {doc_id: Wrs(session, service_root, doc_id, sleep).read().etag for doc_id in updates}
    requests_ = [
        {
            "id": str(number),
            "atomicityGroup": "all",
            "method": "PATCH",
            "url": f"Documents('{doc_id}')",
            "headers": {"Content-Type": "application/json", "If-Match": etags[doc_id] or "*"},
            "body": dict(changes),
        }
        for number, (doc_id, changes) in enumerate(updates.items(), 1)
    ]
    response = session.post(
        f"{first.root}/DocMgmt/$batch",
        json={"requests": requests_},
        headers={"CSRF_NONCE": first.nonce()},
    )
    answers = response.json()["responses"]
    if all(answer["status"] < 300 for answer in answers):
        return dict.fromkeys(updates, "applied")
    failed = int(answers[0]["id"]) if len(answers) == 1 else len(updates)
    return {
        doc_id: "applied" if number < failed else "failed"
        for number, doc_id in enumerate(updates, 1)
    }
