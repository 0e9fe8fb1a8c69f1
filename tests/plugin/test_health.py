"""A green run must mean something: each way a windchill test could pass while exercising
nothing fails loudly (or warns) and says what to do instead."""

from __future__ import annotations

import http.server
import threading
from typing import Any

import pytest

pytestmark = pytest.mark.filterwarnings("error")

STRICT_INI = "[pytest]\nfilterwarnings = error\naddopts = -p no:randomly\n"

# A client that never merges: on a refusal it re-reads and sends its changes again.
# The naive client addresses the document by its VersionID (the latest iteration), so that
# its one bug is the blind retry.
NAIVE_CLIENT = """
def naive_update(mock, doc, changes):
    session = mock.session
    key = mock.document(doc)["VersionID"]
    nonce = session.get(mock.service_root + "/PTC/GetCSRFToken()").json()["NonceValue"]
    for _ in range(2):
        etag = session.get(mock.url(key)).headers["ETag"]
        headers = {"CSRF_NONCE": nonce, "If-Match": etag}
        if session.patch(mock.url(key), json=changes, headers=headers).ok:
            return "applied"
    return "failed"
"""


# ---------------------------------------------------------------- an external server


def test_an_unreachable_windchill_url_is_a_usage_error_not_a_skip(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_remote(windchill):\n    pass\n")

    result = pytester.runpytest("--windchill-url", "http://127.0.0.1:1")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*windchill url from command line --windchill-url: cannot reach http://127.0.0.1:1*"]
    )
    assert "skipped" not in result.stdout.str()


def test_a_reachable_url_without_the_admin_api_still_runs(
    pytester: pytest.Pytester, server_without_admin_api: str
) -> None:
    pytester.makepyfile(
        "def test_remote(windchill):\n"
        "    assert windchill.session.get(windchill.service_root).status_code == 200\n"
    )

    pytester.runpytest("--windchill-url", server_without_admin_api).assert_outcomes(passed=1)


def test_xdist_workers_may_share_a_url_without_the_admin_api(
    pytester: pytest.Pytester, server_without_admin_api: str
) -> None:
    # A server without the admin API (a real Windchill) is never reset, so workers sharing
    # it cannot reset each other's state: nothing to refuse.
    pytester.makepyfile(
        "def test_remote(windchill):\n"
        "    assert windchill.tenant_id is None\n"
        "    assert windchill.session.get(windchill.service_root).status_code == 200\n"
    )

    result = pytester.runpytest_subprocess("-n", "2", "--windchill-url", server_without_admin_api)

    result.assert_outcomes(passed=1)


def test_the_live_server_fixture_refuses_to_sit_beside_a_windchill_url(
    pytester: pytest.Pytester, server_without_admin_api: str
) -> None:
    pytester.makepyfile("def test_live(windchill_live_server):\n    pass\n")

    result = pytester.runpytest("--windchill-url", server_without_admin_api)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*windchill_live_server starts a local mock*Use windchill_server (it follows the URL)*"]
    )


# ---------------------------------------------------------------- the marker


def test_a_marker_on_a_test_without_windchill_fixtures_warns(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.windchill(profile="odata")
        def test_plain():
            pass

        @pytest.mark.windchill(profile="odata")
        def test_with_fixture(windchill_config):
            assert windchill_config.profile == "odata"
        """
    )

    result = pytester.runpytest("-W", "default")

    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        ["*WindchillWarning: @pytest.mark.windchill on test_plain had no effect*"]
    )

    strict = pytester.runpytest("-ra", "-W", "error::pytest_windchill.health.WindchillWarning")

    strict.assert_outcomes(passed=2, errors=1)  # test_plain errors at teardown; both ran
    strict.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_plain*", "*WindchillWarning*had no effect*"]
    )


def test_the_marker_reaches_factory_scenarios(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.windchill(profile="odata")
        def test_marked(windchill_factory):
            with windchill_factory.scenario() as mock:
                assert mock.config.profile == "odata"
            with windchill_factory.scenario(profile="wrs") as mock:
                assert mock.config.profile == "wrs"  # the scenario's own keyword wins

        def test_unmarked(windchill_factory):
            with windchill_factory.scenario() as mock:
                assert mock.config.profile == "thread"
        """
    )

    pytester.runpytest().assert_outcomes(passed=2)


def test_the_marker_error_lists_every_known_key(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.windchill(colour="red")
        def test_bad(windchill):
            pass
        """
    )

    result = pytester.runpytest()

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*unknown configuration key(s) [[]'colour'[]]*'clock'*"])
    result.stdout.fnmatch_lines(["*'suppress_health_check'*"])


# ---------------------------------------------------------------- untargeted documents


def test_judging_a_document_the_schedule_never_targets_is_an_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        NAIVE_CLIENT
        + """
import pytest
from pytest_windchill.health import WindchillUsageError
from pytest_windchill.schedules import concurrent_edit

@pytest.mark.windchill(suppress_health_check=["unfired_interventions"])
def test_own_document(windchill_factory):
    schedule = [concurrent_edit(before_request=2, changes={"Title": "theirs"})]
    with windchill_factory.scenario(schedule) as mock:
        mine = mock.create_document(Name="Mine")
        outcome = naive_update(mock, mine, {"Title": "ours"})
        with pytest.raises(WindchillUsageError) as caught:
            mock.check_update(mine, {"Title": "ours"}, outcome)
    message = str(caught.value)
    assert "never targets this document" in message
    assert "documents={...properties...}" in message
"""
    )

    pytester.runpytest().assert_outcomes(passed=1)


def test_a_scenario_document_an_example_misses_is_left_to_the_health_check(
    pytester: pytest.Pytester,
) -> None:
    # Generated multi-document schedules miss the judged document in some examples: normal
    # for one example, and counted by the health check across the test.
    pytester.makepyfile(
        NAIVE_CLIENT
        + """
from pytest_windchill.schedules import micro_update

def test_one_example(windchill_factory):
    schedule = [micro_update(before_request=1, document=1)]
    with windchill_factory.scenario(schedule, documents=2) as mock:
        outcome = naive_update(mock, mock.doc, {"Title": "ours"})
        mock.check_update(mock.doc, {"Title": "ours"}, outcome)
"""
    )

    result = pytester.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*unfired_interventions*", "*micro_update(before_request=1) on *164059: it targets*"]
    )


def test_with_no_scenario_documents_the_schedule_follows_the_first_one_created(
    pytester: pytest.Pytester,
) -> None:
    # The trap: the naive client passes on a document the schedule never touches. With
    # documents=0 the schedule follows the test's own document, and the client is caught.
    pytester.makeini(STRICT_INI)
    pytester.makepyfile(
        NAIVE_CLIENT
        + """
import pytest
from pytest_windchill.checks import ConcurrencyViolation
from pytest_windchill.schedules import concurrent_edit

def test_follows(windchill_factory):
    schedule = [concurrent_edit(before_request=2, changes={"Title": "theirs"})]
    with windchill_factory.scenario(schedule, documents=0) as mock:
        mine = mock.create_document(Name="Mine")
        assert mock.doc == mine
        outcome = naive_update(mock, mine, {"Title": "ours"})
        with pytest.raises(ConcurrencyViolation) as caught:
            mock.check_update(mine, {"Title": "ours"}, outcome)
    assert caught.value.property == "lost-update"
"""
    )

    pytester.runpytest().assert_outcomes(passed=1)


def test_scenario_misuse_gets_messages_that_say_what_to_do(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest
from pytest_windchill.health import WindchillUsageError
from pytest_windchill.schedules import micro_update

def test_no_document_yet(windchill_factory):
    with windchill_factory.scenario(documents=0) as mock:
        with pytest.raises(WindchillUsageError, match="create one with mock.create_document"):
            mock.doc

def test_a_plain_list_is_a_schedule(windchill_factory):
    with windchill_factory.scenario([micro_update(before_request=1)]) as mock:
        assert len(mock.schedule) == 1
        mock.session.get(mock.url(mock.doc))
        assert [e.op for e in mock.journal if e.type == "background"] == ["micro_update"]

def test_a_list_of_something_else_is_refused(windchill_factory):
    with pytest.raises(TypeError, match="a schedule is a list of steps"):
        with windchill_factory.scenario(["micro_update"]):
            pass

def test_a_step_whose_document_never_appears(windchill_factory):
    with pytest.raises(WindchillUsageError, match=r"never found their document.*had 1"):
        with windchill_factory.scenario([micro_update(document=1)], documents=0) as mock:
            mock.create_document()
"""
    )

    pytester.runpytest().assert_outcomes(passed=4)


# ---------------------------------------------------------------- unfired interventions

UNFIRED_PROPERTY_TEST = """
import pytest
from hypothesis import given, settings, strategies as st
from pytest_windchill.schedules import concurrent_edit

{marker}
@settings(max_examples=20, database=None)
@given(trigger=st.integers({low}, {high}))
def test_property(windchill_factory, trigger):
    schedule = [concurrent_edit(before_request=trigger, changes={{"Description": "theirs"}})]
    with windchill_factory.scenario(schedule) as mock:
        outcome = naive_update(mock, mock.doc, {{"Title": "ours"}})
        mock.check_update(mock.doc, {{"Title": "ours"}}, outcome)
"""


def test_a_property_test_whose_interventions_never_fire_fails_its_health_check(
    pytester: pytest.Pytester,
) -> None:
    # The naive client makes 2 requests on the document: request 5 and later never come.
    pytester.makepyfile(NAIVE_CLIENT + UNFIRED_PROPERTY_TEST.format(marker="", low=5, high=9))

    result = pytester.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*FailedHealthCheck: [[]windchill health check: unfired_interventions[]] 5 "
            "example(s) ran with interventions injected, but in only 0 did one interfere*",
            "*concurrent_edit(before_request=*) on OR:wt.doc.WTDocument:164057: still pending: "
            "the document got only 2 client request(s)*",
            "*To fix it: trigger within the requests your client makes*",
            "*suppress_health_check=[[]HealthCheck.unfired_interventions[]]*",
        ]
    )


def test_the_unfired_check_can_be_suppressed_explicitly(pytester: pytest.Pytester) -> None:
    marker = (
        "@pytest.mark.windchill(suppress_health_check=['unfired_interventions'])\n"
        "@pytest.mark.usefixtures('windchill_factory')"
    )
    pytester.makepyfile(NAIVE_CLIENT + UNFIRED_PROPERTY_TEST.format(marker=marker, low=5, high=9))

    pytester.runpytest().assert_outcomes(passed=1)


def test_interventions_that_fire_in_enough_examples_pass_the_health_check(
    pytester: pytest.Pytester,
) -> None:
    # Triggers 1..9: request 1 and 2 exist, so some examples fire. The edit lands on
    # Description, which the naive client does not write: nothing is lost, all pass.
    pytester.makepyfile(NAIVE_CLIENT + UNFIRED_PROPERTY_TEST.format(marker="", low=1, high=9))

    pytester.runpytest().assert_outcomes(passed=1)


def test_the_threshold_is_a_tenth_of_the_examples_with_interventions() -> None:
    from pytest_windchill.health import MIN_FIRED_FRACTION, HealthCheck, TestHealth

    health = TestHealth()
    for _ in range(29):
        health.record_example(False, ["x: pending"])
    assert health.with_interventions == 29
    assert MIN_FIRED_FRACTION == 0.1
    assert health.required == 3
    health.record_example(True)
    health.record_example(True)
    assert health.failure() is not None  # 2 of 31 met one: fewer than 4
    health.record_example(True)
    health.record_example(True)
    assert health.required == 4
    assert health.failure() is None  # 4 of 33
    suppressed = TestHealth(frozenset({HealthCheck.unfired_interventions}))
    suppressed.record_example(False)
    assert suppressed.failure() is None


def test_a_test_without_interventions_has_nothing_to_fire(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        NAIVE_CLIENT
        + """
def test_quiet(windchill_factory):
    with windchill_factory.scenario() as mock:
        outcome = naive_update(mock, mock.doc, {"Title": "ours"})
        mock.check_update(mock.doc, {"Title": "ours"}, outcome)
"""
    )

    pytester.runpytest().assert_outcomes(passed=1)


def test_interventions_on_another_document_do_not_count_as_fired(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        NAIVE_CLIENT
        + """
def test_elsewhere(windchill):
    mine = windchill.create_document(Name="Mine")
    other = windchill.create_document(Name="Other")
    windchill.concurrent_edit(other, {"Title": "theirs"}, before_request=1)
    outcome = naive_update(windchill, mine, {"Title": "ours"})
    windchill.check_update(mine, {"Title": "ours"}, outcome)
"""
    )

    result = pytester.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*concurrent_edit(before_request=1) on OR:*164059: it targets OR:*164059, not the "
         "judged document OR:*164057*"]
    )  # fmt: skip


def test_a_violation_report_says_when_no_intervention_fired() -> None:
    from mock_server.config import MockConfig
    from pytest_windchill.checks import ConcurrencyViolation
    from pytest_windchill.scenarios import WindchillFactory
    from pytest_windchill.schedules import micro_update

    factory = WindchillFactory(MockConfig)
    with factory.scenario([micro_update(at=30)]) as mock:
        # A PATCH without If-Match on a document nobody touched: unconditional, and reported
        # as a failure although it was applied.
        session = mock.session
        nonce = session.get(f"{mock.service_root}/PTC/GetCSRFToken()").json()["NonceValue"]
        assert session.patch(
            mock.url(mock.doc), json={"Title": "x"}, headers={"CSRF_NONCE": nonce}
        ).ok
        with pytest.raises(ConcurrencyViolation) as caught:
            mock.check_update(mock.doc, {"Title": "x"}, "applied")
    report = str(caught.value)
    assert caught.value.property == "unconditional-write"
    assert (
        "Note: none of the 1 intervention(s) injected interfered with this update of "
        "OR:wt.doc.WTDocument:164057" in report
    )
    pending = "still pending: virtual time reached only t=0s"
    assert f"micro_update(at=30) on {mock.doc}: {pending}" in report


# ---------------------------------------------------------------- idle background


def test_rates_on_a_virtual_clock_that_never_moves_warn(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.windchill(rates={"indexer": 5.0})
        def test_quick_updates(windchill, windchill_client):
            doc = windchill.create_document()
            for i in range(20):
                assert windchill_client.update(doc, {"Title": f"t{i}"}).status == "applied"
            assert windchill.metrics["background"] == {}

        @pytest.mark.windchill(rates={"indexer": 5.0})
        def test_time_moves(windchill):
            doc = windchill.create_document()
            windchill.clock.advance(2)
            windchill.session.get(windchill.url(doc))
            assert windchill.metrics["background"]["indexer"] > 0

        @pytest.mark.windchill(rates={"indexer": 5.0}, suppress_health_check=["idle_background"])
        def test_suppressed(windchill):
            pass
        """
    )

    result = pytester.runpytest("-W", "default")

    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*test_quick_updates*",
            "*WindchillWarning: [[]windchill health check: idle_background[]] background rates "
            "(indexer=5/s) were set for this test, but virtual time never moved in its 1 mock*",
        ]
    )


def test_idle_background_in_scenarios_warns_once_per_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_scenarios(windchill_factory):
            for _ in range(3):
                with windchill_factory.scenario(rates={"cache_sync": 1.0}) as mock:
                    mock.session.get(mock.url(mock.doc))
        """
    )

    result = pytester.runpytest("-W", "default")

    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*virtual time never moved in its 3 mock(s)*"])


# ---------------------------------------------------------------- the terminal summary


def test_the_summary_counts_retries_within_an_update_not_separate_updates(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_twenty_updates(windchill, windchill_client):
            doc = windchill.create_document()
            for i in range(20):
                assert windchill_client.update(doc, {"Title": f"t{i}"}).status == "applied"

        def test_one_retry(windchill, windchill_client):
            doc = windchill.create_document()
            windchill.micro_update(doc, before_request=2)
            result = windchill_client.update(doc, {"Title": "x"})
            assert (result.status, result.conflicts) == ("applied", [409])
        """
    )

    result = pytester.runpytest()

    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["mocks: 2, client requests: *, conflicts (409/412): 1 (*), PATCH retries: 1"]
    )


# ---------------------------------------------------------------- what counts as interference


def test_an_example_counts_once_however_many_updates_it_judges(pytester: pytest.Pytester) -> None:
    # A batch: eleven documents, one edited by another user; every update judged.
    pytester.makepyfile(
        NAIVE_CLIENT
        + """
def test_batch(windchill):
    docs = [windchill.create_document(Name=f"D{i}") for i in range(11)]
    windchill.concurrent_edit(docs[0], {"Description": "theirs"}, before_request=2)
    for doc in docs:
        outcome = naive_update(windchill, doc, {"Title": "ours"})
        windchill.check_update(doc, {"Title": "ours"}, outcome)
"""
    )

    pytester.runpytest().assert_outcomes(passed=1)


def test_a_change_before_the_clients_first_read_does_not_count(pytester: pytest.Pytester) -> None:
    # The edit lands before the GET: the client reads it and meets no conflict at all.
    pytester.makepyfile(
        NAIVE_CLIENT
        + """
from pytest_windchill.schedules import concurrent_edit

def test_early(windchill_factory):
    for _ in range(3):
        schedule = [concurrent_edit(before_request=1, changes={"Title": "theirs"})]
        with windchill_factory.scenario(schedule) as mock:
            outcome = naive_update(mock, mock.doc, {"Title": "ours"})
            mock.check_update(mock.doc, {"Title": "ours"}, outcome)
"""
    )

    result = pytester.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*concurrent_edit on OR:*164057 at t=0s: applied before the client's first request*"]
    )


def test_a_check_out_set_up_before_the_client_came_counts(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        NAIVE_CLIENT
        + """
from pytest_windchill.schedules import check_out_as

def test_locked(windchill_factory):
    with windchill_factory.scenario([check_out_as()]) as mock:
        session = mock.session
        nonce = session.get(mock.service_root + "/PTC/GetCSRFToken()").json()["NonceValue"]
        etag = session.get(mock.url(mock.doc)).headers["ETag"]
        headers = {"CSRF_NONCE": nonce, "If-Match": etag}
        response = session.patch(mock.url(mock.doc), json={"Title": "ours"}, headers=headers)
        assert response.status_code == 409  # checked out by another user: give up
        mock.check_update(mock.doc, {"Title": "ours"}, "failed")
"""
    )

    pytester.runpytest().assert_outcomes(passed=1)


def test_interventions_that_fire_without_any_judgement_still_count(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_unjudged(windchill, windchill_client):
            doc = windchill.create_document()
            windchill.concurrent_edit(doc, {"Title": "theirs"}, before_request=5)
            assert windchill_client.update(doc, {"Description": "ours"}).ok

        def test_unjudged_but_fired(windchill, windchill_client):
            doc = windchill.create_document()
            windchill.micro_update(doc, before_request=2)
            assert windchill_client.update(doc, {"Description": "ours"}).ok
        """
    )

    result = pytester.runpytest()

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*_ test_unjudged _*", "*FailedHealthCheck*", "*concurrent_edit(before_request=5)*"]
    )  # fmt: skip


def test_xfail_does_not_hide_a_failed_health_check(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(NAIVE_CLIENT + XFAIL_TEST)

    result = pytester.runpytest("-ra")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*FailedHealthCheck*", "FAILED *test_known_bug*"])


XFAIL_TEST = """
import pytest
from pytest_windchill.schedules import concurrent_edit

@pytest.mark.xfail(strict=True, reason="a known bug")
def test_known_bug(windchill_factory):
    schedule = [concurrent_edit(before_request=9, changes={"Title": "x"})]
    with windchill_factory.scenario(schedule) as mock:
        outcome = naive_update(mock, mock.doc, {"Title": "ours"})
        mock.check_update(mock.doc, {"Title": "ours"}, outcome)
"""


# ---------------------------------------------------------------- idle background, refined


def test_idle_background_is_quiet_when_some_mock_of_the_test_moved_time(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_some_move(windchill_factory):
            for seconds in (0, 0, 3):
                with windchill_factory.scenario(rates={"indexer": 1.0}) as mock:
                    mock.clock.advance(seconds)
        """
    )

    pytester.runpytest().assert_outcomes(passed=1, warnings=0)


def test_session_wide_rates_are_no_test_s_own_choice(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_quick(windchill, windchill_factory):
            windchill.create_document()
            with windchill_factory.scenario():
                pass
        """
    )

    result = pytester.runpytest("--windchill-rate", "indexer=0.5")

    result.assert_outcomes(passed=1, warnings=0)


# ---------------------------------------------------------------- markers, refined


def test_a_marker_read_through_getfixturevalue_is_not_stray(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.windchill(profile="odata")

        def test_helper_without_the_mock():
            pass

        @pytest.mark.windchill(profile="odata", seed=3)
        def test_dynamic(request):
            mock = request.getfixturevalue("windchill")
            assert (mock.config.profile, mock.config.seed) == ("odata", 3)
        """
    )

    pytester.runpytest("-W", "error::pytest_windchill.health.WindchillWarning").assert_outcomes(
        passed=2
    )


# ---------------------------------------------------------------- the URL probe, refined


def test_refused_credentials_are_a_usage_error_not_skips(
    pytester: pytest.Pytester, serve_handler: Any
) -> None:
    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="Windchill"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    pytester.makepyfile("def test_remote(windchill):\n    pass\n")

    result = pytester.runpytest("--windchill-url", serve_handler(Refuse))

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*refused the credentials of user 'wcadmin' (HTTP 401)*"])


def test_the_probe_reads_no_body(pytester: pytest.Pytester, serve_handler: Any) -> None:
    # A server that sends its headers, then never the body it announced.
    release = threading.Event()

    class Trickle(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            self.wfile.flush()
            release.wait(30)

        def log_message(self, format: str, *args: object) -> None:
            pass

    pytester.makepyfile("def test_nothing():\n    pass\n")
    try:
        result = pytester.runpytest("--windchill-url", serve_handler(Trickle))
    finally:
        release.set()

    result.assert_outcomes(passed=1)


def test_the_factory_refuses_to_pretend_it_runs_against_a_windchill_url(
    pytester: pytest.Pytester, server_without_admin_api: str
) -> None:
    pytester.makepyfile("def test_property(windchill_factory):\n    pass\n")

    result = pytester.runpytest("--windchill-url", server_without_admin_api)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*windchill_factory runs its scenarios in this process*"])


def test_a_factory_test_that_opens_no_scenario_hears_why_its_marker_did_nothing(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.windchill(profile="odata")
        def test_x(windchill_factory):
            pass
        """
    )

    result = pytester.runpytest("-W", "default")

    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*no mock of this test read it*opens a scenario*"])
