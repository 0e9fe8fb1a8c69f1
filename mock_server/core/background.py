"""Background processes inside Windchill: seeded, lazily evaluated arrivals.

Each (document, source) pair has its own Poisson process. Its arrival times are fixed by the
seed, the document and the source alone — not by when anybody looks — so evaluating them
lazily on access gives the same events whatever the access pattern. Nothing runs in a
thread and an idle document costs nothing.

Rates may change while the mock runs: every change opens a new *segment* of the rate plan
from that moment on, and each segment has its own seeded stream.
"""

from __future__ import annotations

import math
import random
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
    """The arrivals of one source on one document, generated on demand, in time order."""

    def __init__(self, seed: int, document: int, source: str, born: float) -> None:
        self._seed = seed
        self._document = document
        self._source = source
        self._born = born
        self._segment = -1
        self._rng: random.Random | None = None
        self._next: float | None = None

    def take_due(self, until: float, segments: list[_Segment]) -> list[Arrival]:
        """Remove and return every arrival at or before ``until``."""
        due: list[Arrival] = []
        while True:
            if self._next is None and not self._enter_next_segment(segments, until):
                return due
            assert self._next is not None
            assert self._rng is not None
            if self._next > until:
                return due
            if (
                self._segment + 1 < len(segments)
                and self._next >= segments[self._segment + 1].start
            ):
                self._next = None
                continue
            due.append(Arrival(self._next, self._source, segments[self._segment].settings.duration))
            self._next += self._rng.expovariate(segments[self._segment].settings.rate)

    def _enter_next_segment(self, segments: list[_Segment], until: float) -> bool:
        while self._segment + 1 < len(segments):
            self._segment += 1
            segment = segments[self._segment]
            if segment.start > until:
                self._segment -= 1
                return False
            if segment.settings.rate <= 0:
                continue
            # A string seed is hashed with SHA-512: stable across processes and runs.
            key = f"{self._seed}/{self._document}/{self._source}/{self._segment}"
            self._rng = random.Random(key)
            start = max(segment.start, self._born)
            self._next = start + self._rng.expovariate(segment.settings.rate)
            return True
        return False


class Background:
    """The rate plan of every source and the streams created from it, per document."""

    def __init__(self, seed: int, settings: Mapping[str, SourceSettings], start: float) -> None:
        self._seed = seed
        self._plans: dict[str, list[_Segment]] = {source: [] for source in SOURCES}
        self._streams: dict[tuple[int, str], ArrivalStream] = {}
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
        due: list[Arrival] = []
        for source in SOURCES:
            plan = self._plans[source]
            if not plan or (len(plan) == 1 and plan[0].settings.rate <= 0):
                continue
            stream = self._streams.get((document, source))
            if stream is None:
                stream = self._streams[(document, source)] = ArrivalStream(
                    self._seed, document, source, born
                )
            due.extend(stream.take_due(until, plan))
        due.sort(key=lambda arrival: (arrival.t, SOURCES.index(arrival.source)))
        return due

    def forget(self, document: int) -> None:
        for source in SOURCES:
            self._streams.pop((document, source), None)
