"""``LiveServer`` and the standalone (waitress) server on real sockets: keep-alive, the
``CSRF_NONCE`` header, lost responses, starting and stopping."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
import requests
from live_support import (
    AUTH,
    DOCUMENTS,
    ROOT,
    TIMEOUT,
    SessionFactory,
    document_url,
    inject,
    journal,
    serve,
)

from mock_server import LiveServer, MockConfig, create_app
from mock_server.core.clock import VirtualClock


def _first_document(session: requests.Session, base_url: str) -> str:
    response = session.get(f"{base_url}/__mock/documents", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    doc_id: str = response.json()["documents"][0]
    return doc_id


def _refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return False
    except ConnectionRefusedError:
        return True


class _ClientPorts:
    """WSGI middleware: the client port of every request, as the server saw it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.ports: list[int] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.ports.append(int(environ["REMOTE_PORT"]))
        result: Iterable[bytes] = self.app(environ, start_response)
        return result


@pytest.fixture(params=["LiveServer", "windchill-mock serve"])
def any_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """The base URL of a ``LiveServer`` or of a ``windchill-mock serve`` subprocess (waitress),
    each with documents, Basic auth and the CSRF nonce required."""
    if request.param == "LiveServer":
        with LiveServer(create_app(MockConfig(documents=3), clock=VirtualClock())) as server:
            yield server.url
    else:
        # Background activity off: these tests are about the transport, not about conflicts.
        with serve(
            "--port", "0", "--documents", "3", "--virtual-clock", *_no_background()
        ) as served:
            yield served.base_url


def _no_background() -> list[str]:
    return [f"--rate={s}=0" for s in ("indexer", "cache_sync", "lifecycle_evaluator")]


# ---------------------------------------------------------------- keep-alive


def test_one_session_sends_all_its_requests_over_one_connection() -> None:
    recorder = _ClientPorts(create_app(MockConfig(documents=1), clock=VirtualClock()))
    with LiveServer(recorder) as server, requests.Session() as session:
        session.auth = AUTH
        for _ in range(5):
            response = session.get(server.url + DOCUMENTS, timeout=TIMEOUT)
            assert response.status_code == 200
            assert response.headers.get("Connection", "").lower() != "close"
    assert len(recorder.ports) == 5
    assert len(set(recorder.ports)) == 1, f"client ports seen by the server: {recorder.ports}"


def test_separate_connections_show_as_separate_client_ports() -> None:
    # The control for the test above: the server-side port does tell connections apart.
    recorder = _ClientPorts(create_app(MockConfig(documents=1), clock=VirtualClock()))
    with LiveServer(recorder) as server:
        # All three stay open until the end: the OS may reuse a closed connection's port.
        sessions = [requests.Session() for _ in range(3)]
        try:
            for session in sessions:
                session.get(server.url + DOCUMENTS, auth=AUTH, timeout=TIMEOUT)
        finally:
            for session in sessions:
                session.close()
    assert len(set(recorder.ports)) == 3, recorder.ports


# ---------------------------------------------------------------- CSRF_NONCE


def test_csrf_nonce_header_with_an_underscore_reaches_the_app(
    any_server: str, open_session: SessionFactory
) -> None:
    session = open_session(any_server)
    assert "CSRF_NONCE" in session.headers
    url = document_url(any_server, _first_document(session, any_server))

    response = session.patch(url, json={"Description": "with nonce"}, timeout=TIMEOUT)

    assert response.status_code == 200, response.text
    assert response.json()["Description"] == "with nonce"


def test_write_without_the_csrf_nonce_is_refused_over_the_wire(
    any_server: str, open_session: SessionFactory
) -> None:
    session = open_session(any_server, csrf=False)
    url = document_url(any_server, _first_document(session, any_server))

    response = session.patch(url, json={"Description": "no nonce"}, timeout=TIMEOUT)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "CSRFValidationFailed"
    assert session.get(url, timeout=TIMEOUT).json()["Description"] != "no nonce"


# ---------------------------------------------------------------- lost response


def test_lost_response_drops_the_connection_after_applying_the_write(
    any_server: str, open_session: SessionFactory
) -> None:
    session = open_session(any_server)
    doc_id = _first_document(session, any_server)
    url = document_url(any_server, doc_id)
    etag = session.get(url, timeout=TIMEOUT).headers["ETag"]
    inject(session, any_server, {"action": "lose_response", "document": doc_id})

    # Both servers close the connection before the status line, as the in-process transport
    # pretends: a ConnectionError ("Remote end closed connection without response"), not a
    # truncated body (ChunkedEncodingError).
    with pytest.raises(requests.ConnectionError, match="without response"):
        session.patch(
            url, json={"Description": "applied"}, headers={"If-Match": etag}, timeout=TIMEOUT
        )

    after = session.get(url, timeout=TIMEOUT)
    assert after.status_code == 200
    assert after.json()["Description"] == "applied"
    assert after.headers["ETag"] != etag
    (lost,) = [e for e in journal(session, any_server, doc_id) if e["type"] == "info"]
    assert lost["op"] == "update"
    assert lost["status"] == 200
    assert lost["etag_after"] == after.headers["ETag"]
    assert lost["values"]["Description"] == "applied"


def test_only_the_next_request_loses_its_response(
    live_server: LiveServer, open_session: SessionFactory
) -> None:
    session = open_session(live_server.url)
    doc_id = _first_document(session, live_server.url)
    url = document_url(live_server.url, doc_id)
    inject(session, live_server.url, {"action": "lose_response", "document": doc_id})

    with pytest.raises(requests.ConnectionError):
        session.patch(url, json={"Description": "first"}, timeout=TIMEOUT)
    response = session.patch(url, json={"Description": "second"}, timeout=TIMEOUT)

    assert response.status_code == 200
    assert response.json()["Description"] == "second"


# ---------------------------------------------------------------- start and stop


def test_live_server_is_a_context_manager_with_its_url() -> None:
    server = LiveServer(create_app(MockConfig(auth=False), clock=VirtualClock()))
    assert server.port != 0
    assert server.url == f"http://127.0.0.1:{server.port}"
    with server as entered, requests.Session() as session:
        assert entered is server
        response = session.get(f"{server.url}{ROOT}/", timeout=TIMEOUT)
        assert response.status_code == 200
        assert [d["name"] for d in response.json()["value"]] == ["DocMgmt", "ProdMgmt", "PTC"]


def test_stopped_live_server_closes_its_port_and_ends_its_threads() -> None:
    before = set(threading.enumerate())
    with LiveServer(create_app(MockConfig(auth=False))) as server:
        with requests.get(f"{server.url}{ROOT}/", timeout=TIMEOUT) as response:
            assert response.status_code == 200
        assert not _refuses_connections(server.port)
    assert _refuses_connections(server.port)
    assert set(threading.enumerate()) - before == set()


def test_stopping_closes_open_keep_alive_connections() -> None:
    server = LiveServer(create_app(MockConfig(auth=False))).start()
    with requests.Session() as session:
        try:
            assert session.get(f"{server.url}{ROOT}/", timeout=TIMEOUT).status_code == 200
        finally:
            server.stop()
        # The pooled connection must not be answered by a stopped server.
        with pytest.raises(requests.ConnectionError):
            session.get(f"{server.url}{ROOT}/", timeout=TIMEOUT)


def test_stop_is_idempotent_and_works_without_start() -> None:
    never_started = LiveServer(create_app())
    never_started.stop()
    never_started.stop()
    assert _refuses_connections(never_started.port)
    with pytest.raises(RuntimeError, match="cannot be started again"):
        never_started.start()


def test_two_live_servers_run_at_once_on_different_ports_with_separate_state() -> None:
    def make() -> Any:
        return create_app(MockConfig(csrf=False), clock=VirtualClock())

    with LiveServer(make()) as first, LiveServer(make()) as second, requests.Session() as s:
        s.auth = AUTH
        assert first.port != second.port
        created = s.post(first.url + DOCUMENTS, json={"Name": "only in first"}, timeout=TIMEOUT)
        assert created.status_code == 201

        in_first = s.get(first.url + DOCUMENTS, timeout=TIMEOUT).json()["value"]
        in_second = s.get(second.url + DOCUMENTS, timeout=TIMEOUT).json()["value"]

    assert [d["Name"] for d in in_first] == ["only in first"]
    assert in_second == []


def test_live_server_serves_a_plain_wsgi_app_that_starts_its_response_lazily() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        yield b"hello"

    with LiveServer(app) as server, requests.Session() as session:
        response = session.get(server.url + "/anything", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.text == "hello"


# ---------------------------------------------------------------- bodyless responses


def test_a_204_keeps_the_connection_open_and_carries_no_body_headers() -> None:
    recorder = _ClientPorts(create_app(MockConfig(documents=1, csrf=False), clock=VirtualClock()))
    with LiveServer(recorder) as server:
        connection = http.client.HTTPConnection(server.url.split("//", 1)[1], timeout=TIMEOUT)
        auth = "Basic " + base64.b64encode(b"wcadmin:wcadmin").decode()
        path = f"{ROOT}/DocMgmt/Documents('OR:wt.doc.WTDocument:164057')"
        try:
            connection.request(
                "PATCH",
                path,
                body=json.dumps({"Description": "x"}),
                headers={
                    "Authorization": auth,
                    "If-Match": "*",
                    "Prefer": "return=minimal",
                    "Content-Type": "application/json",
                },
            )
            patched = connection.getresponse()
            patched.read()
            connection.request("GET", path, headers={"Authorization": auth})
            read = connection.getresponse()
            read.read()
        finally:
            connection.close()

    assert patched.status == 204
    assert patched.getheader("Connection") is None
    assert patched.getheader("Content-Type") is None
    assert patched.getheader("Content-Length") is None
    assert read.status == 200
    assert recorder.ports[0] == recorder.ports[1], "the GET came on the same connection"


# ---------------------------------------------------------------- connections


def test_more_idle_connections_than_waitress_keeps_by_default_still_get_answers() -> None:
    # A CI suite's connection pools hold idle connections; waitress alone serves no one new
    # once 100 are open. The mock's servers keep 1000 by default.
    app = create_app(MockConfig(documents=1), clock=VirtualClock())
    with LiveServer(app) as server:
        idle = [
            socket.create_connection((server.host, server.port), timeout=TIMEOUT)
            for _ in range(110)
        ]
        try:
            response = requests.get(server.url + "/__mock/metrics", timeout=TIMEOUT)
        finally:
            for connection in idle:
                connection.close()

    assert response.status_code == 200


def test_the_connection_settings_reach_the_server() -> None:
    app = create_app(MockConfig(connection_limit=7, channel_timeout=3), clock=VirtualClock())
    with LiveServer(app) as server:
        adjustments = server._server.adj

    assert (adjustments.connection_limit, adjustments.channel_timeout) == (7, 3)
