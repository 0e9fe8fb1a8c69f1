"""python-odata, a client nobody here wrote, works against the mock unmodified.

Its documented API only: an ``ODataService`` reflecting ``$metadata``, queries with
``filter``, ``get`` and ``count``, and ``save`` for a create and for an update with
``If-Match`` (``Context.save(..., extra_headers=...)``). The only set-up is what any WRS
client needs: Basic auth, and the CSRF nonce with its session cookie on a ``requests.Session``.
The session goes to the mock in process (no socket), through the plugin's transport.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import odata
import pytest
import requests

from mock_server import MockConfig
from mock_server.core import VirtualClock
from mock_server.http import create_app
from pytest_windchill.transport import DEFAULT_BASE_URL, in_process_session

ROOT = f"{DEFAULT_BASE_URL}/Windchill/servlet/odata"


@pytest.fixture(params=["thread", "odata"])
def service(request: pytest.FixtureRequest) -> Iterator[tuple[Any, requests.Session]]:
    app = create_app(MockConfig(profile=request.param, documents=30), clock=VirtualClock())
    session = in_process_session(app, auth=("wcadmin", "wcadmin"))
    nonce = session.get(f"{ROOT}/PTC/GetCSRFToken()").json()["NonceValue"]
    session.headers["CSRF_NONCE"] = nonce
    yield (
        odata.ODataService(
            f"{ROOT}/DocMgmt/", session=session, reflect_entities=True, quiet_progress=True
        ),
        session,
    )
    session.close()


def test_list_follows_the_next_link_through_every_page(service: tuple[Any, Any]) -> None:
    svc, _ = service
    Document = svc.entities["Documents"]

    documents = svc.query(Document).all()

    assert len(documents) == 30
    assert len({d.ID for d in documents}) == 30


def test_filter_get_and_count(service: tuple[Any, Any]) -> None:
    svc, _ = service
    Document = svc.entities["Documents"]
    first = svc.query(Document).first()

    by_number = svc.query(Document).filter(Document.Number == first.Number).all()
    by_name = svc.query(Document).filter(Document.Name.startswith("Gearbox")).all()
    both = (
        svc.query(Document).filter(Document.Title == first.Title).filter(Document.Latest == True)  # noqa: E712
    ).all()
    got = svc.query(Document).get(first.ID)

    assert [d.ID for d in by_number] == [first.ID]
    assert by_name
    assert all(d.Name.startswith("Gearbox") for d in by_name)
    assert {d.Title for d in both} == {first.Title}
    assert got.ID == first.ID
    assert got.Version == "A.1"
    assert svc.query(Document).count() == 30
    assert svc.query(Document).filter(Document.Name.startswith("Gearbox")).count() == len(by_name)


def test_save_creates_a_document_and_updates_it_with_if_match(service: tuple[Any, Any]) -> None:
    svc, session = service
    Document = svc.entities["Documents"]

    new = Document()
    new.Name = "Created by python-odata"
    new.Number = "PYODATA-1"
    svc.save(new)
    created = svc.query(Document).get(new.ID)
    etag = new.__odata__.data.get("@odata.etag")
    created.Description = "updated by python-odata"
    svc.default_context.save(created, extra_headers={"If-Match": etag})
    stale = svc.query(Document).get(new.ID)
    stale.Description = "with an old ETag"

    assert created.Number == "PYODATA-1"
    assert etag
    assert svc.query(Document).get(new.ID).Description == "updated by python-odata"
    with pytest.raises(odata.exceptions.ODataError) as refused:
        svc.default_context.save(stale, extra_headers={"If-Match": etag})
    assert "409" in str(refused.value) or "412" in str(refused.value)
    assert svc.query(Document).get(new.ID).Description == "updated by python-odata"
    assert session.get(f"{ROOT}/DocMgmt/Documents/$count").text == "31"
