"""What ``windchill-mock check`` costs per example in each language, and what a tenant costs.

    python benchmarks/bench_check.py [--examples N] [--seed S] [--reference-rounds K]
                                     [--rounds R] [--tenants T]

Three parts, each against a baseline measured in the same run:

check
    the same list of generated examples (schedules and changes, drawn once by a seeded
    Hypothesis run, see :func:`draw_examples`) run through the engine of
    ``windchill-mock check`` (``_Runner``: a tenant per example on a live in-process server,
    the client as a command, the journal judged) with the example clients in Node, Java and
    Python, and, as the baseline, through the in-process reference client
    (``WindchillFactory.scenario`` + ``DocumentUpdater`` + ``check_update``: no subprocess,
    no socket, backoff in virtual time). A language whose toolchain is missing is skipped.
tenant churn
    ``POST /__mock/tenants`` then ``DELETE /__mock/tenants/<id>`` over one ``requests``
    session on a live server, with an empty body and with the body the plugin sends, against
    ``GET /__mock/health`` on the same session.
tenant memory
    ``tracemalloc`` of ``T`` live tenants, empty and holding one document each (Flask's test
    client, in process), against the server's own estimate (``GET /__mock/tenants``, the sum
    its memory cap uses), and the memory of the bare app before any tenant.

No number is checked against a threshold: the output is for reading, not for pass/fail.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import requests
from hypothesis import HealthCheck, Phase, given, settings

from mock_server import MockConfig
from mock_server.core import SystemClock
from mock_server.http import create_app
from mock_server.http.tenants import OBJECT_BYTES, TENANT_BASE_BYTES
from mock_server.server import LiveServer
from pytest_windchill.backends import config_changes
from pytest_windchill.checkrun import CheckSettings, _Runner, scaled_policy, serving
from pytest_windchill.checks import ConcurrencyViolation
from pytest_windchill.client import RetryPolicy
from pytest_windchill.scenarios import WindchillFactory
from pytest_windchill.schedules import ConflictSchedule
from pytest_windchill.strategies import changes as change_sets
from pytest_windchill.strategies import conflict_schedules

ROOT = Path(__file__).resolve().parents[1]
#: The example clients' own retry policy, in real seconds (as declared to the checker).
POLICY = RetryPolicy(max_retries=3, base_delay=0.05, max_delay=0.4, jitter=0)
TIME_SCALE = 10.0
MAX_REQUEST = 4
MIB = 2**20
#: Untimed rounds of the tenant churn before the timed ones.
WARM_UP = 10


@dataclass(frozen=True)
class Example:
    schedule: ConflictSchedule
    changes: dict[str, Any]

    def key(self) -> str:
        return json.dumps([self.schedule.to_json(), self.changes], sort_keys=True)


@dataclass
class Client:
    """One client's pass over the examples."""

    label: str
    #: Real seconds per example: the whole example, and the part spent in the client itself.
    seconds: list[float] = field(default_factory=list)
    in_client: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(self.seconds)

    @property
    def mean(self) -> float:
        return self.total / len(self.seconds)


# ---------------------------------------------------------------- the examples


def draw_examples(count: int, seed: int) -> list[Example]:
    """The first ``count`` distinct examples of a seeded Hypothesis run, generation only.

    The same strategies as ``windchill-mock check`` with ``--max-request 4``. Twice as many
    are drawn as needed, because the check's engine runs a repeated example only once.
    """
    drawn: dict[str, Example] = {}

    @hypothesis.seed(seed)
    @settings(
        max_examples=2 * count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(schedule=conflict_schedules(max_request=MAX_REQUEST), changes=change_sets())
    def collect(schedule: ConflictSchedule, changes: dict[str, Any]) -> None:
        example = Example(schedule, changes)
        if len(drawn) < count:
            drawn.setdefault(example.key(), example)

    collect()
    return list(drawn.values())


def fingerprint(examples: list[Example]) -> str:
    text = json.dumps([[e.schedule.to_json(), e.changes] for e in examples], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# ---------------------------------------------------------------- part 1: check


def run_reference(examples: list[Example], policy: RetryPolicy, rounds: int) -> Client:
    """The in-process reference client over every example, ``rounds`` times after a warm-up;
    each example's time is its median over the rounds."""
    factory = WindchillFactory(lambda: MockConfig())
    client = Client("in-process reference client")
    per_example: list[list[float]] = [[] for _ in examples]
    in_client: list[list[float]] = [[] for _ in examples]
    for round_number in range(rounds + 1):  # round 0: the warm-up, not timed
        for index, example in enumerate(examples):
            started = time.perf_counter()
            with factory.scenario(example.schedule) as mock:
                updating = time.perf_counter()
                result = mock.updater(policy).update(mock.doc, example.changes)
                updated = time.perf_counter()
                try:
                    mock.check_update(mock.doc, example.changes, result, policy=policy)
                    violation = None
                except ConcurrencyViolation as error:
                    violation = error.property
            finished = time.perf_counter()
            if round_number == 0:
                client.outcomes[result.status] += 1
                if violation is not None:
                    client.violations.append(f"example {index + 1}: {violation}")
                continue
            per_example[index].append(finished - started)
            in_client[index].append(updated - updating)
    client.seconds = [statistics.median(times) for times in per_example]
    client.in_client = [statistics.median(times) for times in in_client]
    return client


def run_command(
    label: str, command: Sequence[str], examples: list[Example], base: str, cwd: str
) -> Client:
    """``command`` under the check's engine, once over every example."""
    check = CheckSettings(
        command=tuple(command), policy=POLICY, time_scale=TIME_SCALE, timeout=60, cwd=cwd
    )
    runner = _Runner(check, base, on_example=None)
    client = Client(label)
    for index, example in enumerate(examples):
        started = time.perf_counter()
        ran = runner(example.schedule, example.changes, "generate")
        client.seconds.append(time.perf_counter() - started)
        client.in_client.append(ran.wall_seconds)
        client.outcomes[ran.run.outcome if ran.run and ran.run.outcome else "none"] += 1
        if ran.violation is not None:
            client.violations.append(f"example {index + 1}: {ran.violation}")
    return client


@contextmanager
def java_build() -> Iterator[str | None]:
    """A temporary directory with ``UpdateDocument`` compiled into it (``None`` if javac
    failed: the reason is printed)."""
    with tempfile.TemporaryDirectory(prefix="bench-check-java-") as build:
        started = time.perf_counter()
        compiled = subprocess.run(
            ["javac", "-d", build, str(ROOT / "examples" / "java" / "UpdateDocument.java")],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if compiled.returncode != 0:
            print(f"java: skipped, javac failed:\n{compiled.stderr}")
            yield None
        else:
            print(f"java: compiled in {time.perf_counter() - started:.1f} s (not timed below)")
            yield build


def missing(*tools: str) -> str | None:
    return next((tool for tool in tools if shutil.which(tool) is None), None)


def part_check(count: int, seed: int, reference_rounds: int) -> None:
    examples = draw_examples(count, seed)
    n = len(examples)
    kinds = Counter(step.action.kind for e in examples for step in e.schedule)
    print("== windchill-mock check: examples per second, by client ==")
    print(
        f"examples: {n} (seed {seed}, fingerprint {fingerprint(examples)}, "
        f"Hypothesis {hypothesis.__version__}; max_request {MAX_REQUEST})"
    )
    print(f"interventions: {sum(kinds.values())} ({_counts(kinds.most_common())})")
    print(
        f"policy: {POLICY.max_retries} retries, base_delay {POLICY.base_delay:g} s, "
        f"max_delay {POLICY.max_delay:g} s, jitter {POLICY.jitter:g}; "
        f"time_scale {TIME_SCALE:g} (the reference client: the same policy in mock seconds)"
    )

    # The check judges a client against its policy scaled to the mock's seconds; the
    # reference client sleeps in the mock's (virtual) seconds, so it gets the scaled policy.
    reference = run_reference(examples, scaled_policy(POLICY, TIME_SCALE), reference_rounds)
    clients = [reference]
    cwd = str(ROOT)
    with serving(None, MockConfig()) as base:
        absent = missing("node")
        if absent:
            print(f"node: skipped, {absent} is not installed")
        else:
            command = ["node", str(ROOT / "examples" / "node" / "update-document.mjs")]
            clients.append(run_command("node update-document.mjs", command, examples, base, cwd))
        absent = missing("javac", "java")
        if absent:
            print(f"java: skipped, {absent} is not installed")
        else:
            with java_build() as build:
                if build is not None:
                    command = ["java", "-cp", build, "UpdateDocument"]
                    clients.append(run_command("java UpdateDocument", command, examples, base, cwd))
        command = [sys.executable, str(ROOT / "tests" / "external" / "update_client.py")]
        clients.append(run_command("python update_client.py", command, examples, base, cwd))

    print(
        f"real time; the reference client: median of {reference_rounds} rounds per example, "
        "the others: one run each"
    )
    print()
    header = f"{'client':<30} {'examples/s':>10} {'mean s':>8} {'max s':>7} {'in client':>9}"
    print(f"{header} {'passed':>7} {'x ref mean':>10} {'x ref max':>9}")
    for client in clients:
        passed = n - len(client.violations)
        print(
            f"{client.label:<30} {n / client.total:>10.1f} {client.mean:>8.3f} "
            f"{max(client.seconds):>7.3f} {statistics.fmean(client.in_client):>9.3f} "
            f"{passed:>3}/{n:<3} {_ratio(client.mean / reference.mean):>10} "
            f"{_ratio(max(client.seconds) / max(reference.seconds)):>9}"
        )
    print()
    for client in clients:
        print(f"outcomes, {client.label}: {_counts(sorted(client.outcomes.items()))}")
    violations = [(c.label, v) for c in clients for v in c.violations]
    if not violations:
        print("violations: none")
    for label, violation in violations:
        print(f"violation, {label}: {violation}")


# ---------------------------------------------------------------- part 2: tenant churn


def part_churn(rounds: int) -> None:
    plugin_body = {**config_changes(MockConfig()), "clock": "virtual"}
    timings: dict[str, list[float]] = {
        key: [] for key in ("health", "create", "delete", "create plugin", "delete plugin")
    }
    app = create_app(MockConfig(max_tenants=5000), clock=SystemClock())
    with LiveServer(app) as server, requests.Session() as session:
        admin = f"{server.url}/__mock"

        def timed(key: str, method: str, url: str, **kwargs: Any) -> Any:
            started = time.perf_counter()
            response = session.request(method, url, **kwargs)
            response.raise_for_status()
            timings[key].append(time.perf_counter() - started)
            return response

        for _ in range(WARM_UP + rounds):
            timed("health", "GET", f"{admin}/health")
            made = timed("create", "POST", f"{admin}/tenants", json={}).json()
            timed("delete", "DELETE", f"{admin}/tenants/{made['id']}")
            made = timed("create plugin", "POST", f"{admin}/tenants", json=plugin_body).json()
            timed("delete plugin", "DELETE", f"{admin}/tenants/{made['id']}")
    for key in timings:  # the warm-up rounds are not counted
        del timings[key][:WARM_UP]

    def both(create: str, delete: str) -> list[float]:
        return [a + b for a, b in zip(timings[create], timings[delete], strict=True)]

    rows = [
        ("GET /__mock/health", timings["health"]),
        ("POST /__mock/tenants {}", timings["create"]),
        ("DELETE /__mock/tenants/<id>", timings["delete"]),
        ("create + delete, body {}", both("create", "delete")),
        ("POST /__mock/tenants, plugin's body", timings["create plugin"]),
        ("create + delete, plugin's body", both("create plugin", "delete plugin")),
    ]
    health = statistics.fmean(timings["health"])
    print()
    print("== tenants: the cost of creating and deleting one ==")
    print(
        f"{rounds} rounds on one requests.Session, live server on loopback, interleaved, "
        f"after {WARM_UP} rounds of warm-up"
    )
    print(f"plugin's body: {len(json.dumps(plugin_body))} bytes of JSON ({', '.join(plugin_body)})")
    print()
    print(f"{'request':<38} {'mean ms':>8} {'median ms':>10} {'x health':>9}")
    for label, seconds in rows:
        mean = statistics.fmean(seconds)
        print(
            f"{label:<38} {mean * 1000:>8.2f} {statistics.median(seconds) * 1000:>10.2f} "
            f"{mean / health:>9.2f}"
        )


# ---------------------------------------------------------------- part 3: tenant memory


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def part_memory(count: int) -> None:
    tracemalloc.start()
    before = traced()
    app = create_app(MockConfig(max_tenants=max(5000, count + 10)))
    client = app.test_client()
    client.get("/__mock/health").get_json()  # the first request builds what Flask caches
    bare = traced() - before

    def create(with_document: bool) -> str:
        made = client.post("/__mock/tenants", json={})
        if made.status_code != 201:
            raise RuntimeError(made.get_data(as_text=True))
        tenant_id: str = made.get_json()["id"]
        if with_document:
            posted = client.post(f"/(S({tenant_id}))/__mock/documents", json={"Name": "x"})
            if posted.status_code >= 300:
                raise RuntimeError(posted.get_data(as_text=True))
        return tenant_id

    def delete(ids: Iterable[str]) -> None:
        for tenant_id in ids:
            client.delete(f"/__mock/tenants/{tenant_id}")

    def estimate() -> tuple[int, int]:
        summary = client.get("/__mock/tenants").get_json()
        return summary["bytes"], summary["live"]

    delete([create(True), create(False)])  # warm-up: the first tenant, the first document
    rows = []
    for label, with_document in (("empty", False), ("one document each", True)):
        start = traced()
        ids: list[str] = []
        seconds: list[float] = []
        for _ in range(count):
            started = time.perf_counter()
            ids.append(create(with_document))
            seconds.append(time.perf_counter() - started)
        measured = traced() - start
        estimated, live = estimate()
        if live != count:
            raise RuntimeError(f"{live} tenants live, {count} expected")
        rows.append((label, measured, estimated, seconds))
        delete(ids)
    after = traced() - start
    tracemalloc.stop()

    print()
    print(f"== tenants: memory of {count} live tenants (tracemalloc, Flask test client) ==")
    print(
        f"bare app (create_app + first request): {bare / MIB:.2f} MiB; the server's estimate "
        f"per tenant: {TENANT_BASE_BYTES} B + {OBJECT_BYTES} B per object + its journal"
    )
    print()
    print(
        f"{'tenants':<20} {'B/tenant':>9} {'MiB':>7} {'est B/tenant':>13} {'est MiB':>8} "
        f"{'measured/est':>12} {'x bare app':>10} {'create s':>8}"
    )
    for label, measured, estimated, seconds in rows:
        print(
            f"{label:<20} {measured / count:>9.0f} {measured / MIB:>7.2f} "
            f"{estimated / count:>13.0f} {estimated / MIB:>8.2f} {measured / estimated:>12.2f} "
            f"{measured / bare:>10.2f} {sum(seconds):>8.2f}"
        )
    (_, empty, empty_est, _), (_, full, full_est, _) = rows
    print(
        f"{'the document alone':<20} {(full - empty) / count:>9.0f} {'':>7} "
        f"{(full_est - empty_est) / count:>13.0f} {'':>8} "
        f"{(full - empty) / (full_est - empty_est):>12.2f}"
    )
    print(f"left after deleting the last {count}: {after / 1024:.0f} KiB")
    tenth = max(1, count // 10)
    for label, _, _, seconds in rows:
        first = statistics.fmean(seconds[:tenth]) * 1000
        last = statistics.fmean(seconds[-tenth:]) * 1000
        print(
            f"creating one ({label}; traced, so slower than untraced): first {tenth}: "
            f"{first:.2f} ms each, last {tenth}: {last:.2f} ms each, x{last / first:.2f}"
        )


# ---------------------------------------------------------------- output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=20, help="generated examples (20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the examples (0)")
    parser.add_argument(
        "--reference-rounds",
        type=int,
        default=5,
        help="rounds of the in-process reference client; medians shown (5)",
    )
    parser.add_argument(
        "--rounds", type=int, default=200, help="tenant create + delete rounds (200)"
    )
    parser.add_argument(
        "--tenants", type=int, default=1000, help="live tenants for the memory part (1000)"
    )
    args = parser.parse_args(argv)
    # The reference client logs every review at WARNING; they would bury the tables.
    logging.getLogger("pytest_windchill.client").setLevel(logging.ERROR)

    part_check(args.examples, args.seed, args.reference_rounds)
    part_churn(args.rounds)
    part_memory(args.tenants)


def _ratio(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


def _counts(items: Iterable[tuple[str, int]]) -> str:
    return ", ".join(f"{name} {count}" for name, count in items)


if __name__ == "__main__":
    main()
