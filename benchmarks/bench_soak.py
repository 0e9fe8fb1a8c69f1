"""Memory over a long run, and memory per document, of a mock configured as ``serve`` runs it.

    python benchmarks/bench_soak.py [--minutes 10] [--rps 40] [--indexer 20] [--documents 100000]

Two parts, each in this process on a virtual clock (minutes of server time pass in seconds):

soak
    The configuration of ``windchill-mock serve`` (20 demo documents, its journal bounds), with
    the indexer at ``--indexer`` events per second per document: the case where an unbounded
    journal once grew by 0.8 MB/s. Clients send ``--rps`` requests per second of server time
    (reads, conditional PATCHes with the ETag just read, pages of the collection). Every
    minute of server time prints the process's resident memory (RSS), the journal's events,
    bytes and drops, and RSS as a ratio to its value after the first minute: a bounded server
    levels off (ratio near 1) once the journal is full.
big
    ``--documents`` demo documents, then every one of them read once: RSS before, after
    creating them and after reading them, as bytes per document, against a baseline of the
    same process holding an empty mock.

RSS is read from ``/proc/self/statm`` (Linux). Nothing here fails on a big number: the output
is for reading.
"""

from __future__ import annotations

import argparse
import base64
import gc
import os
import time

from flask import Flask
from flask.testing import FlaskClient

from mock_server.cli import SERVE_JOURNAL_LIMIT, SERVE_JOURNAL_LIMIT_BYTES
from mock_server.config import SERVE_RATES, MockConfig
from mock_server.core.clock import VirtualClock
from mock_server.http import create_app, state

AUTH = {"Authorization": "Basic " + base64.b64encode(b"wcadmin:wcadmin").decode()}
ROOT = "/Windchill/servlet/odata"
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    """Resident memory of this process, in bytes."""
    gc.collect()
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def mb(size: float) -> str:
    return f"{size / 1e6:8.1f} MB"


def serve_config(**changes: object) -> MockConfig:
    defaults: dict[str, object] = {
        "rates": dict(SERVE_RATES),
        "documents": 20,
        "journal_limit": SERVE_JOURNAL_LIMIT,
        "journal_limit_bytes": SERVE_JOURNAL_LIMIT_BYTES,
    }
    return MockConfig(**{**defaults, **changes})  # type: ignore[arg-type]


def _session(app: Flask) -> tuple[FlaskClient, str]:
    client = app.test_client()
    nonce = client.get(f"{ROOT}/PTC/GetCSRFToken()", headers=AUTH).get_json()["NonceValue"]
    return client, nonce


def soak(minutes: int, rps: int, indexer: float) -> None:
    clock = VirtualClock()
    rates = {**SERVE_RATES, "indexer": indexer}
    app = create_app(serve_config(rates=rates), clock=clock)
    repository = state(app).repository
    client, nonce = _session(app)
    ids = repository.ids()
    print(
        f"soak: serve's configuration, {len(ids)} documents, indexer {indexer}/s per document, "
        f"{rps} requests per second of server time"
    )
    columns = ("minute", 6), ("RSS", 11), ("x minute 1", 10), ("events", 8), ("journal", 11)
    print(" ".join(f"{name:>{width}}" for name, width in columns), f"{'dropped':>8}")
    first = None
    requests = 0
    started = time.perf_counter()
    for minute in range(1, minutes + 1):
        for _ in range(60 * rps):
            clock.advance(1 / rps)
            doc = ids[requests % len(ids)]
            url = f"{ROOT}/DocMgmt/Documents('{doc}')"
            kind = requests % 10
            if kind < 6:
                read = client.get(url, headers=AUTH)
                if kind < 3 and read.status_code == 200:
                    client.patch(
                        url,
                        json={"Description": f"edit {requests}"},
                        headers={**AUTH, "CSRF_NONCE": nonce, "If-Match": read.headers["ETag"]},
                    )
                    requests += 1
            else:
                client.get(f"{ROOT}/DocMgmt/Documents?$top=5&$skip={kind}", headers=AUTH)
            requests += 1
        journal = repository.journal
        now = rss()
        first = first or now
        print(
            f"{minute:6} {mb(now)} {now / first:10.2f} {len(journal):8} "
            f"{mb(journal.size_bytes or 0)} {journal.dropped:8}"
        )
    wall = time.perf_counter() - started
    print(f"{requests} requests in {wall:.1f} s of wall time ({minutes} min of server time)\n")


def big(documents: int) -> None:
    baseline_app = create_app(MockConfig(), clock=VirtualClock())
    baseline = rss()
    app = create_app(serve_config(documents=documents, rates={}), clock=VirtualClock())
    created = rss()
    repository = state(app).repository
    client = app.test_client()
    for doc in repository.ids():
        reply = client.get(f"{ROOT}/DocMgmt/Documents('{doc}')", headers=AUTH)
        assert reply.status_code == 200
    read = rss()
    per_idle = (created - baseline) / documents
    per_read = (read - baseline) / documents
    journal = repository.journal
    print(f"big: {documents} documents, each read once (journal bounded as serve bounds it)")
    print(f"  baseline RSS (an empty mock)   {mb(baseline)}")
    print(f"  after creating them            {mb(created)}  {per_idle:8.0f} B per document")
    print(f"  after reading each once        {mb(read)}  {per_read:8.0f} B per document")
    kept = mb(journal.size_bytes or 0)
    print(f"  of which the journal           {kept}  ({len(journal)} events)")
    del baseline_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=10, help="minutes of server time")
    parser.add_argument("--rps", type=int, default=40, help="requests per second of server time")
    parser.add_argument("--indexer", type=float, default=20.0, help="indexer events/s/document")
    parser.add_argument("--documents", type=int, default=100_000, help="documents in part two")
    args = parser.parse_args()
    soak(args.minutes, args.rps, args.indexer)
    big(args.documents)


if __name__ == "__main__":
    main()
