"""The reference update client: the forum thread's recipe, done right.

``DocumentUpdater.update(doc_id, changes)``:

1. GET the document: the *base* (values and ETag) this update is judged against.
2. PATCH the changes with ``If-Match`` (plus the CSRF nonce, ``X-PTC-UpdateMode: optimistic``
   so a missing ETag never turns into last-write-wins, and an ``X-Client-UpdateToken`` to
   recognise its own write later).
3. On 409 (ETag moved, same version: background work) back off — exponential, jittered,
   ``Retry-After`` honoured — re-read and retry with the fresh ETag. If the version moved
   meanwhile, do what a 412 does.
4. On 412 (a new version): three-way merge against the base. Fields nobody else changed are
   re-applied (``merged``); a field someone else changed goes to the review queue with both
   ETags (``review``) and nothing is written.
5. On a lost response: re-read and recognise its own write by the update token (or, where
   the server has none, by the values); otherwise retry.
6. When the retries are spent on 409s: check out, merge against the working copy, PATCH it,
   check in — undoing the check-out on any failure, so no lock is ever left behind.
7. Where each iteration has its own ``OR:`` (Windchill), an ID the client holds can come to
   name a past iteration: a write to it is refused with ``NotLatestIteration``, and reading
   it shows ``"Latest": false``. The updater then reads the object through its
   ``VersionID`` (``VR:``, which always names the latest), goes on with the latest's ``ID``,
   and treats it as a new version: merge against the base, or review.

Documents and parts alike: the key says which (``OR:wt.part.WTPart:…`` is a part).

Against a server without ETags (the ``wrs`` profile, PTC's documented behaviour) optimistic
control is impossible: the updater says so in the log and goes straight to step 6.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from ..outcomes import TRANSIENT_STATUSES, UpdateResult, UpdateStatus, explain_etags
from .batch import BatchRun
from .merge import three_way_merge
from .monitor import ConflictRateMonitor
from .policy import RetryPolicy, parse_retry_after, rng
from .review import ReviewItem, ReviewQueue
from .wrs import Lost, RequestFailed, WrsSession, error_code, error_message

__all__ = ["DocumentUpdater", "UpdateResult", "UpdateStatus"]

log = logging.getLogger("pytest_windchill.client")


@dataclass(frozen=True)
class _Read:
    values: dict[str, Any]
    etag: str | None
    token: str | None

    @property
    def version(self) -> str | None:
        version = self.values.get("Version")
        return version if isinstance(version, str) else None

    @property
    def past_iteration(self) -> bool:
        """The key read names a past iteration (``Latest`` false, and not a working copy)."""
        return self.values.get("Latest") is False and (
            self.values.get("CheckoutState") != "Working copy"
        )

    @property
    def id(self) -> str | None:
        value = self.values.get("ID")
        return value if isinstance(value, str) else None

    @property
    def version_id(self) -> str | None:
        value = self.values.get("VersionID")
        return value if isinstance(value, str) else None


def _time_now() -> float:
    return time.time()  # looked up at each call, like _time_sleep (freezegun)


def _time_sleep(seconds: float) -> None:
    # Looked up at each call, not bound at import: a time.sleep patched later (the plugin's
    # virtual time, freezegun) must reach an updater built with the default.
    time.sleep(seconds)


class DocumentUpdater:
    """Update Windchill documents safely under concurrent background activity.

    ``sleep`` defaults to :func:`time.sleep`, looked up when the client sleeps, so inside a
    test using the ``windchill`` fixture the backoff advances the mock's virtual clock.
    """

    def __init__(
        self,
        session: requests.Session,
        service_root: str,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        review_queue: ReviewQueue | None = None,
        seed: int | None = None,
        check_out_fallback: bool = True,
        timeout: float = 30.0,
        on_result: Callable[[UpdateResult], object] | None = None,
        now: Callable[[], float] | None = None,
    ) -> None:
        #: Called with every result (the plugin counts them for its terminal summary).
        self.on_result = on_result
        #: The time in epoch seconds, to read an HTTP-date ``Retry-After`` against; give the
        #: mock's clock when sleeping in virtual time.
        self.now = now if now is not None else _time_now
        self.session = session
        self.service_root = service_root.rstrip("/")
        self.policy = policy if policy is not None else RetryPolicy()
        self.sleep = sleep if sleep is not None else _time_sleep
        self.review_queue = review_queue
        self.check_out_fallback = check_out_fallback
        self.timeout = timeout
        self.wrs = WrsSession(session, self.service_root, timeout)
        self.monitor = ConflictRateMonitor(self.policy.conflict_rate_warning)
        self._rng = rng(seed)
        self._tokens = 0

    # ------------------------------------------------------------ public

    @property
    def conflict_rate(self) -> float:
        """Share of updates that met at least one conflict (409/412)."""
        return self.monitor.rate

    @property
    def updates(self) -> int:
        return self.monitor.updates

    @property
    def conflicted_updates(self) -> int:
        return self.monitor.conflicted_updates

    def update(self, doc_id: str, changes: Mapping[str, Any]) -> UpdateResult:
        """Apply ``changes`` (a partial update) to ``doc_id``, a document's or a part's ID;
        never raises for HTTP outcomes. ``result.written_to`` tells when the change went to a
        later iteration than ``doc_id`` names."""
        result = _Run(self, UpdateResult(document=doc_id), dict(changes)).run()
        self.monitor.record(result)
        if self.on_result is not None:
            self.on_result(result)
        return result

    def update_batch(self, updates: Mapping[str, Mapping[str, Any]]) -> dict[str, UpdateResult]:
        """Apply ``{doc_id: changes}`` all or nothing, as one ``$batch`` change set (see
        :mod:`.batch`); one result per object. Never raises for HTTP outcomes."""
        results = BatchRun(self, updates).run()
        for result in results.values():
            self.monitor.record(result)
            if self.on_result is not None:
                self.on_result(result)
        return results

    # ------------------------------------------------------------ HTTP helpers

    def url(self, doc_id: str, suffix: str = "") -> str:
        return self.wrs.url(doc_id, suffix)

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Send one request; refresh the CSRF nonce once if the server rejects it."""
        return self.wrs.request(method, url, **kwargs)

    def next_token(self) -> str:
        self._tokens += 1
        return f"pytest-windchill-{self._rng.getrandbits(64):016x}-{self._tokens}"


class _Run:
    """One update: the state the algorithm carries between requests."""

    def __init__(self, updater: DocumentUpdater, result: UpdateResult, changes: dict[str, Any]):
        self.updater = updater
        self.result = result
        self.changes = changes
        self.retries = 0
        self.slept = 0.0
        #: The key written to: the document's ID, or the latest iteration's once it moved.
        self.key = result.document
        #: The object's VersionID, once read: the key that always names the latest iteration.
        self.version_key: str | None = None
        self.key_token: str | None = None

    def run(self) -> UpdateResult:
        try:
            self._run()
        except RequestFailed as failure:
            self.result.status = "failed"
            self.result.reason = failure.reason
        return self.result

    # ------------------------------------------------------------ the algorithm

    def _run(self) -> None:
        doc_id = self.result.document
        base = self._read_latest()
        if base.etag is None:
            log.info(
                "%s: the server sends no ETags; optimistic control is unavailable, "
                "using check-out / check-in",
                doc_id,
            )
            self._via_checkout(base, "the server sends no ETags")
            return
        pending, current, merged = dict(self.changes), base, False
        while True:
            token = self.updater.next_token()
            moved = False  # the key named a past iteration: the latest is read already
            try:
                response = self._patch(self.updater.url(self.key), pending, current.etag, token)
            except Lost:
                status = 0
                self.result.conflicts.append(status)
                current = self._read_latest()
                # Another user's new iteration since clears the token on the latest; the
                # iteration written to (now a past one) still shows it.
                if self.key_token == token or self._is_own_write(current, token, pending):
                    self._succeed(merged)
                    return
                if not self._back_off(None):
                    raise RequestFailed("the response was lost and the retries are spent") from None
            else:
                status = response.status_code
                self._remember_etag(response)
                if status in (200, 204):
                    self._succeed(merged)
                    return
                self.result.conflicts.append(status)
                if error_code(response) == "NotLatestIteration":
                    # A new iteration replaced the one our key names: read the latest
                    # through the VersionID and merge, as for any new version.
                    log.info("%s: %s", self.key, error_message(response))
                    current = self._read_latest(moved=True)
                    if not self._back_off(None, wait=False):
                        raise RequestFailed(
                            "new iterations kept replacing the one written to, and the "
                            "retries are spent"
                        )
                    moved = True
                elif status == 409 and error_code(response) == "CheckedOut":
                    raise RequestFailed(f"the document is checked out: {error_message(response)}")
                elif status == 409:
                    now_etag = response.headers.get("ETag")
                    if now_etag and current.etag and now_etag != current.etag:
                        log.info("%s: 409: %s", self.key, explain_etags(current.etag, now_etag))
                    if not self._back_off(response):
                        if self.updater.check_out_fallback:
                            self._via_checkout(base, "conflicts persisted")
                            return
                        raise RequestFailed("409 Conflict persisted and the retries are spent")
                elif status in TRANSIENT_STATUSES or status >= 500:
                    if not self._back_off(response):
                        raise RequestFailed(f"HTTP {status} persisted and the retries are spent")
                elif status != 412:
                    raise RequestFailed(f"HTTP {status}: {error_message(response)}")
                if not moved:
                    current = self._read_latest()
            if not moved and status != 412 and current.version == base.version:
                continue
            # A 412, or the version moved while we waited (a concurrent edit, whatever the
            # status that made us re-read): re-sending blindly could overwrite someone else's
            # field, so merge against the state first read.
            merge = three_way_merge(base.values, self.changes, current.values)
            if not merge.clean:
                self._send_to_review(merge.conflicts, base, current)
                return
            if not merge.changes:
                self.result.merged_fields = ()
                self._succeed(True)
                return
            pending, merged = dict(merge.changes), True
            self.result.merged_fields = tuple(merge.changes)
            # A merge is not a blind retry: no need to wait, but it counts as one.
            if status == 412 and not moved and not self._back_off(None, wait=False):
                raise RequestFailed("412 Precondition Failed persisted and the retries are spent")

    def _via_checkout(self, base: _Read, why: str) -> None:
        updater = self.updater
        self.result.via_checkout = True
        log.info("%s: %s; falling back to check-out / check-in", self.key, why)
        for _ in range(2):  # once more if a new iteration replaced the one the key names
            doc_id = self.key
            try:
                response = self._post(
                    updater.wrs.action_url(doc_id, "CheckOut"), {"CheckOutNote": "update"}
                )
            except Lost:
                # The check-out may have happened without us hearing of it: leave no lock.
                self._undo(doc_id)
                raise RequestFailed("the connection broke during check-out; undone") from None
            if error_code(response) != "NotLatestIteration":
                break
            self.result.conflicts.append(response.status_code)
            self._read_latest(moved=True)  # moves self.key to the latest iteration
        if response.status_code != 200:
            self.result.conflicts.append(response.status_code)
            raise RequestFailed(
                f"check-out failed: HTTP {response.status_code}: {error_message(response)}"
            )
        working = response.json()
        working_id = str(working["ID"])
        try:
            merge = three_way_merge(base.values, self.changes, working)
            if not merge.clean:
                self._undo(doc_id)
                current = self._read_latest()
                self._send_to_review(merge.conflicts, base, current)
                return
            if not merge.changes:
                # The working copy already holds every value: a check-in would only make an
                # empty iteration.
                self._undo(doc_id)
                self._succeed(True)
                return
            self.result.attempts += 1
            patched = updater.request(
                "PATCH",
                updater.url(working_id),
                json=dict(merge.changes),
                headers={"Content-Type": "application/json"},
            )
            if patched.status_code not in (200, 204):
                raise RequestFailed(
                    f"PATCH of the working copy failed: HTTP "
                    f"{patched.status_code}: {error_message(patched)}"
                )
            checked_in = self._post(
                updater.wrs.action_url(working_id, "CheckIn"), {"CheckInNote": "update"}
            )
            if checked_in.status_code != 200:
                raise RequestFailed(
                    f"check-in failed: HTTP {checked_in.status_code}: {error_message(checked_in)}"
                )
            self._remember_etag(checked_in)
        except Lost:
            # Did the check-in happen? The original tells: no longer checked out means yes.
            # (Read through the VersionID: a check-in gives the latest iteration a new OR:.)
            try:
                current = self._read_latest()
            except RequestFailed:
                self._undo(doc_id)
                raise
            if current.values.get("CheckoutState") == "Checked in" and (
                all(current.values.get(k) == v for k, v in self.changes.items())
                or self._became_an_iteration(working_id)
            ):
                self._succeed(dict(merge.changes) != self.changes)
                return
            self._undo(doc_id)
            self.result.status = "failed"
            self.result.reason = "the connection broke during check-out / check-in; undone"
            return
        except RequestFailed:
            self._undo(doc_id)
            raise
        # "merged" when the working copy already held some of the values (a clean merge).
        self._succeed(dict(merge.changes) != self.changes)

    # ------------------------------------------------------------ steps

    def _read_latest(self, *, moved: bool = False) -> _Read:
        """Read the latest iteration and write to it from now on: by the key in use, and
        through the VersionID when that key names a past iteration (or ``moved`` says a
        write to it was refused as one)."""
        read = None if moved and self.version_key else self._read(self.key)
        #: The update token of the iteration the key names (a past one keeps its token).
        self.key_token = None if read is None else read.token
        if read is not None and read.version_id:
            self.version_key = read.version_id
        if read is None or (read.past_iteration and self.version_key):
            assert self.version_key is not None
            read = self._read(self.version_key)
        if read.id and read.id != self.key and not read.past_iteration:
            log.info("%s: the latest iteration is %s; writing there", self.key, read.id)
            self.key = read.id
            self.result.written_to = None if read.id == self.result.document else read.id
        return read

    def _read(self, doc_id: str) -> _Read:
        while True:
            try:
                response = self.updater.request("GET", self.updater.url(doc_id))
            except Lost:
                self.result.conflicts.append(0)
                if not self._back_off(None):
                    raise RequestFailed("the connection kept breaking on GET") from None
                continue
            if response.status_code == 200:
                self._remember_etag(response)
                etag = response.headers.get("ETag")
                return _Read(response.json(), etag, response.headers.get("X-Client-UpdateToken"))
            if response.status_code in TRANSIENT_STATUSES or response.status_code >= 500:
                self.result.conflicts.append(response.status_code)
                if not self._back_off(response):
                    raise RequestFailed(f"GET kept failing with HTTP {response.status_code}")
                continue
            raise RequestFailed(
                f"GET failed: HTTP {response.status_code}: {error_message(response)}"
            )

    def _patch(
        self, url: str, changes: Mapping[str, Any], etag: str | None, token: str
    ) -> requests.Response:
        self.result.attempts += 1
        headers = {
            "Content-Type": "application/json",
            "X-PTC-UpdateMode": "optimistic",
            "X-Client-UpdateToken": token,
        }
        if etag is not None:
            headers["If-Match"] = etag
        return self.updater.request("PATCH", url, json=dict(changes), headers=headers)

    def _post(self, url: str, body: Mapping[str, Any]) -> requests.Response:
        """A bound action. ``If-Match: *``: a check-out, check-in or undo is meant to happen
        whatever the document's state (the merge with the working copy deals with changes),
        and profiles that require ``If-Match`` on actions (``odata``) get one."""
        return self.updater.request(
            "POST",
            url,
            json=dict(body),
            headers={"Content-Type": "application/json", "If-Match": "*"},
        )

    def _became_an_iteration(self, working_id: str) -> bool:
        """Where iterations have their own OR:, a checked-in working copy's ID names the
        iteration it became: proof that our check-in happened (whatever came after)."""
        try:
            response = self.updater.request("GET", self.updater.url(working_id))
        except Lost:
            return False
        return response.status_code == 200 and (
            response.json().get("CheckoutState") != "Working copy"
        )

    def _undo(self, doc_id: str) -> None:
        """Undo our check-out; try twice, since leaving a lock behind is the worst outcome."""
        for _ in range(2):
            try:
                response = self._post(self.updater.wrs.action_url(doc_id, "UndoCheckOut"), {})
            except Lost:
                continue
            if response.status_code in (200, 400):  # 400: it is not checked out any more
                return
            if error_code(response) == "NotLatestIteration":
                return  # a later iteration exists: the check-out was checked in already
            if response.status_code == 409 and error_code(response) == "CheckedOut":
                return  # checked out by someone else: not our lock to undo
        log.error("%s: could not undo the check-out; the document may still be locked", doc_id)

    def _back_off(self, response: requests.Response | None, *, wait: bool = True) -> bool:
        """Sleep before the next retry; False when the policy allows no more."""
        self.retries += 1
        if not wait:
            return self.updater.policy.allows_retry(self.retries, slept=self.slept)
        retry_after = None
        if response is not None:
            retry_after = parse_retry_after(
                response.headers.get("Retry-After"),
                now=datetime.fromtimestamp(self.updater.now(), UTC),
            )
        policy = self.updater.policy
        delay = policy.delay(self.retries, retry_after=retry_after, rng=self.updater._rng)
        if not policy.allows_retry(self.retries, slept=self.slept, next_delay=delay):
            return False
        self.updater.sleep(delay)
        self.slept += delay
        self.result.delays.append(delay)
        return True

    def _is_own_write(self, current: _Read, token: str, pending: Mapping[str, Any]) -> bool:
        if current.token is not None:
            return current.token == token
        return all(current.values.get(k) == v for k, v in pending.items())

    def _send_to_review(self, conflicts: Any, base: _Read, current: _Read) -> None:
        item = ReviewItem(
            document=self.result.document,
            changes=dict(self.changes),
            conflicts=tuple(conflicts),
            base_etag=base.etag,
            current_etag=current.etag,
            reason="a field this update changes was changed by someone else since it was read",
        )
        self.result.review = item
        self.result.status = "review"
        if self.updater.review_queue is not None:
            self.updater.review_queue.put(item)
        move = explain_etags(base.etag or "", current.etag or "")
        log.warning(
            "%s: conflicting concurrent change; sent to review (ETag %s → %s%s)",
            self.result.document,
            base.etag,
            current.etag,
            "" if move.kind == "unreadable" else f": {move}",
        )

    def _remember_etag(self, response: requests.Response) -> None:
        etag = response.headers.get("ETag")
        if etag and (not self.result.etags or self.result.etags[-1] != etag):
            self.result.etags.append(etag)

    def _succeed(self, merged: bool) -> None:
        self.result.status = "merged" if merged else "applied"
