"""Tenants: isolated mocks under ``/(S(<id>))`` on one server, with their own admin API, and
bounded in number, memory and idle time."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from wrs_session import DOCS, ROOT, Session, doc_url

from mock_server.http.tenants import TENANTS_EXTENSION, Tenants, tenant_prefix


def _error(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.get_json()["error"]
    return body


def test_a_tenant_is_a_mock_of_its_own_under_its_prefix(mock: Session) -> None:
    root_doc = mock.create(Name="Root's")["ID"]
    first, second = mock.tenant(documents=2, seed=3), mock.tenant()

    listed = first.get(DOCS).get_json()["value"]
    assert len(listed) == 2
    assert second.get(DOCS).get_json()["value"] == []
    created = second.create(Name="Second's")["ID"]
    # The same first ID in every fresh repository: nothing is shared.
    assert created == root_doc
    assert second.read(created).get_json()["Name"] == "Second's"
    assert mock.read(root_doc).get_json()["Name"] == "Root's"
    journal = second.journal()
    assert [e["op"] for e in journal] == ["create", "create", "read", "read"]  # invoke, ok
    assert {e.get("document") for e in journal} == {None, created}
    assert [d["Name"] for d in mock.get(DOCS).get_json()["value"]] == ["Root's"]


def test_urls_the_tenant_builds_carry_its_prefix(mock: Session) -> None:
    tenant = mock.tenant(page_size=1, documents=2)
    page = tenant.get(DOCS).get_json()
    assert page["@odata.context"].startswith(f"http://localhost{tenant.prefix}{ROOT}/")
    assert page["@odata.nextLink"].startswith(f"http://localhost{tenant.prefix}{DOCS}")
    nonce = tenant.client.get(tenant.prefix + f"{ROOT}/PTC/GetCSRFToken()", auth=("wcadmin",) * 2)
    assert f"Path={tenant.prefix}/Windchill" in nonce.headers["Set-Cookie"]
    created = tenant.post(DOCS, json={"Name": "x"})
    assert created.headers["Location"].startswith(f"http://localhost{tenant.prefix}{DOCS}(")


def test_creating_answers_the_service_root_and_the_admin_api(mock: Session) -> None:
    response = mock.client.post("/__mock/tenants", json={"profile": "odata", "seed": 7})
    assert response.status_code == 201
    body = response.get_json()
    prefix = tenant_prefix(body["id"])
    assert body["url"] == f"http://localhost{prefix}"
    assert body["service_root"] == f"http://localhost{prefix}{ROOT}"
    assert body["admin"] == f"http://localhost{prefix}/__mock"
    assert response.headers["Location"] == body["url"]
    assert body["config"]["profile"] == "odata"
    assert body["config"]["seed"] == 7
    assert body["clock"] == {"virtual": False, "time_scale": 1.0}
    config = mock.client.get(f"{prefix}/__mock/config").get_json()
    assert (config["profile"], config["seed"]) == ("odata", 7)
    assert mock.client.get("/__mock/config").get_json()["profile"] == "thread"


def test_a_tenants_admin_api_acts_on_the_tenant_only(mock: Session) -> None:
    tenant = mock.tenant(clock="virtual")
    doc = tenant.create()["ID"]
    root_doc = mock.create()["ID"]
    tenant.intervene(document=doc, action="micro_update", before_request=1)
    assert mock.admin("GET", "/interventions").get_json()["pending"] == []
    etag = tenant.etag(doc)
    assert tenant.update(doc, {"Description": "x"}, headers={"If-Match": etag}).status_code == 200
    before = tenant.admin("GET", "/clock").get_json()["now"]
    after = tenant.admin("POST", "/clock/advance", {"seconds": 60}).get_json()["now"]
    assert after == before + 60
    assert mock.admin("GET", "/clock").get_json()["now"] == mock.clock.now()
    assert tenant.admin("POST", "/reset").get_json()["documents"] == []
    assert mock.truth(root_doc)["entity"]["ID"] == root_doc


def test_tenants_are_listed_and_deleted(mock: Session) -> None:
    tenant = mock.tenant(documents=1)
    listing = mock.admin("GET", "/tenants").get_json()
    assert listing["live"] == 1
    assert [t["url"] for t in listing["tenants"]] == [f"http://localhost{tenant.prefix}"]
    assert listing["tenants"][0]["bytes"] > 0
    tenant_id = tenant.prefix[4:-2]

    assert mock.admin("DELETE", f"/tenants/{tenant_id}").status_code == 204
    gone = tenant.get(DOCS)
    assert gone.status_code == 404
    assert _error(gone)["code"] == "TenantNotFound"
    assert "POST /__mock/tenants" in _error(gone)["message"]
    again = mock.admin("DELETE", f"/tenants/{tenant_id}")
    assert (again.status_code, _error(again)["code"]) == (404, "TenantNotFound")
    assert mock.admin("GET", "/tenants").get_json()["live"] == 0


def test_an_unknown_tenant_is_a_404_with_an_odata_error(mock: Session) -> None:
    response = mock.client.get(f"/(S(nosuchtenant)){DOCS}", auth=("wcadmin", "wcadmin"))
    assert response.status_code == 404
    assert _error(response)["code"] == "TenantNotFound"
    assert mock.client.get("/(S(no)){ROOT}").status_code == 404


def test_tenants_are_made_on_the_servers_admin_api_only(mock: Session) -> None:
    tenant = mock.tenant()
    response = tenant.admin("POST", "/tenants", {})
    assert response.status_code == 404
    assert "not inside a tenant" in _error(response)["message"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"admin_token": "x"}, "settings of the server"),
        ({"max_tenants": 5}, "settings of the server"),
        ({"clock": "sundial"}, 'clock must be "virtual" or "system"'),
        ({"clock": "virtual", "time_scale": 10}, "time_scale speeds up the system clock"),
        ({"time_scale": 0}, "a time scale lies in"),
        ({"time_scale": "fast"}, "a time scale is a number"),
        ({"profile": "nope"}, "nope"),
        ({"seed": -1}, "seed"),
    ],
)
def test_a_bad_tenant_is_a_400_and_nothing_is_made(
    mock: Session, body: dict[str, Any], words: str
) -> None:
    response = mock.admin("POST", "/tenants", body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert words in _error(response)["message"]
    assert mock.admin("GET", "/tenants").get_json()["live"] == 0


def test_the_number_of_tenants_is_capped_with_a_429(mock: Session) -> None:
    mock.admin("PUT", "/config", {"max_tenants": 2})
    mock.tenant()
    mock.tenant()
    response = mock.admin("POST", "/tenants", {})
    assert response.status_code == 429
    assert _error(response)["code"] == "TooManyTenants"
    assert "max_tenants=2" in _error(response)["message"]
    assert int(response.headers["Retry-After"]) >= 1
    assert mock.admin("GET", "/tenants").get_json()["live"] == 2


def test_the_tenants_memory_is_capped_with_a_503(mock: Session) -> None:
    mock.admin("PUT", "/config", {"tenant_memory_bytes": 200_000})
    mock.tenant(documents=40)  # about 16 KiB + 40 * 4 KiB: within the limit
    response = mock.admin("POST", "/tenants", {"documents": 10})  # 56 KiB more: past it
    assert response.status_code == 503
    assert "tenant_memory_bytes=200000" in _error(response)["message"]
    assert mock.admin("POST", "/tenants", {}).status_code == 201  # 16 KiB still fits


def test_a_tenant_too_big_on_its_own_is_refused_before_it_is_built(mock: Session) -> None:
    mock.admin("PUT", "/config", {"tenant_memory_bytes": 1_000_000})
    response = mock.admin("POST", "/tenants", {"documents": 1_000_000})
    assert response.status_code == 503
    assert "ask for fewer documents" in _error(response)["message"]
    assert mock.admin("GET", "/tenants").get_json()["live"] == 0


def test_a_tenant_cannot_lift_its_bounds_later(mock: Session) -> None:
    tenant = mock.tenant()
    for body, words in (
        ({"max_tenants": 5}, "settings of the server"),
        ({"journal_limit_bytes": None}, "a tenant's journal is bounded"),
    ):
        response = tenant.admin("PUT", "/config", body)
        assert response.status_code == 400
        assert words in _error(response)["message"]
    assert mock.admin("POST", "/tenants", {"journal_limit_bytes": None}).status_code == 400
    assert mock.admin("POST", "/tenants", {"time_scale": True}).status_code == 400


def test_an_unknown_tenants_404_is_nobodys_traffic(mock: Session) -> None:
    assert mock.client.get(f"/(S(nosuch)){DOCS}").status_code == 404
    assert mock.admin("GET", "/metrics").get_json()["responses"] == {}


def test_a_body_limit_is_the_tenants_own(mock: Session) -> None:
    small = mock.tenant(max_body_bytes=200)
    big = mock.tenant()
    body = {"Name": "x" * 1000}
    assert small.post(DOCS, json=body).status_code == 413
    assert big.post(DOCS, json=body).status_code == 201


def test_an_idle_tenant_expires(mock: Session) -> None:
    now = [1000.0]
    registry = Tenants(seed=0, limit=lambda: mock.app.extensions["windchill_mock"].config)
    registry._monotonic = lambda: now[0]
    mock.app.extensions[TENANTS_EXTENSION] = registry
    mock.admin("PUT", "/config", {"tenant_idle_timeout": 60})
    busy, idle = mock.tenant(), mock.tenant()
    now[0] += 50
    assert busy.get(DOCS).status_code == 200  # used: its idle time starts again
    now[0] += 20
    assert busy.get(DOCS).status_code == 200
    expired = idle.get(DOCS)
    assert expired.status_code == 404
    assert "expired after 60s unused" in _error(expired)["message"]
    summary = mock.admin("GET", "/tenants").get_json()
    assert (summary["live"], summary["expired"]) == (1, 1)


def test_a_batch_runs_inside_its_tenant_and_cannot_reach_another(mock: Session) -> None:
    tenant, other = mock.tenant(), mock.tenant()
    doc = tenant.create()["ID"]
    other_doc = other.create(Name="Other's")["ID"]
    etag = tenant.etag(doc)
    body = {
        "requests": [
            {
                "id": "1",
                "method": "PATCH",
                "url": f"Documents('{doc}')",
                "headers": {"If-Match": etag, "Content-Type": "application/json"},
                "body": {"Description": "batched"},
            },
            {
                "id": "2",
                "method": "GET",
                "url": f"http://localhost{other.prefix}{doc_url(other_doc)}",
            },
        ]
    }
    response = tenant.post(f"{ROOT}/DocMgmt/$batch", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    answers = {a["id"]: a for a in response.get_json()["responses"]}
    assert answers["1"]["status"] == 200
    assert tenant.truth(doc)["entity"]["Description"] == "batched"
    assert answers["2"]["status"] == 400
    assert "outside this batch's service" in answers["2"]["body"]["error"]["message"]


def test_a_sped_up_tenant_sends_retry_after_in_real_seconds(mock: Session) -> None:
    tenant = mock.tenant(time_scale=10)
    assert mock.admin("GET", "/tenants").get_json()["live"] == 1
    doc = tenant.create()["ID"]
    tenant.intervene(
        document=doc,
        action="fault",
        status=503,
        retry_after=25,
        before_request=1,
    )
    response = tenant.get(doc_url(doc))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "3"  # 25 s of the mock's time: 2.5 s, rounded up
    (failure,) = [e for e in tenant.journal() if e["type"] == "fail"]
    assert failure["retry_after"] == 25  # the journal speaks the mock's time


def test_health_answers_without_the_admin_guard(mock: Session) -> None:
    mock.admin("PUT", "/config", {"admin_token": "secret"})
    assert mock.admin("GET", "/tenants").status_code == 403
    response = mock.client.get("/__mock/health", headers={"Host": "ci-runner.example"})
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "tenants": 0}


def test_concurrent_creations_never_exceed_the_cap(mock: Session) -> None:
    mock.admin("PUT", "/config", {"max_tenants": 5})
    statuses: list[int] = []

    def create() -> None:
        client = mock.app.test_client()
        statuses.append(client.post("/__mock/tenants", json={"documents": 3}).status_code)

    threads = [threading.Thread(target=create) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] * 5 + [429] * 7
    assert mock.admin("GET", "/tenants").get_json()["live"] == 5
