"""16 threads x 200 conditional PATCHes on one document, over real sockets.

Each thread keeps one ``requests.Session`` (one keep-alive connection) and, 200 times, reads
the ETag and sends ``PATCH`` with ``If-Match`` and a value no other write uses. There is no
retry, so the work is bounded: exactly 3,200 PATCHes. Afterwards the mock's journal must
show that the compare-and-set was atomic: every acknowledged write is in the history, the
successful writes form one ETag chain, every refusal left the document as it was, and the
document holds the last acknowledged write.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests
from live_support import AUTH, DOCUMENTS, TIMEOUT, document_url, journal

from mock_server import LiveServer, MockConfig, create_app
from mock_server.core.clock import VirtualClock
from mock_server.core.repository import MODIFIED_BY_ANOTHER_PROCESS

THREADS = 16
PATCHES_PER_THREAD = 200


@dataclass(frozen=True)
class Attempt:
    value: str
    if_match: str
    status: int
    etag: str | None
    description: str | None


def _writer(url: str, thread: int, start: threading.Barrier) -> list[Attempt]:
    attempts = []
    with requests.Session() as session:
        session.auth = AUTH
        start.wait(timeout=TIMEOUT)
        for i in range(PATCHES_PER_THREAD):
            read = session.get(url, timeout=TIMEOUT)
            assert read.status_code == 200, read.text
            etag = read.headers["ETag"]
            value = f"t{thread}-{i}"
            response = session.patch(
                url, json={"Description": value}, headers={"If-Match": etag}, timeout=TIMEOUT
            )
            if response.status_code == 409:
                assert response.json()["error"]["message"] == MODIFIED_BY_ANOTHER_PROCESS
            attempts.append(
                Attempt(
                    value=value,
                    if_match=etag,
                    status=response.status_code,
                    etag=response.headers.get("ETag"),
                    description=response.json().get("Description"),
                )
            )
    return attempts


def test_concurrent_conditional_patches_lose_no_acknowledged_write_and_form_one_etag_chain(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # waitress warns each time a request waits for a worker; under this load that is noise.
    caplog.set_level(logging.ERROR, logger="waitress.queue")
    app = create_app(MockConfig(csrf=False), clock=VirtualClock())
    with LiveServer(app, threads=THREADS) as server, requests.Session() as admin:
        admin.auth = AUTH
        created = admin.post(
            server.url + DOCUMENTS, json={"Name": "Contended document"}, timeout=TIMEOUT
        )
        assert created.status_code == 201, created.text
        doc_id = created.json()["ID"]
        url = document_url(server.url, doc_id)

        started = time.perf_counter()
        start = threading.Barrier(THREADS)
        with ThreadPoolExecutor(THREADS) as pool:
            futures = [pool.submit(_writer, url, t, start) for t in range(THREADS)]
            attempts = [a for future in futures for a in future.result()]
        elapsed = time.perf_counter() - started

        history = journal(admin, server.url, doc_id)
        final = admin.get(url, timeout=TIMEOUT)

    statuses = Counter(a.status for a in attempts)
    acknowledged = {a.value: a for a in attempts if a.status == 200}
    print(f"{len(attempts)} PATCHes in {elapsed:.1f}s: {dict(statuses)}")

    # The clients: only success or the thread's 409; nothing changes the iteration, so no 412.
    assert len(attempts) == THREADS * PATCHES_PER_THREAD
    assert set(statuses) <= {200, 409}, statuses
    assert statuses[200] >= THREADS, f"too few writes succeeded to judge anything: {statuses}"
    assert statuses[409] > 0, f"the threads never raced each other: {statuses}"
    for attempt in acknowledged.values():
        assert attempt.description == attempt.value
        assert attempt.etag is not None
        assert attempt.etag != attempt.if_match

    # The history: one outcome per operation, in the order the store lock granted.
    history.sort(key=lambda e: e["seq"])
    invokes = {e["op_id"]: e for e in history if e["type"] == "invoke"}
    outcomes = [e for e in history if e["type"] in ("ok", "fail", "info")]
    # (The create's ``invoke`` names no document yet, so the per-document journal omits it.)
    paired = sorted(e["op_id"] for e in outcomes if e["op"] != "create")
    assert paired == sorted(invokes), "an operation has no single outcome"
    assert not [e for e in history if e["type"] in ("background", "intervention", "info")]
    updates = Counter((e["type"], e.get("status")) for e in outcomes if e["op"] == "update")
    assert updates == {("ok", 200): statuses[200], ("fail", 409): statuses[409]}, updates

    # Every acknowledged write is in the history as ``ok``, with the ETag its client was given.
    ok_updates = [e for e in outcomes if e["op"] == "update" and e["type"] == "ok"]
    ok_values = [e["values"]["Description"] for e in ok_updates]
    assert len(ok_values) == len(set(ok_values)) == len(acknowledged)
    assert set(ok_values) == set(acknowledged)
    for event in ok_updates:
        assert event["etag_after"] == acknowledged[event["values"]["Description"]].etag

    # One chain: each state change was conditioned on the ETag left by the previous one, and
    # each refusal saw (and left) the document at the current link.
    (create,) = [e for e in outcomes if e["op"] == "create"]
    current = create["etag_after"]
    chain = [current]
    for event in outcomes:
        if event["op"] == "update" and event["type"] == "ok":
            assert invokes[event["op_id"]]["if_match"] == current, event
            current = event["etag_after"]
            chain.append(current)
        elif event["op"] == "update":
            assert event["etag_after"] == current, event
            assert invokes[event["op_id"]]["if_match"] != current, event
        elif event["op"] == "read":
            assert event["etag_after"] == current, event
    assert len(set(chain)) == len(chain), "an ETag was reused"

    # Nothing lost at the end: the document holds the last acknowledged write.
    last = ok_updates[-1]
    assert final.headers["ETag"] == last["etag_after"] == current
    assert final.json()["Description"] == last["values"]["Description"]
