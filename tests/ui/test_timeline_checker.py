"""The checker's failure report offers the timeline as an HTML file: ``check_update`` writes the
page and ends the violation's message with its path, and a page it cannot write never turns
the violation into another error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ui_support import lanes, marks, parse, sections

from mock_server.config import MockConfig
from mock_server.timeline import BACKGROUND_LANE
from pytest_windchill.checks import ConcurrencyViolation
from pytest_windchill.handle import WindchillMock
from pytest_windchill.scenarios import WindchillFactory
from pytest_windchill.schedules import micro_update

CHANGES = {"Title": "ours"}


def violate(mock: WindchillMock, doc: str) -> ConcurrencyViolation:
    """Break a property on purpose: a PATCH without If-Match, reported as applied."""
    nonce = mock.session.get(f"{mock.service_root}/PTC/GetCSRFToken()").json()["NonceValue"]
    response = mock.session.patch(mock.url(doc), json=CHANGES, headers={"CSRF_NONCE": nonce})
    assert response.ok, response.text
    with pytest.raises(ConcurrencyViolation) as caught:
        mock.check_update(doc, CHANGES, "applied")
    return caught.value


def page_of(violation: ConcurrencyViolation) -> Path:
    message = str(violation)
    found = re.search(r"\n\nTimeline page: (.+)\Z", message)
    assert found is not None, message[-300:]
    return Path(found[1])


def test_a_violation_ends_with_the_path_of_its_timeline_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WINDCHILL_TIMELINE_DIR", str(tmp_path / "pages"))
    factory = WindchillFactory(MockConfig)
    with factory.scenario([micro_update(at=0, duration=0.5)]) as mock:
        mock.sleep(1)
        violation = violate(mock, mock.doc)

    assert violation.property == "unconditional-write"
    assert str(violation).startswith("[unconditional-write] ")
    assert "\n\nTimeline:\n" in str(violation)  # the text timeline is still there, before
    page = page_of(violation)
    assert page.is_absolute()
    assert page.parent == tmp_path / "pages"
    assert re.fullmatch(
        r"timeline-tests-ui-test_timeline_checker-py-test_a_[\w-]+-[0-9a-f]{8}-OR-wt-doc-WTDocument-164057\.html",
        page.name,
    )
    tree = parse(page.read_text(encoding="utf-8"))
    section = sections(tree)[mock.doc]
    assert list(sections(tree)) == [mock.doc]
    assert lanes(section) == ["wcadmin", BACKGROUND_LANE]
    assert marks(section.all("g", "lane")[0], "ok")
    assert marks(section.all("g", "lane")[1], "background")
    assert (
        "[unconditional-write] Timeline of OR:wt.doc.WTDocument:164057" in tree.one("h1").all_text()
    )
    assert violation.explanation in tree.one("p", "intro").all_text()
    assert tree.all("form") == []  # a file: no filter form, no refresh
    assert 'http-equiv="refresh"' not in page.read_text(encoding="utf-8")


def test_outside_a_test_each_violation_gets_a_page_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WINDCHILL_TIMELINE_DIR", str(tmp_path))
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    factory = WindchillFactory(MockConfig)
    with factory.scenario([]) as mock:
        first = page_of(violate(mock, mock.doc))
        second = page_of(violate(mock, mock.doc))

    assert first != second
    assert sorted(tmp_path.iterdir()) == sorted([first, second])


def test_within_a_test_the_last_violation_keeps_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Shrinking raises many violations in one test: one page per document is left, the last
    # (Hypothesis runs the minimal failing example last).
    monkeypatch.setenv("WINDCHILL_TIMELINE_DIR", str(tmp_path))
    factory = WindchillFactory(MockConfig)
    with factory.scenario([]) as mock:
        first = page_of(violate(mock, mock.doc))
        first_text = first.read_text()
        second = page_of(violate(mock, mock.doc))

    assert first == second
    assert list(tmp_path.iterdir()) == [second]
    assert second.read_text() != first_text  # rewritten by the later violation


def test_without_the_variable_pages_go_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WINDCHILL_TIMELINE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    factory = WindchillFactory(MockConfig)
    with factory.scenario([]) as mock:
        page = page_of(violate(mock, mock.doc))

    assert page.parent == tmp_path / "windchill-timelines"
    assert page.is_file()


def test_a_page_that_cannot_be_written_leaves_the_violation_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("WINDCHILL_TIMELINE_DIR", str(blocker / "pages"))
    factory = WindchillFactory(MockConfig)
    with factory.scenario([]) as mock:
        violation = violate(mock, mock.doc)

    assert type(violation) is ConcurrencyViolation
    assert violation.property == "unconditional-write"
    message = str(violation)
    assert re.search(
        r"\n\nTimeline page: not written \((FileExistsError|NotADirectoryError): ", message
    )
    assert message.endswith(")")
    assert list(tmp_path.iterdir()) == [blocker]
