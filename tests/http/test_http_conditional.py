"""Conditional updates through HTTP: the DESIGN.md profile table, row by row."""

from __future__ import annotations

from typing import Any

import pytest
from wrs_session import MakeMock, Session, doc_url, error_of

from mock_server.core import MODIFIED_BY_ANOTHER_PROCESS


@pytest.fixture
def odata(make_mock: MakeMock) -> Session:
    return make_mock(profile="odata")


@pytest.fixture
def wrs(make_mock: MakeMock) -> Session:
    return make_mock(profile="wrs")


def created(mock: Session, **properties: Any) -> tuple[str, str | None]:
    """A new document's VersionID (the key of its latest iteration, whatever edits follow:
    these tests are about ETags; stale OR:s have tests of their own) and its ETag."""
    doc = mock.create(**properties)
    return doc["VersionID"], doc.get("@odata.etag")


def assert_rejected_unchanged(
    mock: Session, doc_id: str, before: dict[str, Any], status: int, response: Any
) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    error = error_of(response)
    assert mock.truth(doc_id) == before
    return error


# -------------------------------------------------------------------- thread profile


def test_stale_etag_with_same_iteration_returns_409_with_the_current_etag(mock: Session) -> None:
    doc_id, etag = created(mock, Name="Pump")
    mock.intervene(action="micro_update", document=doc_id, source="indexer")
    before = mock.truth(doc_id)

    response = mock.update(doc_id, {"Title": "mine"}, headers={"If-Match": str(etag)})

    error = assert_rejected_unchanged(mock, doc_id, before, 409, response)
    assert error["message"] == MODIFIED_BY_ANOTHER_PROCESS
    assert response.headers["ETag"] == before["etag"] != etag
    assert "same iteration" in error["details"][0]["message"]


def test_the_thread_story_get_then_background_op_then_patch_is_409(mock: Session) -> None:
    doc_id, _ = created(mock, Name="Pump")
    # the micro-update lands right before the PATCH, the client's second request
    mock.intervene(action="micro_update", document=doc_id, before_request=2)
    etag = mock.etag(doc_id)

    response = mock.update(doc_id, {"Title": "mine"}, headers={"If-Match": etag})

    assert response.status_code == 409
    assert error_of(response)["message"] == MODIFIED_BY_ANOTHER_PROCESS


def test_retry_with_the_etag_from_the_409_succeeds(mock: Session) -> None:
    doc_id, etag = created(mock, Name="Pump")
    mock.intervene(action="micro_update", document=doc_id)
    conflict = mock.update(doc_id, {"Title": "mine"}, headers={"If-Match": str(etag)})

    retry = mock.update(doc_id, {"Title": "mine"}, headers={"If-Match": conflict.headers["ETag"]})

    assert retry.status_code == 200
    assert retry.get_json()["Title"] == "mine"


def test_lifecycle_change_is_a_same_iteration_409(mock: Session) -> None:
    doc_id, etag = created(mock, Name="Pump")
    mock.intervene(action="lifecycle_change", document=doc_id, state="UNDERREVIEW")

    response = mock.update(doc_id, {"Title": "mine"}, headers={"If-Match": str(etag)})

    assert response.status_code == 409
    assert mock.read(doc_id).get_json()["State"]["Value"] == "UNDERREVIEW"


def test_stale_etag_after_a_concurrent_edit_returns_412(mock: Session) -> None:
    doc_id, etag = created(mock, Name="Pump", Title="original")
    mock.intervene(action="concurrent_edit", document=doc_id, changes={"Title": "theirs"})
    before = mock.truth(doc_id)

    response = mock.update(doc_id, {"Title": "mine"}, headers={"If-Match": str(etag)})

    assert_rejected_unchanged(mock, doc_id, before, 412, response)
    assert response.headers["ETag"] == before["etag"]
    assert before["entity"]["Title"] == "theirs"
    assert before["entity"]["Version"] == "A.2"
    assert before["entity"]["ModifiedBy"] == "other"


def test_write_while_a_background_op_is_in_flight_returns_409_even_with_a_fresh_etag(
    mock: Session,
) -> None:
    doc_id, _ = created(mock, Name="Pump")
    mock.intervene(action="micro_update", document=doc_id, source="indexer", duration=1.5)
    fresh = mock.etag(doc_id)
    before = mock.truth(doc_id)

    response = mock.update(doc_id, {"Title": "mine"}, headers={"If-Match": fresh})

    error = assert_rejected_unchanged(mock, doc_id, before, 409, response)
    assert error["message"] == MODIFIED_BY_ANOTHER_PROCESS
    assert "indexer" in error["details"][0]["message"]


def test_write_without_if_match_during_a_background_op_is_409(mock: Session) -> None:
    doc_id, _ = created(mock, Name="Pump")
    mock.intervene(action="micro_update", document=doc_id, source="cache_sync", duration=2)

    assert mock.update(doc_id, {"Title": "mine"}).status_code == 409


def test_write_after_the_background_op_finished_succeeds(mock: Session) -> None:
    doc_id, _ = created(mock, Name="Pump")
    mock.intervene(action="micro_update", document=doc_id, duration=1.5)
    mock.clock.advance(1.5)

    response = mock.update(doc_id, {"Title": "mine"}, headers={"If-Match": mock.etag(doc_id)})

    assert response.status_code == 200


def test_an_at_trigger_fires_when_virtual_time_reaches_it(mock: Session) -> None:
    doc_id, etag = created(mock, Name="Pump")
    mock.intervene(action="micro_update", document=doc_id, at=5)
    mock.clock.advance(4.999)
    assert mock.etag(doc_id) == etag

    mock.clock.advance(0.001)

    assert mock.update(doc_id, {"Title": "x"}, headers={"If-Match": str(etag)}).status_code == 409


def test_missing_if_match_is_applied_last_write_wins_in_thread(mock: Session) -> None:
    doc_id, _ = created(mock, Name="Pump")
    mock.intervene(action="concurrent_edit", document=doc_id, changes={"Title": "theirs"})

    response = mock.update(doc_id, {"Title": "mine"})

    assert response.status_code == 200
    assert mock.truth(doc_id)["entity"]["Title"] == "mine"


def test_missing_if_match_with_optimistic_update_mode_is_428(mock: Session) -> None:
    doc_id, _ = created(mock, Name="Pump")
    before = mock.truth(doc_id)

    response = mock.update(doc_id, {"Title": "mine"}, headers={"X-PTC-UpdateMode": "optimistic"})

    assert_rejected_unchanged(mock, doc_id, before, 428, response)
    assert response.headers["ETag"] == before["etag"]


def test_optimistic_update_mode_with_a_fresh_etag_is_applied(mock: Session) -> None:
    doc_id, etag = created(mock, Name="Pump")

    response = mock.update(
        doc_id, {"Title": "mine"}, headers={"X-PTC-UpdateMode": "Optimistic", "If-Match": str(etag)}
    )

    assert response.status_code == 200


@pytest.mark.parametrize("value", ["true", "TRUE", " True "])
def test_ignore_version_check_skips_a_stale_etag(mock: Session, value: str) -> None:
    doc_id, etag = created(mock, Name="Pump")
    mock.intervene(action="concurrent_edit", document=doc_id, changes={"Title": "theirs"})

    response = mock.update(
        doc_id,
        {"Title": "mine"},
        headers={"If-Match": str(etag), "X-PTC-IgnoreVersionCheck": value},
    )

    assert response.status_code == 200
    assert mock.truth(doc_id)["entity"]["Title"] == "mine"


def test_ignore_version_check_skips_the_in_flight_check(mock: Session) -> None:
    doc_id, _ = created(mock, Name="Pump")
    mock.intervene(action="micro_update", document=doc_id, duration=10)

    response = mock.update(doc_id, {"Title": "x"}, headers={"X-PTC-IgnoreVersionCheck": "true"})

    assert response.status_code == 200


def test_ignore_version_check_false_still_checks(mock: Session) -> None:
    doc_id, etag = created(mock, Name="Pump")
    mock.intervene(action="micro_update", document=doc_id)

    response = mock.update(
        doc_id, {"Title": "x"}, headers={"If-Match": str(etag), "X-PTC-IgnoreVersionCheck": "false"}
    )

    assert response.status_code == 409


def test_ignore_version_check_with_a_bad_value_is_400(mock: Session) -> None:
    doc_id, _ = created(mock, Name="Pump")
    before = mock.truth(doc_id)

    response = mock.update(doc_id, {"Title": "x"}, headers={"X-PTC-IgnoreVersionCheck": "yes"})

    assert_rejected_unchanged(mock, doc_id, before, 400, response)


def test_client_update_token_is_echoed_on_the_write(mock: Session) -> None:
    doc_id, etag = created(mock, Name="Pump")

    response = mock.update(
        doc_id, {"Title": "x"}, headers={"If-Match": str(etag), "X-Client-UpdateToken": "tok-42"}
    )

    assert response.status_code == 200
    assert response.headers["X-Client-UpdateToken"] == "tok-42"
    # stored with the write: a later read still carries it
    assert mock.read(doc_id).headers["X-Client-UpdateToken"] == "tok-42"


def test_client_update_token_is_echoed_on_204(mock: Session) -> None:
    doc_id, _ = created(mock, Name="Pump")

    response = mock.update(
        doc_id, {"Title": "x"}, headers={"Prefer": "return=minimal", "X-Client-UpdateToken": "t"}
    )

    assert response.status_code == 204
    assert response.headers["X-Client-UpdateToken"] == "t"


def test_a_concurrent_edit_clears_the_update_token(mock: Session) -> None:
    doc_id, _ = created(mock, Name="Pump")
    mock.update(doc_id, {"Title": "x"}, headers={"X-Client-UpdateToken": "mine"})
    mock.intervene(action="concurrent_edit", document=doc_id, changes={"Title": "theirs"})

    assert "X-Client-UpdateToken" not in mock.read(doc_id).headers


@pytest.mark.parametrize(
    "if_match",
    [
        "v1.1708521800000",  # unquoted
        '"v1.1708521800000',  # unterminated
        "",
        ",",
        'W/"v1.1708521800000" garbage',
    ],
)
@pytest.mark.parametrize("profile", ["thread", "odata"])
def test_malformed_if_match_is_400(make_mock: MakeMock, profile: str, if_match: str) -> None:
    mock = make_mock(profile=profile)
    doc_id, _ = created(mock, Name="Pump")
    before = mock.truth(doc_id)

    response = mock.update(doc_id, {"Title": "x"}, headers={"If-Match": if_match})

    error = assert_rejected_unchanged(mock, doc_id, before, 400, response)
    assert error["code"] == "MalformedETag"


@pytest.mark.parametrize(("profile", "status"), [("thread", 409), ("odata", 412)])
@pytest.mark.parametrize("if_match", ['"not-ours"', 'W/"33a64df5"', '""'])
def test_a_well_formed_etag_never_issued_here_is_a_mismatch(
    make_mock: MakeMock, profile: str, status: int, if_match: str
) -> None:
    mock = make_mock(profile=profile)
    doc_id, _ = created(mock, Name="Pump")
    before = mock.truth(doc_id)

    response = mock.update(doc_id, {"Title": "x"}, headers={"If-Match": if_match})

    error = assert_rejected_unchanged(mock, doc_id, before, status, response)
    assert "never issued by this server" in error["details"][0]["message"]


@pytest.mark.parametrize("profile", ["thread", "odata"])
def test_if_match_star_matches_any_current_etag(make_mock: MakeMock, profile: str) -> None:
    mock = make_mock(profile=profile)
    doc_id, _ = created(mock, Name="Pump")
    mock.intervene(action="concurrent_edit", document=doc_id, changes={"Title": "theirs"})

    response = mock.update(doc_id, {"Title": "mine"}, headers={"If-Match": "*"})

    assert response.status_code in (200, 204)
    assert mock.truth(doc_id)["entity"]["Title"] == "mine"


def test_if_match_list_matches_when_any_tag_is_current(mock: Session) -> None:
    doc_id, etag = created(mock, Name="Pump")

    response = mock.update(doc_id, {"Title": "x"}, headers={"If-Match": f'"v9.1", {etag}, "v1.5"'})

    assert response.status_code == 200


def test_a_weak_tag_never_matches_under_strong_comparison_in_thread(mock: Session) -> None:
    doc_id, etag = created(mock, Name="Pump")

    response = mock.update(doc_id, {"Title": "x"}, headers={"If-Match": f"W/{etag}"})

    assert response.status_code == 409
    assert "weak" in error_of(response)["details"][0]["message"]


# -------------------------------------------------------------------- odata profile


def test_odata_missing_if_match_is_428(odata: Session) -> None:
    doc_id, _ = created(odata, Name="Pump")
    before = odata.truth(doc_id)

    response = odata.update(doc_id, {"Title": "x"})

    assert_rejected_unchanged(odata, doc_id, before, 428, response)


def test_odata_delete_without_if_match_is_428(odata: Session) -> None:
    doc_id, _ = created(odata, Name="Pump")

    assert odata.delete(doc_url(doc_id)).status_code == 428
    assert odata.get(doc_url(doc_id)).status_code == 200


@pytest.mark.parametrize(
    "intervention",
    [
        {"action": "micro_update"},
        {"action": "lifecycle_change", "state": "RELEASED"},
        {"action": "concurrent_edit", "changes": {"Title": "theirs"}},
    ],
)
def test_odata_any_mismatch_is_412(odata: Session, intervention: dict[str, Any]) -> None:
    doc_id, etag = created(odata, Name="Pump")
    odata.intervene(document=doc_id, **intervention)
    before = odata.truth(doc_id)

    response = odata.update(doc_id, {"Title": "x"}, headers={"If-Match": str(etag)})

    assert_rejected_unchanged(odata, doc_id, before, 412, response)
    assert response.headers["ETag"] == before["etag"]


def test_odata_compares_weakly_so_the_strong_form_matches_too(odata: Session) -> None:
    doc_id, etag = created(odata, Name="Pump")
    assert etag is not None
    assert etag.startswith('W/"')

    response = odata.update(doc_id, {"Title": "x"}, headers={"If-Match": etag[2:]})

    assert response.status_code == 204


def test_odata_writes_during_a_background_op_are_not_refused(odata: Session) -> None:
    doc_id, _ = created(odata, Name="Pump")
    odata.intervene(action="micro_update", document=doc_id, duration=10)

    response = odata.update(doc_id, {"Title": "x"}, headers={"If-Match": odata.etag(doc_id)})

    assert response.status_code == 204


def test_odata_does_not_honour_the_thread_headers(odata: Session) -> None:
    doc_id, etag = created(odata, Name="Pump")
    odata.intervene(action="micro_update", document=doc_id)

    response = odata.update(
        doc_id, {"Title": "x"}, headers={"If-Match": str(etag), "X-PTC-IgnoreVersionCheck": "true"}
    )

    assert response.status_code == 412


# -------------------------------------------------------------------- wrs profile


@pytest.mark.parametrize("if_match", ['"v1.1"', '"v7.1708521800000"', "garbage", "*"])
def test_wrs_ignores_if_match(wrs: Session, if_match: str) -> None:
    doc_id, _ = created(wrs, Name="Pump")
    wrs.intervene(action="concurrent_edit", document=doc_id, changes={"Title": "theirs"})

    response = wrs.update(doc_id, {"Title": "mine"}, headers={"If-Match": if_match})

    assert response.status_code == 204
    assert wrs.truth(doc_id)["entity"]["Title"] == "mine"


def test_wrs_ignores_optimistic_update_mode_and_background_ops(wrs: Session) -> None:
    doc_id, _ = created(wrs, Name="Pump")
    wrs.intervene(action="micro_update", document=doc_id, duration=10)

    response = wrs.update(doc_id, {"Title": "x"}, headers={"X-PTC-UpdateMode": "optimistic"})

    assert response.status_code == 204


# -------------------------------------------------------------------- knobs via config


def test_profile_knobs_can_be_overridden(make_mock: MakeMock) -> None:
    mock = make_mock(profile="thread", overrides={"stale_same_iteration_status": 412})
    doc_id, etag = created(mock, Name="Pump")
    mock.intervene(action="micro_update", document=doc_id)

    assert mock.update(doc_id, {"Title": "x"}, headers={"If-Match": str(etag)}).status_code == 412


def test_with_background_rates_a_just_fetched_etag_soon_meets_the_threads_409(
    make_mock: MakeMock,
) -> None:
    mock = make_mock(rates={"indexer": 0.2}, durations={"indexer": 2.0}, seed=3)
    doc_id, _ = created(mock, Name="Pump")
    statuses = []

    for _ in range(30):  # GET, think for 3 s, PATCH: as by hand against `windchill-mock serve`
        etag = mock.etag(doc_id)
        mock.clock.advance(3)
        statuses.append(mock.update(doc_id, {"Title": "x"}, headers={"If-Match": etag}).status_code)

    assert 409 in statuses
    assert 200 in statuses
    assert set(statuses) <= {200, 409}  # background work never makes a new iteration


# ---------------------------------------------------------------- conditional GET


@pytest.mark.parametrize("profile", ["thread", "odata"])
def test_get_with_the_current_etag_in_if_none_match_is_304_with_the_etag(
    make_mock: MakeMock, profile: str
) -> None:
    mock = make_mock(profile=profile)
    doc_id, etag = created(mock, Name="Pump")

    unchanged = mock.get(doc_url(doc_id), headers={"If-None-Match": etag})
    weakly = mock.get(doc_url(doc_id), headers={"If-None-Match": f'"x", W/{etag.lstrip("W/")}'})
    star = mock.get(doc_url(doc_id), headers={"If-None-Match": "*"})
    mock.update(doc_id, {"Title": "moved"}, headers={"If-Match": etag})
    changed = mock.get(doc_url(doc_id), headers={"If-None-Match": etag})

    assert unchanged.status_code == 304
    assert unchanged.headers["ETag"] == etag
    assert unchanged.get_data() == b""
    assert "Content-Type" not in unchanged.headers
    assert weakly.status_code == 304, "If-None-Match compares weakly"
    assert star.status_code == 304
    assert changed.status_code == 200
    assert changed.get_json()["Title"] == "moved"
    reads = [e for e in mock.journal() if e["op"] == "read" and e["type"] == "ok"]
    assert [e["status"] for e in reads] == [304, 304, 304, 200]


@pytest.mark.parametrize("profile", ["thread", "odata"])
def test_get_with_a_stale_if_match_is_412_and_a_current_one_is_200(
    make_mock: MakeMock, profile: str
) -> None:
    mock = make_mock(profile=profile)
    doc_id, etag = created(mock, Name="Pump")
    mock.update(doc_id, {"Title": "moved"}, headers={"If-Match": etag})
    current = mock.etag(doc_id)

    stale = mock.get(doc_url(doc_id), headers={"If-Match": etag})
    fresh = mock.get(doc_url(doc_id), headers={"If-Match": current})
    foreign = mock.get(doc_url(doc_id), headers={"If-Match": '"abc"'})
    broken = mock.get(doc_url(doc_id), headers={"If-Match": "abc"})

    assert stale.status_code == 412
    assert error_of(stale)["code"] == "PreconditionFailed"
    assert stale.headers["ETag"] == current
    assert fresh.status_code == 200
    assert foreign.status_code == 412
    assert broken.status_code == 400


def test_conditional_get_headers_are_ignored_where_the_profile_sends_no_etags(
    make_mock: MakeMock,
) -> None:
    mock = make_mock(profile="wrs")
    doc_id = mock.create(Name="Pump")["ID"]

    response = mock.get(doc_url(doc_id), headers={"If-None-Match": "*", "If-Match": '"x"'})

    assert response.status_code == 200
