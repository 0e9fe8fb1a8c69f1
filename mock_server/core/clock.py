"""Clocks: the only place the mock reads the time.

Everything in ``mock_server.core`` takes a :class:`Clock` instead of calling ``time``.
:class:`SystemClock` reads ``time.time()`` at call time, so ``freezegun.freeze_time``
applies to it. :class:`VirtualClock` only moves when told to, and never backwards.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Protocol, runtime_checkable

__all__ = [
    "DEFAULT_EPOCH",
    "Clock",
    "ClockError",
    "ScaledClock",
    "SystemClock",
    "VirtualClock",
    "scale_of",
]

#: Virtual time starts here unless told otherwise: 2024-02-21T13:23:20Z, shortly before the
#: forum thread's ETag ``"v2.1708523400000"`` (13:50:00Z).
DEFAULT_EPOCH = 1708521800.0


class ClockError(ValueError):
    """An attempt to move a clock backwards, or to advance a clock that cannot be advanced."""


@runtime_checkable
class Clock(Protocol):
    """Seconds since the Unix epoch, as a float."""

    #: Whether the clock moves only when told to (a :class:`VirtualClock`).
    virtual: bool

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass: really on a system clock, virtually on a virtual one."""


class SystemClock:
    """Wall-clock time. Follows ``freezegun`` because it looks ``time.time`` up on each call."""

    virtual = False

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


class ScaledClock:
    """Wall time sped up: ``scale`` seconds of the mock pass per real second.

    For clients that sleep in real time (another process, another language): with
    ``scale=10`` a document busy for 5 s is free again after half a real second, and a client
    that waits 1 real second has waited 10 s of the mock's time, which is the time the journal
    and the checker speak in. Starts at ``start`` (the forum thread's day by default).
    """

    virtual = False

    def __init__(self, scale: float, start: float = DEFAULT_EPOCH) -> None:
        if isinstance(scale, bool) or not isinstance(scale, int | float):
            raise ClockError(f"a time scale is a number, got {scale!r}")
        if not math.isfinite(scale) or not 0 < scale <= MAX_SCALE:
            raise ClockError(f"a time scale lies in (0, {MAX_SCALE:g}], got {scale!r}")
        self.scale = float(scale)
        self._start = float(start)
        self._origin = time.monotonic()

    def now(self) -> float:
        return self._start + (time.monotonic() - self._origin) * self.scale

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.scale)

    def __repr__(self) -> str:
        return f"ScaledClock({self.scale:g})"


#: The fastest a :class:`ScaledClock` runs: beyond this, a client's few milliseconds between
#: two requests would be minutes of the mock's time.
MAX_SCALE = 1000.0


def scale_of(clock: Clock) -> float:
    """How many of the mock's seconds pass per real second on ``clock`` (1 unless scaled)."""
    scale = getattr(clock, "scale", 1.0)
    return float(scale) if isinstance(scale, int | float) else 1.0


class VirtualClock:
    """A clock that moves only through :meth:`advance` or :meth:`set`, and only forwards.

    Thread-safe: several request threads may read it while a test advances it.
    """

    virtual = True

    def __init__(self, start: float = DEFAULT_EPOCH) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> float:
        """Move forwards by ``seconds`` (>= 0) and return the new time."""
        if not seconds >= 0:  # also rejects NaN
            raise ClockError(f"a virtual clock only moves forwards; got advance({seconds!r})")
        if not math.isfinite(seconds):
            raise ClockError(f"a virtual clock moves by a finite amount; got advance({seconds!r})")
        with self._lock:
            self._now += float(seconds)
            return self._now

    def set(self, when: float) -> float:
        """Jump to ``when``, which must not be earlier than now."""
        with self._lock:
            if not when >= self._now:
                raise ClockError(
                    f"a virtual clock only moves forwards; it is {self._now!r}, asked for {when!r}"
                )
            if not math.isfinite(when):
                raise ClockError(f"a virtual clock cannot be set to {when!r}")
            self._now = float(when)
            return self._now

    def __repr__(self) -> str:
        return f"VirtualClock({self.now()!r})"
