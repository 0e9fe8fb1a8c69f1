"""Conditional updates, per profile, exactly as the DESIGN.md table says."""

from __future__ import annotations

import pytest
from core_support import RepositoryFactory, state_of

from mock_server.core import (
    MODIFIED_BY_ANOTHER_PROCESS,
    ConcurrentEdit,
    Intervention,
    MicroUpdate,
    Repository,
    VirtualClock,
    WriteConditions,
)
from mock_server.core.errors import (
    BadRequest,
    ConcurrentModification,
    PreconditionFailed,
    PreconditionRequired,
    WindchillError,
)
from mock_server.core.etag import parse_etag


def micro_update(repository: Repository, doc_id: str, duration: float = 0.0) -> None:
    repository.inject(Intervention(doc_id, MicroUpdate("indexer", duration)))


def concurrent_edit(repository: Repository, doc_id: str) -> None:
    repository.inject(Intervention(doc_id, ConcurrentEdit({"Title": "theirs"})))


def if_match(tag: str | None, **more: object) -> WriteConditions:
    return WriteConditions(if_match=tag, **more)  # type: ignore[arg-type]


def make(make_repository: RepositoryFactory, profile: str) -> tuple[Repository, str]:
    """A repository and a document's VersionID: the key that names the latest iteration
    whatever new iterations happen (these tests judge the ETag rules, not stale OR:s)."""
    repository = make_repository(profile)
    entity = repository.create({"Name": "doc", "Title": "mine"}, user="wcadmin").entity
    assert entity is not None
    return repository, str(entity["VersionID"])


def assert_refused(
    repository: Repository,
    doc_id: str,
    error: type[WindchillError],
    status: int,
    conditions: WriteConditions,
) -> WindchillError:
    before = state_of(repository, doc_id)
    with pytest.raises(error) as caught:
        repository.update(doc_id, {"Title": "refused"}, user="wcadmin", conditions=conditions)
    assert caught.value.http_status == status
    assert state_of(repository, doc_id) == before
    return caught.value


# ------------------------------------------------------------------ thread (default)


def test_thread_stale_etag_with_same_iteration_returns_409_modified_by_another_process(
    make_repository: RepositoryFactory,
) -> None:
    repository, doc_id = make(make_repository, "thread")
    stale = repository.read(doc_id, user="wcadmin").etag
    micro_update(repository, doc_id)
    current = repository.current_etag(doc_id)

    error = assert_refused(repository, doc_id, ConcurrentModification, 409, if_match(stale))

    assert error.message == MODIFIED_BY_ANOTHER_PROCESS
    assert error.headers["ETag"] == current
    assert parse_etag(current).iteration == parse_etag(str(stale)).iteration
    assert error.detail is not None
    assert "same iteration" in error.detail


def test_thread_stale_etag_after_a_new_iteration_returns_412(
    make_repository: RepositoryFactory,
) -> None:
    repository, doc_id = make(make_repository, "thread")
    stale = repository.read(doc_id, user="wcadmin").etag
    concurrent_edit(repository, doc_id)

    error = assert_refused(repository, doc_id, PreconditionFailed, 412, if_match(stale))

    assert error.detail is not None
    assert "iteration changed from 1 to 2" in error.detail
    assert error.headers["ETag"] == repository.current_etag(doc_id)


def test_thread_fresh_etag_is_applied_and_returns_the_new_etag(
    make_repository: RepositoryFactory,
) -> None:
    repository, doc_id = make(make_repository, "thread")
    micro_update(repository, doc_id)
    fresh = repository.read(doc_id, user="wcadmin").etag

    result = repository.update(doc_id, {"Title": "ok"}, user="wcadmin", conditions=if_match(fresh))

    assert result.entity is not None
    assert result.entity["Title"] == "ok"
    assert result.etag != fresh


def test_thread_if_match_list_matches_when_any_tag_matches(
    make_repository: RepositoryFactory,
) -> None:
    repository, doc_id = make(make_repository, "thread")
    current = repository.current_etag(doc_id)

    result = repository.update(
        doc_id, {"Title": "listed"}, user="u", conditions=if_match(f'"v9.1", {current}')
    )

    assert result.entity is not None
    assert result.entity["Title"] == "listed"


def test_thread_weak_tag_never_matches_under_strong_comparison(
    make_repository: RepositoryFactory,
) -> None:
    repository, doc_id = make(make_repository, "thread")
    weak = "W/" + repository.current_etag(doc_id)

    assert_refused(repository, doc_id, ConcurrentModification, 409, if_match(weak))


def test_thread_write_during_a_background_operation_in_flight_returns_409(
    make_repository: RepositoryFactory, clock: VirtualClock
) -> None:
    repository, doc_id = make(make_repository, "thread")
    micro_update(repository, doc_id, duration=2.0)
    fresh = repository.read(doc_id, user="wcadmin").etag

    clock.advance(1.999)
    error = assert_refused(repository, doc_id, ConcurrentModification, 409, if_match(fresh))
    assert error.message == MODIFIED_BY_ANOTHER_PROCESS
    assert error.detail is not None
    assert "indexer" in error.detail

    clock.advance(0.001)
    result = repository.update(doc_id, {"Title": "later"}, user="u", conditions=if_match(fresh))
    assert result.entity is not None
    assert result.entity["Title"] == "later"


def test_thread_write_without_if_match_during_a_background_operation_returns_409(
    make_repository: RepositoryFactory,
) -> None:
    repository, doc_id = make(make_repository, "thread")
    micro_update(repository, doc_id, duration=5.0)

    assert_refused(repository, doc_id, ConcurrentModification, 409, if_match(None))


def test_thread_missing_if_match_is_applied_last_write_wins(
    make_repository: RepositoryFactory,
) -> None:
    repository, doc_id = make(make_repository, "thread")
    concurrent_edit(repository, doc_id)

    result = repository.update(doc_id, {"Title": "mine wins"}, user="wcadmin")

    assert result.entity is not None
    assert result.entity["Title"] == "mine wins"


@pytest.mark.parametrize("mode", ["optimistic", "Optimistic", " OPTIMISTIC "])
def test_thread_missing_if_match_with_update_mode_optimistic_returns_428(
    make_repository: RepositoryFactory, mode: str
) -> None:
    repository, doc_id = make(make_repository, "thread")

    error = assert_refused(
        repository, doc_id, PreconditionRequired, 428, if_match(None, update_mode=mode)
    )

    assert error.headers["ETag"] == repository.current_etag(doc_id)


def test_thread_update_mode_optimistic_with_a_fresh_etag_is_applied(
    make_repository: RepositoryFactory,
) -> None:
    repository, doc_id = make(make_repository, "thread")
    fresh = repository.current_etag(doc_id)

    result = repository.update(
        doc_id, {"Title": "x"}, user="u", conditions=if_match(fresh, update_mode="optimistic")
    )

    assert result.entity is not None


@pytest.mark.parametrize("interference", [micro_update, concurrent_edit])
def test_thread_ignore_version_check_skips_the_etag_check(
    make_repository: RepositoryFactory, interference: object
) -> None:
    repository, doc_id = make(make_repository, "thread")
    stale = repository.current_etag(doc_id)
    assert callable(interference)
    interference(repository, doc_id)

    result = repository.update(
        doc_id, {"Title": "forced"}, user="u", conditions=if_match(stale, ignore_version_check=True)
    )

    assert result.entity is not None
    assert result.entity["Title"] == "forced"


def test_thread_ignore_version_check_skips_the_in_flight_check(
    make_repository: RepositoryFactory,
) -> None:
    repository, doc_id = make(make_repository, "thread")
    micro_update(repository, doc_id, duration=10)

    result = repository.update(
        doc_id, {"Title": "forced"}, user="u", conditions=if_match(None, ignore_version_check=True)
    )

    assert result.entity is not None


# ------------------------------------------------------------------ odata


def test_odata_emits_weak_etags(make_repository: RepositoryFactory) -> None:
    repository, doc_id = make(make_repository, "odata")

    tag = repository.read(doc_id, user="u").etag

    assert tag is not None
    assert tag.startswith('W/"v1.')
    assert parse_etag(tag).weak


@pytest.mark.parametrize("interference", [micro_update, concurrent_edit])
def test_odata_mismatch_returns_412_whatever_changed(
    make_repository: RepositoryFactory, interference: object
) -> None:
    repository, doc_id = make(make_repository, "odata")
    stale = repository.current_etag(doc_id)
    assert callable(interference)
    interference(repository, doc_id)

    assert_refused(repository, doc_id, PreconditionFailed, 412, if_match(stale))


def test_odata_missing_if_match_returns_428(make_repository: RepositoryFactory) -> None:
    repository, doc_id = make(make_repository, "odata")

    assert_refused(repository, doc_id, PreconditionRequired, 428, if_match(None))


@pytest.mark.parametrize("weak", [True, False])
def test_odata_compares_weakly_so_weak_and_strong_forms_of_the_current_tag_match(
    make_repository: RepositoryFactory, weak: bool
) -> None:
    repository, doc_id = make(make_repository, "odata")
    current = repository.current_etag(doc_id)
    sent = current if weak else current.removeprefix("W/")

    result = repository.update(doc_id, {"Title": "ok"}, user="u", conditions=if_match(sent))

    assert result.entity is not None
    assert result.entity["Title"] == "ok"


def test_odata_does_not_honour_ignore_version_check(make_repository: RepositoryFactory) -> None:
    repository, doc_id = make(make_repository, "odata")
    stale = repository.current_etag(doc_id)
    micro_update(repository, doc_id)

    assert_refused(
        repository, doc_id, PreconditionFailed, 412, if_match(stale, ignore_version_check=True)
    )


def test_odata_allows_writes_while_a_background_operation_is_in_flight(
    make_repository: RepositoryFactory,
) -> None:
    repository, doc_id = make(make_repository, "odata")
    micro_update(repository, doc_id, duration=10)
    fresh = repository.current_etag(doc_id)

    assert repository.update(doc_id, {"Title": "x"}, user="u", conditions=if_match(fresh)).entity


# ------------------------------------------------------------------ wrs


def test_wrs_emits_no_etag(make_repository: RepositoryFactory) -> None:
    repository, doc_id = make(make_repository, "wrs")

    assert repository.read(doc_id, user="u").etag is None
    assert repository.update(doc_id, {"Title": "x"}, user="u").etag is None


@pytest.mark.parametrize("sent", ['"v1.1"', '"v7.1"', "garbage", None])
def test_wrs_ignores_if_match_entirely(
    make_repository: RepositoryFactory, sent: str | None
) -> None:
    repository, doc_id = make(make_repository, "wrs")
    concurrent_edit(repository, doc_id)
    micro_update(repository, doc_id, duration=10)

    result = repository.update(
        doc_id, {"Title": "applied"}, user="u", conditions=if_match(sent, update_mode="optimistic")
    )

    assert result.entity is not None
    assert result.entity["Title"] == "applied"


# ------------------------------------------------------------------ every ETag profile


@pytest.mark.parametrize("profile", ["thread", "odata", "wrs"])
def test_if_match_star_matches_any_current_etag(
    make_repository: RepositoryFactory, profile: str
) -> None:
    repository, doc_id = make(make_repository, profile)
    concurrent_edit(repository, doc_id)
    micro_update(repository, doc_id)

    result = repository.update(doc_id, {"Title": "star"}, user="u", conditions=if_match("*"))

    assert result.entity is not None
    assert result.entity["Title"] == "star"


@pytest.mark.parametrize("profile", ["thread", "odata"])
@pytest.mark.parametrize("sent", ["", "v1.2", '"v1.2", junk', 'W/"unterminated'])
def test_malformed_if_match_is_a_400_in_etag_profiles(
    make_repository: RepositoryFactory, profile: str, sent: str
) -> None:
    repository, doc_id = make(make_repository, profile)

    assert_refused(repository, doc_id, BadRequest, 400, if_match(sent))


@pytest.mark.parametrize(("profile", "status"), [("thread", 409), ("odata", 412)])
def test_a_well_formed_etag_this_server_never_issued_is_a_mismatch(
    make_repository: RepositoryFactory, profile: str, status: int
) -> None:
    repository, doc_id = make(make_repository, profile)

    assert_refused(repository, doc_id, WindchillError, status, if_match('"abc"'))


@pytest.mark.parametrize("profile", ["thread", "odata"])
def test_conditional_delete_with_a_stale_etag_is_refused_and_keeps_the_document(
    make_repository: RepositoryFactory, profile: str
) -> None:
    repository, doc_id = make(make_repository, profile)
    stale = repository.current_etag(doc_id)
    concurrent_edit(repository, doc_id)
    before = state_of(repository, doc_id)

    with pytest.raises(PreconditionFailed):
        repository.delete(doc_id, user="u", conditions=if_match(stale))

    assert state_of(repository, doc_id) == before
