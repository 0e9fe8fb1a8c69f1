"""Updating several objects at once, all or nothing: one ``$batch`` change set.

``DocumentUpdater.update_batch({doc_id: changes, ...})`` reads every object, sends one
change set of conditional PATCHes (OData 4.01 JSON batch format), and then:

* every PATCH succeeded → each object is ``applied`` (or ``merged``);
* the change set failed → **nothing** was applied (a change set is atomic), whichever request
  failed: on a conflict (409/412, ``NotLatestIteration``) or an overloaded server it backs
  off, reads every object again (through the ``VersionID`` when a new iteration replaced the
  one its key names), merges each against its first read, and sends the whole change set
  again; a field someone else changed sends the change set to review (every object reports
  ``review``; nothing is written);
* the response was lost → read every iteration written to: the change set was applied if any
  shows its ``X-Client-UpdateToken`` (it is atomic; a later iteration by another user leaves
  it on the past one; where the server keeps no tokens, if an object holds its values);
  otherwise, retry;
* retries spent, or another refusal → every object reports ``failed``.

All objects must be of one kind (one domain's ``$batch``).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import requests

from ..outcomes import TRANSIENT_STATUSES, UpdateResult
from .merge import three_way_merge
from .policy import RetryPolicy, parse_retry_after
from .review import ReviewItem, ReviewQueue
from .wrs import Lost, RequestFailed, entity_set_of

__all__ = ["BatchRun"]

log = logging.getLogger("pytest_windchill.client")


class Updater(Protocol):
    """What a batch needs of the ``DocumentUpdater`` that runs it."""

    service_root: str
    policy: RetryPolicy
    sleep: Callable[[float], None]
    now: Callable[[], float]
    review_queue: ReviewQueue | None
    _rng: random.Random

    def url(self, doc_id: str, suffix: str = "") -> str: ...
    def next_token(self) -> str: ...
    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response: ...


class BatchRun:
    """One all-or-nothing update of several objects."""

    def __init__(self, updater: Updater, updates: Mapping[str, Mapping[str, Any]]):
        if not updates:
            raise ValueError("update_batch needs at least one object to update")
        domains = {entity_set_of(doc_id)[0] for doc_id in updates}
        if len(domains) > 1:
            raise ValueError(
                f"one change set updates objects of one domain, got {sorted(domains)}; "
                "call update_batch once per kind"
            )
        self.updater = updater
        self.domain = domains.pop()
        self.changes = {doc_id: dict(values) for doc_id, values in updates.items()}
        together = tuple(updates)
        self.results = {doc_id: UpdateResult(document=doc_id, batch=together) for doc_id in updates}
        self.keys = {doc_id: doc_id for doc_id in updates}
        self.retries = 0
        self.slept = 0.0

    def run(self) -> dict[str, UpdateResult]:
        try:
            self._run()
        except RequestFailed as failure:
            for result in self.results.values():
                if result.status not in ("applied", "merged", "review"):
                    result.status, result.reason = "failed", failure.reason
        return self.results

    def _run(self) -> None:
        bases = {doc_id: self._read(doc_id) for doc_id in self.changes}
        if any(etag is None for _, etag in bases.values()):
            raise RequestFailed(
                "the server sends no ETags: a change set of unconditional PATCHes could "
                "overwrite other users' changes; update each object with update(), which "
                "checks it out"
            )
        pending = dict(self.changes)
        merged: set[str] = set()
        while True:
            token = self.updater.next_token()
            try:
                responses = self._send(pending, {d: bases[d][1] for d in pending}, token)
            except Lost:
                self._note_all(0)
                # Applied or not, the change set is one: our token on any of the iterations
                # written to says it was. Read them by the keys written to: another user's
                # new iteration since (which clears the token) leaves them as past ones.
                seen = [self._get(self.keys[d])[2] for d in pending]
                currents = {doc_id: self._read(doc_id) for doc_id in self.changes}
                # Without tokens, an object holding its values says so (it is one change set).
                if token in seen or (
                    not any(seen) and any(_holds(currents[d][0], pending[d]) for d in pending)
                ):
                    self._succeed(merged)
                    return
                if not self._back_off(None):
                    raise RequestFailed("the response was lost and the retries are spent") from None
                bases_now = currents
            else:
                if all(200 <= r["status"] < 300 for r in responses):
                    self._succeed(merged)
                    return
                failed = next(r for r in responses if r["status"] >= 300)
                status = int(failed["status"])
                self._note_all(status)
                code = _error_code(failed)
                if status not in (409, 412, *TRANSIENT_STATUSES) and status < 500:
                    raise RequestFailed(f"the change set failed with HTTP {status} ({code})")
                wait = status != 412 and code != "NotLatestIteration"
                if not self._back_off(failed, wait=wait):
                    raise RequestFailed(
                        f"the change set kept failing (HTTP {status}) and the retries are spent"
                    )
                bases_now = {doc_id: self._read(doc_id) for doc_id in self.changes}
            # Merge every object against its first read: a field someone else changed since
            # sends the object to review, and then nothing is written.
            next_pending: dict[str, dict[str, Any]] = {}
            for doc_id, changes in self.changes.items():
                base_values, base_etag = bases[doc_id]
                current_values, current_etag = bases_now[doc_id]
                merge = three_way_merge(base_values, changes, current_values)
                if not merge.clean:
                    self._review(doc_id, merge.conflicts, base_etag, current_etag)
                    return
                if dict(merge.changes) != changes:
                    merged.add(doc_id)
                next_pending[doc_id] = dict(merge.changes) or dict(changes)
            pending = next_pending
            bases = {d: (bases[d][0], bases_now[d][1]) for d in bases}

    # ------------------------------------------------------------ steps

    def _read(self, doc_id: str) -> tuple[dict[str, Any], str | None]:
        """The latest iteration's values and ETag (through the VersionID when the key names
        a past iteration); writes go to the latest's ID from then on."""
        key = self.keys[doc_id]
        values, etag, _ = self._get(key)
        if values.get("Latest") is False and isinstance(values.get("VersionID"), str):
            values, etag, _ = self._get(str(values["VersionID"]))
        if isinstance(values.get("ID"), str) and values["ID"] != key:
            self.keys[doc_id] = str(values["ID"])
            self.results[doc_id].written_to = str(values["ID"])
        if etag:
            self.results[doc_id].etags.append(etag)
        return values, etag

    def _get(self, key: str) -> tuple[dict[str, Any], str | None, str | None]:
        while True:
            try:
                response = self.updater.request("GET", self.updater.url(key))
            except Lost:
                if not self._back_off(None):
                    raise RequestFailed("the connection kept breaking on GET") from None
                continue
            if response.status_code == 200:
                headers = response.headers
                return response.json(), headers.get("ETag"), headers.get("X-Client-UpdateToken")
            if response.status_code in TRANSIENT_STATUSES or response.status_code >= 500:
                if not self._back_off(None):
                    raise RequestFailed(f"GET kept failing with HTTP {response.status_code}")
                continue
            raise RequestFailed(f"GET {key} failed: HTTP {response.status_code}")

    def _send(
        self,
        pending: Mapping[str, Mapping[str, Any]],
        etags: Mapping[str, str | None],
        token: str,
    ) -> list[dict[str, Any]]:
        requests_ = []
        for number, (doc_id, changes) in enumerate(pending.items(), 1):
            headers = {"Content-Type": "application/json", "X-Client-UpdateToken": token}
            etag = etags.get(doc_id)
            if etag is not None:
                headers["If-Match"] = etag
            _, entity_set = entity_set_of(self.keys[doc_id])
            requests_.append(
                {
                    "id": str(number),
                    "atomicityGroup": "update",
                    "method": "PATCH",
                    "url": f"{entity_set}('{self.keys[doc_id]}')",
                    "headers": headers,
                    "body": dict(changes),
                }
            )
            self.results[doc_id].attempts += 1
        url = f"{self.updater.service_root}/{self.domain}/$batch"
        response = self.updater.request(
            "POST",
            url,
            data=json.dumps({"requests": requests_}),
            headers={"Content-Type": "application/json"},
        )
        if response.status_code != 200:
            raise RequestFailed(f"$batch failed: HTTP {response.status_code}")
        answers: list[dict[str, Any]] = response.json()["responses"]
        return answers

    def _back_off(self, failed: Mapping[str, Any] | None, *, wait: bool = True) -> bool:
        self.retries += 1
        policy = self.updater.policy
        if not wait:
            return policy.allows_retry(self.retries, slept=self.slept)
        retry_after = None
        if failed is not None:
            value = (failed.get("headers") or {}).get("Retry-After")
            now = datetime.fromtimestamp(self.updater.now(), UTC)
            retry_after = parse_retry_after(value if isinstance(value, str) else None, now=now)
        delay = policy.delay(self.retries, retry_after=retry_after, rng=self.updater._rng)
        if not policy.allows_retry(self.retries, slept=self.slept, next_delay=delay):
            return False
        self.updater.sleep(delay)
        self.slept += delay
        for result in self.results.values():
            result.delays.append(delay)
        return True

    def _note_all(self, status: int) -> None:
        for result in self.results.values():
            result.conflicts.append(status)

    def _succeed(self, merged: set[str]) -> None:
        for doc_id, result in self.results.items():
            result.status = "merged" if doc_id in merged else "applied"

    def _review(
        self, doc_id: str, conflicts: Any, base_etag: str | None, current_etag: str | None
    ) -> None:
        item = ReviewItem(
            document=doc_id,
            changes=dict(self.changes[doc_id]),
            conflicts=tuple(conflicts),
            base_etag=base_etag,
            current_etag=current_etag,
            reason="a field this update changes was changed by someone else since it was read",
        )
        # The change set goes to review as a whole: nothing of it was written.
        for other, result in self.results.items():
            result.status, result.review = "review", item
            if other != doc_id:
                result.reason = f"updated together with {doc_id}, which went to review"
        if self.updater.review_queue is not None:
            self.updater.review_queue.put(item)
        log.warning("%s: conflicting concurrent change; the change set went to review", doc_id)


def _holds(values: Mapping[str, Any], changes: Mapping[str, Any]) -> bool:
    return all(values.get(name) == value for name, value in changes.items())


def _error_code(answer: Mapping[str, Any]) -> str | None:
    body = answer.get("body")
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        code = body["error"].get("code")
        return code if isinstance(code, str) else None
    return None
