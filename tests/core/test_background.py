"""Background processes: seeded, lazily evaluated arrivals, and the determinism they give."""

from __future__ import annotations

import contextlib
import itertools
import math
import tracemalloc

import pytest
from core_support import background_events
from hypothesis import given
from hypothesis import strategies as st

from mock_server.core import (
    DEFAULT_EPOCH,
    SOURCES,
    ConcurrentEdit,
    Intervention,
    LoseResponse,
    MockError,
    Repository,
    SourceSettings,
    VirtualClock,
    WindchillError,
    WriteConditions,
)
from mock_server.core.background import Background
from mock_server.core.errors import ConcurrentModification

RATES = {
    "indexer": SourceSettings(rate=0.8, duration=0.4),
    "cache_sync": SourceSettings(rate=0.3, duration=1.5),
    "lifecycle_evaluator": SourceSettings(rate=0.1, duration=0.0),
}
HORIZON = 30.0
RATE_CHANGE_AT = 10.0
CHANGED_RATES = {"indexer": SourceSettings(rate=3.0, duration=0.2)}


def new_repository(seed: int = 7, *, rates: dict[str, SourceSettings] | None = None) -> Repository:
    return Repository(clock=VirtualClock(), seed=seed, background=RATES if rates is None else rates)


def create(repository: Repository, name: str) -> str:
    entity = repository.create({"Name": name}, user="u").entity
    assert entity is not None
    return str(entity["ID"])


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    "settings",
    [{"rate": -1.0}, {"rate": math.nan}, {"rate": math.inf}, {"duration": -0.5}],
)
def test_source_settings_must_be_finite_and_not_negative(settings: dict[str, float]) -> None:
    with pytest.raises(MockError):
        SourceSettings(**settings)


def test_configuring_an_unknown_source_is_refused(repository: Repository) -> None:
    with pytest.raises(MockError, match="unknown background source"):
        repository.configure_background({"garbage_collector": SourceSettings(rate=1)})


def test_background_rates_default_to_zero_so_only_what_a_test_injects_happens(
    repository: Repository, clock: VirtualClock, doc_id: str
) -> None:
    etag = repository.current_etag(doc_id)
    clock.advance(3600)

    assert repository.current_etag(doc_id) == etag
    assert repository.background_settings() == {s: SourceSettings() for s in SOURCES}


def test_configure_background_changes_only_the_sources_named(repository: Repository) -> None:
    repository.configure_background({"cache_sync": SourceSettings(rate=2, duration=1)})

    assert repository.background_settings()["cache_sync"] == SourceSettings(2, 1)
    assert repository.background_settings()["indexer"] == SourceSettings()


# ------------------------------------------------------------------ arrivals


def test_background_arrivals_move_the_etag_but_not_the_iteration_or_visible_values() -> None:
    repository = new_repository()
    doc_id = create(repository, "doc")
    before = repository.peek(doc_id)
    etag = repository.current_etag(doc_id)

    assert isinstance(repository.clock, VirtualClock)
    repository.clock.advance(HORIZON)

    after = repository.peek(doc_id)
    assert repository.current_etag(doc_id) != etag
    assert after["Version"] == "A.1"
    assert {k: v for k, v in after.items() if k != "LastModified"} == {
        k: v for k, v in before.items() if k != "LastModified"
    }
    assert {source for _, source in background_events(repository, doc_id)} == set(SOURCES)


def test_arrival_rate_matches_the_configured_rate() -> None:
    repository = new_repository(rates={"indexer": SourceSettings(rate=2.0)})
    doc_id = create(repository, "doc")
    assert isinstance(repository.clock, VirtualClock)
    repository.clock.advance(500)
    repository.peek(doc_id)

    count = len(background_events(repository, doc_id))

    # Poisson(1000): five standard deviations either side.
    assert 840 < count < 1160


def test_an_idle_document_has_no_events_until_someone_looks() -> None:
    repository = new_repository()
    doc_id = create(repository, "doc")
    assert isinstance(repository.clock, VirtualClock)
    repository.clock.advance(HORIZON)

    assert background_events(repository, doc_id) == []
    repository.peek(doc_id)
    assert background_events(repository, doc_id) != []


def test_arrivals_start_when_the_document_is_created() -> None:
    repository = new_repository()
    assert isinstance(repository.clock, VirtualClock)
    repository.clock.advance(20)
    doc_id = create(repository, "late")
    repository.clock.advance(HORIZON)

    repository.peek(doc_id)

    times = [t for t, _ in background_events(repository, doc_id)]
    assert times
    assert min(times) > 20


def test_background_write_window_gives_409_with_a_just_fetched_etag() -> None:
    # The forum thread's story: GET, a background op starts, PATCH with that ETag → 409.
    repository = new_repository(rates={"indexer": SourceSettings(rate=0.2, duration=2.0)})
    doc_id = create(repository, "doc")
    probe = new_repository(rates={"indexer": SourceSettings(rate=0.2, duration=2.0)})
    probe_id = create(probe, "doc")
    assert isinstance(probe.clock, VirtualClock)
    probe.clock.advance(HORIZON)
    probe.peek(probe_id)
    first_arrival = background_events(probe, probe_id)[0][0]

    assert isinstance(repository.clock, VirtualClock)
    repository.clock.advance(first_arrival)
    fresh = repository.read(doc_id, user="u").etag
    repository.clock.advance(1.0)

    with pytest.raises(ConcurrentModification) as caught:
        repository.update(doc_id, {"Title": "x"}, user="u", conditions=WriteConditions(fresh))
    assert caught.value.http_status == 409


def test_arrivals_of_a_document_do_not_depend_on_other_documents_or_sources() -> None:
    alone = new_repository(rates={"indexer": RATES["indexer"]})
    alone_id = create(alone, "doc")
    crowded = new_repository()
    crowded_id = create(crowded, "doc")
    others = [create(crowded, f"other {i}") for i in range(3)]
    for repository in (alone, crowded):
        assert isinstance(repository.clock, VirtualClock)
        repository.clock.advance(HORIZON)
    for other in others:
        crowded.peek(other)

    alone.peek(alone_id)
    crowded.peek(crowded_id)

    assert background_events(alone, alone_id) == [
        event for event in background_events(crowded, crowded_id) if event[1] == "indexer"
    ]


# ------------------------------------------------------------------ laziness


def events_up_to_horizon(
    look_at: list[tuple[float, bool]], *, seed: int = 7, change_rates: bool = True
) -> list[tuple[float, str]]:
    """Create two documents, look at them at the given times, and return the first's events.

    ``look_at`` is a list of ``(time, at_the_first_document)``; ``configure_background`` runs
    at :data:`RATE_CHANGE_AT` and the first document is peeked at :data:`HORIZON` in the end.
    """
    clock = VirtualClock()
    repository = Repository(clock=clock, seed=seed, background=RATES)
    doc_id = create(repository, "doc")
    other_id = create(repository, "other")
    schedule = sorted(look_at)
    if change_rates:
        schedule.append((RATE_CHANGE_AT, False))
        schedule.sort()
    changed = not change_rates
    for when, first in schedule:
        if not changed and when >= RATE_CHANGE_AT:
            clock.set(DEFAULT_EPOCH + RATE_CHANGE_AT)
            repository.configure_background(CHANGED_RATES)
            changed = True
        clock.set(DEFAULT_EPOCH + when)
        repository.read(doc_id if first else other_id, user="u")
    if not changed:
        clock.set(DEFAULT_EPOCH + RATE_CHANGE_AT)
        repository.configure_background(CHANGED_RATES)
    clock.set(DEFAULT_EPOCH + HORIZON)
    repository.peek(doc_id)
    return background_events(repository, doc_id)


def test_lazy_arrivals_are_the_same_whether_read_every_tenth_of_a_second_or_once() -> None:
    once = events_up_to_horizon([])
    often = events_up_to_horizon([(k / 10, True) for k in range(int(HORIZON * 10))])

    assert len(once) > 20
    assert often == once


def test_lazy_arrivals_are_the_same_when_reads_of_other_documents_are_interleaved() -> None:
    once = events_up_to_horizon([])
    interleaved = events_up_to_horizon([(k / 7, k % 3 == 0) for k in range(int(HORIZON * 7))])

    assert interleaved == once


def test_lazy_arrivals_follow_a_rate_change() -> None:
    changed = events_up_to_horizon([])
    unchanged = events_up_to_horizon([], change_rates=False)

    before = [e for e in changed if e[0] < RATE_CHANGE_AT]
    assert before == [e for e in unchanged if e[0] < RATE_CHANGE_AT]
    after_changed = [e for e in changed if e[0] >= RATE_CHANGE_AT and e[1] == "indexer"]
    after_unchanged = [e for e in unchanged if e[0] >= RATE_CHANGE_AT and e[1] == "indexer"]
    assert len(after_changed) > 2 * len(after_unchanged)


@given(
    look_at=st.lists(st.tuples(st.floats(0, HORIZON, allow_nan=False), st.booleans()), max_size=40)
)
def test_lazy_arrivals_are_the_same_whatever_the_access_pattern(
    look_at: list[tuple[float, bool]],
) -> None:
    assert events_up_to_horizon(look_at) == events_up_to_horizon([])


def test_rate_changed_twice_at_one_instant_gives_the_same_arrivals_whatever_was_read() -> None:
    # Regression: a second configure at the same virtual time used to overwrite the segment a
    # stream had already entered, so an eager reader kept the old rate and a lazy one did not.
    def run(read_in_between: bool) -> list[tuple[float, str]]:
        clock = VirtualClock()
        repository = Repository(clock=clock, seed=1)
        doc_id = create(repository, "doc")
        clock.advance(1)
        repository.configure_background({"indexer": SourceSettings(rate=1)})
        if read_in_between:
            repository.read(doc_id, user="u")
        repository.configure_background({"indexer": SourceSettings(rate=20)})
        clock.advance(5)
        repository.peek(doc_id)
        return background_events(repository, doc_id)

    assert run(read_in_between=True) == run(read_in_between=False)
    assert len(run(read_in_between=False)) > 40


def test_switching_a_source_off_at_the_instant_it_was_read_stops_its_arrivals() -> None:
    # Regression: this used to raise ZeroDivisionError (an arrival drawn at rate 0).
    clock = VirtualClock()
    repository = Repository(clock=clock, seed=1)
    doc_id = create(repository, "doc")
    clock.advance(1)
    repository.configure_background({"indexer": SourceSettings(rate=5)})
    repository.read(doc_id, user="u")
    repository.configure_background({"indexer": SourceSettings(rate=0)})
    clock.advance(10)

    repository.read(doc_id, user="u")

    assert background_events(repository, doc_id) == []


def test_background_take_due_returns_each_arrival_once_in_time_order() -> None:
    background = Background(3, RATES, start=0.0)

    first = background.take_due(1, born=0.0, until=50.0)
    again = background.take_due(1, born=0.0, until=50.0)
    later = background.take_due(1, born=0.0, until=100.0)

    assert first
    assert again == []
    assert all(50 < a.t <= 100 for a in later)
    times = [a.t for a in first + later]
    assert times == sorted(times)


# ------------------------------------------------------------------ determinism


def scenario(seed: int) -> str:
    """A fixed sequence of client operations and clock steps; returns the journal."""
    clock = VirtualClock()
    repository = Repository(
        clock=clock, seed=seed, background={"indexer": SourceSettings(1.0, 0.3), **RATES}
    )
    doc_id = create(repository, "doc")
    repository.inject(Intervention(doc_id, ConcurrentEdit({"Title": "theirs"}), at=4.0))
    repository.inject(Intervention(doc_id, LoseResponse(), before_request=5))
    for step in range(12):
        clock.advance(0.75)
        etag = repository.read(doc_id, user="alice").etag
        clock.advance(0.25)
        with contextlib.suppress(WindchillError):
            repository.update(
                doc_id,
                {"Description": f"step {step}"},
                user="alice",
                conditions=WriteConditions(etag),
            )
    return repository.journal.to_jsonl()


def test_same_seed_same_operations_same_clock_give_a_byte_identical_journal() -> None:
    first = scenario(seed=11)

    assert scenario(seed=11) == first
    assert '"type":"background"' in first
    assert '"type":"fail"' in first


def test_different_seed_gives_different_background_arrivals() -> None:
    def arrivals(seed: int) -> list[str]:
        return [line for line in scenario(seed).splitlines() if '"background"' in line]

    assert arrivals(11) != arrivals(12)


def test_gaps_are_exponential_with_the_configured_mean_and_uncorrelated() -> None:
    background = Background(5, {"indexer": SourceSettings(rate=4.0)}, 0.0)
    times = [a.t for a in background.take_due(1, 0.0, 5000.0)]
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    mean = sum(gaps) / len(gaps)
    variance = sum((g - mean) ** 2 for g in gaps) / len(gaps)
    lag = sum((a - mean) * (b - mean) for a, b in itertools.pairwise(gaps))

    assert len(gaps) == pytest.approx(20_000, rel=0.03)
    assert mean == pytest.approx(0.25, rel=0.03)
    assert math.sqrt(variance) == pytest.approx(0.25, rel=0.05), "exponential: sd = mean"
    assert abs(lag / len(gaps) / variance) < 0.03, "one gap says nothing of the next"
    assert sum(g < 0.25 * math.log(2) for g in gaps) / len(gaps) == pytest.approx(0.5, abs=0.02)


def test_streams_of_other_documents_sources_and_seeds_are_different() -> None:
    rates = {s: SourceSettings(rate=1.0) for s in SOURCES}

    def arrivals(seed: int, document: int) -> dict[str, list[float]]:
        taken = Background(seed, rates, 0.0).take_due(document, 0.0, 20.0)
        return {s: [a.t for a in taken if a.source == s] for s in SOURCES}

    streams = [arrivals(0, 1), arrivals(0, 2), arrivals(1, 1)]
    everything = [times for stream in streams for times in stream.values()]
    assert all(everything), "every stream has arrivals in 20 s at 1/s"
    assert len({tuple(times) for times in everything}) == len(everything)


def test_a_document_that_was_read_keeps_a_few_hundred_bytes_of_background_state() -> None:
    """Randomness is derived when needed: no generator is kept per document and source."""
    rates = {s: SourceSettings(rate=0.5, duration=0.1) for s in SOURCES}
    background = Background(0, rates, 0.0)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for document in range(500):
            background.take_due(document, 0.0, 30.0)
        per_document = (tracemalloc.get_traced_memory()[0] - before) / 500
    finally:
        tracemalloc.stop()

    assert per_document < 800, f"{per_document:.0f} bytes of background state per document"
    for document in range(500):
        background.forget(document)
