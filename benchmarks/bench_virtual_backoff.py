"""How long a test that backs off for several virtual seconds really takes.

The scenario is the README's: a background indexer keeps a document busy, the reference
client meets 409s and backs off 0.5 s, 1 s, 2 s (jittered) before it succeeds. The script
prints the virtual seconds slept against the wall-clock milliseconds the update took, and,
as a baseline measured in the same run, the wall time of the same requests without any
interference (no retries, no sleeping).

    python benchmarks/bench_virtual_backoff.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from mock_server import MockConfig
from pytest_windchill.scenarios import WindchillFactory
from pytest_windchill.schedules import ConflictSchedule, micro_update


def one_run(factory: WindchillFactory, schedule: ConflictSchedule) -> tuple[float, float, int]:
    with factory.scenario(schedule) as mock:
        updater = mock.updater()
        started = time.perf_counter()
        result = updater.update(mock.doc, {"Description": "Updated text"})
        wall = time.perf_counter() - started
        assert result.ok, result
        return sum(result.delays), wall, result.attempts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    factory = WindchillFactory(MockConfig)
    busy = ConflictSchedule([micro_update(before_request=2, duration=3.0)])
    quiet = ConflictSchedule()
    for schedule in (busy, quiet):  # warm up: the first scenario builds the Flask app
        one_run(factory, schedule)
    rows = []
    for name, schedule in (("3 s busy document", busy), ("no interference", quiet)):
        runs = [one_run(factory, schedule) for _ in range(args.runs)]
        virtual = statistics.median(r[0] for r in runs)
        wall_ms = statistics.median(r[1] for r in runs) * 1000
        attempts = runs[0][2]
        rows.append((name, virtual, wall_ms, attempts))
    baseline = rows[1][2]
    print(f"{'scenario':<22}{'PATCHes':>8}{'virtual s slept':>17}{'wall ms':>10}{'x quiet':>9}")
    for name, virtual, wall_ms, attempts in rows:
        print(f"{name:<22}{attempts:>8}{virtual:>17.3f}{wall_ms:>10.2f}{wall_ms / baseline:>9.2f}")
    print(f"(median of {args.runs} runs each; wall time of update() alone)")


if __name__ == "__main__":
    main()
