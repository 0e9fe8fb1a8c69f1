"""The retry policy: a value object whose delay maths a history checker can rely on."""

from __future__ import annotations

import dataclasses
import datetime
import math
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_windchill.client.policy import RetryPolicy, parse_retry_after, rng

NOW = datetime.datetime(2024, 2, 21, 13, 23, 20, tzinfo=datetime.UTC)


def policies() -> st.SearchStrategy[RetryPolicy]:
    delays = st.floats(min_value=0, max_value=60, allow_nan=False)
    return st.builds(
        RetryPolicy,
        max_retries=st.integers(min_value=0, max_value=10),
        base_delay=delays,
        factor=st.floats(min_value=1, max_value=10, allow_nan=False),
        max_delay=delays,
        jitter=st.floats(min_value=0, max_value=1, allow_nan=False),
        retry_after_cap=delays,
        deadline=st.none() | delays,
    )


retry_afters = st.none() | st.floats(min_value=0, max_value=1e6, allow_nan=False)


# --- value object and validation ------------------------------------------------------------


def test_defaults_follow_the_recipe() -> None:
    policy = RetryPolicy()
    assert policy.max_retries == 3
    assert policy.base_delay == 0.5
    assert policy.factor == 2.0
    assert policy.max_delay == 8.0
    assert policy.jitter == 0.1
    assert policy.retry_after_cap == 30.0
    assert policy.deadline is None
    assert policy.conflict_rate_warning == 0.10


def test_policy_is_an_immutable_hashable_value() -> None:
    policy = RetryPolicy()
    assert policy == RetryPolicy()
    assert hash(policy) == hash(RetryPolicy())
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.max_retries = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_retries", -1),
        ("base_delay", -0.1),
        ("max_delay", -1.0),
        ("retry_after_cap", -1.0),
        ("deadline", -0.5),
        ("conflict_rate_warning", -0.01),
        ("conflict_rate_warning", 1.5),
        ("factor", 0.5),
        ("jitter", -0.1),
        ("jitter", 1.1),
        ("base_delay", math.nan),
        ("max_delay", math.inf),
        ("factor", math.nan),
        ("jitter", math.nan),
    ],
)
def test_invalid_field_is_rejected_with_its_name(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=rf"^{field} must be "):
        RetryPolicy(**{field: value})


@pytest.mark.parametrize(
    "overrides",
    [
        {"max_retries": 0},
        {"base_delay": 0.0},
        {"factor": 1.0},
        {"jitter": 0.0},
        {"jitter": 1.0},
        {"deadline": 0.0},
        {"retry_after_cap": 0.0},
    ],
)
def test_boundary_values_are_accepted(overrides: dict[str, Any]) -> None:
    RetryPolicy(**overrides)


# --- backoff --------------------------------------------------------------------------------


def test_backoff_doubles_from_the_base_delay() -> None:
    policy = RetryPolicy()
    assert [policy.backoff(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]


def test_backoff_is_capped_at_max_delay() -> None:
    policy = RetryPolicy()
    assert policy.backoff(5) == 8.0
    assert policy.backoff(6) == 8.0
    assert policy.backoff(100) == 8.0


def test_backoff_of_an_enormous_retry_number_is_the_cap_not_an_overflow() -> None:
    assert RetryPolicy().backoff(100_000) == 8.0


def test_backoff_with_zero_base_delay_is_zero_even_for_an_enormous_retry() -> None:
    assert RetryPolicy(base_delay=0.0).backoff(100_000) == 0.0


@pytest.mark.parametrize("retry", [0, -1])
def test_retry_numbers_start_at_one(retry: int) -> None:
    policy = RetryPolicy()
    with pytest.raises(ValueError, match="start at 1"):
        policy.backoff(retry)
    with pytest.raises(ValueError, match="start at 1"):
        policy.delay(retry)
    with pytest.raises(ValueError, match="start at 1"):
        policy.allows_retry(retry)


@given(policy=policies(), retry=st.integers(min_value=1, max_value=200))
def test_backoff_never_shrinks_and_never_exceeds_the_cap(policy: RetryPolicy, retry: int) -> None:
    assert 0 <= policy.backoff(retry) <= policy.backoff(retry + 1) <= policy.max_delay


# --- delay: jitter and Retry-After ----------------------------------------------------------


def test_delay_without_rng_is_exactly_the_backoff() -> None:
    policy = RetryPolicy()
    assert [policy.delay(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]


def test_jitter_only_adds_and_stays_within_its_fraction() -> None:
    policy = RetryPolicy(jitter=0.1)
    generator = rng(1234)
    delays = [policy.delay(2, rng=generator) for _ in range(200)]
    assert all(1.0 <= d <= 1.1 for d in delays)
    # The jitter is real: not every delay is the bare backoff.
    assert len(set(delays)) > 1


def test_jitter_uses_the_rng_exactly_as_documented() -> None:
    policy = RetryPolicy(base_delay=1.0, jitter=0.5)
    u = random.Random(7).random()
    assert policy.delay(1, rng=rng(7)) == 1.0 * (1 + 0.5 * u)


def test_same_seed_gives_the_same_delays() -> None:
    policy = RetryPolicy()
    first, second = rng(42), rng(42)
    assert [policy.delay(n, rng=first) for n in (1, 2, 3)] == [
        policy.delay(n, rng=second) for n in (1, 2, 3)
    ]


def test_zero_jitter_ignores_the_rng() -> None:
    assert RetryPolicy(jitter=0.0).delay(3, rng=rng(5)) == 2.0


def test_retry_after_longer_than_backoff_wins() -> None:
    assert RetryPolicy().delay(1, retry_after=5.0, rng=rng(0)) == 5.0


def test_retry_after_shorter_than_backoff_does_not_shorten_the_delay() -> None:
    assert RetryPolicy().delay(3, retry_after=0.1) == 2.0


def test_retry_after_is_capped() -> None:
    policy = RetryPolicy(retry_after_cap=30.0)
    assert policy.delay(1, retry_after=3600.0) == 30.0
    assert policy.min_delay(1, retry_after=3600.0) == 30.0
    assert policy.max_delay_for(1, retry_after=3600.0) == 30.0


def test_infinite_retry_after_is_capped() -> None:
    assert RetryPolicy().delay(1, retry_after=math.inf) == 30.0


@pytest.mark.parametrize("retry_after", [-1.0, math.nan])
def test_negative_or_nan_retry_after_is_rejected(retry_after: float) -> None:
    with pytest.raises(ValueError, match="retry_after"):
        RetryPolicy().delay(1, retry_after=retry_after)


def test_min_and_max_delay_bracket_the_jitter() -> None:
    policy = RetryPolicy(jitter=0.25)
    assert policy.min_delay(2) == 1.0
    assert policy.max_delay_for(2) == 1.25


def test_min_and_max_delay_honour_retry_after() -> None:
    policy = RetryPolicy()
    assert policy.min_delay(1, retry_after=4.0) == 4.0
    assert policy.max_delay_for(1, retry_after=4.0) == 4.0
    assert policy.min_delay(1, retry_after=0.1) == 0.5
    assert policy.max_delay_for(1, retry_after=0.1) == pytest.approx(0.55)


@given(
    policy=policies(),
    retry=st.integers(min_value=1, max_value=50),
    retry_after=retry_afters,
    seed=st.integers(),
)
def test_delay_always_lies_between_min_delay_and_max_delay_for(
    policy: RetryPolicy, retry: int, retry_after: float | None, seed: int
) -> None:
    low = policy.min_delay(retry, retry_after=retry_after)
    high = policy.max_delay_for(retry, retry_after=retry_after)
    assert low <= policy.delay(retry, retry_after=retry_after, rng=rng(seed)) <= high
    assert policy.delay(retry, retry_after=retry_after) == low


@given(policy=policies(), retry=st.integers(min_value=1, max_value=50), retry_after=retry_afters)
def test_delay_is_never_shorter_than_a_capped_retry_after(
    policy: RetryPolicy, retry: int, retry_after: float | None
) -> None:
    if retry_after is not None:
        expected = min(retry_after, policy.retry_after_cap)
        assert policy.min_delay(retry, retry_after=retry_after) >= expected


# --- allows_retry ---------------------------------------------------------------------------


def test_retries_are_allowed_up_to_max_retries() -> None:
    policy = RetryPolicy(max_retries=3)
    assert [policy.allows_retry(n) for n in (1, 2, 3, 4)] == [True, True, True, False]


def test_zero_max_retries_allows_no_retry() -> None:
    assert not RetryPolicy(max_retries=0).allows_retry(1)


def test_no_deadline_means_unbounded_sleeping() -> None:
    assert RetryPolicy().allows_retry(1, slept=1e9, next_delay=1e9)


def test_deadline_allows_a_retry_that_lands_exactly_on_it() -> None:
    assert RetryPolicy(deadline=10.0).allows_retry(2, slept=6.0, next_delay=4.0)


def test_deadline_refuses_a_retry_whose_delay_would_overrun_it() -> None:
    assert not RetryPolicy(deadline=10.0).allows_retry(2, slept=6.0, next_delay=4.5)


def test_deadline_does_not_lift_the_retry_limit() -> None:
    assert not RetryPolicy(max_retries=1, deadline=100.0).allows_retry(2)


# --- rng ------------------------------------------------------------------------------------


def test_rng_returns_a_seeded_random() -> None:
    generator = rng(99)
    assert isinstance(generator, random.Random)
    assert generator.random() == random.Random(99).random()


def test_rng_returns_a_fresh_generator_each_time() -> None:
    assert rng(3) is not rng(3)


# --- parse_retry_after ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("0", 0.0), ("5", 5.0), ("120", 120.0), (" 7 ", 7.0), ("007", 7.0)],
)
def test_delay_seconds_are_parsed(header: str, seconds: float) -> None:
    assert parse_retry_after(header) == seconds


def test_delay_seconds_do_not_need_now() -> None:
    assert parse_retry_after("3", now=None) == 3.0


def test_absurdly_long_delay_seconds_become_infinity() -> None:
    assert parse_retry_after("9" * 400) == math.inf


@pytest.mark.parametrize(
    "header",
    [None, "", "   ", "-5", "1.5", "+3", "soon", "5s", "0x10", "\u0665", "NaN", "inf"],
)
def test_garbage_or_negative_is_ignored(header: str | None) -> None:
    assert parse_retry_after(header, now=NOW) is None


@pytest.mark.parametrize(
    "header",
    [
        "Wed, 21 Feb 2024 13:25:20 GMT",  # IMF-fixdate
        "Wednesday, 21-Feb-24 13:25:20 GMT",  # obsolete RFC 850
        "Wed Feb 21 13:25:20 2024",  # obsolete asctime, no zone: GMT
    ],
)
def test_http_date_becomes_seconds_from_now(header: str) -> None:
    assert parse_retry_after(header, now=NOW) == 120.0


def test_http_date_in_the_past_means_retry_now() -> None:
    assert parse_retry_after("Wed, 21 Feb 2024 13:00:00 GMT", now=NOW) == 0.0


def test_http_date_without_now_is_ignored() -> None:
    assert parse_retry_after("Wed, 21 Feb 2024 13:25:20 GMT") is None


def test_naive_now_is_taken_as_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    assert parse_retry_after("Wed, 21 Feb 2024 13:25:20 GMT", now=naive) == 120.0


def test_impossible_http_date_is_ignored() -> None:
    assert parse_retry_after("Wed, 31 Feb 2024 13:25:20 GMT", now=NOW) is None


@given(header=st.text())
def test_parse_retry_after_never_raises_and_never_goes_negative(header: str) -> None:
    result = parse_retry_after(header, now=NOW)
    assert result is None or result >= 0


@given(seconds=st.integers(min_value=0, max_value=10**12))
def test_any_delay_seconds_round_trip(seconds: int) -> None:
    assert parse_retry_after(str(seconds)) == float(seconds)


def test_a_retry_that_sleeps_nothing_fits_any_deadline() -> None:
    policy = RetryPolicy(deadline=0.0)

    assert policy.allows_retry(1)  # nothing slept, nothing to sleep
    assert not policy.allows_retry(1, next_delay=0.1)
    assert not policy.allows_retry(1, slept=0.1)
