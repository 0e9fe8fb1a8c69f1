"""Helpers for the HTTP tests: a user's session on a mock (Flask test client with Basic auth and
the CSRF nonce), URLs, and the OData error shape. Fixtures live in ``conftest.py``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from mock_server.core import VirtualClock
from mock_server.http.state import state

ROOT = "/Windchill/servlet/odata"
DOCS = f"{ROOT}/DocMgmt/Documents"
CSRF_URL = f"{ROOT}/PTC/GetCSRFToken()"
PROFILES = ("thread", "odata", "wrs")


def doc_url(doc_id: str, suffix: str = "") -> str:
    """``…/Documents('OR:wt.doc.WTDocument:164057')`` plus an optional path suffix."""
    return f"{DOCS}('{doc_id}'){suffix}"


def encoded_doc_url(doc_id: str) -> str:
    """The same key with the quotes and colons percent-encoded, as some clients send it."""
    key = quote(f"'{doc_id}'", safe="")
    return f"{DOCS}({key})"


@dataclass
class Session:
    """One user's view of a mock: a test client with its own cookie jar and CSRF nonce."""

    app: Flask
    clock: VirtualClock
    user: str = "wcadmin"
    password: str = "wcadmin"
    #: A tenant's ``/(S(<id>))``: every path (OData and admin) goes under it.
    prefix: str = ""
    client: FlaskClient = field(init=False)
    nonce: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.client = self.app.test_client()

    @property
    def profile(self) -> str:
        return state(self.app).config.profile

    # -- plumbing --------------------------------------------------------------------------

    def fetch_nonce(self) -> str:
        response = self.client.get(self.prefix + CSRF_URL, auth=(self.user, self.password))
        assert response.status_code == 200, response.get_data(as_text=True)
        self.nonce = response.get_json()["NonceValue"]
        return self.nonce

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        csrf: bool = True,
        **kwargs: Any,
    ) -> TestResponse:
        sent = dict(headers or {})
        if csrf and method in ("POST", "PUT", "PATCH", "DELETE") and "CSRF_NONCE" not in sent:
            sent["CSRF_NONCE"] = self.nonce or self.fetch_nonce()
        if auth:
            kwargs.setdefault("auth", (self.user, self.password))
        return self.client.open(self.prefix + path, method=method, headers=sent, **kwargs)

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self.request("DELETE", path, **kwargs)

    # -- domain shortcuts ------------------------------------------------------------------

    def create(self, **properties: Any) -> dict[str, Any]:
        properties.setdefault("Name", "Pump housing")
        response = self.post(DOCS, json=properties)
        assert response.status_code == 201, response.get_data(as_text=True)
        body: dict[str, Any] = response.get_json()
        return body

    def read(self, doc_id: str) -> TestResponse:
        response = self.get(doc_url(doc_id))
        assert response.status_code == 200, response.get_data(as_text=True)
        return response

    def etag(self, doc_id: str) -> str:
        etag = self.read(doc_id).headers.get("ETag")
        assert etag is not None
        return etag

    def update(
        self, doc_id: str, changes: dict[str, Any], *, headers: dict[str, str] | None = None
    ) -> TestResponse:
        return self.patch(doc_url(doc_id), json=changes, headers=headers)

    def action(self, doc_id: str, name: str, body: Any = None, **kwargs: Any) -> TestResponse:
        if body is not None:
            kwargs["json"] = body
        return self.post(doc_url(doc_id, f"/PTC.DocMgmt.{name}"), **kwargs)

    # -- the admin API ---------------------------------------------------------------------

    def admin(self, method: str, path: str, body: Any = None, **kwargs: Any) -> TestResponse:
        if body is not None:
            kwargs["json"] = body
        return self.client.open(f"{self.prefix}/__mock{path}", method=method, **kwargs)

    def intervene(self, **intervention: Any) -> TestResponse:
        response = self.admin("POST", "/interventions", intervention)
        assert response.status_code == 201, response.get_data(as_text=True)
        return response

    def truth(self, doc_id: str) -> dict[str, Any]:
        """The server's state of a document, read without counting as a request."""
        response = self.admin("GET", f"/documents/{doc_id}")
        assert response.status_code == 200
        body: dict[str, Any] = response.get_json()
        return body

    def journal(self) -> list[dict[str, Any]]:
        text = self.admin("GET", "/journal").get_data(as_text=True)
        return [json.loads(line) for line in text.splitlines()]

    def as_user(self, user: str, password: str | None = None) -> Session:
        """Another user on the same mock, with a session (cookie jar) of their own."""
        password = password if password is not None else user
        return Session(self.app, self.clock, user, password, self.prefix)

    def tenant(self, **body: Any) -> Session:
        """A new tenant of this session's server (``POST /__mock/tenants`` with ``body``),
        and a session of the same user inside it."""
        response = self.client.post("/__mock/tenants", json=body)
        assert response.status_code == 201, response.get_data(as_text=True)
        prefix = f"/(S({response.get_json()['id']}))"
        return Session(self.app, self.clock, self.user, self.password, prefix)


#: The ``make_mock`` fixture: ``MockConfig`` keywords in, a ``wcadmin`` session out.
MakeMock = Callable[..., Session]


def error_of(response: TestResponse) -> dict[str, Any]:
    """The OData error object of a response, checking its shape on the way."""
    body = response.get_json()
    assert isinstance(body, dict), response.get_data(as_text=True)
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert isinstance(error.get("code"), str)
    assert error["code"]
    assert isinstance(error.get("message"), str)
    assert error["message"]
    return error
