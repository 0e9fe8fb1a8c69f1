"""``--windchill-url``: the same tests against a standalone ``windchill-mock serve`` — or
against a server without the mock's admin API (a real Windchill), where tests that need
injections are skipped."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.filterwarnings("error")

STRICT_INI = "[pytest]\nfilterwarnings = error\naddopts = --strict-markers -rs\n"


def _service_root(log: Path, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if line.strip().startswith("service root"):
                return line.split(":", 1)[1].strip()
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"windchill-mock serve printed no service root:\n{log.read_text()}")


@pytest.fixture(scope="module")
def standalone_mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``windchill-mock serve`` on a free loopback port; yields its base URL."""
    log = tmp_path_factory.mktemp("standalone") / "serve.log"
    command = [sys.executable, "-m", "mock_server", "serve"]  # what `windchill-mock` runs
    command += ["--host", "127.0.0.1", "--port", "0", "--virtual-clock", "--seed", "3"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        root = _service_root(log, process)
        assert root.startswith("http://127.0.0.1:")
        yield root.split("/Windchill/", 1)[0]
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_windchill_tests_run_against_a_standalone_mock_with_injections(
    pytester: pytest.Pytester, standalone_mock: str
) -> None:
    pytester.makeini(STRICT_INI)
    pytester.makepyfile(
        """
        import time

        def nonce(windchill):
            token = windchill.session.get(windchill.service_root + "/PTC/GetCSRFToken()")
            return token.json()["NonceValue"]

        def test_micro_update_makes_a_stale_patch_fail_with_409(windchill):
            assert windchill.app is None
            doc = windchill.create_document(Name="Bracket")
            etag = windchill.session.get(windchill.url(doc)).headers["ETag"]
            windchill.micro_update(doc)
            response = windchill.session.patch(
                windchill.url(doc),
                json={"Description": "mine"},
                headers={"If-Match": etag, "CSRF_NONCE": nonce(windchill)},
            )
            assert response.status_code == 409
            assert [e.status for e in windchill.journal if e.type == "fail"] == [409]

        def test_sleep_advances_the_servers_virtual_clock(windchill):
            assert windchill.virtual_time
            start = windchill.clock.now()
            time.sleep(100)
            assert windchill.clock.now() == start + 100

        def test_the_reference_client_retries_after_409(windchill, windchill_client):
            doc = windchill.create_document()
            windchill.micro_update(doc, before_request=2)
            result = windchill_client.update(doc, {"Description": "mine"})
            assert (result.status, result.conflicts) == ("applied", [409])
            assert windchill.document(doc)["Description"] == "mine"

        def test_the_test_config_replaces_the_servers_demo_set_up(windchill):
            # The server started with demo documents and background rates: a test gets neither.
            doc = windchill.create_document()
            windchill.clock.advance(600)
            windchill.session.get(windchill.url(doc))
            assert windchill.metrics["background"] == {}
            assert doc.endswith(":164057")
        """
    )

    result = pytester.runpytest("--windchill-url", standalone_mock, "-p", "no:randomly")

    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines([f"windchill: profile=thread seed=0 * target={standalone_mock}"])


def test_a_marker_reaches_a_standalone_mock_and_the_next_test_is_back_to_defaults(
    pytester: pytest.Pytester, standalone_mock: str
) -> None:
    pytester.makeini(STRICT_INI)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.windchill(profile="odata", rates={"indexer": 1.0})
        def test_odata_with_background(windchill):
            doc = windchill.create_document()
            windchill.clock.advance(30)
            assert windchill.session.get(windchill.url(doc)).headers["ETag"].startswith('W/"')
            assert windchill.metrics["background"]["indexer"] > 0

        def test_defaults_again(windchill):
            doc = windchill.create_document()
            windchill.clock.advance(30)
            assert windchill.session.get(windchill.url(doc)).headers["ETag"].startswith('"v1.')
            assert windchill.metrics["background"] == {}
        """
    )
    # The printed service root works as well as the bare base URL.
    service_root = f"{standalone_mock}/Windchill/servlet/odata/"
    result = pytester.runpytest("--windchill-url", service_root, "-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_a_test_needing_injections_is_skipped_without_an_admin_api(
    pytester: pytest.Pytester, server_without_admin_api: str
) -> None:
    pytester.makeini(STRICT_INI)
    pytester.makepyfile(
        """
        def test_needs_an_injection(windchill):
            windchill.micro_update("OR:wt.doc.WTDocument:1")
            raise AssertionError("not reached: the injection cannot happen")

        def test_plain_requests_still_run(windchill):
            assert not windchill.virtual_time
            assert windchill.session.get(windchill.service_root).status_code == 200
        """
    )

    result = pytester.runpytest("--windchill-url", server_without_admin_api)

    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        ["SKIPPED *needs the mock's admin API*has no mock admin API (/__mock/)*"]
    )


def test_the_summary_counts_what_a_standalone_mock_saw(
    pytester: pytest.Pytester, standalone_mock: str
) -> None:
    pytester.makepyfile(
        """
        def test_one_retry(windchill, windchill_client):
            doc = windchill.create_document()
            windchill.micro_update(doc, before_request=2)
            assert windchill_client.update(doc, {"Title": "x"}).status == "applied"
        """
    )

    result = pytester.runpytest("--windchill-url", standalone_mock, "-p", "no:randomly")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["mocks: 1, client requests: *, conflicts (409/412): 1 (*), PATCH retries: 1"]
    )


def test_xdist_workers_sharing_one_server_never_see_each_others_state(
    pytester: pytest.Pytester, standalone_mock: str
) -> None:
    """Four workers run conflicting tests at once against one server: each test gets a
    tenant of its own (fresh IDs, its own journal, its own interventions), and every tenant
    is deleted after its test."""
    pytester.makeini(STRICT_INI)
    pytester.makepyfile(
        """
        import json, os
        import pytest

        @pytest.mark.parametrize("n", range(24))
        def test_conflicting_updates(windchill, windchill_client, n, tmp_path_factory):
            assert windchill.tenant_id is not None
            doc = windchill.create_document(Name=f"Shared {n}")
            assert doc.endswith(":164057")  # a fresh repository: the first ID every time
            windchill.micro_update(doc, before_request=2)
            windchill.concurrent_edit(doc, {"Title": f"other {n}"}, before_request=3)
            result = windchill_client.update(doc, {"Description": f"mine {n}"})
            windchill.check_update(doc, {"Description": f"mine {n}"}, result)
            assert windchill.document(doc)["Description"] == f"mine {n}"
            assert windchill.document(doc)["Title"] == f"other {n}"
            # Only this test's doings are in its journal.
            assert {e.document for e in windchill.journal} == {doc}
            assert [e.process for e in windchill.journal if e.op == "create"] == ["setup"]
            assert windchill.journal[0].seq == 1  # a journal of its own from the start
            out = tmp_path_factory.getbasetemp().parent / f"tenant-{n}.json"
            out.write_text(json.dumps({
                "tenant": windchill.tenant_id,
                "worker": os.environ.get("PYTEST_XDIST_WORKER"),
                "root": windchill.service_root,
            }))
        """
    )

    result = pytester.runpytest_subprocess(
        "-n", "4", "--windchill-url", standalone_mock, "-p", "no:randomly"
    )

    result.assert_outcomes(passed=24)
    records = [json.loads(p.read_text()) for p in pytester.path.glob("**/tenant-*.json")]
    assert len(records) == 24
    assert len({r["tenant"] for r in records}) == 24  # a tenant per test
    assert len({r["worker"] for r in records}) > 1  # really run in parallel workers
    assert all(f"/(S({r['tenant']}))/Windchill/servlet/odata" in r["root"] for r in records)
    tenants = requests.get(f"{standalone_mock}/__mock/tenants", timeout=10).json()
    assert tenants["live"] == 0  # each deleted after its test
    assert tenants["created"] >= 24
