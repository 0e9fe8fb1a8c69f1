"""``windchill-mock probe``: how often a real Windchill touches documents, measured by reading.

The probe reads each document's ETag and version at a steady pace, with GET only, and tells
the kinds of ETag move apart: a *touch* (same iteration, nothing visible changed: indexing,
cache synchronisation), a *lifecycle change* (same iteration, ``State`` changed), a check-out
by another user, and a *new iteration* (another user's check-in or edit). Touches and
lifecycle changes are the background work the mock imitates; their rates, with confidence
intervals, become a ``[rates]`` section for the mock's TOML file. Check-outs and new
iterations are other users' work: counted, never part of the rates.

Reading every ``Δ`` seconds cannot see two moves in one interval, so a rate is estimated from
the share ``p`` of intervals in which the ETag moved: for a constant rate ``λ``,
``p = 1 - exp(-λΔ)``. Whether the moves come at a constant rate or in bursts is judged by how
unevenly they fall into windows of about a minute, against random rearrangements of the same
moves.
"""

from __future__ import annotations

import math
import os
import random
import re
import statistics
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import click
import requests

from mock_server.core.background import SOURCES

__all__ = [
    "Change",
    "DocumentReport",
    "Interval",
    "Pattern",
    "ProbeError",
    "ProbeReport",
    "RateEstimate",
    "Sample",
    "clopper_pearson",
    "entity_url",
    "parse_duration",
    "probe",
    "probe_command",
    "redact_url",
]

#: What happened to a document's ETag between two readings.
Change = Literal["none", "touch", "lifecycle", "checkout", "new_iteration"]
#: Which moves a rate counts: every background move, or one mock source's share.
RateSource = Literal["all", "indexer", "lifecycle_evaluator"]

_BACKGROUND: frozenset[str] = frozenset({"touch", "lifecycle"})
#: Intervals whose background moves can be seen: another user's work hides them.
_ELIGIBLE: frozenset[str] = frozenset({"none", "touch", "lifecycle"})
_ENTITY_SETS = (("wt.doc.", "DocMgmt/Documents"), ("wt.part.", "ProdMgmt/Parts"))
_OUR_ETAG = re.compile(r'(?:W/)?"v(\d+)\.(\d+)"')
_CREDENTIALS_HINT = "check WINDCHILL_USER/WINDCHILL_PASSWORD or your netrc"
#: The length of the windows the clustering test counts moves in (seconds, about).
_WINDOW_SECONDS = 60.0
#: A verdict of "clustered" or "regular" needs a permutation p-value at most this.
_SIGNIFICANCE = 0.01
#: How late (in intervals) a reading may start before its tick is skipped.
_LATE_TOLERANCE = 0.25


class ProbeError(Exception):
    """The probe cannot go on (refused credentials, no document readable, no ETags).

    ``report`` holds what was measured before, if anything was.
    """

    def __init__(self, message: str, report: ProbeReport | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.report = report


@dataclass(frozen=True)
class Sample:
    """One reading of one document (passed to ``on_sample`` as it happens)."""

    document: str
    #: The tick it was taken at (0, 1, 2, ...: one every interval).
    tick: int
    #: Seconds since the probe started.
    t: float
    etag: str | None
    version: str | None
    #: The change since the document's previous reading; ``None`` for the first reading and
    #: for a failed one.
    change: Change | None
    error: str | None = None


@dataclass(frozen=True)
class Interval:
    """The time between two readings at consecutive ticks, and what changed in it."""

    start: float
    end: float
    #: The tick of the later reading.
    tick: int
    change: Change

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class RateEstimate:
    """A rate in events per second, from ``moved`` of ``intervals`` intervals of mean length
    ``interval`` seconds, with its confidence interval ``[low, high]``."""

    per_second: float
    low: float
    high: float
    moved: int
    intervals: int
    interval: float
    confidence: float

    @property
    def per_minute(self) -> float:
        return 60.0 * self.per_second

    @property
    def naive_per_second(self) -> float:
        """Moves counted over the time observed: too low once intervals hold several moves."""
        return self.moved / (self.intervals * self.interval)

    @property
    def saturated(self) -> bool:
        """Every interval moved: the rate has a lower bound only."""
        return self.moved == self.intervals

    def describe(self, unit: str = "/min") -> str:
        """``1.19 /min (95 % CI 1.05 to 1.34)``."""
        level = f"{self.confidence * 100:g} % CI"
        if self.saturated:
            return (
                f"at least {_number(60 * self.low)} {unit} ({level} lower bound; every "
                "interval moved: probe with a shorter --interval)"
            )
        if self.moved == 0:
            return f"none seen ({level} 0 to {_number(60 * self.high)} {unit})"
        return (
            f"{_number(self.per_minute)} {unit} "
            f"({level} {_number(60 * self.low)} to {_number(60 * self.high)})"
        )


@dataclass(frozen=True)
class Pattern:
    """Whether the background moves look like a constant rate, bursts, or a timetable."""

    verdict: Literal["steady", "clustered", "regular", "unknown"]
    #: Pearson's dispersion of the per-window counts over its degrees of freedom: about 1 for
    #: a constant rate, well above 1 for bursts, below 1 for evenly spaced moves.
    dispersion: float | None = None
    #: The share of random rearrangements of the same moves at least as uneven.
    p_value: float | None = None
    windows: int = 0
    window: float = 0.0
    #: Coefficient of variation of the gaps between moves, and what a constant rate gives.
    gap_cv: float | None = None
    expected_gap_cv: float | None = None

    def describe(self) -> str:
        if self.verdict == "unknown" or self.dispersion is None or self.p_value is None:
            return "too few moves to tell a constant rate from bursts"
        words = {
            "steady": "steady (looks like a constant rate)",
            "clustered": "clustered (bursts: a scheduled job?)",
            "regular": "regular (more evenly spaced than chance: a timer?)",
        }[self.verdict]
        text = (
            f"{words}: dispersion index {self.dispersion:.2f} over {self.windows} windows of "
            f"{_duration(self.window)} (about 1 for a constant rate; "
            f"{_p_value(self.p_value, self.verdict)})"
        )
        if self.gap_cv is not None and self.expected_gap_cv is not None:
            text += (
                f"; the gaps' coefficient of variation is {self.gap_cv:.2f} "
                f"(about {self.expected_gap_cv:.2f} for a constant rate)"
            )
        return text


@dataclass(frozen=True)
class DocumentReport:
    """What the probe saw of one document."""

    document: str
    url: str
    #: Successful readings.
    readings: int
    #: Failed readings: what went wrong → how often.
    failures: Mapping[str, int]
    #: Intervals between readings at consecutive ticks (the rates' data).
    intervals: tuple[Interval, ...]
    #: Every change seen, between any two successive readings.
    changes: Mapping[str, int]
    #: Times (seconds since the start) of the readings that saw a background move.
    moves: tuple[float, ...]
    #: The ``Version`` values seen, in order, each once.
    versions: tuple[str, ...]
    #: How new iterations were told: ``"etag"``, ``"version"`` (opaque ETags, the
    #: ``Version`` property instead) or ``None`` (they could not be told).
    iterations_from: Literal["etag", "version"] | None
    #: Why reading stopped before the end (a 404), if it did.
    gone: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProbeReport:
    """The probe's findings. :meth:`summary` is the human report, :meth:`rates_toml` the
    mock's ``[rates]`` section."""

    service_root: str
    interval: float
    duration: float
    #: Seconds actually spent sampling.
    elapsed: float
    documents: tuple[DocumentReport, ...]
    interrupted: bool = False
    #: Ticks skipped because the readings before them took longer than the interval.
    skipped_ticks: int = 0
    _cache: dict[str, Pattern] = field(default_factory=dict, init=False, repr=False, compare=False)

    def _intervals(self, document: str | None) -> list[Interval]:
        if document is None:
            return [i for d in self.documents for i in d.intervals]
        for report in self.documents:
            if report.document == document:
                return list(report.intervals)
        raise KeyError(f"no document {document!r} was probed")

    def rate_ci(
        self,
        source: RateSource = "all",
        *,
        document: str | None = None,
        confidence: float = 0.95,
    ) -> RateEstimate | None:
        """The rate of ``source`` (all background moves, touches as the mock's ``indexer``,
        or ``State`` changes as its ``lifecycle_evaluator``), per document, over ``document``
        or pooled over every document; ``None`` when no interval was observed."""
        intervals = [i for i in self._intervals(document) if i.change in _ELIGIBLE]
        if source == "indexer":
            # A lifecycle change in an interval hides any touch there: count the others.
            intervals = [i for i in intervals if i.change != "lifecycle"]
            moved = sum(i.change == "touch" for i in intervals)
        elif source == "lifecycle_evaluator":
            moved = sum(i.change == "lifecycle" for i in intervals)
        else:
            moved = sum(i.change in _BACKGROUND for i in intervals)
        if not intervals:
            return None
        n = len(intervals)
        delta = sum(i.length for i in intervals) / n
        p_low, p_high = clopper_pearson(moved, n, confidence)
        return RateEstimate(
            per_second=_rate(moved / n, delta),
            low=_rate(p_low, delta),
            high=_rate(p_high, delta),
            moved=moved,
            intervals=n,
            interval=delta,
            confidence=confidence,
        )

    def gaps(self) -> list[float]:
        """Seconds between successive background moves of each document, all documents."""
        return [b - a for d in self.documents for a, b in zip(d.moves, d.moves[1:], strict=False)]

    def pattern(self) -> Pattern:
        """Steady, clustered or regular: see :class:`Pattern`."""
        if "pattern" not in self._cache:
            self._cache["pattern"] = _pattern(self)
        return self._cache["pattern"]

    def homogeneity(self) -> tuple[float, int, float] | None:
        """Do the documents share one rate? ``(chi-square, degrees of freedom, p-value)`` of
        the documents' shares of moved intervals; ``None`` for fewer than two documents."""
        table = []
        for report in self.documents:
            eligible = [i for i in report.intervals if i.change in _ELIGIBLE]
            if eligible:
                table.append((sum(i.change in _BACKGROUND for i in eligible), len(eligible)))
        if len(table) < 2:
            return None
        p = sum(k for k, _ in table) / sum(n for _, n in table)
        if p in (0.0, 1.0):
            return 0.0, len(table) - 1, 1.0
        chi2 = sum((k - n * p) ** 2 / (n * p * (1 - p)) for k, n in table)
        return chi2, len(table) - 1, _chi2_sf(chi2, len(table) - 1)

    def new_iterations(self) -> int:
        return sum(d.changes.get("new_iteration", 0) for d in self.documents)

    def rates(self) -> dict[str, float]:
        """The mock's rates that reproduce what was seen (events per second per document):
        the estimate, or its lower bound when every interval moved."""
        rates: dict[str, float] = {}
        sources: tuple[RateSource, ...] = ("indexer", "lifecycle_evaluator")
        for source in sources:
            estimate = self.rate_ci(source)
            if estimate is not None:
                rates[source] = estimate.low if estimate.saturated else estimate.per_second
        if rates:
            rates["cache_sync"] = 0.0
        return {source: rates[source] for source in SOURCES if source in rates}

    def rates_toml(self) -> str:
        """A ``[rates]`` section for the mock's TOML file, with comments on its origin."""
        lines = [f"# Measured by windchill-mock probe: {self._what_was_read()}."]
        rates = self.rates()
        if not rates:
            lines += ["# No interval was observed: no rates.", "[rates]"]
            return "\n".join(lines) + "\n"
        indexer = self.rate_ci("indexer")
        lifecycle = self.rate_ci("lifecycle_evaluator")
        if indexer is not None:
            lines.append(
                "# indexer: ETag moves with the same iteration and State, "
                + indexer.describe("/min")
                + "."
            )
        if lifecycle is not None:
            lines.append(
                "# lifecycle_evaluator: moves that changed State, "
                + lifecycle.describe("/min")
                + "."
            )
        lines += [
            "# cache_sync: reading cannot tell it from the indexer; its moves are counted there.",
            "# Events per second per document. Other users' work is left out: "
            + _plural(self.new_iterations(), "new iteration")
            + ", "
            + _plural(sum(d.changes.get("checkout", 0) for d in self.documents), "check-out change")
            + ".",
            "# Durations are not measured (a reader cannot see how long a document is busy).",
            "[rates]",
        ]
        comments = [
            textwrap.fill(line[2:], 98, initial_indent="# ", subsequent_indent="#   ")
            if line.startswith("# ")
            else line
            for line in lines
        ]
        comments += [f"{source} = {_toml_float(rate)}" for source, rate in rates.items()]
        return "\n".join(comments) + "\n"

    def summary(self) -> str:
        """The human report."""
        out: list[str] = []
        if self.interrupted:
            out.append(
                f"Interrupted after {_duration(self.elapsed)} of {_duration(self.duration)}: "
                "the report covers what was seen so far."
            )
        out.append(f"Probed {redact_url(self.service_root)}: {self._what_was_read()} (GET only).")
        if self.skipped_ticks:
            out.append(
                f"{_plural(self.skipped_ticks, 'tick')} skipped: the readings took longer than "
                "the interval (the intervals around them are left out of the rates)."
            )
        for report in self.documents:
            out += _document_notes(report)
        out.append("")
        out += self._rate_lines()
        gaps = self.gaps()
        if gaps:
            out.append(
                f"Gaps between moves: min {_duration(min(gaps))}, median "
                f"{_duration(statistics.median(gaps))}, max {_duration(max(gaps))} "
                f"(to within the {_duration(self.interval)} interval)."
            )
        out.append("Pattern: " + self.pattern().describe() + ".")
        out += self._other_users_lines()
        text = "\n".join(_wrap(line) for line in out)
        return text + "\n\nFor the mock's TOML file (--toml FILE writes it):\n" + self.rates_toml()

    def _what_was_read(self) -> str:
        rounds = max((d.readings for d in self.documents), default=0)
        return (
            f"{_plural(len(self.documents), 'document')} read every {_duration(self.interval)} "
            f"for {_duration(self.elapsed)}, {_plural(rounds, 'reading')} each"
        )

    def _rate_lines(self) -> list[str]:
        pooled = self.rate_ci("all")
        if pooled is None:
            return ["No two successive readings of a document: no rate can be estimated."]
        lines = ["ETag moves without a new iteration (touches), per document:"]
        width = max(len(d.document) for d in self.documents)
        width = max(width, len("all documents"))
        for report in self.documents:
            estimate = self.rate_ci("all", document=report.document)
            if estimate is not None:
                lines.append(f"  {report.document:<{width}}  {_rate_row(estimate)}")
        lines.append(f"  {'all documents':<{width}}  {_rate_row(pooled)}")
        if pooled.moved:
            lines.append(
                f"  (counting moves over the time observed would say "
                f"{_number(60 * pooled.naive_per_second)} /min: two moves in one interval "
                "look like one)"
            )
        lifecycle = self.rate_ci("lifecycle_evaluator")
        if lifecycle is not None:
            lines.append("  of which State changed (lifecycle changes): " + lifecycle.describe())
        homogeneity = self.homogeneity()
        if homogeneity is not None and homogeneity[2] < _SIGNIFICANCE:
            chi2, df, p = homogeneity
            lines.append(
                f"  The documents' rates differ (chi-square {chi2:.1f} on {df} df, "
                f"p = {p:.2g}): the mock's one rate per document is their average."
            )
        return lines

    def _other_users_lines(self) -> list[str]:
        lines: list[str] = []
        for report in self.documents:
            count = report.changes.get("new_iteration", 0)
            if count:
                versions = " -> ".join(report.versions)
                lines.append(
                    f"  {report.document}: {_plural(count, 'new iteration')}"
                    + (f" ({versions})" if len(report.versions) > 1 else "")
                )
            checkouts = report.changes.get("checkout", 0)
            if checkouts:
                lines.append(
                    f"  {report.document}: {_plural(checkouts, 'check-out change')} by another user"
                )
        if not lines:
            return ["No new iterations or check-outs by other users."]
        return ["Other users' work (left out of the rates):", *lines]


# ---------------------------------------------------------------------------- sampling


@dataclass(frozen=True)
class _Reading:
    etag: str
    opaque: str
    iteration: int | None
    version: str | None
    state: object
    checkout: object
    latest: object
    version_id: str | None


class _Unauthorized(Exception):
    pass


@dataclass
class _Track:
    """One document's readings so far."""

    document: str
    url: str
    key: str
    set_url: str
    last: _Reading | None = None
    last_tick: int = -1
    last_t: float = 0.0
    readings: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    intervals: list[Interval] = field(default_factory=list)
    changes: Counter[str] = field(default_factory=Counter)
    moves: list[float] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    etag_iterations: bool = True
    version_iterations: bool = True
    gone: str | None = None
    notes: list[str] = field(default_factory=list)

    def sample(self, session: requests.Session, tick: int, t: float, timeout: float) -> Sample:
        try:
            reading = self._read(session, self.key, timeout)
            if reading.latest is False and reading.version_id and reading.version_id != self.key:
                # The ID names a past iteration now: follow the version to its latest one.
                followed = self._read(session, reading.version_id, timeout)
                self.key = reading.version_id
                self._note(f"read by {self.key} after a new iteration took over its ID")
                if followed.latest is False:
                    self._note("a newer revision exists: probe it by its own ID")
                reading = followed
        except _Gone as gone:
            self.gone = gone.message
            self.failures[gone.message] += 1
            return Sample(self.document, tick, t, None, None, None, gone.message)
        except _Failed as failed:
            self.failures[failed.message] += 1
            return Sample(self.document, tick, t, None, None, None, failed.message)
        change = self._record(reading, tick, t)
        return Sample(self.document, tick, t, reading.etag, reading.version, change)

    def _read(self, session: requests.Session, key: str, timeout: float) -> _Reading:
        url = self.set_url + _key_segment(key)
        try:
            response = session.get(url, headers={"Accept": "application/json"}, timeout=timeout)
        except requests.RequestException as error:
            raise _Failed(f"no answer from {redact_url(url)} ({type(error).__name__})") from None
        if response.status_code == 401:
            raise _Unauthorized(f"401 Unauthorized from {redact_url(url)}: {_CREDENTIALS_HINT}")
        if response.status_code in (403, 404):
            raise _Gone(f"{response.status_code} {_error_text(response)} at {redact_url(url)}")
        if response.status_code != 200:
            raise _Failed(f"HTTP {response.status_code} {_error_text(response)}".strip())
        try:
            entity = response.json()
        except ValueError:
            raise _Failed("the answer is not JSON") from None
        if not isinstance(entity, dict):
            raise _Failed("the answer is not a JSON object")
        etag = response.headers.get("ETag") or entity.get("@odata.etag")
        if not isinstance(etag, str) or not etag:
            raise _Failed("no ETag in the answer (neither the header nor @odata.etag)")
        ours = _OUR_ETAG.fullmatch(etag.strip())
        state = entity.get("State")
        version = entity.get("Version")
        version_id = entity.get("VersionID")
        return _Reading(
            etag=etag,
            opaque=etag.strip().removeprefix("W/"),
            iteration=int(ours.group(1)) if ours else None,
            version=version if isinstance(version, str) else None,
            state=state.get("Value") if isinstance(state, dict) else state,
            checkout=entity.get("CheckoutState"),
            latest=entity.get("Latest"),
            version_id=version_id if isinstance(version_id, str) else None,
        )

    def _record(self, reading: _Reading, tick: int, t: float) -> Change | None:
        self.readings += 1
        if reading.iteration is None:
            self.etag_iterations = False
        if reading.version is None:
            self.version_iterations = False
        if reading.version is not None and (
            not self.versions or self.versions[-1] != reading.version
        ):
            self.versions.append(reading.version)
        previous, previous_tick, previous_t = self.last, self.last_tick, self.last_t
        self.last, self.last_tick, self.last_t = reading, tick, t
        if previous is None:
            return None
        change = self._classify(previous, reading)
        if change != "none":
            self.changes[change] += 1
        if change in _BACKGROUND:
            self.moves.append(t)
        if tick == previous_tick + 1:
            self.intervals.append(Interval(previous_t, t, tick, change))
        return change

    def _classify(self, before: _Reading, after: _Reading) -> Change:
        if before.opaque == after.opaque:
            return "none"
        # The ETag's iteration where both can be read, else the Version property.
        if before.iteration is not None and after.iteration is not None:
            if before.iteration != after.iteration:
                return "new_iteration"
        elif None not in (before.version, after.version) and before.version != after.version:
            return "new_iteration"
        if before.checkout != after.checkout:
            return "checkout"
        if before.state != after.state:
            return "lifecycle"
        return "touch"

    def _note(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)

    def report(self) -> DocumentReport:
        iterations_from: Literal["etag", "version"] | None = None
        notes = list(self.notes)
        if self.readings and self.etag_iterations:
            iterations_from = "etag"
        elif self.readings and self.version_iterations:
            iterations_from = "version"
            notes.append("its ETags are opaque: new iterations are told by the Version property")
        elif self.readings:
            notes.append(
                "its ETags are opaque and it has no Version: new iterations cannot be told, "
                "every move counts as background work"
            )
        return DocumentReport(
            document=self.document,
            url=self.url,
            readings=self.readings,
            failures=dict(self.failures),
            intervals=tuple(self.intervals),
            changes=dict(self.changes),
            moves=tuple(self.moves),
            versions=tuple(self.versions),
            iterations_from=iterations_from,
            gone=self.gone,
            notes=tuple(notes),
        )


class _Failed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Gone(_Failed):
    """The document cannot be read at all (403, 404): reading it stops."""


def entity_url(service_root: str, document: str) -> str:
    """The URL that reads ``document``: a ``wt.doc`` ID under ``DocMgmt/Documents``, a
    ``wt.part`` ID under ``ProdMgmt/Parts``; ``ValueError`` for any other ID."""
    for marker, entity_set in _ENTITY_SETS:
        if f":{marker}" in document and document.split(":", 1)[0] in ("OR", "VR"):
            return f"{service_root.rstrip('/')}/{entity_set}" + _key_segment(document)
    raise ValueError(
        f"cannot tell what {document!r} is: give an OR: or VR: ID of a document "
        "(OR:wt.doc.WTDocument:123) or a part (OR:wt.part.WTPart:456)"
    )


def _key_segment(key: str) -> str:
    """``('OR:wt.doc.WTDocument:1')``: an OData key, quotes doubled, percent-encoded."""
    return "('" + quote(key.replace("'", "''"), safe=":.") + "')"


def probe(
    session: requests.Session,
    service_root: str,
    documents: Sequence[str],
    *,
    interval: float,
    duration: float,
    sleep: Callable[[float], object],
    now: Callable[[], float],
    on_sample: Callable[[Sample], object] | None = None,
    timeout: float = 30.0,
) -> ProbeReport:
    """Read each of ``documents`` every ``interval`` seconds for ``duration`` seconds, with
    GET only, and report how their ETags moved.

    ``sleep`` and ``now`` give the time (``time.sleep`` and ``time.monotonic``, or a virtual
    clock's). Ctrl+C (``KeyboardInterrupt``) ends the sampling early: the report then covers
    what was seen and says it was interrupted. A document that answers 403 or 404 is no
    longer read; :class:`ProbeError` when the credentials are refused (401), or when no
    document could be read at the first tick.
    """
    for name, value in (("interval", interval), ("duration", duration)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")
    if not documents:
        raise ValueError("give at least one document")
    root = service_root.rstrip("/")
    tracks = []
    for document in dict.fromkeys(documents):
        url = entity_url(root, document)
        tracks.append(_Track(document, url, document, url.removesuffix(_key_segment(document))))
    start = now()
    tick = 0
    skipped = 0
    interrupted = False

    def report() -> ProbeReport:
        return ProbeReport(
            service_root=root,
            interval=interval,
            duration=duration,
            elapsed=max(0.0, now() - start),
            documents=tuple(track.report() for track in tracks),
            interrupted=interrupted,
            skipped_ticks=skipped,
        )

    try:
        while tick * interval <= duration * (1 + 1e-12):
            wait = start + tick * interval - now()
            if wait > 0:
                sleep(wait)
            for track in tracks:
                if track.gone is not None:
                    continue
                sample = track.sample(session, tick, now() - start, timeout)
                if on_sample is not None:
                    on_sample(sample)
            if tick == 0:
                _check_first_tick(tracks, report)
            if all(track.gone is not None for track in tracks):
                break
            behind = math.floor((now() - start) / interval - _LATE_TOLERANCE)
            if behind > tick:
                skipped += behind - tick
                tick = behind
            tick += 1
    except KeyboardInterrupt:
        interrupted = True
    except _Unauthorized as error:
        raise ProbeError(str(error), report()) from None
    return report()


def _check_first_tick(tracks: list[_Track], report: Callable[[], ProbeReport]) -> None:
    if any(track.readings for track in tracks):
        return
    problems = "; ".join(
        f"{track.document}: {next(iter(track.failures), 'no answer')}" for track in tracks
    )
    raise ProbeError(
        f"no document could be read ({problems}). --url must be the OData service root, "
        "ending in /Windchill/servlet/odata; the IDs must be OR: or VR: IDs of that server",
        report(),
    )


# ---------------------------------------------------------------------------- statistics


def _rate(p: float, delta: float) -> float:
    """The Poisson rate at which an interval of ``delta`` seconds holds a move with
    probability ``p``."""
    if p >= 1.0:
        return math.inf
    return -math.log1p(-p) / delta


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) confidence interval of a binomial proportion ``k/n``."""
    if not 0 <= k <= n or n < 1:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence lies in (0, 1), got {confidence!r}")
    tail = (1 - confidence) / 2
    # P(X >= k | p) rises with p; P(X <= k | p) falls with p.
    low = 0.0 if k == 0 else _bisect(lambda p: _betainc(k, n - k + 1, p) - tail)
    high = 1.0 if k == n else _bisect(lambda p: tail - _betainc(n - k, k + 1, 1 - p))
    return low, high


def _bisect(rising: Callable[[float], float]) -> float:
    """The root in (0, 1) of a function that rises through zero there."""
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if rising(mid) < 0:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-15:
            break
    return (lo + hi) / 2


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function ``I_x(a, b)``: ``P(X >= a)`` for a binomial
    with ``a + b - 1`` trials of probability ``x``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300

    def guard(value: float) -> float:
        return tiny if abs(value) < tiny else value

    c = 1.0
    d = 1.0 / guard(1.0 - (a + b) * x / (a + 1))
    h = d
    for m in range(1, 100_000):
        even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        d = 1.0 / guard(1.0 + even * d)
        c = guard(1.0 + even / c)
        h *= d * c
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        d = 1.0 / guard(1.0 + odd * d)
        c = guard(1.0 + odd / c)
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-15:
            break
    return h


def _chi2_sf(x: float, df: int) -> float:
    """``P(X >= x)`` for a chi-square variable with ``df`` degrees of freedom."""
    if x <= 0:
        return 1.0
    a, y = df / 2.0, x / 2.0
    log_front = -y + a * math.log(y) - math.lgamma(a)
    if y < a + 1:  # the series of the lower tail
        term = total = 1.0 / a
        k = a
        while abs(term) > abs(total) * 1e-16:
            k += 1
            term *= y / k
            total += term
        return max(0.0, 1.0 - total * math.exp(log_front))
    tiny = 1e-300  # the continued fraction of the upper tail (modified Lentz)
    b = y + 1 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 100_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-15:
            break
    return math.exp(log_front) * h


def _pattern(report: ProbeReport) -> Pattern:
    sequences = [
        [i.change in _BACKGROUND for i in d.intervals if i.change in _ELIGIBLE]
        for d in report.documents
    ]
    pooled = report.rate_ci("all")
    if pooled is None:
        return Pattern("unknown")
    longest = max(len(s) for s in sequences)
    width = max(2, min(round(_WINDOW_SECONDS / pooled.interval), longest // 10))
    groups = []
    for sequence in sequences:
        windows = len(sequence) // width
        used = sequence[: windows * width]
        moved = sum(used)
        if windows >= 2 and 0 < moved < len(used):
            groups.append((used, windows))
    moves = sum(sum(used) for used, _ in groups)
    df = sum(windows - 1 for _, windows in groups)
    if moves < 4 or df < 2:
        return Pattern("unknown")
    observed = _dispersion([_window_counts(used, width) for used, _ in groups], width)
    p_high, p_low = _permutation_p_values(groups, width, observed)
    if p_high <= _SIGNIFICANCE:
        verdict: Literal["steady", "clustered", "regular"] = "clustered"
        p_value = p_high
    elif p_low <= _SIGNIFICANCE:
        verdict, p_value = "regular", p_low
    else:
        verdict, p_value = "steady", p_high
    gap_cv, expected = _gap_cvs(report, pooled)
    return Pattern(
        verdict,
        dispersion=observed / df,
        p_value=p_value,
        windows=sum(windows for _, windows in groups),
        window=width * pooled.interval,
        gap_cv=gap_cv,
        expected_gap_cv=expected,
    )


def _window_counts(sequence: Sequence[bool], width: int) -> list[int]:
    return [sum(sequence[i : i + width]) for i in range(0, len(sequence), width)]


def _dispersion(groups: Iterable[Sequence[int]], width: int) -> float:
    """Pearson's chi-square of window counts against a binomial of each document's share."""
    total = 0.0
    for counts in groups:
        p = sum(counts) / (len(counts) * width)
        expected = width * p
        total += sum((c - expected) ** 2 for c in counts) / (expected * (1 - p))
    return total


def _permutation_p_values(
    groups: Sequence[tuple[Sequence[bool], int]], width: int, observed: float
) -> tuple[float, float]:
    """How often the same moves, put at random intervals of each document, spread at least
    (upper) and at most (lower) as unevenly as observed: exact under a constant rate, however
    few the moves per window."""
    generator = random.Random(0)  # the same report for the same readings
    moved = sum(min(sum(used), len(used) - sum(used)) for used, _ in groups)
    rounds = max(199, min(999, 2_000_000 // max(1, moved)))
    high = low = 1
    tolerance = 1e-9 * max(1.0, observed)
    for _ in range(rounds):
        simulated = []
        for used, windows in groups:
            k = sum(used)
            # Placing the k moves or the n - k still intervals gives the same statistic.
            placed = min(k, len(used) - k)
            counts = [0] * windows
            for position in generator.sample(range(len(used)), placed):
                counts[position // width] += 1
            if placed != k:
                counts = [width - c for c in counts]
            simulated.append(counts)
        value = _dispersion(simulated, width)
        high += value >= observed - tolerance
        low += value <= observed + tolerance
    return high / (rounds + 1), low / (rounds + 1)


def _gap_cvs(report: ProbeReport, pooled: RateEstimate) -> tuple[float | None, float | None]:
    gaps = report.gaps()
    if len(gaps) < 3:
        return None, None
    mean = statistics.fmean(gaps)
    p = pooled.moved / pooled.intervals
    # Gaps between moved intervals are geometric under a constant rate: CV sqrt(1 - p).
    return statistics.pstdev(gaps) / mean, math.sqrt(max(0.0, 1 - p))


# ---------------------------------------------------------------------------- words


def _number(value: float) -> str:
    if math.isinf(value):
        return "no bound"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value == 0:
        return "0"
    return f"{value:#.3g}"


def _rate_row(estimate: RateEstimate) -> str:
    return f"{estimate.describe()}, {estimate.moved} of {estimate.intervals} intervals moved"


def _p_value(p: float, verdict: str) -> str:
    if verdict == "regular":
        return f"p = {p:.3f}: a constant rate spreads its moves less evenly"
    if verdict == "clustered":
        return f"p = {p:.3f}: a constant rate spreads its moves more evenly"
    return f"{p:.0%} of random rearrangements of the same moves are as uneven"


def _wrap(line: str) -> str:
    """A line of the report folded at 100 columns, its continuation indented."""
    indent = line[: len(line) - len(line.lstrip())]
    return textwrap.fill(line, 100, subsequent_indent=indent + "  ", break_on_hyphens=False)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _duration(seconds: float) -> str:
    """``500 ms``, ``2 s``, ``1 min 30 s``, ``3 h 5 min``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.3g} s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{minutes} min" + (f" {secs} s" if secs else "")


def _toml_float(value: float) -> str:
    text = repr(float(f"{value:.6g}"))
    return text if any(c in text for c in ".en") else text + ".0"


def _document_notes(report: DocumentReport) -> list[str]:
    lines = []
    if report.gone is not None:
        lines.append(f"{report.document}: stopped reading it: {report.gone}")
    failures = {m: c for m, c in report.failures.items() if m != report.gone}
    if failures:
        listed = "; ".join(f"{message} ({count}x)" for message, count in failures.items())
        lines.append(f"{report.document}: failed readings: {listed}")
    lines += [f"{report.document}: {note}" for note in report.notes]
    return lines


def _error_text(response: requests.Response) -> str:
    """The OData error's code and message, or the reason phrase, short."""
    try:
        error = response.json().get("error", {})
        text = f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
    except (ValueError, AttributeError):
        text = ""
    return (text or response.reason or "")[:200]


def redact_url(url: str) -> str:
    """``url`` without any user name or password in it (also when it is no well-formed URL:
    anything up to an ``@`` after ``//`` goes)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return re.sub(r"//[^@]*@", "//", url)
    if parts.username is None and parts.password is None:
        return re.sub(r"//[^@]*@", "//", url) if "@" in url else url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{port}" if port else "")
    return urlunsplit(parts._replace(netloc=netloc))


# ---------------------------------------------------------------------------- command line

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|min|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in ``2s``, ``500ms``, ``1m``, ``1m30s``, ``1h``; ``ValueError`` otherwise."""
    compact = text.strip().lower()
    position, total = 0, 0.0
    while position < len(compact):
        match = _DURATION_PART.match(compact, position)
        if match is None:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
        while position < len(compact) and compact[position] == " ":
            position += 1
    if not compact or position != len(compact):
        raise ValueError(f"{text!r} is not a duration: write e.g. 500ms, 2s, 1m30s, 10m, 1h")
    if not (math.isfinite(total) and total > 0):
        raise ValueError(f"{text!r} is not a duration > 0")
    return total


def _duration_option(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as error:
        raise click.BadParameter(str(error), ctx, param) from None


_EPILOG = (
    "Credentials: --user (or WINDCHILL_USER) with the password from WINDCHILL_PASSWORD, asked "
    "for on a terminal if unset; without a user, your ~/.netrc. The password is never shown.\n\n"
    "\b\nExample:\n"
    "  windchill-mock probe --url https://plm.example.com/Windchill/servlet/odata \\\n"
    "      --document OR:wt.doc.WTDocument:164057 --interval 2s --for 10m --toml rates.toml"
)


@click.command("probe", epilog=_EPILOG)
@click.option(
    "--url",
    required=True,
    metavar="URL",
    help="The OData service root: https://HOST/Windchill/servlet/odata.",
)
@click.option(
    "--document",
    "documents",
    multiple=True,
    required=True,
    metavar="ID",
    help="An OR: or VR: ID of a document (wt.doc) or part (wt.part); repeat for several.",
)
@click.option(
    "--interval",
    metavar="DURATION",
    default="2s",
    callback=_duration_option,
    show_default=True,
    help="Time between two readings of a document: 500ms, 2s, 1m.",
)
@click.option(
    "--for",
    "duration",
    metavar="DURATION",
    default="10m",
    callback=_duration_option,
    show_default=True,
    help="How long to probe: 90s, 10m, 1h. Ctrl+C stops early and reports.",
)
@click.option(
    "--toml",
    "toml_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the [rates] section for the mock's TOML file to this file.",
)
@click.option("--user", envvar="WINDCHILL_USER", show_envvar=True, help="The Windchill user.")
def probe_command(
    url: str,
    documents: tuple[str, ...],
    interval: float,
    duration: float,
    toml_path: Path | None,
    user: str | None,
) -> None:
    """Measure how often documents' ETags move on a Windchill server, by reading only.

    Reads each document's ETag and version with GET at a steady pace (it never writes) and
    reports the touches per minute (ETag moves without a new iteration) with a 95 % confidence
    interval, the gaps between them, whether they come at a steady rate or in bursts, and a
    [rates] section that makes windchill-mock reproduce them.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(f"{redact_url(url)!r} is not an http(s) URL", param_hint="--url")
    if interval > duration:
        raise click.BadParameter(
            "the interval is longer than the whole probe (--for)", param_hint="--interval"
        )
    for document in documents:
        try:
            entity_url(url, document)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--document") from None
    session = requests.Session()
    session.auth = _credentials(user)
    try:
        if sys.stderr.isatty():
            report = _probe_with_bar(session, url, documents, interval, duration, sys.stderr)
        else:
            report = probe(
                session,
                url,
                documents,
                interval=interval,
                duration=duration,
                sleep=time.sleep,
                now=time.monotonic,
            )
    except ProbeError as error:
        if error.report is not None and any(d.intervals for d in error.report.documents):
            click.echo(error.report.summary())
        raise click.ClickException(error.message) from None
    finally:
        session.close()
    click.echo(report.summary())
    if toml_path is not None:
        try:
            toml_path.write_text(report.rates_toml(), encoding="utf-8")
        except OSError as error:
            raise click.ClickException(f"cannot write {toml_path}: {error.strerror}") from None
        click.echo(f"Wrote the [rates] section to {toml_path}.")


def _credentials(user: str | None) -> tuple[str, str] | None:
    password = os.environ.get("WINDCHILL_PASSWORD")
    if not user:
        if password:
            raise click.UsageError("WINDCHILL_PASSWORD is set but no user: give --user")
        return None  # requests reads ~/.netrc
    if password is None:
        if not sys.stdin.isatty():
            raise click.UsageError(f"no password for {user}: set WINDCHILL_PASSWORD")
        password = str(click.prompt(f"Password for {user}", hide_input=True))
    return user, password


def _probe_with_bar(
    session: requests.Session,
    url: str,
    documents: Sequence[str],
    interval: float,
    duration: float,
    stream: Any,
) -> ProbeReport:
    ticks = math.floor(duration / interval) + 1
    moves = 0

    def show(_: object) -> str:
        return _plural(moves, "move")

    with click.progressbar(length=ticks, label="Probing", file=stream, item_show_func=show) as bar:

        def on_sample(sample: Sample) -> None:
            nonlocal moves
            moves += sample.change in _BACKGROUND
            if sample.tick + 1 > bar.pos:
                bar.update(sample.tick + 1 - bar.pos, sample)

        return probe(
            session,
            url,
            documents,
            interval=interval,
            duration=duration,
            sleep=time.sleep,
            now=time.monotonic,
            on_sample=on_sample,
        )
