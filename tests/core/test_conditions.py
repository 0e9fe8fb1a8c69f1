"""The conditional-write rules as a pure function: each knob does what its name says.

``check_write`` is called with a profile, the current ETag, the busy window and the request's
headers; these tests state the rules one by one, so that a broken rule fails a test named
after it.
"""

from __future__ import annotations

import pytest

from mock_server.core.conditions import (
    MODIFIED_BY_ANOTHER_PROCESS,
    WriteConditions,
    check_action,
    check_read,
    check_write,
)
from mock_server.core.errors import (
    BadRequest,
    ConcurrentModification,
    PreconditionFailed,
    PreconditionRequired,
    WindchillError,
)
from mock_server.core.etag import ETag
from mock_server.core.profiles import profile_named

CURRENT = ETag(2, 1_708_523_400_500)
TOUCHED = ETag(2, 1_708_523_400_000)  # same iteration, older timestamp
OLD_VERSION = ETag(1, 1_708_523_400_000)
THREAD = profile_named("thread")
ODATA = profile_named("odata")


def write(profile=THREAD, if_match=None, *, now=10.0, busy_until=0.0, **headers):
    """Run ``check_write``; the error raised, or None when the write may proceed."""
    conditions = WriteConditions(if_match=if_match, **headers)
    try:
        check_write(profile, CURRENT, conditions, now=now, busy_until=busy_until)
    except WindchillError as error:
        return error
    return None


# ------------------------------------------------------------------ the busy window


def test_a_document_with_no_busy_window_is_writable_at_any_time() -> None:
    conditions = WriteConditions(if_match=str(CURRENT))
    check_write(THREAD, CURRENT, conditions, now=0.5)  # busy_until defaults to "never busy"
    check_write(THREAD, CURRENT, conditions, now=0.0)


def test_a_write_inside_the_busy_window_gets_the_busy_status_with_the_current_etag() -> None:
    error = write(if_match=str(CURRENT), now=2.0, busy_until=5.0)

    assert isinstance(error, ConcurrentModification)
    assert error.http_status == 409
    assert error.message == MODIFIED_BY_ANOTHER_PROCESS
    assert error.headers["ETag"] == str(CURRENT)  # the client may retry with it, later
    assert "for another 3.000 s" in (error.detail or "")


def test_the_busy_window_ends_at_busy_until() -> None:
    assert write(if_match=str(CURRENT), now=5.0, busy_until=5.0) is None
    assert write(if_match=str(CURRENT), now=4.999, busy_until=5.0) is not None


def test_an_overridden_busy_status_is_the_status_sent() -> None:
    error = write(THREAD.replace(busy_status=503), str(CURRENT), now=1.0, busy_until=2.0)

    assert error is not None
    assert error.http_status == 503
    assert error.headers["ETag"] == str(CURRENT)


def test_without_a_busy_status_a_busy_document_is_writable() -> None:
    assert write(ODATA, str(CURRENT.as_weak()), now=1.0, busy_until=2.0) is None


# ------------------------------------------------------------------ stale ETags


def test_a_stale_etag_of_the_same_iteration_gets_the_same_iteration_status() -> None:
    error = write(if_match=str(TOUCHED))

    assert isinstance(error, ConcurrentModification)
    assert error.http_status == 409
    assert error.headers["ETag"] == str(CURRENT)
    assert "timestamp part moved by 500 ms" in (error.detail or "")


def test_an_etag_of_an_older_iteration_gets_the_new_iteration_status() -> None:
    error = write(if_match=str(OLD_VERSION))

    assert isinstance(error, PreconditionFailed)
    assert error.http_status == 412
    assert error.headers["ETag"] == str(CURRENT)
    assert str(OLD_VERSION) in error.message
    assert str(CURRENT) in error.message
    assert "iteration changed from 1 to 2" in (error.detail or "")


@pytest.mark.parametrize("status", [409, 412, 422, 503])
def test_an_overridden_new_iteration_status_is_the_status_sent(status: int) -> None:
    error = write(THREAD.replace(stale_new_iteration_status=status), str(OLD_VERSION))

    assert error is not None
    assert error.http_status == status
    assert error.headers["ETag"] == str(CURRENT)


@pytest.mark.parametrize("status", [409, 412, 422])
def test_an_overridden_same_iteration_status_is_the_status_sent(status: int) -> None:
    error = write(THREAD.replace(stale_same_iteration_status=status), str(TOUCHED))

    assert error is not None
    assert error.http_status == status


def test_with_one_stale_status_ignored_the_other_kind_of_mismatch_is_still_refused() -> None:
    ignore_new = THREAD.replace(stale_new_iteration_status=None)
    ignore_same = THREAD.replace(stale_same_iteration_status=None)

    assert write(ignore_new, str(OLD_VERSION)) is None  # let through, as documented
    assert write(ignore_new, str(TOUCHED)).http_status == 409  # type: ignore[union-attr]
    assert write(ignore_same, str(TOUCHED)) is None
    assert write(ignore_same, str(OLD_VERSION)).http_status == 412  # type: ignore[union-attr]


def test_with_one_stale_status_ignored_if_match_is_still_parsed_and_required() -> None:
    ignore_new = THREAD.replace(stale_new_iteration_status=None, require_if_match=True)

    assert isinstance(write(ignore_new, "not-a-tag"), BadRequest)
    assert isinstance(write(ignore_new, None), PreconditionRequired)


def test_with_both_stale_statuses_ignored_if_match_is_not_looked_at() -> None:
    ignore = THREAD.replace(
        stale_same_iteration_status=None, stale_new_iteration_status=None, require_if_match=True
    )

    assert write(ignore, "not-a-tag") is None
    assert write(ignore, None) is None


def test_any_matching_tag_in_the_list_lets_the_write_through() -> None:
    assert write(if_match=f"{OLD_VERSION}, {CURRENT}") is None
    assert write(if_match="*") is None


def test_a_list_mixing_iterations_counts_as_the_same_iteration() -> None:
    error = write(if_match=f"{OLD_VERSION}, {TOUCHED}")

    assert error is not None
    assert error.http_status == 409


def test_strong_comparison_never_matches_a_weak_tag() -> None:
    assert write(if_match=str(CURRENT.as_weak())) is not None
    assert write(ODATA, str(CURRENT.as_weak())) is None  # weak comparison (OData)


# ------------------------------------------------------------------ a missing If-Match


def test_a_required_if_match_gets_428_with_the_current_etag() -> None:
    error = write(ODATA, None)

    assert isinstance(error, PreconditionRequired)
    assert error.http_status == 428
    assert error.message == "This update requires an If-Match header with the document's ETag"
    assert error.headers["ETag"] == str(CURRENT)


def test_optimistic_update_mode_makes_if_match_required_in_the_thread_profile() -> None:
    assert write(THREAD, None) is None  # last-write-wins
    assert isinstance(write(THREAD, None, update_mode="optimistic"), PreconditionRequired)
    assert isinstance(write(THREAD, None, update_mode=" Optimistic "), PreconditionRequired)
    assert write(THREAD, None, update_mode="pessimistic") is None
    assert write(THREAD.replace(honour_update_mode=False), None, update_mode="optimistic") is None


def test_ignore_version_check_skips_every_check_where_honoured() -> None:
    assert write(THREAD, str(OLD_VERSION), ignore_version_check=True) is None
    assert write(THREAD, str(CURRENT), busy_until=20.0, ignore_version_check=True) is None
    assert write(ODATA, None, ignore_version_check=True) is not None  # not honoured there


# ------------------------------------------------------------------ tags never issued here


@pytest.mark.parametrize(
    ("profile", "status"), [(THREAD, 409), (ODATA, 412)], ids=["thread", "odata"]
)
def test_a_well_formed_tag_never_issued_here_is_a_mismatch_not_a_bad_request(
    profile, status
) -> None:
    error = write(profile, '"33a64df551425fcc55e4d42a148795d9f25f89d4"')

    assert isinstance(error, WindchillError)
    assert not isinstance(error, BadRequest)
    assert error.http_status == status
    assert "never issued by this server" in (error.detail or "")
    assert error.headers["ETag"] == str(CURRENT)


def test_a_foreign_tag_gets_the_new_iteration_status_where_touches_are_ignored() -> None:
    lenient = THREAD.replace(stale_same_iteration_status=None, stale_new_iteration_status=412)

    error = write(lenient, '"abc"')
    touched = write(lenient, str(TOUCHED))

    assert touched is None, "this profile lets a touched ETag through"
    assert isinstance(error, PreconditionFailed)
    assert error.http_status == 412


def test_a_foreign_tag_listed_with_a_stale_one_takes_the_stale_ones_status() -> None:
    mixed = write(THREAD, f'"abc", {OLD_VERSION}')
    current_listed = write(THREAD, f'"abc", {CURRENT}')

    assert isinstance(mixed, WindchillError)
    assert mixed.http_status == 412, "the listed tag of an old iteration decides"
    assert current_listed is None, "a list matches when one of its tags matches"


# ------------------------------------------------------------------ conditional reads


def read(profile=THREAD, *, if_match=None, if_none_match=None):
    """Run ``check_read``: True for a 304, False for a 200, or the error raised."""
    try:
        return check_read(profile, CURRENT, if_match=if_match, if_none_match=if_none_match)
    except WindchillError as error:
        return error


def test_a_read_without_conditions_is_a_200() -> None:
    assert read() is False


@pytest.mark.parametrize("sent", [str(CURRENT), "*", f'"x", {CURRENT}', f"W/{CURRENT}"])
def test_if_none_match_naming_the_current_etag_is_a_304_compared_weakly(sent: str) -> None:
    assert read(if_none_match=sent) is True


@pytest.mark.parametrize("sent", [str(TOUCHED), str(OLD_VERSION), '"x"'])
def test_if_none_match_naming_another_etag_is_a_200(sent: str) -> None:
    assert read(if_none_match=sent) is False


def test_if_match_that_does_not_match_is_412_with_the_current_etag_and_why() -> None:
    error = read(if_match=str(TOUCHED), if_none_match=str(CURRENT))

    assert isinstance(error, PreconditionFailed)
    assert error.http_status == 412
    assert error.headers == {"ETag": str(CURRENT)}
    assert str(TOUCHED) in error.message
    assert str(CURRENT) in error.message
    assert "timestamp part moved by 500 ms" in (error.detail or "")


def test_if_match_is_compared_as_the_profile_compares_writes() -> None:
    weak = f"W/{CURRENT}"

    assert isinstance(read(THREAD, if_match=weak), PreconditionFailed), "strong: W/ never"
    assert read(ODATA, if_match=weak) is False, "the odata profile compares weakly"
    assert read(THREAD, if_match=f'"x", {CURRENT}') is False
    assert read(THREAD, if_match="*", if_none_match=str(CURRENT)) is True


def test_a_broken_header_in_a_read_is_400() -> None:
    assert isinstance(read(if_match="abc"), BadRequest)
    assert isinstance(read(if_none_match="abc"), BadRequest)


# ------------------------------------------------------------------ bound actions


def action(profile=THREAD, if_match=None):
    try:
        check_action(profile, CURRENT, if_match)
    except WindchillError as error:
        return error
    return None


def test_an_action_needs_if_match_where_the_profile_requires_it() -> None:
    error = action(ODATA)

    assert isinstance(error, PreconditionRequired)
    assert error.headers == {"ETag": str(CURRENT)}
    assert action(THREAD) is None, "thread: optional"
    assert action(profile_named("wrs"), '"garbage"') is None, "wrs: not even parsed"


@pytest.mark.parametrize(
    ("profile", "sent", "status"),
    [
        (THREAD, TOUCHED, 409),
        (THREAD, OLD_VERSION, 412),
        (ODATA, TOUCHED, 412),
        (ODATA, OLD_VERSION, 412),
    ],
)
def test_an_action_with_a_stale_if_match_gets_the_status_a_patch_would(profile, sent, status):
    error = action(profile, str(sent))

    assert isinstance(error, WindchillError)
    assert error.http_status == status


def test_an_action_with_a_matching_if_match_or_star_proceeds() -> None:
    assert action(THREAD, str(CURRENT)) is None
    assert action(ODATA, "*") is None
    assert action(THREAD, '"x", ' + str(CURRENT)) is None
    assert isinstance(action(THREAD, "junk"), BadRequest)
