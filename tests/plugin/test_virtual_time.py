"""Virtual time: ``time.sleep`` in the test advances the mock's clock; freezegun still works."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.filterwarnings("error")


def test_sleep_in_a_windchill_test_returns_at_once_and_advances_the_clock(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import time

        def test_sleep(windchill):
            start, wall = windchill.clock.now(), time.perf_counter()
            time.sleep(100)
            assert windchill.clock.now() == start + 100
            assert time.perf_counter() - wall < 50  # a real sleep would take 100 s
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_sleep_in_a_windchill_server_test_advances_the_servers_clock(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import time

        def test_sleep(windchill_server):
            start = windchill_server.clock.now()
            time.sleep(60)
            assert windchill_server.clock.now() == start + 60
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_sleep_on_another_thread_is_real_and_leaves_the_clock_alone(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import threading
        import time

        def test_thread_sleeps_for_real(windchill):
            start = windchill.clock.now()
            waited = []

            def worker():
                wall = time.perf_counter()
                time.sleep(0.02)
                waited.append(time.perf_counter() - wall)

            thread = threading.Thread(target=worker)
            thread.start()
            thread.join()
            assert waited[0] >= 0.02
            assert windchill.clock.now() == start
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_sleep_is_real_again_after_a_windchill_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import time

        def test_uses_the_mock(windchill):
            time.sleep(5)

        def test_does_not(request):
            wall = time.perf_counter()
            time.sleep(0.02)
            assert time.perf_counter() - wall >= 0.02
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_freezegun_moves_last_modified_and_etag_of_a_system_clock_mock(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import freezegun
        import pytest

        @pytest.mark.windchill(clock="system")
        def test_frozen(windchill):
            with freezegun.freeze_time("2030-01-01 00:00:00") as frozen:
                doc = windchill.create_document()
                assert windchill.document(doc)["LastModified"] == "2030-01-01T00:00:00+00:00"
                assert windchill.etag(doc) == '"v1.1893456000000"'

                frozen.tick(5)
                windchill.micro_update(doc)
                assert windchill.document(doc)["LastModified"] == "2030-01-01T00:00:05+00:00"
                response = windchill.session.get(windchill.url(doc))
                assert response.headers["ETag"] == '"v1.1893456005000"'
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_advancing_a_system_clock_mock_says_to_use_freezegun(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.windchill(clock="system")
        def test_advance(windchill):
            assert not windchill.virtual_time
            windchill.clock.advance(1)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ClockError: this mock runs on the system clock*freezegun*"])
