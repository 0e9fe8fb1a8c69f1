"""The Windchill REST Services plumbing of the reference client: URLs, the CSRF nonce, lost
connections and OData error bodies. No update logic lives here (see ``updater.py``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

__all__ = ["Lost", "RequestFailed", "WrsSession", "entity_set_of", "error_code", "error_message"]

#: Where WRS serves each Windchill class a key names: (domain, entity set).
_ENTITY_SETS = {
    "wt.doc.WTDocument": ("DocMgmt", "Documents"),
    "wt.part.WTPart": ("ProdMgmt", "Parts"),
}


def entity_set_of(key: str) -> tuple[str, str]:
    """``(domain, entity set)`` of the object ``key`` names (``OR:wt.part.WTPart:1`` →
    ``("ProdMgmt", "Parts")``); documents for a key of another form."""
    prefix, _, rest = key.partition(":")
    wt_class = rest.rpartition(":")[0] if prefix in ("OR", "VR") else ""
    return _ENTITY_SETS.get(wt_class, ("DocMgmt", "Documents"))


class Lost(Exception):
    """The connection broke before an answer came: the outcome is unknown."""


class RequestFailed(Exception):
    """The server refused for good (or a request could not be sent); ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WrsSession:
    """Requests to one WRS service root, with the CSRF nonce fetched and refreshed."""

    def __init__(self, session: requests.Session, service_root: str, timeout: float) -> None:
        self.session = session
        self.service_root = service_root.rstrip("/")
        self.timeout = timeout
        self._nonce: str | None = None

    def url(self, doc_id: str, suffix: str = "") -> str:
        """The URL of the object ``doc_id`` names, in its domain (documents, parts)."""
        domain, entity_set = entity_set_of(doc_id)
        return f"{self.service_root}/{domain}/{entity_set}('{quote(doc_id, safe=':')}'){suffix}"

    def action_url(self, doc_id: str, action: str) -> str:
        """The URL of bound action ``action`` (``CheckOut``) on ``doc_id``."""
        domain, _ = entity_set_of(doc_id)
        return self.url(doc_id, f"/PTC.{domain}.{action}")

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Send one request; refresh the CSRF nonce once if the server rejects it.

        Raises :class:`Lost` when the connection breaks before an answer.
        """
        for fresh in (False, True):
            headers = dict(kwargs.pop("headers", None) or {})
            if method != "GET":
                headers["CSRF_NONCE"] = self._csrf_nonce(refresh=fresh)
            try:
                response = self.session.request(
                    method, url, headers=headers, timeout=self.timeout, **kwargs
                )
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as error:
                raise Lost(str(error)) from None
            if method != "GET" and response.status_code == 403 and _is_csrf_failure(response):
                kwargs["headers"] = headers
                continue
            return response
        return response

    def _csrf_nonce(self, *, refresh: bool) -> str:
        if self._nonce is None or refresh:
            try:
                response = self.session.get(
                    f"{self.service_root}/PTC/GetCSRFToken()", timeout=self.timeout
                )
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as error:
                raise Lost(str(error)) from None
            if response.status_code != 200:
                raise RequestFailed(f"cannot get a CSRF nonce: HTTP {response.status_code}")
            self._nonce = str(response.json().get("NonceValue", ""))
        return self._nonce


def _error_body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def error_code(response: requests.Response) -> str | None:
    """The OData error body's ``code`` (``CheckedOut``, ``CSRFValidationFailed``, …)."""
    code = _error_body(response).get("code")
    return code if isinstance(code, str) else None


def error_message(response: requests.Response) -> str:
    """The OData error body's ``message``, else the start of the body or the reason."""
    message = _error_body(response).get("message")
    return message if isinstance(message, str) else (response.text[:200] or response.reason)


def _is_csrf_failure(response: requests.Response) -> bool:
    return error_code(response) == "CSRFValidationFailed" or "security problem" in (
        error_message(response)
    )
