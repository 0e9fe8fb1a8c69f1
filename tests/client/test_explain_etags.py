"""``explain_etags``: the words the checker, the reference client and
``windchill-mock explain-etag`` use for what moved between two ETags."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pytest_windchill.cli import main
from pytest_windchill.outcomes import explain_etags


@pytest.mark.parametrize(
    ("before", "after", "kind", "words"),
    [
        (
            '"v2.1708523400000"',
            '"v2.1708523401234"',
            "touch",
            "same iteration 2, timestamp +1,234 ms ⇒ a touch without a new version",
        ),
        ('"v2.1708523400000"', '"v3.1708523401234"', "new-version", "iteration 2 → 3"),
        ('W/"v2.5"', 'W/"v2.5"', "same", "nothing moved"),
        ('"v2.9"', '"v2.5"', "backwards", "timestamp -4 ms ⇒ not a later state"),
        ('"v3.1"', '"v2.5"', "backwards", "iteration 3 → 2 ⇒ not a later state of this object"),
        ("v2.5", '"v2.6"', "unreadable", "keep its double quotes"),
        ('"v2.5"', 'W/"v2.6"', "touch", "one is weak"),
        ('"abc"', '"v2.5"', "unreadable", "cannot read the first ETag '\"abc\"'"),
        ('"v2.5"', "v2.6", "unreadable", "cannot read the second ETag 'v2.6'"),
    ],
)
def test_what_moved_between_two_etags(before: str, after: str, kind: str, words: str) -> None:
    move = explain_etags(before, after)
    assert move.kind == kind
    assert words in str(move)


def test_a_touch_is_safe_to_retry_and_a_new_version_needs_a_merge() -> None:
    assert "safe to re-read and retry" in str(explain_etags('"v1.1"', '"v1.2"'))
    assert "merge your change with theirs, or send it to review" in str(
        explain_etags('"v1.1"', '"v2.2"')
    )
    assert explain_etags('"v1.1"', '"v1.2"').delta_ms == 1


def test_the_command_prints_the_same_words_and_exits_2_when_it_cannot_read() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["explain-etag", '"v2.1708523400000"', '"v2.1708523401234"'])
    assert result.exit_code == 0
    assert result.output.strip() == str(explain_etags('"v2.1708523400000"', '"v2.1708523401234"'))
    bad = runner.invoke(main, ["explain-etag", "v2", '"v2.1"'])
    assert bad.exit_code == 2
    assert 'expected a composite ETag such as "v2.1708523400000"' in bad.output
