"""How fast the harness runs generated conflict schedules, and what it costs over bare Flask.

    python benchmarks/bench_scenarios.py [--examples N] [--rounds R] [--seed S]

Each example is one generated ``ConflictSchedule`` plus one generated set of changes. The
examples are drawn once, before anything is timed, by a seeded Hypothesis run (see
:func:`draw_examples`), so every run with the same ``--seed``, Hypothesis version and
strategies measures the same list; the fingerprint printed with the results identifies it.

Two things are timed, in the same process and interleaved round by round:

harness
    per example: ``WindchillFactory.scenario(schedule)``, the reference ``DocumentUpdater``
    (requests session, in-process transport, virtual-time backoff), ``check_update`` on the
    journal, and the scenario's tear-down.
bare Flask
    the very requests the harness sent — method, URL, headers, body, recorded at the transport
    in an untimed pass — replayed with ``create_app(...).test_client()`` against the same
    server state: the same documents and interventions, and the virtual clock moved to where
    it stood when each request was sent. Only the requests are timed.

The ratio of the two is the harness's cost per example over the bare HTTP work. No number is
checked against a threshold: the output is for reading, not for pass/fail.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import hypothesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings

from mock_server.config import MockConfig
from mock_server.core.clock import VirtualClock
from mock_server.http import create_app, install_state
from pytest_windchill.checks import ConcurrencyViolation
from pytest_windchill.client import RetryPolicy
from pytest_windchill.scenarios import Scenario, WindchillFactory
from pytest_windchill.schedules import ConflictSchedule
from pytest_windchill.strategies import changes as change_sets
from pytest_windchill.strategies import conflict_schedules

Timer = Callable[[], float]
POLICY = RetryPolicy()
#: The document every scenario starts with (the factory's default). If it ever differs, the
#: replayed statuses stop matching the harness's, and the output says so.
DOCUMENT = {"Name": "Scenario document 1"}


@dataclass(frozen=True)
class Example:
    schedule: ConflictSchedule
    changes: dict[str, Any]


@dataclass(frozen=True)
class Request:
    """One request as the harness sent it, and what came back."""

    clock: float
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    status: int | None  # None: the mock dropped the response (lose_response)


@dataclass
class Timings:
    setup: float = 0.0
    update: float = 0.0
    check: float = 0.0
    teardown: float = 0.0

    @property
    def total(self) -> float:
        return self.setup + self.update + self.check + self.teardown


@dataclass
class Round:
    harness: Timings = field(default_factory=Timings)
    bare: float = 0.0


# ---------------------------------------------------------------- the examples


def draw_examples(count: int, seed: int) -> list[Example]:
    """``count`` examples from a seeded Hypothesis run, generation phase only.

    ``@hypothesis.seed`` fixes the random stream, so the list is the same on every run (for
    one Hypothesis version). Unlike ``.example()``, this uses Hypothesis's real generation —
    the same mix of small and large schedules a property test meets.
    """
    drawn: list[Example] = []

    @hypothesis.seed(seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(schedule=conflict_schedules(), changes=change_sets(max_size=2))
    def collect(schedule: ConflictSchedule, changes: dict[str, Any]) -> None:
        drawn.append(Example(schedule, changes))

    collect()
    return drawn


def fingerprint(examples: list[Example]) -> str:
    text = json.dumps([[e.schedule.to_json(), e.changes] for e in examples], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# ---------------------------------------------------------------- the harness


def run_harness(
    factory: WindchillFactory,
    examples: list[Example],
    clock: Timer,
    outcomes: Counter[str] | None = None,
) -> Timings:
    """Run every example through the harness, timing its four parts."""
    timings = Timings()
    for example in examples:
        started = clock()
        with factory.scenario(example.schedule) as mock:
            entered = clock()
            result = mock.updater(POLICY).update(mock.doc, example.changes)
            updated = clock()
            try:
                mock.check_update(mock.doc, example.changes, result, policy=POLICY)
                verdict = result.status
            except ConcurrencyViolation as violation:
                verdict = f"violation: {violation.property}"
            checked = clock()
        finished = clock()
        timings.setup += entered - started
        timings.update += updated - entered
        timings.check += checked - updated
        timings.teardown += finished - checked
        if outcomes is not None:
            outcomes[verdict] += 1
    return timings


@contextmanager
def recording(mock: Scenario, into: list[Request]) -> Iterator[None]:
    """Record every request ``mock.session`` sends, with the virtual time it was sent at."""
    adapter = mock.session.get_adapter(mock.service_root)
    send: Callable[..., Any] = adapter.send

    def record(request: Any, **kwargs: Any) -> Any:
        body = request.body or b""
        sent = Request(
            clock=mock.clock.now(),
            method=request.method,
            url=request.url,
            headers=tuple(request.headers.items()),
            body=body.encode() if isinstance(body, str) else body,
            status=None,
        )
        try:
            response = send(request, **kwargs)
        except Exception:
            into.append(sent)  # a dropped response: status stays None
            raise
        into.append(dataclasses.replace(sent, status=response.status_code))
        return response

    adapter.send = record  # type: ignore[method-assign]
    try:
        yield
    finally:
        adapter.send = send  # type: ignore[method-assign]


def record_requests(factory: WindchillFactory, examples: list[Example]) -> list[list[Request]]:
    """The harness's requests for every example (an untimed pass)."""
    recorded = []
    for example in examples:
        requests: list[Request] = []
        with factory.scenario(example.schedule) as mock, recording(mock, requests):
            mock.updater(POLICY).update(mock.doc, example.changes)
        recorded.append(requests)
    return recorded


# ---------------------------------------------------------------- bare Flask


def fresh_state(app: Flask, config: MockConfig, schedule: ConflictSchedule) -> VirtualClock:
    """Give ``app`` the state a scenario starts from: one document, the schedule injected."""
    clock = VirtualClock()
    repository = install_state(app, config, clock=clock).repository
    doc_id = repository.add_document(DOCUMENT)
    for step in schedule:
        repository.inject(step.intervention(doc_id))
    return clock


def replay(
    app: Flask,
    config: MockConfig,
    examples: list[Example],
    recorded: list[list[Request]],
    clock: Timer,
) -> tuple[float, int, int]:
    """Send the recorded requests with Flask's test client; time only the requests.

    Returns the seconds spent, and how many responses had the status the harness saw.
    """
    client = app.test_client(use_cookies=False)  # the recorded Cookie headers are sent as-is
    spent, same, total = 0.0, 0, 0
    for example, requests in zip(examples, recorded, strict=True):
        virtual = fresh_state(app, config, example.schedule)
        for request in requests:
            if request.clock > virtual.now():
                virtual.advance(request.clock - virtual.now())
            started = clock()
            response = client.open(
                request.url,
                method=request.method,
                headers=[(k, v) for k, v in request.headers if k.lower() != "content-length"],
                data=request.body,
            )
            spent += clock() - started
            status = None if _truncated(response) else response.status_code
            same += status == request.status
            total += 1
    return spent, same, total


def _truncated(response: Any) -> bool:
    """A dropped response (``lose_response``): the body is shorter than announced."""
    announced = response.headers.get("Content-Length")
    return announced is not None and int(announced) != len(response.get_data())


# ---------------------------------------------------------------- output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=200, help="examples per round (200)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; medians shown (3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the examples (0)")
    parser.add_argument(
        "--wall", action="store_true", help="time with the wall clock instead of CPU time"
    )
    args = parser.parse_args(argv)
    clock: Timer = time.perf_counter if args.wall else time.process_time
    # The reference client logs every review at WARNING; a few hundred lines would bury the table.
    logging.getLogger("pytest_windchill.client").setLevel(logging.ERROR)

    config = MockConfig()
    examples = draw_examples(args.examples, args.seed)
    factory = WindchillFactory(lambda: config)
    bare_app = create_app(config, clock=VirtualClock())

    # Untimed: the outcome mix, the requests to replay, and a warm-up of both paths.
    outcomes: Counter[str] = Counter()
    run_harness(factory, examples, clock, outcomes)
    recorded = record_requests(factory, examples)
    _, same, total = replay(bare_app, config, examples, recorded, clock)

    rounds = []
    for _ in range(args.rounds):
        harness = run_harness(factory, examples, clock)
        bare, _, _ = replay(bare_app, config, examples, recorded, clock)
        rounds.append(Round(harness, bare))

    def median(pick: Callable[[Round], float]) -> float:
        return statistics.median(pick(r) for r in rounds)

    n = len(examples)
    kinds = Counter(step.action.kind for e in examples for step in e.schedule)
    bare = median(lambda r: r.bare)
    rows = [  # (label, seconds, whether a rate in examples per second makes sense)
        ("bare Flask test client, same requests", bare, True),
        ("harness, whole example", median(lambda r: r.harness.total), True),
        ("  scenario set-up", median(lambda r: r.harness.setup), False),
        ("  reference client update", median(lambda r: r.harness.update), False),
        ("  check_update", median(lambda r: r.harness.check), False),
        ("  scenario tear-down", median(lambda r: r.harness.teardown), False),
    ]

    print(
        f"examples: {n} (seed {args.seed}, fingerprint {fingerprint(examples)}, "
        f"Hypothesis {hypothesis.__version__})"
    )
    print(f"interventions: {sum(kinds.values())} ({_counts(kinds.most_common())})")
    print(f"requests: {total} ({total / n:.1f} per example), {same} with the harness's status")
    print(f"outcomes: {_counts(sorted(outcomes.items()))}")
    print(f"{'wall-clock' if args.wall else 'CPU'} time, median of {len(rounds)} rounds")
    print()
    print(f"{'':<40} {'examples/s':>11} {'ms/example':>11} {'x bare':>7}")
    for label, seconds, whole in rows:
        rate = f"{n / seconds:.0f}" if whole and seconds else ""
        ratio = f"{seconds / bare:.2f}" if bare else "-"
        print(f"{label:<40} {rate:>11} {seconds / n * 1000:>11.2f} {ratio:>7}")


def _counts(items: Iterable[tuple[str, int]]) -> str:
    return ", ".join(f"{name} {count}" for name, count in items)


if __name__ == "__main__":
    main()
