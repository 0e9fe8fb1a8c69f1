"""pytest-xdist: every worker gets its own mocks, and ``windchill_server`` its own socket."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.filterwarnings("error")


def test_a_suite_using_both_fixtures_passes_on_two_workers(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nfilterwarnings = error\naddopts = --strict-markers\n")
    pytester.makepyfile(
        """
        import os
        import time

        import pytest

        def test_worker_is_named():
            assert os.environ["PYTEST_XDIST_WORKER"] in {"gw0", "gw1"}

        @pytest.mark.parametrize("name", ["A", "B"])
        def test_in_process(windchill, name):
            doc = windchill.create_document(Name=name)
            windchill.micro_update(doc)
            assert windchill.etag(doc) != '"v1.1708521800000"'
            time.sleep(30)
            assert windchill.elapsed == 30

        @pytest.mark.parametrize("name", ["C", "D", "E"])
        def test_on_a_socket(windchill_server, name):
            doc = windchill_server.create_document(Name=name)
            assert doc.endswith(":164057")  # reset per test: the first ID every time
            response = windchill_server.session.get(windchill_server.url(doc))
            assert response.json()["Name"] == name
        """
    )

    # pytest-benchmark, when installed, warns that xdist disables it: not our concern here.
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:benchmark")

    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["windchill: profile=thread seed=0 *", "*2 workers*"])
    # The workers' counts reach the controller's terminal summary: five mocks, one request.
    result.stdout.fnmatch_lines(["*- windchill -*", "mocks: 5, client requests: 3, *"])


def test_the_terminal_summary_counts_conflicts_and_outcomes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_one_conflict(windchill, windchill_client):
            doc = windchill.create_document(Name="Pump")
            windchill.micro_update(doc, before_request=2)
            assert windchill_client.update(doc, {"Title": "x"}).status == "applied"
        """
    )

    result = pytester.runpytest("-p", "no:randomly")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*- windchill -*",
            "mocks: 1, client requests: 4, conflicts (409/412): 1 (25.0% of requests), "
            "PATCH retries: 1",
            "update outcomes: applied 1 (merges 0, reviews 0, failures 0)",
        ]
    )
