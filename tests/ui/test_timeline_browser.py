"""The timeline page in a real browser: Debian's chromium, headless, driven by Selenium against
a mock on a loopback socket. The lanes are in the DOM and really drawn (a screenshot holds the
marks' colours inside each lane), a 409's tooltip holds its ETag, the filter form narrows the
page to one document, and the page refreshes while the server runs.

Set ``WINDCHILL_SCREENSHOT_DIR`` to keep the screenshot (``mock-ui-timeline.png``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait
from ui_support import USERS, Story, Wrs, make_trouble

from mock_server import MockConfig, create_app
from mock_server.core import VirtualClock
from mock_server.server import LiveServer
from mock_server.timeline import BACKGROUND_LANE, MARK_STYLES


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found is None and os.access(f"/usr/bin/{name}", os.X_OK):
        found = f"/usr/bin/{name}"
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    chromium, chromedriver = _tool("chromium"), _tool("chromedriver")
    if chromium is None:
        pytest.skip("chromium is not installed: apt-get install chromium (CI installs it)")
    if chromedriver is None:
        pytest.skip(
            "chromedriver is not installed: apt-get install chromium-driver (CI installs it)"
        )
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(chromedriver))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Story]]:
    """A mock on a socket, with a journal of conflicts made over HTTP."""
    app = create_app(MockConfig(users=USERS), clock=VirtualClock())
    with LiveServer(app) as server:
        admin = requests.Session()
        story = make_trouble(requests.Session, server.url, admin)
        admin.close()
        yield server.url, story


def open_page(browser: WebDriver, base: str, query: str = "refresh=0") -> None:
    browser.get(f"{base}/__mock/ui?{query}")
    assert browser.find_element(By.TAG_NAME, "h1").text == "The mock's journal"


def console(browser: WebDriver) -> list[dict[str, Any]]:
    """The browser console's messages since the last call."""
    messages: list[dict[str, Any]] = browser.get_log("browser")  # type: ignore[no-untyped-call]
    return messages


def documents(browser: WebDriver) -> list[str]:
    return [
        str(section.get_attribute("data-document"))
        for section in browser.find_elements(By.CSS_SELECTOR, "section.document")
    ]


def test_each_document_has_a_lane_per_user_and_one_for_the_rest(
    browser: WebDriver, served: tuple[str, Story]
) -> None:
    base, story = served
    open_page(browser, base)

    assert documents(browser) == [story.first, story.second]
    expected = {
        story.first: ["wcadmin", BACKGROUND_LANE],
        story.second: ["wcadmin", "alice", BACKGROUND_LANE],
    }
    for doc, users in expected.items():
        section = browser.find_element(By.CSS_SELECTOR, f'section[data-document="{doc}"]')
        lanes = section.find_elements(By.CSS_SELECTOR, "g.lane")
        assert [lane.get_attribute("data-lane") for lane in lanes] == users
        labels = [lane.find_element(By.CSS_SELECTOR, ".lane-label").text for lane in lanes]
        assert labels == users
    assert browser.find_elements(By.CSS_SELECTOR, "svg.rate-plot rect.bar")


def test_a_409s_tooltip_holds_the_etags(browser: WebDriver, served: tuple[str, Story]) -> None:
    base, story = served
    open_page(browser, base)

    section = browser.find_element(By.CSS_SELECTOR, f'section[data-document="{story.first}"]')
    title = section.find_element(By.CSS_SELECTOR, "g.mark.m-409 > title")
    tooltip = str(title.get_attribute("textContent"))
    assert tooltip.startswith("PATCH → 409 Conflict")
    assert f"If-Match sent: {story.sent_409}" in tooltip
    assert 'ETag after: "v1.' in tooltip
    assert "version: A.1" in tooltip


def test_the_pages_own_style_applies_under_its_security_policy(
    browser: WebDriver, served: tuple[str, Story]
) -> None:
    base, _ = served
    console(browser)  # forget earlier pages' messages
    open_page(browser, base)

    fill = browser.execute_script(
        "return getComputedStyle(document.querySelector('.m-409 .shape')).fill"
    )
    assert fill == "rgb(232, 89, 12)"  # MARK_STYLES["409"].color: the <style> was allowed
    blocked = [e for e in console(browser) if "Content Security Policy" in e["message"]]
    assert blocked == []


def test_the_filter_form_narrows_the_page_to_one_document(
    browser: WebDriver, served: tuple[str, Story]
) -> None:
    base, story = served
    open_page(browser, base)

    Select(browser.find_element(By.NAME, "document")).select_by_value(story.second)
    browser.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    WebDriverWait(browser, 5).until(lambda b: "document=" in b.current_url)

    assert documents(browser) == [story.second]
    chosen = Select(browser.find_element(By.NAME, "document")).first_selected_option
    assert chosen.get_attribute("value") == story.second
    browser.find_element(By.NAME, "from").send_keys("60")
    browser.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    WebDriverWait(browser, 5).until(lambda b: "from=60" in b.current_url)
    times = {
        mark.get_attribute("data-t") for mark in browser.find_elements(By.CSS_SELECTOR, "g.mark")
    }
    assert times == {"72"}


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _pixels_of(image: Image.Image, box: tuple[int, int, int, int], color: str) -> int:
    want = _rgb(color)
    crop = image.crop(box).convert("RGB")
    found = 0
    for count, pixel in crop.getcolors(crop.width * crop.height) or []:
        assert isinstance(pixel, tuple)
        if all(abs(a - b) <= 6 for a, b in zip(pixel, want, strict=True)):
            found += count
    return found


def test_a_screenshot_shows_the_marks_inside_each_lane(
    browser: WebDriver, served: tuple[str, Story]
) -> None:
    base, _ = served
    open_page(browser, base)
    browser.execute_script("window.scrollTo(0, 0)")

    image = Image.open(BytesIO(browser.get_screenshot_as_png()))
    folder = os.environ.get("WINDCHILL_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        image.save(Path(folder) / "mock-ui-timeline.png")
    scale = image.width / browser.execute_script("return window.innerWidth")
    lanes: list[WebElement] = browser.find_elements(By.CSS_SELECTOR, "g.lane")
    assert len(lanes) == 5
    for lane in lanes:
        rect = lane.rect
        box = (
            round(rect["x"] * scale),
            round(rect["y"] * scale),
            round((rect["x"] + rect["width"]) * scale),
            round((rect["y"] + rect["height"]) * scale),
        )
        assert box[3] <= image.height, f"lane {lane.get_attribute('data-lane')} is off-screen"
        kinds = {
            cls[2:]
            for mark in lane.find_elements(By.CSS_SELECTOR, "g.mark")
            for cls in str(mark.get_attribute("class")).split()
            if cls.startswith("m-")
        }
        assert kinds, f"no marks in lane {lane.get_attribute('data-lane')}"
        for kind in kinds:
            drawn = _pixels_of(image, box, MARK_STYLES[kind].color)
            assert drawn >= 12, (
                f"lane {lane.get_attribute('data-lane')}: {drawn} pixels of the {kind} "
                f"colour {MARK_STYLES[kind].color}"
            )
        # And the lane's background is there too: a lane is more than its marks.
        assert _pixels_of(image, box, "#ffffff") + _pixels_of(image, box, "#f8f9fa") > 1000


def test_the_page_refreshes_while_the_server_runs(
    browser: WebDriver, served: tuple[str, Story]
) -> None:
    base, story = served
    open_page(browser, base, f"document={story.second}&refresh=1")
    toggle = browser.find_element(By.ID, "refresh-toggle")
    assert toggle.text == "Stop refreshing"
    before = len(browser.find_elements(By.CSS_SELECTOR, "g.mark.m-read"))

    Wrs(requests.Session, base, "alice").etag(story.second)  # one more read, while it runs

    WebDriverWait(browser, 6, poll_frequency=0.2).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, "g.mark.m-read")) > before
    )
    browser.find_element(By.ID, "refresh-toggle").click()
    WebDriverWait(browser, 5).until(lambda b: "refresh=0" in b.current_url)
    assert browser.find_element(By.ID, "refresh-toggle").text == "Refresh every 5 s"
    assert browser.find_elements(By.CSS_SELECTOR, 'meta[http-equiv="refresh"]') == []
    assert documents(browser) == [story.second]
