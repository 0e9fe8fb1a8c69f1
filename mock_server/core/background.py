"""Background processes inside Windchill: seeded, lazily evaluated arrivals.

Each (document, source) pair has its own Poisson process. Its arrival times are fixed by the
seed, the document and the source alone — not by when anybody looks — so evaluating them
lazily on access gives the same events whatever the access pattern. Nothing runs in a
thread, an idle document costs nothing, and a document that has been read keeps only a few
numbers per source: each gap is derived from a hash when it is needed.

Rates may change while the mock runs: every change opens a new *segment* of the rate plan
from that moment on, and each segment has its own seeded stream.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import MockError

__all__ = ["SOURCES", "Arrival", "ArrivalStream", "Background", "SourceSettings"]

#: The background sources the forum thread names.
SOURCES = ("indexer", "cache_sync", "lifecycle_evaluator")


@dataclass(frozen=True)
class SourceSettings:
    """Events per second per document, and how long each stays in flight (seconds)."""

    rate: float = 0.0
    duration: float = 0.0

    def __post_init__(self) -> None:
        for name in ("rate", "duration"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise MockError(f"background {name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class Arrival:
    """One background operation: starts at ``t``, holds the document for ``duration``."""

    t: float
    source: str
    duration: float


@dataclass(frozen=True)
class _Segment:
    start: float
    settings: SourceSettings


class ArrivalStream:
    """The arrivals of one source on one document, generated on demand, in time order.

    Its state is three numbers: the rate segment it is in, how many gaps it has drawn there,
    and the time of its next arrival. The ``k``-th gap of a segment is a pure function of
    (seed, document, source, segment, ``k``) (see :func:`_gap`), so no generator is kept: a
    document read once costs a few hundred bytes, however long the mock runs.
    """

    __slots__ = ("_born", "_document", "_draws", "_next", "_segment", "_source")

    def __init__(self, document: int, source: str, born: float) -> None:
        self._document = document
        self._source = source
        self._born = born
        self._segment = -1
        self._draws = 0
        self._next: float | None = None

    def take_due(self, seed: int, until: float, segments: list[_Segment]) -> list[Arrival]:
        """Remove and return every arrival at or before ``until``."""
        due: list[Arrival] = []
        while True:
            if self._next is None and not self._enter_next_segment(seed, segments, until):
                return due
            assert self._next is not None
            if self._next > until:
                return due
            if (
                self._segment + 1 < len(segments)
                and self._next >= segments[self._segment + 1].start
            ):
                self._next = None
                continue
            settings = segments[self._segment].settings
            due.append(Arrival(self._next, self._source, settings.duration))
            self._next += self._draw(seed, settings.rate)

    def _draw(self, seed: int, rate: float) -> float:
        gap = _gap(seed, self._document, self._source, self._segment, self._draws, rate)
        self._draws += 1
        return gap

    def _enter_next_segment(self, seed: int, segments: list[_Segment], until: float) -> bool:
        while self._segment + 1 < len(segments):
            self._segment += 1
            segment = segments[self._segment]
            if segment.start > until:
                self._segment -= 1
                return False
            if segment.settings.rate <= 0:
                continue
            self._draws = 0
            start = max(segment.start, self._born)
            self._next = start + self._draw(seed, segment.settings.rate)
            return True
        return False


def _gap(seed: int, document: int, source: str, segment: int, k: int, rate: float) -> float:
    """The ``k``-th exponential gap (mean ``1/rate``) of a stream, from a hash of its name.

    BLAKE2b of the stream's name and ``k`` gives 53 uniform bits: stable across processes,
    platforms and Python versions, and independent between streams.
    """
    name = f"{seed}/{document}/{source}/{segment}/{k}".encode()
    bits = int.from_bytes(hashlib.blake2b(name, digest_size=8).digest(), "big") >> 11
    uniform = bits / 2**53  # in [0, 1): 1 - uniform is never 0
    return -math.log(1.0 - uniform) / rate


class Background:
    """The rate plan of every source and the streams created from it, per document."""

    def __init__(self, seed: int, settings: Mapping[str, SourceSettings], start: float) -> None:
        self._seed = seed
        self._plans: dict[str, list[_Segment]] = {source: [] for source in SOURCES}
        self._streams: dict[int, dict[str, ArrivalStream]] = {}
        self.configure(settings, start)

    def settings(self) -> dict[str, SourceSettings]:
        return {source: plan[-1].settings for source, plan in self._plans.items()}

    def configure(self, settings: Mapping[str, SourceSettings], when: float) -> None:
        """Change rates from ``when`` on; sources not named keep their settings."""
        unknown = sorted(set(settings) - set(SOURCES))
        if unknown:
            raise MockError(f"unknown background source(s) {unknown}; known: {list(SOURCES)}")
        for source, new in settings.items():
            plan = self._plans[source]
            if plan and plan[-1].settings == new:
                continue
            # Always append, never replace a segment that starts at ``when``: a stream may
            # already have entered it (and drawn its next arrival from the old rate). A
            # zero-length segment is simply skipped by every stream, whatever its history.
            plan.append(_Segment(when, new))

    def take_due(self, document: int, born: float, until: float) -> list[Arrival]:
        """Every arrival on ``document`` up to ``until`` not yet taken, in time order."""
        streams = self._streams.get(document)
        if streams is None:
            streams = self._streams[document] = {}
        due: list[Arrival] = []
        for source in SOURCES:
            plan = self._plans[source]
            if not plan or (len(plan) == 1 and plan[0].settings.rate <= 0):
                continue
            stream = streams.get(source)
            if stream is None:
                stream = streams[source] = ArrivalStream(document, source, born)
            due.extend(stream.take_due(self._seed, until, plan))
        if not streams:
            del self._streams[document]
        due.sort(key=lambda arrival: (arrival.t, SOURCES.index(arrival.source)))
        return due

    def let_go(self) -> None:
        """Forget every stream, one at a time (see :func:`.store.let_go`)."""
        while self._streams:
            self._streams.popitem()

    def forget(self, document: int) -> None:
        self._streams.pop(document, None)
