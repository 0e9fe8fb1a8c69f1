"""``windchill-mock``: help, bad input, the config file, and the forum thread's story against
``windchill-mock serve`` over real sockets."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from live_support import (
    DOCUMENTS,
    ROOT,
    TIMEOUT,
    ServedMock,
    SessionFactory,
    document_url,
    inject,
    run_cli,
    serve,
)

from mock_server.core.repository import MODIFIED_BY_ANOTHER_PROCESS

SERVE_OPTIONS = (
    "--host",
    "--port",
    "--profile",
    "--seed",
    "--documents",
    "--rate",
    "--config",
    "--no-auth",
    "--no-csrf",
)


@pytest.fixture(scope="module")
def demo() -> Iterator[ServedMock]:
    """``windchill-mock serve --port 0 --seed 1``: the standalone defaults (20 documents,
    background activity on). Tests that change a document use one nobody else uses."""
    with serve("--port", "0", "--seed", "1") as served:
        yield served


def _documents(session: requests.Session, base_url: str) -> list[str]:
    response = session.get(base_url + DOCUMENTS, params={"$count": "true"}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.count"] == len(body["value"])
    return [d["ID"] for d in body["value"]]


# ---------------------------------------------------------------- help and bad input


def test_help_lists_the_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout
    assert "profiles" in result.stdout


def test_serve_help_mentions_every_option() -> None:
    result = run_cli("serve", "--help")
    assert result.returncode == 0, result.stderr
    missing = [option for option in SERVE_OPTIONS if option not in result.stdout]
    assert missing == []


def test_unknown_rate_source_exits_non_zero_with_a_clear_message() -> None:
    result = run_cli("serve", "--port", "0", "--rate", "bogus=1")
    assert result.returncode == 2
    assert "Invalid value for --rate" in result.stderr
    assert "'bogus=1'" in result.stderr
    assert "indexer" in result.stderr


def test_missing_config_file_exits_non_zero_with_a_clear_message(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    result = run_cli("serve", "--port", "0", "--config", str(missing))
    assert result.returncode == 2
    assert "--config" in result.stderr
    assert "does not exist" in result.stderr


def test_config_file_with_an_unknown_key_exits_non_zero_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "mock.toml"
    config.write_text('profile = "odata"\nprofiel = "wrs"\n', encoding="utf-8")
    result = run_cli("serve", "--port", "0", "--config", str(config))
    assert result.returncode == 2
    assert "profiel" in result.stderr


def test_config_file_that_is_not_toml_exits_non_zero(tmp_path: Path) -> None:
    config = tmp_path / "mock.toml"
    config.write_text("profile = odata\n", encoding="utf-8")
    result = run_cli("serve", "--port", "0", "--config", str(config))
    assert result.returncode == 2
    assert "is not valid TOML" in result.stderr


def test_port_in_use_exits_non_zero_naming_the_address() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_profiles_prints_the_knob_table() -> None:
    result = run_cli("profiles")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["odata", "thread", "wrs"]
    table = {row.split()[0]: row.split()[1:] for row in rows}
    assert table["stale_same_iteration_status"] == ["412", "409", "None"]
    assert table["emit_etags"] == ["True", "True", "False"]
    assert table["busy_status"] == ["None", "409", "None"]


# ---------------------------------------------------------------- serving


def test_serve_prints_the_service_root_and_the_users_but_no_password(demo: ServedMock) -> None:
    assert demo.base_url.startswith("http://127.0.0.1:")
    assert not demo.base_url.endswith(":0")
    assert "wcadmin, other" in demo.line("users")
    assert "wcadmin/wcadmin" not in "\n".join(demo.banner)
    assert "20 demo documents" in demo.line("documents")
    assert "seed: 1" in demo.line("profile")


def test_serve_seeds_twenty_demo_documents_at_version_a1(
    demo: ServedMock, open_session: SessionFactory
) -> None:
    session = open_session(demo.base_url, csrf=False)
    response = session.get(demo.base_url + DOCUMENTS, timeout=TIMEOUT)
    documents = response.json()["value"]
    assert len(documents) == 20
    assert {d["Version"] for d in documents} == {"A.1"}
    assert all(d["@odata.etag"].startswith('"v1.') for d in documents)


def test_micro_update_after_a_fresh_read_gives_the_threads_409(
    demo: ServedMock, open_session: SessionFactory
) -> None:
    session = open_session(demo.base_url)
    doc_id = _documents(session, demo.base_url)[0]
    url = document_url(demo.base_url, doc_id)
    read = session.get(url, timeout=TIMEOUT)
    etag = read.headers["ETag"]
    inject(
        session,
        demo.base_url,
        {"action": "micro_update", "document": doc_id, "source": "indexer", "duration": 0},
    )

    response = session.patch(
        url, json={"Description": "mine"}, headers={"If-Match": etag}, timeout=TIMEOUT
    )

    assert response.status_code == 409
    assert response.json()["error"]["message"] == MODIFIED_BY_ANOTHER_PROCESS
    after = session.get(url, timeout=TIMEOUT).json()
    assert after["Version"] == read.json()["Version"]
    assert after["Description"] == read.json()["Description"]


def test_concurrent_edit_after_a_read_gives_412(
    demo: ServedMock, open_session: SessionFactory
) -> None:
    session = open_session(demo.base_url)
    doc_id = _documents(session, demo.base_url)[1]
    url = document_url(demo.base_url, doc_id)
    etag = session.get(url, timeout=TIMEOUT).headers["ETag"]
    inject(
        session,
        demo.base_url,
        {"action": "concurrent_edit", "document": doc_id, "changes": {"Title": "theirs"}},
    )

    response = session.patch(
        url, json={"Description": "mine"}, headers={"If-Match": etag}, timeout=TIMEOUT
    )

    assert response.status_code == 412
    assert response.json()["error"]["code"] == "NotLatestIteration"  # A.2 has its own OR:
    past = session.get(url, timeout=TIMEOUT).json()
    assert past["Latest"] is False
    latest_url = document_url(demo.base_url, past["VersionID"])
    assert session.get(latest_url, timeout=TIMEOUT).json()["Title"] == "theirs"


def test_check_out_and_check_in_move_a1_to_a2(
    demo: ServedMock, open_session: SessionFactory
) -> None:
    session = open_session(demo.base_url)
    doc_id = _documents(session, demo.base_url)[2]
    url = document_url(demo.base_url, doc_id)
    assert session.get(url, timeout=TIMEOUT).json()["Version"] == "A.1"

    checked_out = session.post(f"{url}/PTC.DocMgmt.CheckOut", json={}, timeout=TIMEOUT)
    assert checked_out.status_code == 200, checked_out.text
    working_copy = checked_out.json()
    assert working_copy["CheckoutState"] == "Working copy"
    checked_in = session.post(
        f"{document_url(demo.base_url, working_copy['ID'])}/PTC.DocMgmt.CheckIn",
        json={"CheckInNote": "done"},
        timeout=TIMEOUT,
    )

    assert checked_in.status_code == 200, checked_in.text
    # The working copy became A.2, keeping its OR:; the one read first names A.1.
    assert checked_in.json()["ID"] == working_copy["ID"]
    latest_url = document_url(demo.base_url, working_copy["ID"])
    assert session.get(latest_url, timeout=TIMEOUT).json()["Version"] == "A.2"
    assert session.get(url, timeout=TIMEOUT).json()["Latest"] is False


def test_a_high_indexer_rate_gives_409_without_any_intervention(
    open_session: SessionFactory,
) -> None:
    with serve("--port", "0", "--rate", "indexer=50", "--duration", "indexer=0") as served:
        session = open_session(served.base_url)
        doc_id = _documents(session, served.base_url)[0]
        url = document_url(served.base_url, doc_id)
        etag = session.get(url, timeout=TIMEOUT).headers["ETag"]
        time.sleep(0.3)  # ~15 indexer runs expected; none at all has odds of e^-15

        response = session.patch(
            url, json={"Description": "mine"}, headers={"If-Match": etag}, timeout=TIMEOUT
        )

        assert response.status_code == 409
        assert response.json()["error"]["message"] == MODIFIED_BY_ANOTHER_PROCESS


def test_python_dash_m_mock_server_serves_too(open_session: SessionFactory) -> None:
    with serve("--port", "0", "--documents", "2", module=True) as served:
        session = open_session(served.base_url, csrf=False)
        assert session.get(f"{served.base_url}{ROOT}/", timeout=TIMEOUT).status_code == 200
        assert len(_documents(session, served.base_url)) == 2


def test_toml_config_file_is_honoured_and_the_command_line_wins(
    tmp_path: Path, open_session: SessionFactory
) -> None:
    config = tmp_path / "mock.toml"
    config.write_text(
        'profile = "odata"\nseed = 7\ndocuments = 4\n'
        "[rates]\nindexer = 0.5\ncache_sync = 0.25\n"
        "[durations]\ncache_sync = 0.125\n",
        encoding="utf-8",
    )
    with serve("--port", "0", "--config", str(config), "--rate", "cache_sync=0.75") as served:
        assert "odata" in served.line("profile")
        session = open_session(served.base_url)
        effective = session.get(f"{served.base_url}/__mock/config", timeout=TIMEOUT).json()
        etag = session.get(
            document_url(served.base_url, _documents(session, served.base_url)[0]),
            timeout=TIMEOUT,
        ).headers["ETag"]

    assert effective["profile"] == "odata"
    assert effective["seed"] == 7
    assert effective["documents"] == 4
    assert effective["rates"]["indexer"] == 0.5
    assert effective["rates"]["cache_sync"] == 0.75
    assert effective["durations"]["cache_sync"] == 0.125
    assert effective["knobs"]["weak_etags"] is True
    assert etag.startswith('W/"')


# ---------------------------------------------------------------- the admin token


@pytest.mark.parametrize("source", ["environment", "file"])
def test_the_admin_token_comes_from_the_environment_or_a_file_and_is_never_printed(
    source: str, tmp_path: Path
) -> None:
    secret = "s3cret-token-value"
    token_file = tmp_path / "token"
    token_file.write_text(secret + "\n")
    args = ("--port", "0", "--documents", "1")
    if source == "file":
        context = serve(*args, "--admin-token-file", str(token_file))
    else:
        context = serve(*args, env={"WINDCHILL_ADMIN_TOKEN": secret})
    with context as served:
        url = served.base_url + "/__mock/metrics"
        without = requests.get(url, timeout=TIMEOUT)
        wrong = requests.get(url, headers={"X-Mock-Admin-Token": "guess"}, timeout=TIMEOUT)
        right = requests.get(url, headers={"X-Mock-Admin-Token": secret}, timeout=TIMEOUT)
        banner = "\n".join(served.banner)

    assert (without.status_code, wrong.status_code, right.status_code) == (403, 403, 200)
    assert secret not in banner
    assert "token required" in banner


def test_an_empty_admin_token_file_exits_non_zero_naming_the_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("\n")

    result = run_cli("serve", "--port", "0", "--admin-token-file", str(token_file))

    assert result.returncode != 0
    assert "holds no admin token" in result.stderr


def test_serve_bounds_its_journal_by_default(demo: ServedMock) -> None:
    requests.post(
        demo.base_url + "/__mock/documents",
        json={"Name": "journalled"},
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    metrics = requests.get(demo.base_url + "/__mock/metrics", timeout=TIMEOUT).json()

    assert metrics["journal"]["limit"] == 100_000
    assert metrics["journal"]["limit_bytes"] == 64 * 1024 * 1024
    assert 0 < metrics["journal"]["bytes"] < 64 * 1024 * 1024


def test_help_lists_check_beside_serve() -> None:
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    assert "check" in result.stdout
    check = run_cli("check", "--help")
    assert check.returncode == 0, check.stderr
    assert "{url}" in check.stdout
    assert "--junitxml" in check.stdout


def test_the_ready_file_appears_once_listening_and_goes_on_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    ready.write_text("http://stale.example\n")  # left by an earlier run: must not count
    with serve("--port", "0", "--documents", "0", "--ready-file", str(ready)) as served:
        # The banner is printed before the file is written: wait for it, never for the stale one.
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            text = ready.read_text() if ready.exists() else ""
            if text.strip() == served.base_url:
                break
            time.sleep(0.02)
        assert ready.read_text().strip() == served.base_url
        health = requests.get(f"{served.base_url}/__mock/health", timeout=TIMEOUT)
        assert health.json() == {"status": "ok", "tenants": 0}
        assert "POST" in served.line("tenants")
        served.process.terminate()
        assert served.process.wait(timeout=TIMEOUT) == 0
    assert not ready.exists()


def test_time_scale_speeds_up_the_servers_clock_and_refuses_a_virtual_one() -> None:
    with serve("--port", "0", "--documents", "0", "--time-scale", "50") as served:
        assert "clock: system x50" in served.line("profile")
        readings = []
        for _ in range(2):  # no sleeping: the real time between the two answers is measured
            sent = time.monotonic()
            now = requests.get(f"{served.base_url}/__mock/clock", timeout=TIMEOUT).json()["now"]
            readings.append((sent, now, time.monotonic()))
        (sent1, now1, got1), (sent2, now2, got2) = readings
        assert 50 * (sent2 - got1) - 1e-3 <= now2 - now1 <= 50 * (got2 - sent1) + 1e-3
    refused = run_cli("serve", "--virtual-clock", "--time-scale", "10")
    assert refused.returncode == 2
    assert "--time-scale speeds up the system clock" in refused.stderr


def test_a_server_that_fails_to_start_leaves_a_running_ones_ready_file(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    with serve("--port", "0", "--documents", "0", "--ready-file", str(ready)) as served:
        deadline = time.monotonic() + TIMEOUT
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        port = served.base_url.rsplit(":", 1)[1]
        second = run_cli("serve", "--port", port, "--ready-file", str(ready))
        assert second.returncode == 1
        assert "cannot listen on" in second.stderr
        assert ready.read_text().strip() == served.base_url
