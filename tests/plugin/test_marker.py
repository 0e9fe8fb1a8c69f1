"""``@pytest.mark.windchill(...)``: per-test configuration on top of the options."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.filterwarnings("error")


def test_the_marker_configures_profile_seed_rates_and_csrf(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.windchill(profile="odata", seed=5, rates={"indexer": 1.0}, csrf=False)
        def test_configured(windchill):
            assert windchill.config.profile == "odata"
            assert windchill.config.seed == 5
            assert windchill.config.rates == {"indexer": 1.0}
            doc = windchill.create_document()
            etag = windchill.session.get(windchill.url(doc)).headers["ETag"]
            assert etag.startswith('W/"')
            response = windchill.session.patch(
                windchill.url(doc), json={"Title": "no nonce"}, headers={"If-Match": etag}
            )
            assert response.status_code == 204
            windchill.clock.advance(1)  # let the indexer rate act (else: a health warning)

        def test_unmarked(windchill):
            assert (windchill.config.profile, windchill.config.csrf) == ("thread", True)
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_the_marker_on_a_module_applies_to_every_test_in_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.windchill(profile="wrs")

        def test_one(windchill):
            assert windchill.config.profile == "wrs"

        class TestMore:
            def test_two(self, windchill_server):
                doc = windchill_server.create_document()
                response = windchill_server.session.get(windchill_server.url(doc))
                assert "ETag" not in response.headers
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_the_marker_merges_its_rates_with_the_option_rates(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.windchill(rates={"cache_sync": 0.5})
        def test_rates(windchill):
            assert windchill.config.rates == {"indexer": 2.0, "cache_sync": 0.5}
            windchill.clock.advance(1)
        """
    )
    pytester.runpytest("--windchill-rate", "indexer=2").assert_outcomes(passed=1)


def test_the_marker_is_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.windchill(seed=1)
        def test_marked(windchill):
            pass
        """
    )
    result = pytester.runpytest("--strict-markers", "-W", "error::pytest.PytestUnknownMarkWarning")
    result.assert_outcomes(passed=1, warnings=0)

    listing = pytester.runpytest("--markers")
    listing.stdout.fnmatch_lines(["@pytest.mark.windchill(profile=None, seed=None, rates=None*"])


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ('colour="red"', "*unknown configuration key(s)*'colour'*"),
        ('profile="nope"', "*unknown profile 'nope'*"),
        ('rates={"bogus": 1}', "*unknown source(s) in rates:*'bogus'*"),
        ('clock="sundial"', "*clock=...) must be one of*virtual*system*"),
        ('"odata"', "*@pytest.mark.windchill takes keyword arguments only*"),
    ],
)
def test_a_bad_marker_is_a_clear_error_for_that_test(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.windchill({marker})
        def test_bad(windchill):
            pass

        def test_good(windchill):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([message])
