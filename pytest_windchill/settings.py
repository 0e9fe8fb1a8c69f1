"""Option resolution for the plugin, in one place.

Each setting is looked up as: ``@pytest.mark.windchill(...)`` > command line > environment
variable > ini file > default. An invalid value is reported with the place it came from.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from mock_server.config import MockConfig, parse_rate
from mock_server.core.errors import MockError
from mock_server.core.profiles import PROFILES

__all__ = [
    "MARKER_KEYS",
    "OPTIONS",
    "Setting",
    "WindchillSettings",
    "add_options",
    "resolve_settings",
]

#: Keywords of ``@pytest.mark.windchill`` that are not ``MockConfig`` keys: the clock of the
#: ``windchill``/``windchill_server`` fixtures, and the health checks to suppress.
MARKER_KEYS = ("clock", "suppress_health_check")


@dataclass(frozen=True)
class Setting:
    name: str
    flag: str
    ini: str
    env: str
    help: str
    default: Any = None
    multiple: bool = False


OPTIONS = (
    Setting(
        "profile",
        "--windchill-profile",
        "windchill_profile",
        "WINDCHILL_PROFILE",
        f"Concurrency profile of the mock: {', '.join(sorted(PROFILES))} (default: thread).",
        "thread",
    ),
    Setting(
        "seed",
        "--windchill-seed",
        "windchill_seed",
        "WINDCHILL_SEED",
        "Seed for the mock's background arrivals and tokens (default: 0).",
        "0",
    ),
    Setting(
        "rates",
        "--windchill-rate",
        "windchill_rates",
        "WINDCHILL_RATES",
        "Background rate SOURCE=PER_SECOND (indexer, cache_sync, lifecycle_evaluator); "
        "repeatable; default 0 for every source.",
        (),
        multiple=True,
    ),
    Setting(
        "url",
        "--windchill-url",
        "windchill_url",
        "WINDCHILL_URL",
        "Run the windchill fixtures against this server (a standalone windchill-mock or a "
        "real Windchill) instead of an in-process mock.",
        None,
    ),
)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("windchill", "pytest-windchill: mock Windchill REST Services")
    for option in OPTIONS:
        help_text = f"{option.help} [env {option.env}, ini {option.ini}]"
        if option.multiple:
            group.addoption(
                option.flag,
                action="append",
                dest=f"windchill_{option.name}",
                metavar="SOURCE=PER_SECOND",
                default=None,
                help=help_text,
            )
            parser.addini(option.ini, option.help, type="linelist", default=[])
        else:
            group.addoption(
                option.flag,
                action="store",
                dest=f"windchill_{option.name}",
                default=None,
                help=help_text,
            )
            parser.addini(option.ini, option.help, default=None)


@dataclass(frozen=True)
class WindchillSettings:
    """The resolved session-wide settings, and where each came from."""

    profile: str = "thread"
    seed: int = 0
    rates: Mapping[str, float] = field(default_factory=dict)
    url: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    def config(self, marker: Mapping[str, Any] | None = None) -> MockConfig:
        """The MockConfig of one test: these settings, then the marker's keywords on top."""
        base = MockConfig(profile=self.profile, seed=self.seed, rates=dict(self.rates))
        if not marker:
            return base
        values = {k: v for k, v in marker.items() if k not in MARKER_KEYS}
        known = sorted({f.name for f in dataclasses.fields(MockConfig)} | set(MARKER_KEYS))
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise pytest.UsageError(
                f"@pytest.mark.windchill(...): unknown configuration key(s) {unknown}; "
                f"known: {known}"
            )
        try:
            return base.updated(values)
        except MockError as error:
            raise pytest.UsageError(f"@pytest.mark.windchill(...): {error}") from None

    def header(self) -> str:
        rates = ", ".join(f"{k}={v}" for k, v in sorted(self.rates.items())) or "none"
        target = self.url or "in-process mock"
        return f"windchill: profile={self.profile} seed={self.seed} rates={rates} target={target}"


def _raw(config: pytest.Config, option: Setting) -> tuple[Any, str]:
    cli = config.getoption(f"windchill_{option.name}")
    if cli:
        return cli, f"command line {option.flag}"
    env = os.environ.get(option.env)
    if env:
        return (env.replace(",", " ").split() if option.multiple else env), f"env {option.env}"
    ini = config.getini(option.ini)
    if ini:
        return ini, f"ini {option.ini}"
    return option.default, "default"


def resolve_settings(config: pytest.Config) -> WindchillSettings:
    """Resolve every option; a bad value is a UsageError naming where it came from."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for option in OPTIONS:
        raw, source = _raw(config, option)
        sources[option.name] = source
        try:
            values[option.name] = _convert(option.name, raw)
        except (ValueError, MockError) as error:
            raise pytest.UsageError(f"windchill {option.name} from {source}: {error}") from None
    return WindchillSettings(**values, sources=sources)


def _convert(name: str, raw: Any) -> Any:
    if name == "profile":
        if raw not in PROFILES:
            raise ValueError(f"unknown profile {raw!r}; choose one of {sorted(PROFILES)}")
        return raw
    if name == "seed":
        try:
            seed = int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"the seed must be a whole number >= 0, got {raw!r}") from None
        if seed < 0:
            raise ValueError(f"the seed must be a whole number >= 0, got {raw!r}")
        return seed
    if name == "rates":
        return dict(parse_rate(text) for text in raw)
    if name == "url":
        if raw is not None and not str(raw).startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {raw!r}")
        return raw
    raise AssertionError(name)
