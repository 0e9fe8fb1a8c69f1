"""Examples to copy into a test suite. The README and docs/fixtures.md quote them verbatim.

Every test here is short and stands alone, so that a quoted test still makes sense.
"""

from __future__ import annotations

import time

import pytest
from freezegun import freeze_time

from mock_server import MockConfig, create_app
from mock_server.core import VirtualClock
from pytest_windchill.client.updater import DocumentUpdater
from pytest_windchill.transport import in_process_session


def test_update_survives_a_background_touch(windchill, windchill_client):
    doc = windchill.create_document(Name="Pump housing", Description="Draft")
    # The indexer touches the document after the client's GET (request 1), before its PATCH.
    windchill.micro_update(doc, before_request=2)

    result = windchill_client.update(doc, {"Description": "Updated text"})

    assert result.status == "applied"
    assert 409 in result.conflicts
    assert windchill.document(doc)["Description"] == "Updated text"


def update_description(session, service_root, doc_id, text):
    """Your own integration code: the forum thread's recipe, written with requests."""
    url = f"{service_root}/DocMgmt/Documents('{doc_id}')"
    nonce = session.get(f"{service_root}/PTC/GetCSRFToken()").json()["NonceValue"]
    statuses, delay = [], 0.5
    for _ in range(3):
        etag = session.get(url).headers["ETag"]
        response = session.patch(
            url,
            json={"Description": text},
            headers={"If-Match": etag, "CSRF_NONCE": nonce, "X-PTC-UpdateMode": "optimistic"},
        )
        statuses.append(response.status_code)
        if response.status_code != 409:
            break
        time.sleep(delay)  # looked up when called, so the plugin can make it virtual
        delay *= 2
    return statuses


def test_my_update_function_retries_after_a_409(windchill):
    doc = windchill.create_document(Name="Pump housing")
    windchill.micro_update(doc, before_request=2)

    statuses = update_description(windchill.session, windchill.service_root, doc, "Updated text")

    assert statuses == [409, 200]
    assert windchill.document(doc)["Description"] == "Updated text"
    assert windchill.elapsed == pytest.approx(0.5)  # virtual seconds: the test did not wait


# Recipes for docs/fixtures.md.


@pytest.mark.windchill(profile="odata")
def test_odata_servers_answer_a_background_touch_with_412(windchill, windchill_client):
    doc = windchill.create_document()
    windchill.micro_update(doc, before_request=2)

    result = windchill_client.update(doc, {"Description": "Updated text"})

    assert result.conflicts == [412]
    assert result.status == "merged"  # re-read, nothing in conflict, sent again


class TestWithoutCsrf:
    # The same fixture in a conftest.py changes every test of that directory.
    @pytest.fixture
    def windchill_config(self, windchill_config):
        return windchill_config.updated({"csrf": False})

    def test_a_write_needs_no_nonce(self, windchill):
        doc = windchill.create_document()

        response = windchill.session.patch(windchill.url(doc), json={"Title": "No nonce"})

        assert response.status_code == 200


def wait_then_read(session, url, sleep=None):
    # Code that did `from time import sleep` keeps the real sleep: let callers inject one.
    (sleep or time.sleep)(2.0)
    return session.get(url)


def test_an_injected_sleep_runs_in_virtual_time(windchill):
    doc = windchill.create_document()

    wait_then_read(windchill.session, windchill.url(doc), sleep=windchill.sleep)

    assert windchill.elapsed == pytest.approx(2.0)


@pytest.fixture
def frozen():
    # Freeze before `windchill` starts: the mock then lives in frozen time from its birth.
    with freeze_time("2024-02-21 13:23:20") as frozen_time:
        yield frozen_time


@pytest.mark.windchill(clock="system")
def test_freezegun_moves_the_mock(frozen, windchill):
    if windchill.app is None:
        pytest.skip("freezegun reaches only a mock in this process, not --windchill-url")
    doc = windchill.create_document()
    windchill.micro_update(doc, at=5.0)  # 5 seconds after the mock started

    frozen.tick(10)

    assert windchill.document(doc)["LastModified"] == "2024-02-21T13:23:25+00:00"
    # On the system clock the backoff would really wait: let it tick frozen time instead.
    updater = DocumentUpdater(windchill.session, windchill.service_root, sleep=frozen.tick)
    assert updater.update(doc, {"Description": "Frozen"}).status == "applied"


def test_the_in_process_transport_without_the_fixtures():
    app = create_app(MockConfig(documents=3), clock=VirtualClock())
    session = in_process_session(app, auth=("wcadmin", "wcadmin"))

    response = session.get("http://windchill.test/Windchill/servlet/odata/DocMgmt/Documents")

    assert response.status_code == 200
    assert len(response.json()["value"]) == 3


def test_httpx_reaches_the_mock_through_wsgi_transport(windchill):
    httpx = pytest.importorskip("httpx")
    if windchill.app is None:
        pytest.skip("WSGITransport needs the mock in this process, not --windchill-url")
    doc = windchill.create_document(Name="Pump housing")
    transport = httpx.WSGITransport(app=windchill.app)

    with httpx.Client(transport=transport, auth=("wcadmin", "wcadmin")) as client:
        response = client.get(windchill.url(doc))

    assert response.json()["Name"] == "Pump housing"
    assert response.headers["ETag"] == windchill.etag(doc)
