"""The retry policy of the reference update client: a value object and pure delay maths.

Nothing here sleeps or reads the clock. The updater asks the policy how long to wait before
retry ``n`` and whether it may retry at all, then calls its injected ``sleep``.

Rules:

- Retries are numbered from 1: retry 1 is the second attempt.
- The un-jittered delay doubles (``factor``) from ``base_delay`` and is capped at ``max_delay``.
- Jitter only ever *adds* to that delay, by at most ``jitter`` times it, so a checker can rely
  on :meth:`RetryPolicy.min_delay` as a lower bound.
- A server's ``Retry-After`` is honoured up to ``retry_after_cap``: the delay is never shorter
  than the (capped) value the server asked for.
- ``deadline`` bounds the *total* time spent sleeping, not the time spent in requests.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import random
import re
from dataclasses import dataclass

__all__ = ["RetryPolicy", "parse_retry_after", "rng"]

_DELAY_SECONDS = re.compile(r"[0-9]+")


def rng(seed: int | None) -> random.Random:
    """Return a fresh ``random.Random(seed)`` to pass to :meth:`RetryPolicy.delay`.

    The generator lives outside the policy so that the policy stays a hashable value and the
    same seed always produces the same jitter.
    """
    return random.Random(seed)


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long the update client waits before retrying a conflicting write.

    Defaults follow the recipe: 3 retries, 0.5 s doubling, capped at 8 s, up to 10 % jitter.
    ``jitter`` is a fraction in ``[0, 1]``; ``deadline`` is the total sleeping budget in
    seconds (``None``: unbounded); ``conflict_rate_warning`` is the conflict rate (a fraction)
    above which the client warns.

    Raises:
        ValueError: if a field is negative or not finite, ``factor`` is below 1, or ``jitter``
            or ``conflict_rate_warning`` lies outside ``[0, 1]``. The message names the field.
    """

    max_retries: int = 3
    base_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 8.0
    jitter: float = 0.1
    retry_after_cap: float = 30.0
    deadline: float | None = None
    conflict_rate_warning: float = 0.10

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries!r}")
        for name in ("base_delay", "max_delay", "retry_after_cap"):
            _check_non_negative(name, getattr(self, name))
        if self.deadline is not None:
            _check_non_negative("deadline", self.deadline)
        _check_finite("factor", self.factor)
        if self.factor < 1:
            raise ValueError(f"factor must be >= 1, got {self.factor!r}")
        _check_fraction("jitter", self.jitter)
        _check_fraction("conflict_rate_warning", self.conflict_rate_warning)

    def backoff(self, retry: int) -> float:
        """The un-jittered delay before retry number ``retry`` (1-based).

        ``min(base_delay * factor ** (retry - 1), max_delay)``.

        Raises:
            ValueError: if ``retry`` is below 1.
        """
        _check_retry(retry)
        if self.base_delay == 0:
            return 0.0
        try:
            raw = self.base_delay * self.factor ** (retry - 1)
        except OverflowError:
            # A huge retry number with factor > 1: the cap has long since been reached.
            return self.max_delay
        return min(raw, self.max_delay)

    def delay(
        self,
        retry: int,
        *,
        retry_after: float | None = None,
        rng: random.Random | None = None,
    ) -> float:
        """How long to sleep before retry ``retry``.

        ``backoff(retry) * (1 + jitter * u)`` with ``u = rng.random()`` (``u = 0`` without an
        ``rng``), raised to ``min(retry_after, retry_after_cap)`` when the server sent a
        ``Retry-After``. The result always lies in ``[min_delay, max_delay_for]``.

        Raises:
            ValueError: if ``retry`` is below 1, or ``retry_after`` is negative or NaN.
        """
        u = 0.0 if rng is None else rng.random()
        jittered = self.backoff(retry) * (1 + self.jitter * u)
        return max(jittered, self._honoured(retry_after))

    def min_delay(self, retry: int, *, retry_after: float | None = None) -> float:
        """The shortest delay :meth:`delay` can return: what a history checker may demand."""
        return max(self.backoff(retry), self._honoured(retry_after))

    def max_delay_for(self, retry: int, *, retry_after: float | None = None) -> float:
        """The longest delay :meth:`delay` can return (full jitter, or the capped Retry-After)."""
        return max(self.backoff(retry) * (1 + self.jitter), self._honoured(retry_after))

    def allows_retry(self, retry: int, *, slept: float = 0.0, next_delay: float = 0.0) -> bool:
        """Whether retry ``retry`` may happen, given ``slept`` seconds slept so far.

        True when ``retry <= max_retries`` and, if there is a ``deadline``, sleeping
        ``next_delay`` more would not exceed it.

        Raises:
            ValueError: if ``retry`` is below 1.
        """
        _check_retry(retry)
        if retry > self.max_retries:
            return False
        return self.deadline is None or slept + next_delay <= self.deadline

    def _honoured(self, retry_after: float | None) -> float:
        """The part of a server's Retry-After the client obeys (0 when there is none)."""
        if retry_after is None:
            return 0.0
        if math.isnan(retry_after) or retry_after < 0:
            raise ValueError(f"retry_after must be a non-negative number, got {retry_after!r}")
        return min(retry_after, self.retry_after_cap)


def parse_retry_after(value: str | None, *, now: datetime.datetime | None = None) -> float | None:
    """Parse an HTTP ``Retry-After`` header (RFC 9110 §10.2.3) into seconds to wait.

    ``value`` is either delay-seconds (ASCII digits only) or an HTTP-date. A date needs
    ``now`` to be turned into a delay; without it the result is ``None``. A date in the past
    gives ``0.0``. Naive datetimes (``value`` or ``now``) are taken as UTC. Delay-seconds too
    large for a float give ``math.inf`` (the policy's ``retry_after_cap`` still applies).

    Returns:
        Seconds (``>= 0``), or ``None`` when the header is absent, empty, negative, malformed,
        or a date without ``now``.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELAY_SECONDS.fullmatch(text):
        try:
            return float(int(text))
        except (OverflowError, ValueError):
            # Too many digits for a float (or for int(), past Python's digit limit).
            return math.inf
    if now is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    seconds = (_as_utc(when) - _as_utc(now)).total_seconds()
    return max(0.0, seconds)


def _as_utc(moment: datetime.datetime) -> datetime.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.UTC)
    return moment


def _check_retry(retry: int) -> None:
    if retry < 1:
        raise ValueError(f"retry numbers start at 1, got {retry!r}")


def _check_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _check_non_negative(name: str, value: float) -> None:
    _check_finite(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")


def _check_fraction(name: str, value: float) -> None:
    _check_finite(name, value)
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
