"""Options: each flag, its ini twin and its environment variable, resolved in one place.

Precedence is ``@pytest.mark.windchill`` > command line > environment > ini > default, and a
bad value is a usage error that names where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

pytestmark = pytest.mark.filterwarnings("error")

ASSERT_CONFIG = """
def test_config(windchill):
    assert windchill.config.{name} == {expected!r}
    windchill.clock.advance(1)  # let background rates act (else: an idle-background warning)
"""


@dataclass(frozen=True)
class Twin:
    """One setting given one way: flag arguments, an ini line or an environment variable."""

    name: str
    cli: tuple[str, ...]
    ini: str
    env: str
    expected: object
    header: str


TWINS = [
    Twin("profile", ("--windchill-profile", "odata"), "windchill_profile = odata",
         "odata", "odata", "windchill: profile=odata seed=0 *"),
    Twin("seed", ("--windchill-seed", "7"), "windchill_seed = 7",
         "7", 7, "windchill: profile=thread seed=7 *"),
    Twin("rates", ("--windchill-rate", "indexer=2", "--windchill-rate", "cache_sync=0.5"),
         "windchill_rates =\n    indexer=2\n    cache_sync=0.5",
         "indexer=2,cache_sync=0.5", {"indexer": 2.0, "cache_sync": 0.5},
         "windchill: * rates=cache_sync=0.5, indexer=2.0 *"),
]  # fmt: skip
ENV = {"profile": "WINDCHILL_PROFILE", "seed": "WINDCHILL_SEED", "rates": "WINDCHILL_RATES"}


@pytest.mark.parametrize("twin", TWINS, ids=lambda twin: twin.name)
@pytest.mark.parametrize("source", ["cli", "ini", "env"])
def test_each_option_is_read_from_its_flag_its_ini_key_and_its_env_variable(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, twin: Twin, source: str
) -> None:
    pytester.makepyfile(ASSERT_CONFIG.format(name=twin.name, expected=twin.expected))
    args: tuple[str, ...] = ()
    if source == "cli":
        args = twin.cli
    elif source == "ini":
        pytester.makeini(f"[pytest]\n{twin.ini}\n")
    else:
        monkeypatch.setenv(ENV[twin.name], twin.env)

    result = pytester.runpytest(*args)

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([twin.header])


def test_the_header_prints_profile_and_seed_by_default(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(
        ["windchill: profile=thread seed=0 rates=none target=in-process mock"]
    )


def test_the_profile_option_changes_what_the_mock_answers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_weak_etags(windchill):
            doc = windchill.create_document()
            assert windchill.session.get(windchill.url(doc)).headers["ETag"].startswith('W/"')
        """
    )
    pytester.runpytest("--windchill-profile", "odata").assert_outcomes(passed=1)


def test_the_rate_option_starts_background_micro_updates(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_background(windchill):
            doc = windchill.create_document()
            windchill.clock.advance(30)
            windchill.session.get(windchill.url(doc))
            assert windchill.metrics["background"]["indexer"] > 0
            assert "cache_sync" not in windchill.metrics["background"]
        """
    )
    pytester.runpytest("--windchill-rate", "indexer=1").assert_outcomes(passed=1)


def test_the_seed_option_makes_background_activity_repeatable(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_background(windchill):
            doc = windchill.create_document()
            windchill.clock.advance(30)
            print("etag after 30s:", windchill.etag(doc))
        """
    )

    def etag(seed: str) -> str:
        result = pytester.runpytest("-s", "--windchill-rate", "indexer=1", "--windchill-seed", seed)
        result.assert_outcomes(passed=1)
        [line] = [line for line in result.outlines if "etag after 30s:" in line]
        return line.split("etag after 30s:")[1].strip(" .")

    assert etag("1") == etag("1")
    assert etag("1") != etag("2")


@pytest.mark.parametrize("source", ["cli", "ini", "env"])
def test_the_url_option_points_the_fixtures_at_an_external_server(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    server_without_admin_api: str,
) -> None:
    # A plain HTTP server: the fixture is built, the admin API is absent.
    url = server_without_admin_api
    pytester.makepyfile(
        f"""
        def test_remote(windchill):
            assert windchill.service_root == "{url}/Windchill/servlet/odata"
            assert windchill.app is None
        """
    )
    args: tuple[str, ...] = ()
    if source == "cli":
        args = ("--windchill-url", url)
    elif source == "ini":
        pytester.makeini(f"[pytest]\nwindchill_url = {url}\n")
    else:
        monkeypatch.setenv("WINDCHILL_URL", url)

    result = pytester.runpytest(*args)

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"windchill: * target={url}"])


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        (("ini", "env", "cli", "marker"), 4),
        (("ini", "env", "cli"), 3),
        (("ini", "env"), 2),
        (("ini",), 1),
        ((), 0),
    ],
)
def test_marker_beats_cli_beats_env_beats_ini_beats_default(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    layers: tuple[str, ...],
    expected: int,
) -> None:
    marker = "@pytest.mark.windchill(seed=4)" if "marker" in layers else ""
    pytester.makepyfile(
        f"""
        import pytest

        {marker}
        def test_seed(windchill):
            assert windchill.config.seed == {expected}
        """
    )
    if "ini" in layers:
        pytester.makeini("[pytest]\nwindchill_seed = 1\n")
    if "env" in layers:
        monkeypatch.setenv("WINDCHILL_SEED", "2")
    args = ("--windchill-seed", "3") if "cli" in layers else ()

    pytester.runpytest(*args).assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("profile", "nope", "unknown profile 'nope'*"),
        ("seed", "-1", "the seed must be a whole number >= 0, got '-1'"),
        ("seed", "many", "the seed must be a whole number >= 0, got 'many'"),
        ("rates", "bogus=1", "*bogus*"),
        ("rates", "indexer=fast", "*indexer=fast*"),
        ("url", "ftp://example.com", "expected an http:// or https:// URL*"),
    ],
)
@pytest.mark.parametrize("source", ["cli", "ini", "env"])
def test_an_invalid_value_is_a_usage_error_naming_its_source(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    value: str,
    message: str,
    source: str,
) -> None:
    pytester.makepyfile("def test_never_runs(): pass")
    flag = "--windchill-rate" if setting == "rates" else f"--windchill-{setting}"
    ini = f"windchill_{setting}"
    env = f"WINDCHILL_{setting.upper()}"
    args: tuple[str, ...] = ()
    if source == "cli":
        args, where = (f"{flag}={value}",), f"command line {flag}"
    elif source == "ini":
        pytester.makeini(f"[pytest]\n{ini} = {value}\n")
        where = f"ini {ini}"
    else:
        monkeypatch.setenv(env, value)
        where = f"env {env}"

    result = pytester.runpytest(*args)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: windchill {setting} from {where}: {message}"])
