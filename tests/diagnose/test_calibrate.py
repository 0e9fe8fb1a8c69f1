"""``windchill-mock calibrate``: reading HAR traffic, fitting a background rate to its 409s,
writing the config, and the self-check that replays the pattern against it."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result

from mock_server.config import MockConfig
from mock_server.core.background import SOURCES
from mock_server.core.clock import VirtualClock
from mock_server.http.app import create_app
from pytest_windchill.calibrate import (
    HarError,
    Move,
    calibrate_command,
    fit,
    measure,
    read_har,
    read_traffic,
)
from pytest_windchill.transport import DEFAULT_BASE_URL, in_process_session

DATA = Path(__file__).parent / "data"
ROOT = f"{DEFAULT_BASE_URL}/Windchill/servlet/odata"
DOCS = f"{ROOT}/DocMgmt/Documents"
#: The indexer rate of the mock the round trip records its traffic from.
TRUE_RATE = 0.05


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(calibrate_command, [str(arg) for arg in args])


# ---------------------------------------------------------------- a HAR from the mock itself


class HarRecorder:
    """Writes each response of a ``requests`` session as a HAR entry, timed by the mock's
    virtual clock (an in-process request takes no virtual time)."""

    def __init__(self, session: requests.Session, clock: VirtualClock) -> None:
        self.clock = clock
        self.entries: list[dict[str, Any]] = []
        session.hooks["response"].append(self._record)

    def _record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        started = datetime.fromtimestamp(self.clock.now(), UTC)
        self.entries.append(
            {
                "startedDateTime": started.isoformat(timespec="milliseconds").replace(
                    "+00:00", "Z"
                ),
                "time": 0,
                "request": {
                    "method": request.method,
                    "url": request.url,
                    "headers": [{"name": k, "value": v} for k, v in request.headers.items()],
                },
                "response": {
                    "status": response.status_code,
                    "headers": [{"name": k, "value": v} for k, v in response.headers.items()],
                },
                "timings": {"send": 0, "wait": 0, "receive": 0},
            }
        )

    def write(self, path: Path) -> Path:
        creator = {"name": "HarRecorder", "version": "1"}
        log = {"version": "1.2", "creator": creator, "entries": self.entries}
        path.write_text(json.dumps({"log": log}), encoding="utf-8")
        return path


def record_traffic(path: Path, *, pairs: int, documents: int, seed: int) -> list[int]:
    """An integration's traffic on a mock whose indexer touches each document at
    ``TRUE_RATE``: GET, wait 1-20 s, PATCH with If-Match. Returns the PATCHes' statuses."""
    clock = VirtualClock()
    config = MockConfig(rates={"indexer": TRUE_RATE}, durations=dict.fromkeys(SOURCES, 0.0))
    rng = random.Random(seed)
    statuses = []
    with in_process_session(create_app(config, clock=clock), auth=("wcadmin", "wcadmin")) as s:
        recorder = HarRecorder(s, clock)
        nonce = s.get(f"{ROOT}/PTC/GetCSRFToken()").json()["NonceValue"]
        urls = []
        for number in range(documents):
            created = s.post(DOCS, json={"Name": f"doc {number}"}, headers={"CSRF_NONCE": nonce})
            urls.append(f"{DOCS}('{created.json()['ID']}')")
        for turn in range(pairs):
            url = urls[turn % documents]
            read = s.get(url)
            clock.advance(rng.randint(1000, 20000) / 1000)
            written = s.patch(
                url,
                json={"Description": f"edit {turn}"},
                headers={"If-Match": read.headers["ETag"], "CSRF_NONCE": nonce},
            )
            statuses.append(written.status_code)
    recorder.write(path)
    return statuses


def test_round_trip_recovers_the_rate_of_the_mock_that_made_the_traffic(tmp_path: Path) -> None:
    har = tmp_path / "recorded.har"
    statuses = record_traffic(har, pairs=120, documents=5, seed=11)
    assert set(statuses) == {200, 409}  # the traffic has both outcomes to fit

    pairs = read_har(har)
    measurement = measure(pairs)
    assert measurement.counted == 120
    assert measurement.conflicts_409 == statuses.count(409)
    assert measurement.moves["touch"] == statuses.count(409)  # a touch, never a new version
    assert all(1.0 <= gap <= 20.0 for gap in measurement.gaps)
    fitted = fit(measurement)
    assert fitted.low <= TRUE_RATE <= fitted.high
    assert fitted.high < 3 * fitted.low  # an interval that says something

    output = tmp_path / "calibrated.toml"
    result = invoke(har, "--output", output, "--repeat", "5", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert f"indexer = {fitted.rate:.6g}" in result.output
    row = re.search(r"409 rate +(\d+\.\d) % +(\d+\.\d) % \[", result.output)
    assert row is not None, result.output
    assert float(row.group(1)) == pytest.approx(100 * measurement.rate_409, abs=0.05)
    assert "pairs     120       600" in result.output
    assert "OK: the observed 409 rate" in result.output
    assert MockConfig.from_toml(output).rates["indexer"] == fitted.rate


# ---------------------------------------------------------------- a hand-written HAR


def test_hand_written_fixture_counts_and_moves() -> None:
    traffic = read_traffic(DATA / "conflicts.har")
    assert (traffic.entries, traffic.gets, traffic.patches, traffic.ignored) == (13, 4, 6, 3)
    assert traffic.patches_without_if_match == 1
    assert traffic.patches_without_read == 0
    pairs = traffic.pairs
    assert [(pair.get_entry, pair.patch_entry, pair.status) for pair in pairs] == [
        (2, 3, 200),
        (4, 5, 409),  # the GET's key percent-encoded, the PATCH's not: one entity
        (7, 8, 200),
        (9, 10, 412),
    ]
    # Gaps: middles of the requests' wait phases; entry 7's time is given at +01:00.
    assert [pair.gap for pair in pairs] == pytest.approx([2.1, 5.0, 1.0, 4.07])
    assert [pair.move for pair in pairs] == [
        None,
        Move("touch", 1234),  # the next GET's ETag: same iteration, stamp +1234 ms
        None,
        Move("new_version", 62000),  # the 412's own ETag: the iteration moved
    ]
    assert [pair.retry for pair in pairs] == [False, False, True, False]
    assert [len(pair.later_patches) for pair in pairs] == [0, 1, 0, 0]

    m = measure(pairs)
    assert (m.pairs, m.ok, m.conflicts_409, m.conflicts_412) == (4, 2, 1, 1)
    assert (m.rate_409, m.rate_412) == (0.25, 0.25)
    assert dict(m.moves) == {"touch": 1, "new_version": 1, "unchanged": 0, "unknown": 0}
    assert (m.touch_deltas_ms, m.new_version_deltas_ms) == ((1234,), (62000,))
    assert (m.retries, m.retries_with_read, m.stale_if_match) == (2, 1, 1)
    assert m.entities == 3

    fitted = fit(m)
    expected = sum(-math.expm1(-fitted.rate * gap) for gap in m.gaps) / len(m.gaps)
    assert expected == pytest.approx(0.25, rel=1e-5)
    assert any("concurrent_edit" in note and "new_iteration" in note for note in fitted.notes)


def test_hand_written_fixture_through_the_command(tmp_path: Path) -> None:
    output = tmp_path / "out.toml"
    result = invoke(DATA / "conflicts.har", "--output", output)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "4 GETs, 6 PATCHes of OData entities" in out
    assert "2xx 2, 409 1 (25.0 %), 412 1 (25.0 %)" in out
    assert "1 touched (same iteration), 1 new version" in out
    assert "PATCHes reusing a refused If-Match: 1" in out
    assert re.search(r"412 rate +25\.0 % +0\.0 % \[", out), out
    note = " ".join(out[out.index("Note: 412") :].split())
    assert "Background rates do not reproduce that" in note
    assert "concurrent_edit or new_iteration" in note
    assert "concurrent_edit or new_iteration" in " ".join(output.read_text().split())


def test_the_command_is_deterministic_given_the_seed(tmp_path: Path) -> None:
    output = tmp_path / "out.toml"
    args = (DATA / "conflicts.har", "-o", output, "--force", "--seed", "9", "--repeat", "8")
    runs = [invoke(*args) for _ in "ab"]
    assert runs[0].exit_code == runs[1].exit_code == 0
    assert runs[0].output == runs[1].output


# ---------------------------------------------------------------- synthetic pairs


def _entry(
    when: datetime,
    method: str,
    url: str,
    status: int,
    *,
    etag: str | None = None,
    if_match: str | None = None,
) -> dict[str, Any]:
    request_headers = [] if if_match is None else [{"name": "If-Match", "value": if_match}]
    response_headers = [] if etag is None else [{"name": "ETag", "value": etag}]
    return {
        "startedDateTime": when.isoformat(timespec="milliseconds"),
        "time": 0,
        "request": {"method": method, "url": url, "headers": request_headers},
        "response": {"status": status, "headers": response_headers},
    }


def _pairs_har(path: Path, outcomes: list[tuple[float, int]]) -> Path:
    """A HAR of GET-then-PATCH pairs, one document each: (gap in seconds, PATCH status)."""
    start = datetime(2024, 2, 21, 13, 50, tzinfo=UTC)
    entries = []
    for number, (gap, status) in enumerate(outcomes):
        url = f"{DOCS}('OR:wt.doc.WTDocument:{number}')"
        when = start + timedelta(minutes=number)
        etag = f'"v1.{int(when.timestamp() * 1000)}"'
        entries.append(_entry(when, "GET", url, 200, etag=etag))
        entries.append(_entry(when + timedelta(seconds=gap), "PATCH", url, status, if_match=etag))
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": entries}}))
    return path


def test_no_conflicts_fit_rate_zero_with_a_note(tmp_path: Path) -> None:
    m = measure(read_har(_pairs_har(tmp_path / "calm.har", [(5.0, 200)] * 30)))
    fitted = fit(m)
    assert fitted.rate == fitted.low == 0.0
    assert 0 < fitted.high < 0.05
    assert any(note.startswith("No 409 in 30 pairs") for note in fitted.notes)
    assert MockConfig(**fitted.config()).rates["indexer"] == 0.0


def test_every_pair_conflicting_gives_an_upper_bound_note(tmp_path: Path) -> None:
    m = measure(read_har(_pairs_har(tmp_path / "hot.har", [(2.0, 409), (8.0, 409)])))
    fitted = fit(m)
    assert math.isinf(fitted.high)
    assert 0 < fitted.low < fitted.rate < math.inf
    # The written rate makes (nearly) every replayed pair conflict, as observed.
    assert -math.expm1(-fitted.rate * 2.0) > 0.999
    assert any(
        "409 rate (100.0 %) is at its upper bound" in note and "at least" in note
        for note in fitted.notes
    )


def test_pairs_with_other_statuses_are_not_counted(tmp_path: Path) -> None:
    har = _pairs_har(tmp_path / "mixed.har", [(3.0, 200), (3.0, 409), (3.0, 500), (3.0, 204)])
    m = measure(read_har(har))
    assert (m.pairs, m.counted, m.ok, m.conflicts_409) == (4, 3, 2, 1)
    assert dict(m.other_statuses) == {500: 1}
    assert m.rate_409 == pytest.approx(1 / 3)


def test_self_check_disagreement_exits_1_with_both_rates(tmp_path: Path) -> None:
    # 409s on PATCHes sent with no gap at all: no background touch explains them, so the
    # most the mock can give is the share of pairs with a gap (all of which then conflict).
    har = _pairs_har(tmp_path / "busy.har", [(0.0, 409)] * 6 + [(5.0, 200)] * 2)
    result = invoke(har, "--output", tmp_path / "out.toml", "--repeat", "5")
    assert result.exit_code == 1, result.output
    assert "Self-check failed: the observed 409 rate 75.0 %" in result.output
    assert "(replayed 25.0 %)" in result.output
    assert "no gap between read and write" in result.output


# ---------------------------------------------------------------- errors


def _har_text(entries: list[Any]) -> str:
    return json.dumps({"log": {"version": "1.2", "entries": entries}})


_GET = _entry(datetime(2024, 2, 21, tzinfo=UTC), "GET", f"{DOCS}('OR:x:1')", 200, etag='"v1.1"')


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not a HAR file: not JSON"),
        ('{"entries": []}', 'expected an object {"log": {"entries": [...]}}'),
        ('{"log": {"entries": {}}}', 'expected an object {"log": {"entries": [...]}}'),
        (
            _har_text([_GET, {"request": {"url": f"{DOCS}('OR:x:1')"}, "response": {}}]),
            "entry 1 (log.entries[1]): request.method is missing",
        ),
        (
            _har_text([{**_GET, "startedDateTime": "yesterday"}]),
            "entry 0 (log.entries[0]): startedDateTime 'yesterday' is not an ISO 8601 time",
        ),
        (
            _har_text([{**_GET, "response": {"status": 200, "headers": [{"name": "ETag"}]}}]),
            "entry 0 (log.entries[0]): response.headers[0] needs a string name and value",
        ),
        (
            _har_text([_GET, _GET, _GET, _entry(datetime.now(UTC), "GET", ROOT + "/", 200)]),
            "no GET-then-PATCH pairs in traffic.har: found 3 GETs, 0 PATCHes of OData "
            "entities; 1 other entry ignored",
        ),
        (
            _har_text([{**_GET, "request": {**_GET["request"], "method": "PATCH"}}]),
            "found 0 GETs, 1 PATCH of OData entities (PATCHes: 1 without If-Match)",
        ),
    ],
    ids=[
        "not-json",
        "no-log",
        "entries-not-a-list",
        "no-method",
        "bad-time",
        "bad-header",
        "no-patches",
        "patch-without-if-match",
    ],
)
def test_unusable_har_is_a_usage_error(tmp_path: Path, content: str, message: str) -> None:
    har = tmp_path / "traffic.har"
    har.write_text(content)
    output = tmp_path / "out.toml"
    result = invoke(har, "--output", output)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not output.exists()


def test_missing_har_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke(tmp_path / "absent.har", "--output", tmp_path / "out.toml")
    assert result.exit_code == 2
    assert "cannot read" in result.output
    with pytest.raises(HarError, match="cannot read"):
        read_har(tmp_path / "absent.har")


@pytest.mark.parametrize(("force", "exit_code"), [(False, 2), (True, 0)], ids=["refused", "forced"])
def test_existing_output_needs_force(tmp_path: Path, force: bool, exit_code: int) -> None:
    output = tmp_path / "out.toml"
    output.write_text("# mine\n")
    result = invoke(DATA / "conflicts.har", "--output", output, *(["--force"] if force else []))
    assert result.exit_code == exit_code, result.output
    if force:
        assert output.read_text().startswith("# Fitted by `windchill-mock calibrate`")
    else:
        assert "exists; pass --force to overwrite it" in result.output
        assert output.read_text() == "# mine\n"


# ---------------------------------------------------------------- the written config


def test_written_toml_loads_unchanged(tmp_path: Path) -> None:
    output = tmp_path / "out.toml"
    assert invoke(DATA / "conflicts.har", "--output", output).exit_code == 0
    fitted = fit(measure(read_har(DATA / "conflicts.har")), source="conflicts.har")
    assert output.read_text() == fitted.toml()
    loaded = MockConfig.from_toml(output)
    assert loaded == MockConfig(**fitted.config())
    assert loaded.profile == "thread"
    assert dict(loaded.rates) == {
        "indexer": fitted.rate,
        "cache_sync": 0.0,
        "lifecycle_evaluator": 0.0,
    }
    assert dict(loaded.durations) == dict.fromkeys(SOURCES, 0.0)
    assert {s: b.duration for s, b in loaded.background().items()} == dict.fromkeys(SOURCES, 0.0)


@pytest.mark.parametrize("rate", [0.0, 1e-07, 0.0985184, 12.5])
def test_rates_survive_the_toml(tmp_path: Path, rate: float) -> None:
    fitted = dataclasses.replace(fit(measure(read_har(DATA / "conflicts.har"))), rate=rate)
    path = tmp_path / "rate.toml"
    path.write_text(fitted.toml())
    assert MockConfig.from_toml(path).rates["indexer"] == rate


def test_two_workers_reading_one_entity_are_paired_by_their_etags(tmp_path: Path) -> None:
    # Worker A reads at 0 s, worker B at 9 s; A writes at 10 s with the ETag it read (409: a
    # touch moved it meanwhile), B at 11 s with its own. Each PATCH pairs with its own read.
    url = "https://plm/Windchill/servlet/odata/DocMgmt/Documents('OR:wt.doc.WTDocument:1')"

    def entry(t: str, method: str, status: int, etag: str, if_match: str | None = None) -> Any:
        request_headers = [{"name": "If-Match", "value": if_match}] if if_match else []
        return {
            "startedDateTime": f"2024-01-01T00:00:{t}.000Z",
            "time": 10,
            "request": {"method": method, "url": url, "headers": request_headers},
            "response": {"status": status, "headers": [{"name": "ETag", "value": etag}]},
        }

    har = tmp_path / "workers.har"
    har.write_text(
        _har_text(
            [
                entry("00", "GET", 200, '"v1.1000"'),
                entry("09", "GET", 200, '"v1.6000"'),
                entry("10", "PATCH", 409, '"v1.6000"', '"v1.1000"'),
                entry("11", "PATCH", 200, '"v1.12000"', '"v1.6000"'),
            ]
        )
    )
    pairs = read_har(har)

    assert [(p.get_entry, p.patch_entry, p.status) for p in pairs] == [(0, 2, 409), (1, 3, 200)]
    assert [p.read_etag for p in pairs] == [p.if_match for p in pairs]
    assert [round(p.gap) for p in pairs] == [10, 2]
    measured = measure(pairs)
    assert (measured.counted, measured.conflicts_409) == (2, 1)


def test_an_etag_that_went_back_is_no_touch() -> None:
    from pytest_windchill.calibrate import _classify_move

    assert _classify_move('"v2.2000"', '"v2.1000"').kind == "unknown"
    assert _classify_move('"v3.2000"', '"v2.3000"').kind == "unknown"
    assert _classify_move('"v2.1000"', '"v2.3000"') == Move("touch", 2000)
    assert _classify_move('"v2.1000"', '"v3.900"').kind == "new_version"
