"""Clocks: a virtual clock only moves forwards; the system clock follows freezegun."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from freezegun import freeze_time

from mock_server.core import DEFAULT_EPOCH, Clock, ClockError, SystemClock, VirtualClock
from mock_server.core import clock as clock_module
from mock_server.core.clock import ScaledClock, scale_of


def test_virtual_clock_starts_at_the_forum_thread_epoch_by_default() -> None:
    assert VirtualClock().now() == DEFAULT_EPOCH
    assert VirtualClock(100).now() == 100.0


def test_virtual_clock_advances_forwards_and_returns_the_new_time() -> None:
    clock = VirtualClock(10.0)
    assert clock.advance(2.5) == 12.5
    assert clock.advance(0) == 12.5
    assert clock.now() == 12.5


def test_virtual_clock_sleep_advances_instead_of_waiting() -> None:
    clock = VirtualClock(0.0)
    clock.sleep(3600)
    assert clock.now() == 3600.0


@pytest.mark.parametrize("seconds", [-1.0, -1e-9, math.nan, math.inf, -math.inf])
def test_virtual_clock_refuses_to_advance_by_a_negative_or_non_finite_amount(
    seconds: float,
) -> None:
    clock = VirtualClock(10.0)
    with pytest.raises(ClockError):
        clock.advance(seconds)
    assert clock.now() == 10.0


def test_virtual_clock_set_moves_forwards_or_stays() -> None:
    clock = VirtualClock(10.0)
    assert clock.set(10.0) == 10.0
    assert clock.set(20.0) == 20.0


@pytest.mark.parametrize("when", [9.999, 0.0, math.nan, math.inf])
def test_virtual_clock_refuses_to_be_set_earlier_or_to_a_non_finite_time(when: float) -> None:
    clock = VirtualClock(10.0)
    with pytest.raises(ClockError, match="virtual clock"):
        clock.set(when)
    assert clock.now() == 10.0


def test_clock_error_is_a_value_error() -> None:
    assert issubclass(ClockError, ValueError)


def test_both_clocks_satisfy_the_clock_protocol() -> None:
    assert isinstance(VirtualClock(), Clock)
    assert isinstance(SystemClock(), Clock)
    assert VirtualClock.virtual is True
    assert SystemClock.virtual is False


def test_system_clock_follows_freezegun_freeze_time() -> None:
    clock = SystemClock()
    with freeze_time("2024-02-21 13:23:20", tz_offset=0):
        assert clock.now() == DEFAULT_EPOCH
    with freeze_time(dt.datetime(2030, 1, 1, tzinfo=dt.UTC)) as frozen:
        start = clock.now()
        assert start == dt.datetime(2030, 1, 1, tzinfo=dt.UTC).timestamp()
        frozen.tick(dt.timedelta(seconds=90))
        assert clock.now() == start + 90


def test_system_clock_reads_real_time_outside_freezegun() -> None:
    assert SystemClock().now() > DEFAULT_EPOCH


class _Monotonic:
    def __init__(self) -> None:
        self.now = 500.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_scaled_clock_runs_scale_times_faster_than_real_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = _Monotonic()
    monkeypatch.setattr(clock_module.time, "monotonic", fake)
    monkeypatch.setattr(clock_module.time, "sleep", fake.sleep)
    clock = ScaledClock(10)
    assert clock.now() == DEFAULT_EPOCH
    assert not clock.virtual
    fake.now += 1.5
    assert clock.now() == pytest.approx(DEFAULT_EPOCH + 15)
    clock.sleep(20)  # 20 s of the mock's time: 2 real seconds
    assert fake.slept == [2.0]
    assert clock.now() == pytest.approx(DEFAULT_EPOCH + 35)
    assert scale_of(clock) == 10.0
    assert scale_of(SystemClock()) == scale_of(VirtualClock()) == 1.0
    assert repr(clock) == "ScaledClock(10)"


@pytest.mark.parametrize("scale", [0, -1, float("nan"), float("inf"), 1001, True, "10"])
def test_a_scaled_clock_refuses_a_scale_outside_its_range(scale: object) -> None:
    with pytest.raises(ClockError, match="time scale"):
        ScaledClock(scale)  # type: ignore[arg-type]
