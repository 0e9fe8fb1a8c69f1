"""``windchill-mock calibrate``: a mock config fitted to an integration's real traffic.

The command reads a HAR 1.2 file (what browsers, mitmproxy and most proxies export), finds the
integration's GET-then-PATCH pairs, measures how often the PATCH was refused (409 and 412
apart) and how the ETag moved between read and write, fits the background rate at which the
``thread`` profile of the mock gives the same 409 rate for the same read-to-write gaps, writes
it as a TOML config, and checks itself by replaying the pattern against that config.

The steps are a library as well::

    pairs = read_har("traffic.har")       # list[Pair]
    measurement = measure(pairs)          # rates, ETag moves, gaps
    fitted = fit(measurement)             # fitted.config(): MockConfig keywords; fitted.toml()
    result = replay("windchill-calibrated.toml", pairs, repeat=20, seed=0)

**Pairs.** An entity is the percent-decoded URL path up to and including its key ``('…')``
(case-sensitive; the query is ignored); a GET or PATCH of anything else (a collection, an
action, ``$batch``, a page of another site) is ignored. Each PATCH that sends ``If-Match`` is
paired with the latest successful (2xx or 304) GET of its entity that no PATCH has been paired
with yet. A retry that does not read again therefore forms no pair of its own: it is counted
with the pair before it (and as a stale ``If-Match`` if it sends one the server refused).

**Gaps.** The read-to-write gap runs from the moment the server read the entity for the GET to
the moment it checked the PATCH. Each is estimated as the middle of the request's ``wait``
phase (after ``blocked``, ``dns``, ``connect`` and ``send``) when the entry has ``timings``,
else the middle of its ``time``; a gap below zero (overlapping requests) counts as 0.

**Model.** In the ``thread`` profile a background touch (a micro-update by the indexer, cache
synchronisation or the lifecycle evaluator) that lands between a client's GET and its PATCH
moves the ETag's stamp, and the PATCH gets 409. With Poisson arrivals at a total rate ``L``
per document, ``P(409 | gap g) = 1 - exp(-L * g)``; ``L`` is fitted by bisection so that the
mean of that over the observed pairs equals the observed 409 rate. The config sets every
``durations`` entry to 0 so that no PATCH meets an operation still in flight (with a duration
``d`` the probability would be ``1 - exp(-L * max(g, d))``). 412s mean the iteration moved,
a new version made by another user; background rates do not make those, the ``concurrent_edit``
and ``new_iteration`` interventions of a test's schedule do.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import click

from mock_server.config import MockConfig
from mock_server.core.background import SOURCES
from mock_server.core.clock import VirtualClock
from mock_server.core.errors import MockError, WindchillError
from mock_server.core.etag import ETag, parse_etag, parse_if_match
from mock_server.http.app import create_app
from mock_server.http.odata import ROOT

from .transport import DEFAULT_BASE_URL, in_process_session

__all__ = [
    "DEFAULT_OUTPUT",
    "DEFAULT_REPEAT",
    "Fit",
    "HarError",
    "LaterPatch",
    "Measurement",
    "Move",
    "Pair",
    "ReplayResult",
    "Traffic",
    "calibrate_command",
    "conflict_probability",
    "fit",
    "measure",
    "read_har",
    "read_traffic",
    "replay",
    "wilson_interval",
]

DEFAULT_OUTPUT = "windchill-calibrated.toml"
DEFAULT_REPEAT = 20
#: The background source the fitted rate is given to; the others get 0.
FITTED_SOURCE = "indexer"
#: The two-sided 95 % normal quantile.
_Z95 = 1.959963984540054
#: When every pair that could conflict did, the written rate makes the model's 409 rate this
#: close to that maximum: a replay of a thousand pairs twenty times then still sees no success.
_SATURATION = 1e-6
#: An entity's path: everything up to and including its key, ``…/Documents('OR:…')``.
_ENTITY_PATH = re.compile(r"(?P<entity>.*\('(?:[^']|'')*'\))/?")

MoveKind = Literal["touch", "new_version", "unchanged", "unknown"]
#: How the ETag moved between a refused PATCH's ``If-Match`` and the server's next ETag.
MOVE_KINDS: tuple[MoveKind, ...] = ("touch", "new_version", "unchanged", "unknown")


class HarError(ValueError):
    """A file that is not HAR, or an entry of it that is malformed (the message says which)."""


# ---------------------------------------------------------------- reading HAR


@dataclass(frozen=True)
class Move:
    """The server's next ETag against the refused ``If-Match``.

    ``touch``: same iteration, the stamp moved (a background micro-update); ``new_version``:
    the iteration moved (another user's edit, a check-in); ``unchanged``: the same ETag (the
    document was busy); ``unknown``: no next ETag, ETags not of the ``"v2.1708523400000"``
    form, or a next ETag that is not a later state (its iteration or stamp went back).
    ``delta_ms`` is the stamp's move, where both are of that form.
    """

    kind: MoveKind
    delta_ms: int | None = None


@dataclass(frozen=True)
class LaterPatch:
    """A PATCH of a pair's entity after the pair's own and before the entity is read again."""

    entry: int
    status: int
    #: It followed a refused (409/412) PATCH of the same entity.
    retry: bool
    #: Its ``If-Match`` had already been refused for this entity.
    stale_if_match: bool


@dataclass(frozen=True)
class Pair:
    """A GET of an entity and the PATCH that followed it, with ``If-Match``."""

    entity: str
    #: Indexes of the two entries in ``log.entries``.
    get_entry: int
    patch_entry: int
    #: Seconds from the server's read to its check of the write (see the module's docstring).
    gap: float
    #: The PATCH's status.
    status: int
    if_match: str
    #: The GET's ``ETag``, if it had one.
    read_etag: str | None = None
    #: For a refused PATCH: its own response's ``ETag``, else that of the next successful GET.
    next_etag: str | None = None
    #: The PATCH followed a refused (409/412) PATCH of the same entity: a retry that read again.
    retry: bool = False
    #: Its ``If-Match`` had already been refused for this entity.
    stale_if_match: bool = False
    later_patches: tuple[LaterPatch, ...] = ()

    @property
    def counted(self) -> bool:
        """Whether the pair counts in the rates: its PATCH applied (2xx), or got 409 or 412."""
        return _counted(self.status)

    @property
    def move(self) -> Move | None:
        """How the ETag moved, for a 409 or 412; ``None`` otherwise."""
        if self.status not in (409, 412):
            return None
        return _classify_move(self.if_match, self.next_etag)


@dataclass(frozen=True)
class Traffic:
    """What a HAR file holds: its pairs, and counts of everything else, for the report."""

    entries: int
    #: GETs and PATCHes of entities (``…('key')``).
    gets: int
    patches: int
    #: Entries that are neither (other OData requests, other traffic).
    ignored: int
    patches_without_if_match: int
    #: PATCHes with ``If-Match`` and no successful GET of their entity before them.
    patches_without_read: int
    pairs: tuple[Pair, ...]

    def found(self) -> str:
        """``12 GETs, 0 PATCHes of OData entities (30 other entries ignored)``."""
        text = f"{_plural(self.gets, 'GET')}, {_plural(self.patches, 'PATCH')} of OData entities"
        details = []
        if self.patches_without_if_match:
            details.append(f"{self.patches_without_if_match} without If-Match")
        if self.patches_without_read:
            details.append(f"{self.patches_without_read} with no GET of their entity before them")
        if details:
            text += f" (PATCHes: {', '.join(details)})"
        return f"{text}; {_plural(self.ignored, 'other entry', 'other entries')} ignored"


def read_har(path: str | Path) -> list[Pair]:
    """The GET-then-PATCH pairs of a HAR file, in the order of their PATCHes."""
    return list(read_traffic(path).pairs)


def read_traffic(path: str | Path) -> Traffic:
    """Read a HAR file: its pairs and what else it held. :class:`HarError` if it is not HAR."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise HarError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise HarError(f"{path} is not a HAR file: it is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise HarError(
            f"{path} is not a HAR file: not JSON ({error.msg} at line {error.lineno}, "
            f"column {error.colno})"
        ) from None
    log = data.get("log") if isinstance(data, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise HarError(
            f'{path} is not a HAR file: expected an object {{"log": {{"entries": [...]}}}}'
        )
    return _pair_up(entries)


@dataclass(frozen=True)
class _Exchange:
    index: int
    method: str
    entity: str
    started: datetime
    #: When the server handled it, in milliseconds after ``started``.
    offset_ms: float
    status: int
    etag: str | None
    if_match: str | None


@dataclass
class _Building:
    """A pair being put together."""

    get: _Exchange
    patch: _Exchange
    retry: bool
    stale: bool
    next_etag: str | None = None
    later: list[LaterPatch] = field(default_factory=list)


@dataclass
class _Entity:
    """What the pairing remembers of one entity."""

    #: Successful GETs no PATCH has been paired with yet, oldest first (several when two
    #: workers of one integration read the same entity before either writes).
    unread: list[_Exchange] = field(default_factory=list)
    #: The pair later PATCHes (retries without a read) are counted with.
    last: _Building | None = None
    #: ``If-Match`` values the server has refused for it.
    refused: set[str] = field(default_factory=set)
    #: Its last PATCH was refused.
    after_refusal: bool = False
    #: Refused pairs waiting for the server's next ETag.
    awaiting: list[_Building] = field(default_factory=list)


#: Unpaired GETs remembered per entity.
_UNREAD_KEPT = 64


def _read_for(unread: list[_Exchange], if_match: str) -> _Exchange | None:
    """The GET a PATCH sent with ``if_match`` was based on: the latest unpaired one that gave
    that ETag; failing that, the latest one that gave no ETag at all. A PATCH whose ETag no
    unpaired read gave was not based on a fresh read (a retry with an old ETag)."""
    for read in reversed(unread):
        if read.etag is not None and read.etag.strip() == if_match.strip():
            return read
    for read in reversed(unread):
        if read.etag is None:
            return read
    return None


def _pair_up(entries: list[Any]) -> Traffic:
    exchanges: list[_Exchange] = []
    for index, entry in enumerate(entries):
        exchange = _exchange(index, entry)
        if exchange is not None:
            exchanges.append(exchange)
    exchanges.sort(key=lambda exchange: (exchange.started, exchange.index))

    entities: dict[str, _Entity] = {}
    built: list[_Building] = []
    gets = patches = without_if_match = without_read = 0
    for exchange in exchanges:
        state = entities.setdefault(exchange.entity, _Entity())
        if exchange.method == "GET":
            gets += 1
            if 200 <= exchange.status < 300 or exchange.status == 304:
                state.unread.append(exchange)
                del state.unread[:-_UNREAD_KEPT]
                state.last = None
                if exchange.etag is not None:
                    for waiting in state.awaiting:
                        waiting.next_etag = exchange.etag
                    state.awaiting.clear()
            continue
        patches += 1
        refused = exchange.status in (409, 412)
        if exchange.if_match is None:
            without_if_match += 1
            state.after_refusal = refused
            continue
        retry = state.after_refusal
        stale = exchange.if_match in state.refused
        read = _read_for(state.unread, exchange.if_match)
        if read is not None:
            state.unread.remove(read)
            building = _Building(read, exchange, retry, stale)
            built.append(building)
            state.last = building
            if refused:
                if exchange.etag is not None:
                    building.next_etag = exchange.etag
                else:
                    state.awaiting.append(building)
        elif state.last is not None:
            state.last.later.append(LaterPatch(exchange.index, exchange.status, retry, stale))
        else:
            without_read += 1
        if refused:
            state.refused.add(exchange.if_match)
        state.after_refusal = refused
    pairs = tuple(
        Pair(
            entity=building.get.entity,
            get_entry=building.get.index,
            patch_entry=building.patch.index,
            gap=_gap(building.get, building.patch),
            status=building.patch.status,
            if_match=building.patch.if_match or "",
            read_etag=building.get.etag,
            next_etag=building.next_etag,
            retry=building.retry,
            stale_if_match=building.stale,
            later_patches=tuple(building.later),
        )
        for building in built
    )
    return Traffic(
        entries=len(entries),
        gets=gets,
        patches=patches,
        ignored=len(entries) - gets - patches,
        patches_without_if_match=without_if_match,
        patches_without_read=without_read,
        pairs=pairs,
    )


def _gap(read: _Exchange, write: _Exchange) -> float:
    """Seconds from the server's read to its check of the write; 0 if they overlap."""
    seconds = (write.started - read.started).total_seconds()
    return max(0.0, round(seconds + (write.offset_ms - read.offset_ms) / 1000, 6))


def _exchange(index: int, entry: Any) -> _Exchange | None:
    """One entry as a GET or PATCH of an entity; ``None`` for any other request."""
    where = f"entry {index} (log.entries[{index}])"
    if not isinstance(entry, dict):
        raise HarError(f"{where} is not an object")
    request = entry.get("request")
    if not isinstance(request, dict):
        raise HarError(f"{where} has no request object")
    method, url = request.get("method"), request.get("url")
    if not isinstance(method, str) or not method:
        raise HarError(f"{where}: request.method is missing or not a string")
    if not isinstance(url, str) or not url:
        raise HarError(f"{where}: request.url is missing or not a string")
    method = method.upper()
    if method not in ("GET", "PATCH"):
        return None
    match = _ENTITY_PATH.fullmatch(unquote(urlsplit(url).path))
    if match is None:
        return None
    response = entry.get("response")
    if not isinstance(response, dict):
        raise HarError(f"{where} has no response object")
    status = response.get("status")
    if isinstance(status, bool) or not isinstance(status, int):
        raise HarError(f"{where}: response.status is missing or not a whole number")
    started = _started(where, entry.get("startedDateTime"))
    return _Exchange(
        index=index,
        method=method,
        entity=match.group("entity"),
        started=started,
        offset_ms=_server_offset_ms(entry),
        status=status,
        etag=_header(where, response, "response", "ETag"),
        if_match=_header(where, request, "request", "If-Match"),
    )


def _started(where: str, value: Any) -> datetime:
    if not isinstance(value, str):
        raise HarError(f"{where}: startedDateTime is missing or not a string")
    try:
        started = datetime.fromisoformat(value)
    except ValueError:
        raise HarError(f"{where}: startedDateTime {value!r} is not an ISO 8601 time") from None
    if started.tzinfo is None:  # HAR requires an offset; read a time without one as UTC
        started = started.replace(tzinfo=UTC)
    return started


def _number(value: Any) -> float | None:
    """A HAR duration in milliseconds; ``None`` for a missing, -1 or malformed one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def _server_offset_ms(entry: dict[str, Any]) -> float:
    """When the server handled the request, in milliseconds after ``startedDateTime``."""
    timings = entry.get("timings")
    if isinstance(timings, dict):
        wait = _number(timings.get("wait"))
        if wait is not None:
            before = (_number(timings.get(name)) for name in ("blocked", "dns", "connect", "send"))
            return sum(value for value in before if value is not None) + wait / 2
    total = _number(entry.get("time"))
    return 0.0 if total is None else total / 2


def _header(where: str, message: dict[str, Any], part: str, name: str) -> str | None:
    headers = message.get("headers", [])
    if not isinstance(headers, list):
        raise HarError(f"{where}: {part}.headers is not a list")
    for position, header in enumerate(headers):
        if not isinstance(header, dict):
            raise HarError(f"{where}: {part}.headers[{position}] is not an object")
        header_name, value = header.get("name"), header.get("value")
        if not isinstance(header_name, str) or not isinstance(value, str):
            raise HarError(f"{where}: {part}.headers[{position}] needs a string name and value")
        if header_name.lower() == name.lower():
            return value.strip()
    return None


def _classify_move(if_match: str, next_etag: str | None) -> Move:
    if next_etag is None:
        return Move("unknown")
    try:
        sent = parse_if_match(if_match)
        current = parse_etag(next_etag)
    except WindchillError:
        return Move("unknown")
    if not isinstance(sent, tuple):  # "*"
        return Move("unknown")
    first: ETag = sent[0]
    if first.foreign is not None or current.foreign is not None:
        return Move("unknown")
    delta = current.stamp - first.stamp
    if first.opaque == current.opaque:
        return Move("unchanged", 0)
    if current.iteration < first.iteration or (current.iteration == first.iteration and delta < 0):
        # Not a later state of what was read (explain_etags calls it "backwards"): two
        # objects' ETags, or a restored state. Counting it as a touch would add a negative
        # stamp delta.
        return Move("unknown")
    if first.iteration == current.iteration:
        return Move("touch", delta)
    return Move("new_version", delta)


# ---------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Measurement:
    """The conflict rates, ETag moves and gaps of a set of pairs."""

    pairs: int
    ok: int
    conflicts_409: int
    conflicts_412: int
    #: Pairs whose PATCH got another status (401, 428, 5xx, 0 for no answer): not counted.
    other_statuses: Mapping[int, int]
    #: The gaps of the counted pairs, in seconds, in the order of the pairs.
    gaps: tuple[float, ...]
    moves: Mapping[MoveKind, int]
    touch_deltas_ms: tuple[int, ...]
    new_version_deltas_ms: tuple[int, ...]
    #: PATCHes that followed a refused PATCH of the same entity, and those that read first.
    retries: int
    retries_with_read: int
    #: PATCHes that sent an ``If-Match`` the server had already refused for their entity.
    stale_if_match: int
    entities: int

    @property
    def counted(self) -> int:
        """Pairs in the rates: the PATCH applied (2xx), or got 409 or 412."""
        return self.ok + self.conflicts_409 + self.conflicts_412

    @property
    def rate_409(self) -> float:
        return self.conflicts_409 / self.counted if self.counted else 0.0

    @property
    def rate_412(self) -> float:
        return self.conflicts_412 / self.counted if self.counted else 0.0


def measure(pairs: Sequence[Pair]) -> Measurement:
    """Count outcomes, classify ETag moves and collect gaps."""
    statuses = Counter(pair.status for pair in pairs)
    moves: Counter[MoveKind] = Counter()
    touches: list[int] = []
    versions: list[int] = []
    for pair in pairs:
        move = pair.move
        if move is None:
            continue
        moves[move.kind] += 1
        if move.delta_ms is not None and move.kind == "touch":
            touches.append(move.delta_ms)
        elif move.delta_ms is not None and move.kind == "new_version":
            versions.append(move.delta_ms)
    later = [patch for pair in pairs for patch in pair.later_patches]
    return Measurement(
        pairs=len(pairs),
        ok=sum(count for status, count in statuses.items() if 200 <= status < 300),
        conflicts_409=statuses[409],
        conflicts_412=statuses[412],
        other_statuses={
            status: count for status, count in sorted(statuses.items()) if not _counted(status)
        },
        gaps=tuple(pair.gap for pair in pairs if pair.counted),
        moves={kind: moves[kind] for kind in MOVE_KINDS},
        touch_deltas_ms=tuple(touches),
        new_version_deltas_ms=tuple(versions),
        retries=sum(pair.retry for pair in pairs) + sum(patch.retry for patch in later),
        retries_with_read=sum(pair.retry for pair in pairs),
        stale_if_match=sum(pair.stale_if_match for pair in pairs)
        + sum(patch.stale_if_match for patch in later),
        entities=len({pair.entity for pair in pairs}),
    )


def _counted(status: int) -> bool:
    return 200 <= status < 300 or status in (409, 412)


# ---------------------------------------------------------------- fitting


def conflict_probability(rate: float, gap: float, duration: float = 0.0) -> float:
    """P(409) of a PATCH ``gap`` seconds after its GET, background arrivals at ``rate`` per
    second: a touch in between, or (``duration`` > 0) an operation still in flight."""
    return -math.expm1(-rate * max(gap, duration))


def _expected_rate(rate: float, gaps: Sequence[float]) -> float:
    return math.fsum(conflict_probability(rate, gap) for gap in gaps) / len(gaps)


def _solve(target: float, gaps: Sequence[float]) -> float:
    """The rate whose expected 409 rate over ``gaps`` is ``target``; ``inf`` if none is."""
    if target <= 0:
        return 0.0
    if target >= _reachable(gaps):
        return math.inf
    low, high = 0.0, 1.0 / max(gaps)
    while _expected_rate(high, gaps) < target:
        low, high = high, high * 2
    for _ in range(200):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        if _expected_rate(middle, gaps) < target:
            low = middle
        else:
            high = middle
    return high


def _reachable(gaps: Sequence[float]) -> float:
    """The highest 409 rate background touches can give: that of the pairs with a gap."""
    return sum(1 for gap in gaps if gap > 0) / len(gaps)


def wilson_interval(successes: int, trials: int, z: float = _Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (95 % by default)."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def _significant(value: float, digits: int = 6) -> float:
    return float(f"{value:.{digits}g}") if math.isfinite(value) else value


@dataclass(frozen=True)
class Fit:
    """The fitted background rate, its 95 % interval and the notes that go with it."""

    #: Events per second per document, given to ``indexer``.
    rate: float
    low: float
    #: ``inf`` when the data bound the rate only from below.
    high: float
    measurement: Measurement
    source: str
    notes: tuple[str, ...]

    def config(self) -> dict[str, Any]:
        """Keywords for :class:`~mock_server.config.MockConfig` (``MockConfig(**fit.config())``)."""
        return {
            "profile": "thread",
            "rates": {source: self.rate if source == FITTED_SOURCE else 0.0 for source in SOURCES},
            "durations": dict.fromkeys(SOURCES, 0.0),
        }

    def toml(self) -> str:
        """The config as TOML, with comments saying where it came from and what it leaves out."""
        m = self.measurement
        paragraphs = [
            f"Fitted by `windchill-mock calibrate` to the traffic in {self.source}: "
            f"{_plural(m.counted, 'GET-then-PATCH pair')} of "
            f"{_plural(m.entities, 'entity', 'entities')}, read-to-write gap "
            f"{_gap_summary(m.gaps)}. Observed: 409 in {m.conflicts_409} of {m.counted} pairs "
            f"({_percent(m.rate_409)}), 412 in {m.conflicts_412} of {m.counted} "
            f"({_percent(m.rate_412)}).",
            "Model: a background touch between a GET and its PATCH makes the PATCH 409. With "
            "arrivals at rate L per document, P(409 | gap g) = 1 - exp(-L * g); L is fitted so "
            "that its mean over the observed pairs equals the observed 409 rate: "
            f"L = {self.rate:.6g} per second per document (95 % interval "
            f"{_rate_range(self.low, self.high)}), all of it given to {FITTED_SOURCE}.",
            "Durations are 0: a background operation ends as it starts, so no PATCH meets one "
            "in flight (with a duration d the model would be 1 - exp(-L * max(g, d))).",
            *self.notes,
        ]
        lines: list[str] = []
        for paragraph in paragraphs:
            if lines:
                lines.append("#")
            lines.extend(f"# {line}" for line in _wrap(paragraph, 96))
        lines += ["", 'profile = "thread"', "", "[rates]"]
        config = self.config()
        lines += [f"{source} = {_toml_float(value)}" for source, value in config["rates"].items()]
        lines += ["", "[durations]"]
        lines += [
            f"{source} = {_toml_float(value)}" for source, value in config["durations"].items()
        ]
        return "\n".join(lines) + "\n"


def fit(measurement: Measurement, *, source: str = "a HAR file") -> Fit:
    """Fit the background rate whose expected 409 rate over the observed gaps is the observed
    one. ``source`` names the traffic in the TOML's comments. :class:`ValueError` when no pair
    counts (every PATCH got another status than 2xx, 409 or 412)."""
    m = measurement
    if m.counted == 0:
        raise ValueError("no pair to fit: no PATCH answered 2xx, 409 or 412")
    gaps = m.gaps
    reachable = _reachable(gaps)
    low_rate, high_rate = wilson_interval(m.conflicts_409, m.counted)
    low, high = _solve(low_rate, gaps), _solve(high_rate, gaps)
    notes: list[str] = []
    if m.conflicts_409 == 0:
        rate = 0.0
        bound = (
            "too few pairs to bound it from above"
            if math.isinf(high)
            else f"it is below {high:.3g} per second (95 %)"
        )
        notes.append(f"No 409 in {_plural(m.counted, 'pair')}: the rate written is 0; {bound}.")
    elif reachable == 0:
        rate, low, high = 0.0, 0.0, math.inf
        notes.append(
            "Every PATCH was sent as its GET returned (no gap): background touches cannot "
            "explain these 409s, so the rate is 0 and the mock will not reproduce them."
        )
    elif m.rate_409 >= reachable:
        rate = _solve(reachable - _SATURATION * reachable, gaps)
        high = math.inf
        if math.isinf(low):  # even the interval's low end is beyond what touches can give
            low = rate
            notes.append(
                f"The observed 409 rate ({_percent(m.rate_409)}) is beyond what background "
                f"touches can give ({_percent(reachable)}, the share of pairs with a gap "
                "between read and write): the rate written makes every such pair conflict, "
                "and the self-check shows the difference."
            )
        else:
            notes.append(
                f"The observed 409 rate ({_percent(m.rate_409)}) is at its upper bound: every "
                "pair with a gap between read and write conflicted, so the estimate runs to "
                f"infinity. The data say only that the rate is at least {low:.3g} per second "
                "(95 %), and any rate above that fits as well; the one written is where a "
                "pair with a gap escapes a 409 about once in a million."
            )
    else:
        rate = _solve(m.rate_409, gaps)
    zero_gaps = sum(1 for gap in gaps if gap <= 0)
    if zero_gaps and m.conflicts_409 and reachable > 0:
        notes.append(
            f"{_plural(zero_gaps, 'pair')} had no gap between read and write: no background "
            "touch can make those 409."
        )
    if m.conflicts_412:
        notes.append(
            f"412 in {m.conflicts_412} of {m.counted} pairs ({_percent(m.rate_412)}): the "
            "iteration moved, a new version made by another user. Background rates do not "
            "reproduce that; add concurrent_edit or new_iteration interventions to a test's "
            "schedule instead."
        )
    return Fit(
        rate=_significant(rate),
        low=_significant(low),
        high=_significant(high),
        measurement=m,
        source=source,
        notes=tuple(notes),
    )


# ---------------------------------------------------------------- replaying


@dataclass(frozen=True)
class ReplayResult:
    """What the mock answered when the pattern was replayed ``repeat`` times."""

    pairs: int
    conflicts_409: int
    conflicts_412: int
    other_statuses: Mapping[int, int]
    repeat: int
    seed: int

    @property
    def rate_409(self) -> float:
        return self.conflicts_409 / self.pairs if self.pairs else 0.0

    @property
    def rate_412(self) -> float:
        return self.conflicts_412 / self.pairs if self.pairs else 0.0

    @property
    def interval_409(self) -> tuple[float, float]:
        return wilson_interval(self.conflicts_409, self.pairs)

    @property
    def interval_412(self) -> tuple[float, float]:
        return wilson_interval(self.conflicts_412, self.pairs)

    def agrees_with(self, measurement: Measurement) -> bool:
        """Whether the observed 409 rate lies in the replayed rate's 95 % interval."""
        low, high = self.interval_409
        return low - 1e-12 <= measurement.rate_409 <= high + 1e-12


def replay(
    config_path: str | Path,
    pairs: Sequence[Pair],
    repeat: int = DEFAULT_REPEAT,
    seed: int = 0,
) -> ReplayResult:
    """Replay the counted pairs ``repeat`` times against the mock of ``config_path``.

    In process, on a virtual clock, with ``seed`` as the mock's seed: per repetition each
    observed entity gets a fresh document; per pair, a GET, the clock moved on by the pair's
    gap, and a PATCH with the GET's ``ETag`` as ``If-Match`` and the session's CSRF nonce.
    """
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"repeat must be a whole number >= 1, got {repeat!r}")
    config = MockConfig.from_toml(config_path).updated({"seed": seed})
    clock = VirtualClock()
    app = create_app(config, clock=clock)
    auth = next(iter(config.users.items())) if config.auth and config.users else None
    root = DEFAULT_BASE_URL + ROOT
    documents = f"{root}/DocMgmt/Documents"
    counted = [pair for pair in pairs if pair.counted]
    statuses: Counter[int] = Counter()
    with in_process_session(app, auth=auth) as session:
        nonce = ""
        last_used = -math.inf

        def fresh_nonce() -> str:
            response = session.get(f"{root}/PTC/GetCSRFToken()")
            response.raise_for_status()
            value = response.json().get("NonceValue", "")
            return value if isinstance(value, str) else ""

        def write_headers(extra: Mapping[str, str]) -> dict[str, str]:
            nonlocal nonce, last_used
            # A session unused for csrf_session_timeout expires with its nonce: renew early.
            if config.csrf and clock.now() - last_used >= config.csrf_session_timeout / 2:
                nonce = fresh_nonce()
            last_used = clock.now()
            return {**extra, "CSRF_NONCE": nonce} if config.csrf else dict(extra)

        for repetition in range(repeat):
            urls: dict[str, str] = {}
            for pair in counted:
                url = urls.get(pair.entity)
                if url is None:
                    created = session.post(
                        documents,
                        json={"Name": f"calibrate-{repetition}-{len(urls)}"},
                        headers=write_headers({}),
                    )
                    if created.status_code != 201:
                        raise MockError(
                            f"the replay could not create a document: {created.status_code} "
                            f"{created.text[:200]}"
                        )
                    key = created.json()["ID"]
                    url = urls[pair.entity] = f"{documents}('{key}')"
                read = session.get(url)
                last_used = clock.now()
                etag = read.headers.get("ETag")
                clock.advance(pair.gap)
                extra = {"Prefer": "return=minimal"}
                if etag is not None:
                    extra["If-Match"] = etag
                written = session.patch(
                    url, json={"Description": "calibration replay"}, headers=write_headers(extra)
                )
                statuses[written.status_code] += 1
    return ReplayResult(
        pairs=len(counted) * repeat,
        conflicts_409=statuses[409],
        conflicts_412=statuses[412],
        other_statuses={
            status: count for status, count in sorted(statuses.items()) if not _counted(status)
        },
        repeat=repeat,
        seed=seed,
    )


# ---------------------------------------------------------------- the command


class _UsageProblem(click.ClickException):
    """An unreadable or unusable HAR file, or an output that exists: exit status 2."""

    exit_code = 2


_HELP = """Fit a mock config to an integration's traffic, recorded as HAR.

Reads the GET-then-PATCH pairs of a HAR 1.2 file (as browsers, mitmproxy and most proxies
export it), measures their 409 and 412 rates and how the ETag moved between read and write,
and writes a config whose mock (profile thread, a background rate for the indexer, durations
0) gives the same 409 rate for the same read-to-write gaps. Then it checks itself: it replays
the pattern against that config, in process on a virtual clock, and prints both rates side by
side.

412s come from other users' edits, which background rates do not make: the output says so and
points to the concurrent_edit and new_iteration schedule interventions.

Exit status: 0 when the config is written and the observed 409 rate lies in the replayed
rate's 95 % interval, 1 when the self-check disagrees, 2 for a usage error (an unreadable or
invalid HAR file, no pairs in it, an output that exists without --force).
"""


@click.command("calibrate", help=_HELP)
@click.argument("har", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_OUTPUT,
    show_default=True,
    help="Where to write the config.",
)
@click.option("--force", is_flag=True, help="Overwrite --output if it exists.")
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=DEFAULT_REPEAT,
    show_default=True,
    help="How many times the self-check replays the whole pattern, with fresh documents.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="The seed of the replay's background arrivals (the replay is deterministic in it).",
)
def calibrate_command(har: Path, output: Path, force: bool, repeat: int, seed: int) -> None:
    if output.exists() and not force:
        raise _UsageProblem(f"{output} exists; pass --force to overwrite it")
    try:
        traffic = read_traffic(har)
    except HarError as error:
        raise _UsageProblem(str(error)) from None
    if not traffic.pairs:
        raise _UsageProblem(
            f"no GET-then-PATCH pairs in {har.name}: found {traffic.found()}. A pair is a "
            "successful GET of an entity ('.../Documents(\\'OR:...\\')') and a later PATCH of "
            "it with If-Match."
        )
    measurement = measure(traffic.pairs)
    if measurement.counted == 0:
        raise _UsageProblem(
            f"none of the {_plural(measurement.pairs, 'PATCH')} paired with a GET in "
            f"{har.name} was answered 2xx, 409 or 412 (statuses: "
            f"{_statuses(measurement.other_statuses)})"
        )
    fitted = fit(measurement, source=har.name)
    echo = click.echo
    echo(f"Read {har.name}: {_plural(traffic.entries, 'entry', 'entries')}, {traffic.found()}.")
    for line in _describe(measurement):
        echo(line)
    echo(
        f"Fitted: {FITTED_SOURCE} = {fitted.rate:.6g} per second per document "
        f"(95 % interval {_rate_range(fitted.low, fitted.high)})."
    )
    try:
        output.write_text(fitted.toml(), encoding="utf-8")
    except OSError as error:
        raise _UsageProblem(f"cannot write {output}: {error.strerror or error}") from None
    echo(f"Wrote {output}.")
    result = replay(output, traffic.pairs, repeat=repeat, seed=seed)
    echo("")
    echo(
        f"Self-check: the pattern replayed {repeat} times against {output} "
        f"(seed {seed}, virtual clock):"
    )
    for line in _table(measurement, result):
        echo(line)
    for note in fitted.notes:
        echo("")
        for line in _wrap(f"Note: {note}", 92):
            echo(line)
    echo("")
    if result.agrees_with(measurement):
        echo(
            f"OK: the observed 409 rate {_percent(measurement.rate_409)} lies in the replayed "
            f"rate's 95 % interval {_interval(result.interval_409)}."
        )
        return
    echo(
        f"Self-check failed: the observed 409 rate {_percent(measurement.rate_409)} lies "
        f"outside the replayed rate's 95 % interval {_interval(result.interval_409)} "
        f"(replayed {_percent(result.rate_409)}).",
        err=True,
    )
    click.get_current_context().exit(1)


def _describe(m: Measurement) -> list[str]:
    lines = [
        f"Pairs: {m.counted} of {_plural(m.entities, 'entity', 'entities')}"
        + (
            f" (and {m.pairs - m.counted} not counted, answered {_statuses(m.other_statuses)})"
            if m.pairs > m.counted
            else ""
        )
        + f"; 2xx {m.ok}, 409 {m.conflicts_409} ({_percent(m.rate_409)}), "
        f"412 {m.conflicts_412} ({_percent(m.rate_412)}).",
        f"Read-to-write gap: {_gap_summary(m.gaps)}.",
    ]
    if m.conflicts_409 + m.conflicts_412:
        moves = m.moves
        lines.append(
            f"ETag moves in refused PATCHes: {moves['touch']} touched (same iteration), "
            f"{moves['new_version']} new version, {moves['unchanged']} unchanged (busy), "
            f"{moves['unknown']} unknown."
        )
        if m.touch_deltas_ms:
            lines.append(f"  touch stamp deltas (ms): {_distribution(m.touch_deltas_ms)}")
        if m.new_version_deltas_ms:
            lines.append(
                f"  new-version stamp deltas (ms): {_distribution(m.new_version_deltas_ms)}"
            )
    lines.append(
        f"Retries after a refusal: {m.retries} ({m.retries_with_read} read again first); "
        f"PATCHes reusing a refused If-Match: {m.stale_if_match}."
    )
    return lines


def _table(m: Measurement, result: ReplayResult) -> list[str]:
    rows = [
        ("", "observed", "replayed (95 % interval)"),
        ("pairs", str(m.counted), str(result.pairs)),
        (
            "409 rate",
            _percent(m.rate_409),
            f"{_percent(result.rate_409)} {_interval(result.interval_409)}",
        ),
        (
            "412 rate",
            _percent(m.rate_412),
            f"{_percent(result.rate_412)} {_interval(result.interval_412)}",
        ),
    ]
    if result.other_statuses:
        rows.append(("other", "-", _statuses(result.other_statuses)))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    return [
        "  "
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


# ---------------------------------------------------------------- words and numbers


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    """``1 GET``, ``2 GETs``, ``0 PATCHes``."""
    if count == 1:
        return f"{count} {singular}"
    if plural is None:
        plural = singular + ("es" if singular.lower().endswith(("ch", "sh", "s", "x")) else "s")
    return f"{count} {plural}"


def _percent(value: float) -> str:
    return f"{value * 100:.1f} %"


def _interval(bounds: tuple[float, float]) -> str:
    return f"[{bounds[0] * 100:.1f}, {bounds[1] * 100:.1f}] %"


def _rate_range(low: float, high: float) -> str:
    if math.isinf(high):
        return "none: the data do not bound it" if low == 0 else f"at least {low:.3g} /s"
    return f"{low:.3g} to {high:.3g} /s"


def _gap_summary(gaps: Sequence[float]) -> str:
    if not gaps:
        return "none"
    return f"min {min(gaps):.3g} s, median {statistics.median(gaps):.3g} s, max {max(gaps):.3g} s"


def _distribution(values: Sequence[int]) -> str:
    ordered = sorted(values)

    def rank(q: float) -> int:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    return (
        f"n {len(ordered)}, min {ordered[0]}, median {rank(0.5)}, p90 {rank(0.9)}, "
        f"max {ordered[-1]}"
    )


def _statuses(statuses: Mapping[int, int]) -> str:
    return ", ".join(f"{status} x{count}" for status, count in statuses.items()) or "none"


def _toml_float(value: float) -> str:
    """A finite float as TOML: Python's shortest round-trip form (``0.05``, ``1e-07``)."""
    return repr(float(value))


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)
