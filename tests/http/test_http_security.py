"""Basic authentication and the CSRF nonce, and switching both off."""

from __future__ import annotations

import base64

import pytest
from wrs_session import CSRF_URL, DOCS, ROOT, MakeMock, Session, doc_url, error_of

from mock_server.http.security import CSRF_MESSAGE

GETS = [f"{ROOT}/", f"{ROOT}/DocMgmt/", f"{ROOT}/DocMgmt/$metadata", DOCS, CSRF_URL]


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# -------------------------------------------------------------------- authentication


@pytest.mark.parametrize("path", GETS)
def test_requests_without_credentials_are_401_with_www_authenticate(
    mock: Session, path: str
) -> None:
    response = mock.get(path, auth=False)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert error_of(response)["code"] == "Unauthorized"


@pytest.mark.parametrize(
    "headers",
    [
        basic("wcadmin", "wrong"),
        basic("nobody", "wcadmin"),
        basic("", "wcadmin"),
        basic("other", "wcadmin"),
        {"Authorization": "Bearer abc"},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic"},
        {"Authorization": "Basic d2M\u20ac"},  # not ASCII: Werkzeug cannot decode it
    ],
)
def test_wrong_credentials_are_401_with_www_authenticate(
    mock: Session, headers: dict[str, str]
) -> None:
    response = mock.get(DOCS, auth=False, headers=headers)

    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers
    error_of(response)


def test_the_other_account_can_authenticate(mock: Session) -> None:
    assert mock.get(DOCS, auth=False, headers=basic("other", "other")).status_code == 200


def test_writes_without_credentials_are_401_and_change_nothing(mock: Session) -> None:
    doc = mock.create(Name="Pump")
    before = mock.truth(doc["ID"])

    response = mock.patch(
        doc_url(doc["ID"]), auth=False, headers=basic("x", "y"), json={"Title": "x"}
    )

    assert response.status_code == 401
    assert mock.truth(doc["ID"]) == before


def test_authentication_comes_before_routing(mock: Session) -> None:
    # an anonymous client learns nothing about which documents exist
    assert mock.get(doc_url("OR:wt.doc.WTDocument:1"), auth=False).status_code == 401


def test_configured_users_replace_nothing_but_add_accounts(make_mock: MakeMock) -> None:
    mock = make_mock(users={"alice": "secret"})

    assert mock.get(DOCS, auth=False, headers=basic("alice", "secret")).status_code == 200
    assert mock.get(DOCS, auth=False, headers=basic("alice", "wrong")).status_code == 401


def test_auth_can_be_switched_off(make_mock: MakeMock) -> None:
    mock = make_mock(auth=False)

    response = mock.get(DOCS, auth=False)
    unreadable = mock.get(DOCS, auth=False, headers={"Authorization": "Basic d2M\u20ac"})

    assert response.status_code == 200
    assert unreadable.status_code == 200  # credentials it cannot read count as none


def test_without_auth_writes_are_attributed_to_wcadmin(make_mock: MakeMock) -> None:
    mock = make_mock(auth=False, csrf=False)

    response = mock.post(DOCS, auth=False, json={"Name": "anon"})

    assert response.status_code == 201
    assert response.get_json()["CreatedBy"] == "wcadmin"


def test_the_admin_api_needs_no_basic_auth(mock: Session) -> None:
    assert mock.admin("GET", "/metrics").status_code == 200


# -------------------------------------------------------------------- CSRF


def test_a_write_without_the_nonce_is_403_with_ptcs_message(mock: Session) -> None:
    mock.fetch_nonce()

    response = mock.post(DOCS, csrf=False, json={"Name": "x"})

    assert response.status_code == 403
    error = error_of(response)
    assert error["message"] == CSRF_MESSAGE
    assert "no CSRF_NONCE header" in error["details"][0]["message"]
    assert mock.get(DOCS).get_json()["value"] == []


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_every_unsafe_method_needs_the_nonce(mock: Session, method: str) -> None:
    doc = mock.create(Name="Pump")
    before = mock.truth(doc["ID"])

    response = mock.request(method, doc_url(doc["ID"]), csrf=False, json={"Title": "x"})

    assert response.status_code == 403
    assert mock.truth(doc["ID"]) == before


def test_a_wrong_nonce_is_403(mock: Session) -> None:
    mock.fetch_nonce()

    response = mock.post(DOCS, headers={"CSRF_NONCE": "0" * 40}, json={"Name": "x"})

    assert response.status_code == 403
    assert error_of(response)["message"] == CSRF_MESSAGE


def test_the_nonce_is_tied_to_its_session(mock: Session) -> None:
    nonce = mock.fetch_nonce()
    stranger = mock.as_user("wcadmin", "wcadmin")  # same user, another cookie jar
    stranger.fetch_nonce()

    response = stranger.post(DOCS, headers={"CSRF_NONCE": nonce}, json={"Name": "x"})

    assert response.status_code == 403


def test_a_nonce_without_a_session_cookie_is_403(mock: Session) -> None:
    nonce = mock.fetch_nonce()
    mock.client.delete_cookie("JSESSIONID", path="/Windchill")

    response = mock.post(DOCS, headers={"CSRF_NONCE": nonce}, json={"Name": "x"})

    assert response.status_code == 403
    assert "session cookie" in error_of(response)["details"][0]["message"]


def test_an_expired_nonce_is_403_until_a_new_one_is_fetched(mock: Session) -> None:
    old = mock.fetch_nonce()
    assert mock.post(DOCS, json={"Name": "before"}).status_code == 201
    assert mock.admin("POST", "/csrf/expire").get_json() == {"expired": 1}

    refused = mock.post(DOCS, json={"Name": "after"})
    new = mock.fetch_nonce()
    accepted = mock.post(DOCS, json={"Name": "after"})

    assert refused.status_code == 403
    assert "expired" in error_of(refused)["details"][0]["message"]
    assert new != old
    assert accepted.status_code == 201


def test_the_nonce_header_may_be_spelled_with_a_dash(mock: Session) -> None:
    nonce = mock.fetch_nonce()

    response = mock.post(DOCS, csrf=False, headers={"CSRF-NONCE": nonce}, json={"Name": "x"})

    assert response.status_code == 201


def test_reads_need_no_nonce(mock: Session) -> None:
    assert mock.get(DOCS, csrf=False).status_code == 200


def test_authentication_is_checked_before_the_nonce(mock: Session) -> None:
    response = mock.post(DOCS, auth=False, csrf=False, json={"Name": "x"})

    assert response.status_code == 401


def test_csrf_can_be_switched_off(make_mock: MakeMock) -> None:
    mock = make_mock(csrf=False)

    response = mock.post(DOCS, csrf=False, json={"Name": "x"})

    assert response.status_code == 201


def test_csrf_can_be_switched_off_at_runtime_through_the_admin_api(mock: Session) -> None:
    assert mock.post(DOCS, csrf=False, json={"Name": "x"}).status_code == 403

    mock.admin("PUT", "/config", {"csrf": False})

    assert mock.post(DOCS, csrf=False, json={"Name": "x"}).status_code == 201
