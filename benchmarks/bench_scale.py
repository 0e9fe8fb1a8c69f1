"""How request latencies grow with the number of documents, as ratios to a small mock.

    python benchmarks/bench_scale.py [--small 100] [--large 100000] [--repeat 200]

Two mocks are built in this process, one with ``--small`` demo documents and one with
``--large``; the same requests are timed on each through Flask's test client (no socket), and
each row prints the median latency on both and their ratio. The target is a ratio of at most
1.5 for the rows marked ``*``: a request about one document, or one page of them, must not
cost more because the server holds more documents.

The last rows measure what long work does to other requests: the longest a PATCH of one
document waited while a filtering scan of every document ran in another thread (target: a
few milliseconds), how long a reset request takes, and the longest a GET of a document waited
while a reset ran in another thread (target: at most 100 ms at the large size).

Nothing here fails on a slow number: the output is for reading.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask
from flask.testing import FlaskClient

from mock_server.config import MockConfig
from mock_server.core.clock import VirtualClock
from mock_server.http import create_app

AUTH = {"Authorization": "Basic " + base64.b64encode(b"wcadmin:wcadmin").decode()}
ROOT = "/Windchill/servlet/odata/DocMgmt"


@dataclass
class Mock:
    size: int
    app: Flask
    client: FlaskClient
    ids: list[str]
    nonce: str
    numbers: list[str]


def build(size: int) -> Mock:
    app = create_app(MockConfig(documents=size, journal_limit=10_000), clock=VirtualClock())
    client = app.test_client()
    nonce = _nonce(client)
    repository = app.extensions["windchill_mock"].repository
    ids = repository.ids()
    numbers = [repository.peek(ids[i])["Number"] for i in (0, len(ids) // 2, len(ids) - 1)]
    return Mock(size, app, client, ids, nonce, numbers)


def _nonce(client: FlaskClient) -> str:
    reply = client.get("/Windchill/servlet/odata/PTC/GetCSRFToken()", headers=AUTH)
    nonce: str = reply.get_json()["NonceValue"]
    return nonce


def timed(call: Callable[[], object], repeat: int) -> float:
    """Median milliseconds of ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _get(mock: Mock, url: str) -> Callable[[], object]:
    def call() -> object:
        reply = mock.client.get(url, headers=AUTH)
        assert reply.status_code == 200, (url, reply.status_code, reply.get_data(as_text=True))
        return reply

    return call


def _write_headers(mock: Mock) -> dict[str, str]:
    return {**AUTH, "CSRF_NONCE": mock.nonce, "If-Match": "*"}


def requests_for(mock: Mock) -> dict[str, Callable[[], object]]:
    middle = mock.ids[len(mock.ids) // 2]
    quoted = f"{ROOT}/Documents('{middle}')"

    def patch() -> object:
        reply = mock.client.patch(quoted, json={"Description": "x"}, headers=_write_headers(mock))
        assert reply.status_code == 200, reply.get_data(as_text=True)
        return reply

    def create_delete() -> object:
        headers = _write_headers(mock)
        created = mock.client.post(f"{ROOT}/Documents", json={"Name": "n"}, headers=headers)
        assert created.status_code == 201, created.get_data(as_text=True)
        new = created.get_json()["ID"]
        reply = mock.client.delete(f"{ROOT}/Documents('{new}')", headers=headers)
        assert reply.status_code == 204, reply.get_data(as_text=True)
        return reply

    return {
        "* GET one document": _get(mock, quoted),
        "* PATCH one document": patch,
        "* POST + DELETE a document": create_delete,
        "* first page ($top=25)": _get(mock, f"{ROOT}/Documents?$top=25"),
        "* a middle page ($skip=n/2, $top=25)": _get(
            mock, f"{ROOT}/Documents?$skip={mock.size // 2}&$top=25"
        ),
        "* $count=true&$top=0": _get(mock, f"{ROOT}/Documents?$count=true&$top=0"),
        "* $filter Number eq + $count": _get(
            mock, f"{ROOT}/Documents?$filter=Number eq '{mock.numbers[1]}'&$count=true"
        ),
        "  $filter Name eq + $count (a scan)": _get(
            mock, f"{ROOT}/Documents?$filter=Name eq 'nothing by this name'&$count=true&$top=5"
        ),
    }


def reset_figures(mock: Mock, rounds: int) -> tuple[float, float]:
    """(median ms of a reset request, longest ms a concurrent GET waited during a reset)."""
    durations, waits = [], []
    url = f"{ROOT}/Documents('{mock.ids[0]}')"
    for _ in range(rounds):
        duration, wait = during(mock, _reset, lambda: mock.app.test_client().get(url, headers=AUTH))
        durations.append(duration)
        waits.append(wait)
    return statistics.median(durations), max(waits)


def scan_figures(mock: Mock, rounds: int) -> float:
    """The longest ms a PATCH of another document waited while a filtering scan ran."""
    url = f"{ROOT}/Documents?$filter=Name eq 'nothing by this name'&$count=true"
    target = f"{ROOT}/Documents('{mock.ids[-1]}')"
    writer = mock.app.test_client()
    headers = {**AUTH, "CSRF_NONCE": _nonce(writer), "If-Match": "*"}

    def patch() -> object:
        reply = writer.patch(target, json={"Title": "t"}, headers=headers)
        assert reply.status_code == 200, reply.get_data(as_text=True)
        return reply

    waits = [during(mock, lambda m: _get(m, url)(), patch)[1] for _ in range(rounds)]
    return max(waits)


def _reset(mock: Mock) -> object:
    reply = mock.client.post("/__mock/reset", headers={"Content-Type": "application/json"})
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return reply


def during(
    mock: Mock, action: Callable[[Mock], object], probe: Callable[[], object]
) -> tuple[float, float]:
    """Run ``action`` while another thread repeats ``probe``: (ms the action took, the
    longest ms one probe took meanwhile)."""
    done = threading.Event()
    longest = 0.0

    def repeat() -> None:
        nonlocal longest
        while not done.is_set():
            start = time.perf_counter()
            probe()
            longest = max(longest, (time.perf_counter() - start) * 1000)

    thread = threading.Thread(target=repeat)
    thread.start()
    time.sleep(0.05)
    start = time.perf_counter()
    action(mock)
    duration = (time.perf_counter() - start) * 1000
    time.sleep(0.05)
    done.set()
    thread.join()
    return duration, longest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=100, help="documents in the baseline mock")
    parser.add_argument("--large", type=int, default=100_000, help="documents in the big mock")
    parser.add_argument("--repeat", type=int, default=200, help="timed calls per request")
    parser.add_argument("--resets", type=int, default=3, help="timed resets per size")
    args = parser.parse_args()

    start = time.perf_counter()
    small = build(args.small)
    built_small = time.perf_counter() - start
    # On a mock of its own, before the big one exists: the big one's objects would slow every
    # garbage collection here (and a reset forgets the CSRF session the other rows use).
    small_reset, small_wait = reset_figures(build(args.small), args.resets)
    start = time.perf_counter()
    large = build(args.large)
    built_large = time.perf_counter() - start
    print(
        f"built {args.small} documents in {built_small:.2f} s, {args.large} in {built_large:.2f} s"
    )
    print(f"median ms of {args.repeat} calls; * = target ratio <= 1.5\n")
    print(f"{'request':40} {args.small:>10} {args.large:>10} {'ratio':>7}")
    small_calls, large_calls = requests_for(small), requests_for(large)
    for name in small_calls:
        a = timed(small_calls[name], args.repeat)
        b = timed(large_calls[name], args.repeat)
        print(f"{name:40} {a:10.3f} {b:10.3f} {b / a:7.2f}")
    small_scan, large_scan = scan_figures(small, args.resets), scan_figures(large, args.resets)
    print(
        f"{'  longest PATCH wait during a scan':40} {small_scan:10.3f} {large_scan:10.3f} "
        f"{large_scan / small_scan:7.2f}   (target: a few ms)"
    )
    large_reset, large_wait = reset_figures(large, args.resets)
    ratio = large_reset / small_reset
    print(f"{'  reset request':40} {small_reset:10.3f} {large_reset:10.3f} {ratio:7.2f}")
    print(
        f"{'  longest GET wait during a reset':40} {small_wait:10.3f} {large_wait:10.3f} "
        f"{large_wait / small_wait:7.2f}   (target at {args.large}: <= 100 ms)"
    )


if __name__ == "__main__":
    main()
