"""Composite ETags: wire form, parsing, If-Match lists, strong and weak comparison."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_server.core.errors import BadRequest
from mock_server.core.etag import (
    ANY,
    ETag,
    explain_difference,
    parse_etag,
    parse_if_match,
    strong_match,
    weak_match,
)


def test_etag_wire_form_is_the_forum_threads_version_dot_timestamp() -> None:
    assert str(ETag(2, 1708523400000)) == '"v2.1708523400000"'
    assert ETag(2, 1708523400000).opaque == "v2.1708523400000"


def test_weak_etag_wire_form_has_the_w_slash_prefix() -> None:
    assert str(ETag(2, 1708523400000, weak=True)) == 'W/"v2.1708523400000"'
    assert str(ETag(2, 1708523400000).as_weak()) == 'W/"v2.1708523400000"'


def test_parse_etag_reads_the_forum_threads_etag() -> None:
    tag = parse_etag('"v2.1708523400000"')
    assert tag == ETag(2, 1708523400000, weak=False)


def test_parse_etag_reads_a_weak_etag_and_surrounding_whitespace() -> None:
    assert parse_etag('  W/"v1.5"  ') == ETag(1, 5, weak=True)


@given(
    iteration=st.integers(0, 10**9 - 1),
    stamp=st.integers(0, 10**16 - 1),
    weak=st.booleans(),
)
def test_etag_survives_a_round_trip_through_its_wire_form(
    iteration: int, stamp: int, weak: bool
) -> None:
    tag = ETag(iteration, stamp, weak=weak)
    assert parse_etag(str(tag)) == tag


@pytest.mark.parametrize(
    "text",
    [
        "",
        "v2.1708523400000",  # not quoted
        '"v2.1708523400000',  # unterminated
        'w/"v2.1"',  # the weak prefix is case-sensitive
        '"v2.17" junk',
        '"v2 1"',  # space is not an etagc
        "*",  # a wildcard is not an entity-tag
    ],
)
def test_malformed_etag_is_a_bad_request(text: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_etag(text)
    assert caught.value.http_status == 400
    assert caught.value.code == "MalformedETag"


@pytest.mark.parametrize(
    "text",
    ['"abc"', '"33a64df551425fcc55e4d42a148795d9f25f89d4"', '"v2"', '"v.1"', '"vx.1"', '""'],
)
def test_a_well_formed_etag_of_another_form_is_foreign_and_matches_nothing(text: str) -> None:
    tag = parse_etag(text)
    weak = parse_etag("W/" + text)

    assert tag.foreign == text[1:-1]
    assert str(tag) == text
    assert weak.weak
    assert str(weak) == "W/" + text
    for current in (ETag(0, 0), ETag(2, 1708523400000)):
        assert not strong_match(tag, current)
        assert not weak_match(weak, current)
    assert weak_match(weak, tag), "two foreign tags compare by their text"
    assert tag == ETag(0, 0, foreign=text[1:-1]), "iteration and stamp are zero: they mean nothing"
    assert explain_difference(tag, ETag(2, 5)) == (
        f'{text} was never issued by this server: its ETags look like "v2.5"; '
        "read the document again to get its ETag"
    )


def test_if_match_star_means_any() -> None:
    assert parse_if_match("*") == ANY
    assert parse_if_match("  *  ") == ANY


def test_if_match_list_is_parsed_in_order() -> None:
    assert parse_if_match('"v1.10", W/"v2.20" ,"v3.30"') == (
        ETag(1, 10),
        ETag(2, 20, weak=True),
        ETag(3, 30),
    )


def test_if_match_single_tag_is_a_one_element_tuple() -> None:
    assert parse_if_match('"v1.10"') == (ETag(1, 10),)


@pytest.mark.parametrize("header", ["", "   ", ",", '"v1.10", nonsense', '*, "v1.10"'])
def test_malformed_if_match_is_a_bad_request(header: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_if_match(header)
    assert caught.value.http_status == 400


def test_strong_comparison_matches_equal_strong_tags_only() -> None:
    assert strong_match(ETag(1, 10), ETag(1, 10))
    assert not strong_match(ETag(1, 10), ETag(1, 11))
    assert not strong_match(ETag(1, 10), ETag(2, 10))


def test_strong_comparison_never_matches_a_weak_tag() -> None:
    # RFC 9110 §8.8.3.2: both must be strong.
    assert not strong_match(ETag(1, 10, weak=True), ETag(1, 10))
    assert not strong_match(ETag(1, 10), ETag(1, 10, weak=True))
    assert not strong_match(ETag(1, 10, weak=True), ETag(1, 10, weak=True))


def test_weak_comparison_ignores_weakness_but_not_the_opaque_part() -> None:
    assert weak_match(ETag(1, 10, weak=True), ETag(1, 10))
    assert weak_match(ETag(1, 10), ETag(1, 10, weak=True))
    assert weak_match(ETag(1, 10, weak=True), ETag(1, 10, weak=True))
    assert not weak_match(ETag(1, 10, weak=True), ETag(1, 11, weak=True))


def test_explain_difference_names_a_changed_iteration() -> None:
    text = explain_difference(ETag(1, 10), ETag(2, 20))
    assert "iteration changed from 1 to 2" in text
    assert "new version" in text


def test_explain_difference_names_a_moved_timestamp_in_the_same_iteration() -> None:
    text = explain_difference(ETag(2, 1000), ETag(2, 1250))
    assert "same iteration 2" in text
    assert "moved by 250 ms" in text
    assert "without a new version" in text


def test_explain_difference_names_a_weak_tag_under_strong_comparison() -> None:
    assert "weak" in explain_difference(ETag(1, 10, weak=True), ETag(1, 10))


def test_explain_difference_of_equal_tags_says_so() -> None:
    assert explain_difference(ETag(1, 10), ETag(1, 10)) == "the ETags are equal"


@pytest.mark.parametrize(
    "header",
    ['X"v1.10"', '"v1.10"X', '"v1.10", X', 'X, "v1.10"', '"v1.10" junk', '\t"v1.10"x'],
)
def test_junk_around_a_tag_in_if_match_is_a_bad_request(header: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_if_match(header)
    assert caught.value.code == "MalformedETag"


def test_an_empty_if_match_says_so() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_if_match("  ")
    assert caught.value.message == "Malformed If-Match: the header is empty"


def test_a_malformed_etag_message_shows_the_form_to_send() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_etag("v2")
    assert caught.value.message == (
        "Malformed ETag 'v2': an entity-tag is a quoted string such as "
        '"v2.1708523400000" (RFC 9110 §8.8.3)'
    )


def test_explanations_say_what_moved_in_full() -> None:
    assert explain_difference(ETag(1, 10), ETag(2, 20)) == (
        "the iteration changed from 1 to 2: a new version was made since the ETag was read"
    )
    assert explain_difference(ETag(2, 1000), ETag(2, 1250)) == (
        "same iteration 2, but the timestamp part moved by 250 ms: the document was touched "
        "without a new version"
    )
    assert explain_difference(ETag(1, 10, weak=True), ETag(1, 10)) == (
        "a weak ETag never matches under strong comparison (RFC 9110 §8.8.3.2)"
    )
