"""Same seed + same requests + same (virtual) clock ⇒ byte-identical responses and journal."""

from __future__ import annotations

from werkzeug.test import TestResponse
from wrs_session import DOCS, ROOT, Session, doc_url

from mock_server import MockConfig, create_app
from mock_server.core import VirtualClock

RATES = {"indexer": 0.5, "cache_sync": 0.3, "lifecycle_evaluator": 0.1}


def scenario(seed: int) -> tuple[list[bytes], bytes, bytes]:
    """Run one fixed sequence of requests on a fresh app; return what came back."""
    clock = VirtualClock()
    mock = Session(create_app(MockConfig(seed=seed, rates=RATES, documents=3), clock=clock), clock)
    other = mock.as_user("other")
    bodies: list[bytes] = []

    def keep(response: TestResponse) -> None:
        bodies.append(response.get_data())
        bodies.append(str(sorted(response.headers.items())).encode())

    keep(mock.client.get(f"{ROOT}/PTC/GetCSRFToken()", auth=("wcadmin", "wcadmin")))
    mock.fetch_nonce()
    keep(mock.get(DOCS))
    doc = mock.create(Name="Pump", Number="P-1")
    doc_id = doc["ID"]
    for step in range(12):
        clock.advance(0.7 + step / 10)
        etag = mock.get(doc_url(doc_id)).headers.get("ETag", "*")
        keep(mock.update(doc_id, {"Title": f"t{step}"}, headers={"If-Match": etag}))
        keep(other.update(doc_id, {"Department": str(step)}))
    mock.intervene(action="concurrent_edit", document=doc_id, changes={"Title": "theirs"})
    keep(mock.update(doc_id, {"Title": "late"}, headers={"If-Match": doc["@odata.etag"]}))
    clock.advance(5)
    keep(mock.action(doc_id, "CheckOut", {"CheckOutNote": "n"}))
    keep(mock.action(doc_id, "CheckIn", {"KeepCheckedOut": "false"}))
    keep(mock.get(f"{DOCS}?$count=true", headers={"Prefer": "odata.maxpagesize=2"}))
    metrics = mock.admin("GET", "/metrics").get_data()
    return bodies, mock.admin("GET", "/journal").get_data(), metrics


def test_same_seed_and_requests_give_byte_identical_responses_and_journal() -> None:
    first = scenario(seed=42)
    second = scenario(seed=42)

    assert first[0] == second[0]
    assert first[1] == second[1]
    assert first[2] == second[2]
    assert b'"type":"background"' in first[1]  # the background sources did run


def test_a_different_seed_gives_a_different_history() -> None:
    bodies, journal, _ = scenario(seed=1)
    other_bodies, other_journal, _ = scenario(seed=2)

    assert journal != other_journal
    assert bodies[0] != other_bodies[0]  # the CSRF nonce derives from the seed
