"""``windchill-mock probe``: rates measured by reading agree with the rates the mock was given.

Most tests run the probe against an in-process mock on a virtual clock (seeded, so every run
sees the same arrivals); the command-line tests use a real socket and a sped-up clock.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

import pytest_windchill.probe as probe_module
from mock_server import LiveServer, MockConfig
from mock_server.core import VirtualClock
from mock_server.core.clock import ScaledClock
from mock_server.http import create_app
from mock_server.http.state import state
from pytest_windchill.probe import (
    Change,
    DocumentReport,
    Interval,
    ProbeError,
    ProbeReport,
    Sample,
    clopper_pearson,
    entity_url,
    parse_duration,
    probe,
    probe_command,
)
from pytest_windchill.transport import DEFAULT_BASE_URL, in_process_session

SERVICE_ROOT = DEFAULT_BASE_URL + "/Windchill/servlet/odata"
AUTH = ("wcadmin", "wcadmin")


@dataclass
class Mock:
    """An in-process mock on a virtual clock, with the probe's session and what it sent."""

    app: Any
    clock: VirtualClock
    session: requests.Session
    methods: list[str] = field(default_factory=list)

    def documents(self, count: int, kind: str = "document") -> list[str]:
        repository = state(self.app).repository
        return [
            repository.add_document({"Name": f"Doc {i}", "Number": f"{kind}-{i}"}, kind=kind)
            for i in range(count)
        ]

    def inject(self, interventions: list[dict[str, Any]]) -> None:
        response = self.app.test_client().post("/__mock/interventions", json=interventions)
        assert response.status_code == 201, response.get_data(as_text=True)

    def journal(self) -> list[dict[str, Any]]:
        response = self.app.test_client().get("/__mock/journal")
        assert response.status_code == 200
        return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]

    def probe(
        self, documents: list[str], *, interval: float, duration: float, **kwargs: Any
    ) -> ProbeReport:
        return probe(
            self.session,
            SERVICE_ROOT,
            documents,
            interval=interval,
            duration=duration,
            sleep=self.clock.advance,
            now=self.clock.now,
            **kwargs,
        )


def make_mock(rates: Mapping[str, float] | None = None, *, seed: int = 0) -> Mock:
    clock = VirtualClock()
    app = create_app(MockConfig(rates=dict(rates or {}), seed=seed), clock=clock)
    mock = Mock(app, clock, in_process_session(app, auth=AUTH))

    def record(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        mock.methods.append(str(response.request.method))
        return response

    mock.session.hooks["response"].append(record)
    return mock


def words(text: str) -> str:
    """``text`` with its lines unfolded: the report folds long lines at 100 columns."""
    return " ".join(text.split())


# ------------------------------------------------------------------ statistics


def test_clopper_pearson_matches_the_binomial_tails() -> None:
    # Published values (k = 5 of 10: 0.1871 to 0.8129; k = 0 of 10: up to 1 - 0.025^(1/10)).
    low, high = clopper_pearson(5, 10)
    assert low == pytest.approx(0.187086, abs=1e-6)
    assert high == pytest.approx(0.812914, abs=1e-6)
    assert clopper_pearson(0, 10) == pytest.approx((0.0, 1 - 0.025**0.1))
    assert clopper_pearson(10, 10) == pytest.approx((0.025**0.1, 1.0))
    # Each bound leaves 2.5 % in its tail, summed term by term.
    k, n = 7, 40
    low, high = clopper_pearson(k, n)

    def pmf(j: int, p: float) -> float:
        return math.comb(n, j) * p**j * (1 - p) ** (n - j)

    assert sum(pmf(j, low) for j in range(k, n + 1)) == pytest.approx(0.025, abs=1e-9)
    assert sum(pmf(j, high) for j in range(k + 1)) == pytest.approx(0.025, abs=1e-9)


def test_estimate_from_seeded_background_contains_the_true_rate() -> None:
    """Three documents read every 15 s for an hour of virtual time at 0.02 touches/s each."""
    true_rate = 0.02
    mock = make_mock({"indexer": true_rate})
    documents = mock.documents(3)

    report = mock.probe(documents, interval=15, duration=3600)

    pooled = report.rate_ci()
    assert pooled is not None
    assert pooled.intervals == 3 * 240
    assert pooled.low <= true_rate <= pooled.high
    assert pooled.high / pooled.low < 1.6  # an interval that says something
    assert report.rate_ci("indexer") == pooled  # no State changes: every move is a touch
    lifecycle = report.rate_ci("lifecycle_evaluator")
    assert lifecycle is not None
    assert lifecycle.moved == 0
    # The probe saw a move in exactly the intervals that held a background event.
    background = [e for e in mock.journal() if e["type"] == "background"]
    for document in documents:
        estimate = report.rate_ci(document=document)
        assert estimate is not None
        busy = {math.ceil(e["t"] / 15) for e in background if e["document"] == document}
        assert estimate.moved == len(busy)
    assert pooled.moved < len(background)  # some intervals held two
    assert f"{60 * pooled.per_second:#.3g} /min (95 % CI" in words(report.summary())


def test_the_95_percent_interval_covers_the_true_rate_95_percent_of_the_time() -> None:
    """Simulated readings (no mock): moves at a constant rate, seen once per interval."""
    generator = random.Random(7)
    rate, interval, runs, covered = 0.4, 2.0, 200, 0
    for _ in range(runs):
        intervals = []
        for tick in range(1, 61):
            touches, t = 0, generator.expovariate(rate)
            while t < interval:
                touches, t = touches + 1, t + generator.expovariate(rate)
            change: Change = "touch" if touches else "none"
            intervals.append(Interval((tick - 1) * interval, tick * interval, tick, change))
        estimate = _report(intervals, interval).rate_ci()
        assert estimate is not None
        covered += estimate.low <= rate <= estimate.high
    # Clopper-Pearson errs on the safe side: at least 95 % (give or take the runs' luck).
    assert covered / runs >= 0.93


def _report(intervals: list[Interval], interval: float) -> ProbeReport:
    document = DocumentReport(
        document="OR:wt.doc.WTDocument:1",
        url=SERVICE_ROOT,
        readings=len(intervals) + 1,
        failures={},
        intervals=tuple(intervals),
        changes={},
        moves=(),
        versions=(),
        iterations_from="etag",
    )
    return ProbeReport(SERVICE_ROOT, interval, len(intervals) * interval, 0.0, (document,))


def test_censoring_correction_recovers_a_rate_of_several_touches_per_interval() -> None:
    """At 1 touch/s read every 2 s most intervals hold two or more touches, seen as one."""
    true_rate = 1.0
    mock = make_mock({"indexer": true_rate}, seed=1)

    report = mock.probe(mock.documents(1), interval=2, duration=800)

    estimate = report.rate_ci()
    assert estimate is not None
    assert not estimate.saturated
    assert estimate.low <= true_rate <= estimate.high
    assert estimate.naive_per_second < 0.6 * true_rate  # counting moves is far off
    assert report.rates()["indexer"] == pytest.approx(estimate.per_second)
    assert "two moves in one interval look like one" in words(report.summary())


def test_every_interval_moved_gives_a_lower_bound_only() -> None:
    mock = make_mock({"indexer": 20.0})

    report = mock.probe(mock.documents(1), interval=2, duration=60)

    estimate = report.rate_ci()
    assert estimate is not None
    assert estimate.saturated
    assert math.isinf(estimate.high)
    assert 0 < estimate.low < 20.0
    assert report.rates()["indexer"] == estimate.low
    assert "shorter --interval" in words(report.summary())


# ------------------------------------------------------------------ the pattern of moves


def test_bursts_are_called_clustered_and_a_constant_rate_steady() -> None:
    burst_mock = make_mock()
    documents = burst_mock.documents(2)
    # Four bursts per document, each eight touches 5 s apart, in 20 minutes.
    burst_mock.inject(
        [
            {"document": d, "action": "micro_update", "at": start + 37 * i + 5 * j + 2.5}
            for i, d in enumerate(documents)
            for start in (100, 400, 700, 1000)
            for j in range(8)
        ]
    )
    bursts = burst_mock.probe(documents, interval=5, duration=1200).pattern()

    steady_mock = make_mock({"indexer": 0.03})
    steady = steady_mock.probe(steady_mock.documents(2), interval=5, duration=1200).pattern()

    assert bursts.verdict == "clustered"
    assert bursts.dispersion is not None
    assert bursts.dispersion > 3
    assert bursts.gap_cv is not None
    assert bursts.gap_cv > 2
    assert "clustered (bursts: a scheduled job?)" in bursts.describe()
    assert steady.verdict == "steady"
    assert steady.dispersion == pytest.approx(1, abs=0.5)
    assert "steady (looks like a constant rate)" in steady.describe()


def test_a_timer_is_called_regular() -> None:
    mock = make_mock()
    [document] = mock.documents(1)
    mock.inject(
        [{"document": document, "action": "micro_update", "at": 30 * k + 5} for k in range(20)]
    )

    pattern = mock.probe([document], interval=10, duration=600).pattern()

    assert pattern.verdict == "regular"


def test_few_moves_give_no_verdict() -> None:
    mock = make_mock()
    [document] = mock.documents(1)
    mock.inject([{"document": document, "action": "micro_update", "at": 15}])

    report = mock.probe([document], interval=10, duration=300)

    assert report.pattern().verdict == "unknown"
    assert "too few moves" in words(report.summary())


# ------------------------------------------------------------------ kinds of change


def _iterations_and_lifecycle() -> tuple[Mock, ProbeReport, str, str]:
    mock = make_mock()
    [document] = mock.documents(1)
    [part] = mock.documents(1, kind="part")
    mock.inject(
        [
            {"document": document, "action": "micro_update", "at": 25},
            {"document": document, "action": "micro_update", "at": 125},
            {"document": document, "action": "lifecycle_change", "state": "RELEASED", "at": 55},
            {"document": document, "action": "lifecycle_change", "state": "INWORK", "at": 255},
            {"document": document, "action": "new_iteration", "at": 85},
            {
                "document": document,
                "action": "concurrent_edit",
                "changes": {"Description": "edited"},
                "at": 185,
            },
            {"document": document, "action": "check_out", "at": 305},
            {"document": document, "action": "check_in", "at": 405},
            {"document": part, "action": "micro_update", "at": 45},
            {"document": part, "action": "micro_update", "at": 345},
        ]
    )
    return mock, mock.probe([document, part], interval=10, duration=600), document, part


def test_new_iterations_are_counted_apart_and_lifecycle_changes_go_to_their_source(
    tmp_path: Path,
) -> None:
    report = _iterations_and_lifecycle()[1]

    doc_report, part_report = report.documents
    assert doc_report.changes == {"touch": 2, "lifecycle": 2, "new_iteration": 3, "checkout": 1}
    assert doc_report.versions == ("A.1", "A.2", "A.3", "A.4")
    assert doc_report.iterations_from == "etag"
    assert part_report.changes == {"touch": 2}
    assert report.new_iterations() == 3
    # Other users' work hides background moves: those intervals are left out of the rates.
    everything = report.rate_ci()
    assert everything is not None
    assert (everything.moved, everything.intervals) == (6, 2 * 60 - 4)
    lifecycle = report.rate_ci("lifecycle_evaluator")
    indexer = report.rate_ci("indexer")
    assert lifecycle is not None
    assert indexer is not None
    assert lifecycle.moved == 2
    assert (indexer.moved, indexer.intervals) == (4, 116 - 2)

    text = report.rates_toml()
    rates = tomllib.loads(text)["rates"]
    assert rates == {
        "indexer": pytest.approx(indexer.per_second, rel=1e-5),
        "cache_sync": 0.0,
        "lifecycle_evaluator": pytest.approx(lifecycle.per_second, rel=1e-5),
    }
    comments = words(" ".join(line.lstrip("# ") for line in text.splitlines()))
    assert "3 new iterations, 1 check-out change." in comments
    path = tmp_path / "mock.toml"
    path.write_text(text, encoding="utf-8")
    assert MockConfig.from_toml(path).rates == rates
    assert MockConfig().updated(tomllib.loads(text)).background()["lifecycle_evaluator"].rate > 0
    summary = words(report.summary())
    assert "3 new iterations (A.1 -> A.2 -> A.3 -> A.4)" in summary
    assert "read by VR:" in summary  # it followed the document past its first ID


def test_it_never_writes() -> None:
    mock, _, document, part = _iterations_and_lifecycle()

    assert set(mock.methods) == {"GET"}
    client_events = [e for e in mock.journal() if e["type"] in ("invoke", "ok", "fail", "info")]
    assert {e["op"] for e in client_events} == {"read"}
    assert {e["process"] for e in client_events} == {AUTH[0]}
    invokes = [e for e in client_events if e["type"] == "invoke"]
    assert len(invokes) == len(mock.methods)
    assert {e["document"] for e in invokes} == {document, part}


def test_opaque_etags_fall_back_to_the_version_property() -> None:
    def opaque(drop_version: bool) -> ProbeReport:
        mock = make_mock()
        [document] = mock.documents(1)
        mock.inject(
            [
                {"document": document, "action": "micro_update", "at": 15},
                {"document": document, "action": "new_iteration", "at": 35},
            ]
        )

        def rewrite(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
            tag = response.headers.get("ETag")
            if tag:
                tag = '"' + hashlib.sha256(tag.encode()).hexdigest()[:16] + '"'
                response.headers["ETag"] = tag
                body = response.json()
                body["@odata.etag"] = tag
                if drop_version:
                    body.pop("Version")
                response._content = json.dumps(body).encode()
            return response

        mock.session.hooks["response"].insert(0, rewrite)
        return mock.probe([document], interval=10, duration=60)

    with_version = opaque(drop_version=False)
    [seen] = with_version.documents
    assert seen.iterations_from == "version"
    assert seen.changes == {"touch": 1, "new_iteration": 1}
    assert "new iterations are told by the Version property" in words(with_version.summary())

    without = opaque(drop_version=True)
    [seen] = without.documents
    assert seen.iterations_from is None
    assert seen.changes == {"touch": 2}
    assert "new iterations cannot be told" in words(without.summary())


# ------------------------------------------------------------------ failures and interruption


def test_a_missing_document_is_reported_and_the_others_measured() -> None:
    mock = make_mock({"indexer": 0.05})
    [document] = mock.documents(1)
    missing = "OR:wt.doc.WTDocument:99"

    report = mock.probe([document, missing], interval=10, duration=100)

    found, gone = report.documents
    assert found.readings == 11
    assert gone.readings == 0
    assert gone.gone is not None
    assert gone.gone.startswith("404")
    assert f"{missing}: stopped reading it: 404" in words(report.summary())
    with pytest.raises(ProbeError, match="no document could be read"):
        mock.probe([missing], interval=10, duration=100)


def test_refused_credentials_stop_the_probe_without_showing_the_password() -> None:
    mock = make_mock()
    mock.session.auth = ("wcadmin", "hunter2-wrong")

    with pytest.raises(ProbeError) as raised:
        mock.probe(mock.documents(1), interval=10, duration=100)

    assert "401" in raised.value.message
    assert "check WINDCHILL_USER/WINDCHILL_PASSWORD or your netrc" in raised.value.message
    assert "hunter2" not in raised.value.message


def test_ctrl_c_gives_the_report_so_far() -> None:
    mock = make_mock({"indexer": 0.05})
    sleeps = 0

    def sleep(seconds: float) -> None:
        nonlocal sleeps
        sleeps += 1
        if sleeps == 31:
            raise KeyboardInterrupt
        mock.clock.advance(seconds)

    samples: list[Sample] = []
    try:
        report = probe(
            mock.session,
            SERVICE_ROOT,
            mock.documents(2),
            interval=10,
            duration=3600,
            sleep=sleep,
            now=mock.clock.now,
            on_sample=samples.append,
        )
    except KeyboardInterrupt:
        pytest.fail("Ctrl+C went through the probe instead of ending it with a report")

    assert report.interrupted
    assert report.elapsed == pytest.approx(300)
    assert len(samples) == 2 * 31
    assert report.summary().startswith("Interrupted after 5 min of 1 h:")


def test_entity_urls_and_durations() -> None:
    assert entity_url(SERVICE_ROOT + "/", "OR:wt.doc.WTDocument:7") == (
        f"{SERVICE_ROOT}/DocMgmt/Documents('OR:wt.doc.WTDocument:7')"
    )
    assert entity_url(SERVICE_ROOT, "VR:wt.part.WTPart:8") == (
        f"{SERVICE_ROOT}/ProdMgmt/Parts('VR:wt.part.WTPart:8')"
    )
    with pytest.raises(ValueError, match="cannot tell what"):
        entity_url(SERVICE_ROOT, "OR:wt.change2.WTChangeOrder2:9")
    assert [parse_duration(t) for t in ("2s", "500ms", "1m", "10m", "90s", "1h", "1m30s")] == [
        2,
        0.5,
        60,
        600,
        90,
        3600,
        90,
    ]
    for bad in ("", "10", "2x", "-1s", "0s", "s"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)


# ------------------------------------------------------------------ the command


@pytest.fixture
def live_mock() -> Iterator[tuple[str, list[str]]]:
    """A mock on a real socket whose clock runs 50x: 0.1 touches/s of its time per document
    is 5 per real second."""
    app = create_app(MockConfig(rates={"indexer": 0.1}, seed=2), clock=ScaledClock(50))
    repository = state(app).repository
    documents = [repository.add_document({"Name": f"Live {i}"}) for i in range(2)]
    with LiveServer(app) as server:
        yield server.url + "/Windchill/servlet/odata", documents


def _env(password: str) -> dict[str, str]:
    return {
        "WINDCHILL_USER": "wcadmin",
        "WINDCHILL_PASSWORD": password,
        "NO_PROXY": "127.0.0.1,localhost",
    }


def test_the_command_probes_a_live_server_and_writes_the_rates(
    live_mock: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, documents = live_mock
    toml_path = tmp_path / "rates.toml"
    arguments = ["--url", url, "--interval", "100ms", "--for", "1s", "--toml", str(toml_path)]
    for document in documents:
        arguments += ["--document", document]

    result = CliRunner().invoke(probe_command, arguments, env=_env("wcadmin"))

    assert result.exit_code == 0, result.output
    assert "/min (95 % CI " in words(result.output)
    assert "all documents" in result.output
    assert f"Wrote the [rates] section to {toml_path}" in result.output
    rates = tomllib.loads(toml_path.read_text(encoding="utf-8"))["rates"]
    assert rates["indexer"] > 0
    assert MockConfig().updated({"rates": rates}).rates == rates


def test_the_command_reports_refused_credentials_without_the_password(
    live_mock: tuple[str, list[str]],
) -> None:
    url, documents = live_mock

    result = CliRunner().invoke(
        probe_command,
        ["--url", url, "--document", documents[0], "--interval", "100ms", "--for", "1s"],
        env=_env("xyzzy-not-it"),
    )

    assert result.exit_code == 1
    assert "401" in result.output
    assert "check WINDCHILL_USER/WINDCHILL_PASSWORD or your netrc" in words(result.output)
    assert "xyzzy" not in result.output


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--interval", "2x", "not a duration"),
        ("--for", "10", "not a duration"),
        ("--interval", "1h", "longer than the whole probe"),
        ("--document", "wt.doc.WTDocument:1", "cannot tell what"),
    ],
)
def test_bad_input_is_a_usage_error(option: str, value: str, message: str) -> None:
    arguments = {
        "--url": "http://127.0.0.1:9/Windchill/servlet/odata",
        "--document": "OR:wt.doc.WTDocument:1",
        "--interval": "2s",
        "--for": "10m",
    }
    arguments[option] = value
    flat = [part for pair in arguments.items() for part in pair]

    result = CliRunner().invoke(probe_command, flat, env=_env("wcadmin"))

    assert result.exit_code == 2, result.output
    assert message in words(result.output)


def test_the_command_reports_the_samples_so_far_on_ctrl_c(
    live_mock: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, documents = live_mock
    real_probe = probe_module.probe

    def interrupted_probe(*args: Any, sleep: Callable[[float], object], **kwargs: Any) -> Any:
        calls = 0

        def sleep_then_interrupt(seconds: float) -> None:
            nonlocal calls
            calls += 1
            if calls > 3:
                raise KeyboardInterrupt
            sleep(seconds)

        return real_probe(*args, sleep=sleep_then_interrupt, **kwargs)

    monkeypatch.setattr(probe_module, "probe", interrupted_probe)

    result = CliRunner().invoke(
        probe_command,
        ["--url", url, "--document", documents[0], "--interval", "50ms", "--for", "1h"],
        env=_env("wcadmin"),
    )

    assert result.exit_code == 0, result.output
    assert result.output.startswith("Interrupted after ")
    assert "of 1 h: the report covers what was seen so far" in words(result.output)


def test_the_progress_bar_follows_the_ticks() -> None:
    mock = make_mock()
    stream = io.StringIO()

    report = probe_module._probe_with_bar(
        mock.session, SERVICE_ROOT, mock.documents(1), 0.01, 0.05, stream
    )

    assert report.documents[0].readings >= 2
    assert "Probing" in stream.getvalue()


def test_the_help_names_every_option() -> None:
    result = CliRunner().invoke(probe_command, ["--help"])

    assert result.exit_code == 0
    for option in ("--url", "--document", "--interval", "--for", "--toml", "--user"):
        assert option in result.output
    assert "WINDCHILL_PASSWORD" in result.output


def test_a_password_in_a_mistyped_url_is_never_shown() -> None:
    result = CliRunner().invoke(
        probe_command,
        [
            "--url",
            "htps://alice:S3cret/PW@plm.example/odata",
            "--document",
            "OR:wt.doc.WTDocument:1",
        ],
    )
    assert result.exit_code == 2
    assert "S3cret" not in result.output
    assert "plm.example/odata" in result.output
