"""Each fixture of the plugin, as a user meets it in a test file."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.filterwarnings("error")


def test_windchill_service_root_ends_with_the_odata_path(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_root(windchill):
            assert windchill.service_root.endswith("/Windchill/servlet/odata")
            assert windchill.app is not None
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_windchill_session_reaches_the_mock_in_process_with_basic_auth(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import socket

        def test_session(windchill, monkeypatch):
            def no_sockets(*args, **kwargs):
                raise AssertionError("the in-process mock opened a socket")

            monkeypatch.setattr(socket.socket, "connect", no_sockets)
            doc = windchill.create_document(Name="Bracket")
            response = windchill.session.get(windchill.url(doc))
            assert response.status_code == 200
            assert response.json()["Name"] == "Bracket"
            assert windchill.session.auth == ("wcadmin", "wcadmin")

            windchill.session.auth = None
            assert windchill.session.get(windchill.url(doc)).status_code == 401
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_create_document_document_and_etag_show_the_truth_without_a_journal_entry(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_set_up(windchill):
            doc = windchill.create_document(Name="Bracket", Description="steel")
            assert windchill.document(doc)["Description"] == "steel"
            assert windchill.document(doc)["Version"] == "A.1"
            assert windchill.etag(doc) == '"v1.1708521800000"'
            # Set-up is recorded once, as what the document started as; no request counted.
            [setup] = windchill.journal
            assert (setup.type, setup.op, setup.process) == ("intervention", "create", "setup")
            assert setup.values["Description"] == "steel"
            assert windchill.metrics["requests"] == 0

            response = windchill.session.get(windchill.url(doc))
            assert response.headers["ETag"] == windchill.etag(doc)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_each_injection_changes_what_the_next_request_sees(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        import requests

        @pytest.fixture
        def doc(windchill):
            return windchill.create_document(Name="Bracket")

        def nonce(windchill):
            token = windchill.session.get(windchill.service_root + "/PTC/GetCSRFToken()")
            return token.json()["NonceValue"]

        def test_micro_update_makes_a_stale_etag_fail_with_409(windchill, doc):
            etag = windchill.etag(doc)
            windchill.micro_update(doc)
            response = windchill.session.patch(
                windchill.url(doc),
                json={"Description": "x"},
                headers={"If-Match": etag, "CSRF_NONCE": nonce(windchill)},
            )
            assert response.status_code == 409
            assert windchill.document(doc)["Version"] == "A.1"

        def test_concurrent_edit_makes_a_new_iteration(windchill, doc):
            windchill.concurrent_edit(doc, {"Description": "theirs"}, user="other")
            assert windchill.document(doc)["Description"] == "theirs"
            assert windchill.document(doc)["ModifiedBy"] == "other"
            assert windchill.etag(doc).startswith('"v2.')

        def test_lifecycle_change_keeps_the_iteration(windchill, doc):
            windchill.lifecycle_change(doc, "RELEASED")
            assert windchill.document(doc)["State"]["Value"] == "RELEASED"
            assert windchill.etag(doc).startswith('"v1.')

        def test_check_out_as_leaves_the_document_checked_out(windchill, doc):
            windchill.check_out_as(doc, "other")
            assert windchill.document(doc)["CheckoutState"] == "Checked out"

        def test_fault_answers_the_next_request_with_the_status(windchill, doc):
            windchill.fault(doc, 503, retry_after=7)
            response = windchill.session.get(windchill.url(doc))
            assert (response.status_code, response.headers["Retry-After"]) == (503, "7")
            assert windchill.session.get(windchill.url(doc)).status_code == 200

        def test_lose_response_applies_the_write_and_drops_the_answer(windchill, doc):
            windchill.lose_response(doc, before_request=2)
            etag = windchill.session.get(windchill.url(doc)).headers["ETag"]
            with pytest.raises(requests.ConnectionError):
                windchill.session.patch(
                    windchill.url(doc),
                    json={"Description": "mine"},
                    headers={"If-Match": etag, "CSRF_NONCE": nonce(windchill)},
                )
            assert windchill.document(doc)["Description"] == "mine"

        def test_an_injection_at_a_virtual_time_waits_for_it(windchill, doc):
            windchill.lifecycle_change(doc, "RELEASED", at=30)
            windchill.clock.advance(29)
            assert windchill.session.get(windchill.url(doc)).json()["State"]["Value"] == "INWORK"
            windchill.clock.advance(1)
            assert windchill.session.get(windchill.url(doc)).json()["State"]["Value"] == "RELEASED"
        """
    )
    pytester.runpytest().assert_outcomes(passed=7)


def test_journal_and_metrics_record_the_requests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_history(windchill):
            doc = windchill.create_document()
            windchill.session.get(windchill.url(doc))
            windchill.fault(doc, 503)
            windchill.session.get(windchill.url(doc))

            assert [(e.type, e.op, e.status) for e in windchill.journal] == [
                ("intervention", "create", None),  # the set-up
                ("invoke", "read", None),
                ("ok", "read", 200),
                ("invoke", "read", None),
                ("fail", "read", 503),
            ]
            assert windchill.metrics["requests"] == 2
            assert windchill.metrics["responses"] == {"200": 1, "503": 1}
            assert windchill.metrics["interventions"] == 1
            assert windchill.journal_jsonl().count("\\n") == 5
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_windchill_clock_moves_only_when_advanced(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from mock_server.core.clock import ClockError

        def test_clock(windchill):
            start = windchill.clock.now()
            assert start == 1708521800.0
            assert windchill.clock.now() == start
            assert windchill.clock.advance(12.5) == start + 12.5
            assert windchill.elapsed == 12.5
            with pytest.raises(ClockError, match="only moves forwards"):
                windchill.clock.advance(-1)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_windchill_server_serves_the_mock_on_a_loopback_port(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import re
        import requests

        def test_real_socket(windchill_server):
            root = windchill_server.service_root
            assert re.fullmatch(r"http://127\\.0\\.0\\.1:\\d+/Windchill/servlet/odata", root)
            doc = windchill_server.create_document(Name="Bracket")
            with requests.Session() as plain:
                response = plain.get(windchill_server.url(doc), auth=("wcadmin", "wcadmin"))
            assert response.status_code == 200
            assert response.json()["Name"] == "Bracket"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_windchill_server_is_reset_between_tests_of_one_session(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        seen = {}

        # The pending intervention is left behind on purpose: the next test must not see it.
        @pytest.mark.windchill(suppress_health_check=["unfired_interventions"])
        def test_first(windchill_server):
            seen["root"] = windchill_server.service_root
            seen["doc"] = windchill_server.create_document(Name="left over")
            windchill_server.session.get(windchill_server.url(seen["doc"]))
            windchill_server.micro_update(seen["doc"], at=1000)

        def test_second(windchill_server):
            assert windchill_server.service_root == seen["root"]
            response = windchill_server.session.get(windchill_server.url(seen["doc"]))
            assert response.status_code == 404
            assert windchill_server.metrics["interventions"] == 0
            assert [e.status for e in windchill_server.journal] == [None, 404]
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_windchill_client_is_a_document_updater_sleeping_in_virtual_time(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        from pytest_windchill.client.updater import DocumentUpdater

        def test_retry_after_409(windchill, windchill_client):
            assert isinstance(windchill_client, DocumentUpdater)
            doc = windchill.create_document()
            windchill.micro_update(doc, before_request=2)
            start = windchill.clock.now()

            result = windchill_client.update(doc, {"Description": "mine"})

            assert result.status == "applied"
            assert result.conflicts == [409]
            # Only a virtual sleep moves the mock's clock: the backoff did not really wait.
            assert result.delays and windchill.clock.now() - start >= sum(result.delays)
            assert windchill.document(doc)["Description"] == "mine"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_overriding_windchill_config_in_a_conftest_changes_the_mock(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def windchill_config(windchill_config):
            return windchill_config.updated({"profile": "odata", "csrf": False})
        """
    )
    pytester.makepyfile(
        """
        def test_odata_without_csrf(windchill):
            assert (windchill.config.profile, windchill.config.csrf) == ("odata", False)
            doc = windchill.create_document()
            response = windchill.session.get(windchill.url(doc))
            assert response.headers["ETag"].startswith('W/"')

            unconditional = windchill.session.patch(windchill.url(doc), json={"Title": "x"})
            assert unconditional.status_code == 428

            if_match = {"If-Match": response.headers["ETag"]}
            conditional = windchill.session.patch(
                windchill.url(doc), json={"Title": "x"}, headers=if_match
            )
            assert conditional.status_code == 204
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_windchill_live_server_is_one_server_for_the_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from mock_server.server import LiveServer

        servers = []

        def test_first(windchill_live_server, windchill_server):
            assert isinstance(windchill_live_server, LiveServer)
            assert windchill_live_server.url.startswith("http://127.0.0.1:")
            assert windchill_server.service_root.startswith(windchill_live_server.url + "/")
            servers.append(windchill_live_server)

        def test_second(windchill_live_server):
            assert windchill_live_server is servers[0]
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)
