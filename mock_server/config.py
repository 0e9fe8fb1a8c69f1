"""Configuration of a mock: a profile plus overrides, rates, accounts and limits.

``MockConfig`` is a plain value. It is built from keywords, from a TOML file
(:meth:`MockConfig.from_toml`) or from the admin API's JSON (:meth:`MockConfig.updated`).
Unknown keys are errors, so a typo never silently does nothing.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .core.background import SOURCES, SourceSettings
from .core.documents import CREATE_ONLY, DEFAULT_SOFT_ATTRIBUTES, READ_ONLY
from .core.errors import MockError
from .core.kinds import KINDS
from .core.profiles import Profile, profile_named

__all__ = [
    "DEFAULT_DURATIONS",
    "SERVE_RATES",
    "MockConfig",
    "parse_rate",
]

#: How long each background operation stays in flight, in seconds.
DEFAULT_DURATIONS: Mapping[str, float] = {
    "indexer": 2.0,
    "cache_sync": 0.5,
    "lifecycle_evaluator": 1.0,
}
#: Rates of the standalone server (events per second per document): about one background
#: operation every 12 seconds per document, so a GET, a pause and a PATCH by hand meet the
#: forum thread's 409 within a minute. Inside tests every rate defaults to 0.
SERVE_RATES: Mapping[str, float] = {
    "indexer": 0.05,
    "cache_sync": 0.025,
    "lifecycle_evaluator": 0.01,
}


@dataclass(frozen=True)
class MockConfig:
    """Everything that makes one mock differ from another. See docs/mock-server.md."""

    profile: str = "thread"
    #: Profile knobs to override (see :class:`~mock_server.core.profiles.Profile`).
    overrides: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    rates: Mapping[str, float] = field(default_factory=dict)
    durations: Mapping[str, float] = field(default_factory=dict)
    #: Demo documents created at start-up (and after a reset).
    documents: int = 0
    auth: bool = True
    #: Accounts accepted by Basic auth: user → password.
    users: Mapping[str, str] = field(
        default_factory=lambda: {"wcadmin": "wcadmin", "other": "other"}
    )
    csrf: bool = True
    #: Seconds an HTTP session (its CSRF nonce) lives unused: 30 minutes, the servlet default.
    csrf_session_timeout: int = 1800
    page_size: int = 25
    max_body_bytes: int = 1_048_576
    soft_attributes: tuple[str, ...] = DEFAULT_SOFT_ATTRIBUTES
    #: Let the admin API answer clients that are not on loopback.
    admin_remote: bool = False
    #: Host names (besides ``localhost`` and loopback addresses) the admin API answers to;
    #: any other ``Host`` is refused, so a DNS-rebinding web page cannot reach it.
    admin_hosts: tuple[str, ...] = ()
    #: If set, the admin API requires header ``X-Mock-Admin-Token`` with this value.
    admin_token: str | None = None
    #: Open connections a server (``windchill-mock serve``, ``LiveServer``) keeps at once;
    #: read when it starts. A CI suite's connection pools hold many idle ones.
    connection_limit: int = 1000
    #: Whole seconds an idle connection stays open; read when the server starts.
    channel_timeout: int = 60
    #: Keep at most this many journal events (oldest dropped first); ``None``: all.
    journal_limit: int | None = None
    #: Keep at most this many bytes of journal (its JSON lines; oldest dropped first).
    journal_limit_bytes: int | None = None
    utc_offset_minutes: int = 0
    #: Tenants (``POST /__mock/tenants``) the server keeps at once; 0: none.
    max_tenants: int = 1000
    #: The tenants' estimated memory at most, in bytes (1 GiB); beyond it creation is refused.
    tenant_memory_bytes: int = 1024 * 1024 * 1024
    #: Real seconds a tenant lives unused before it expires.
    tenant_idle_timeout: int = 900

    def __post_init__(self) -> None:
        # The admin API and TOML files hand over arbitrary JSON: check types here, so a bad
        # value is a 400 now rather than a 500 (or a silently truthy "no") later.
        if not isinstance(self.profile, str):
            raise MockError(f"profile must be a string, got {self.profile!r}")
        profile_named(self.profile)
        if not isinstance(self.overrides, Mapping):
            raise MockError("overrides must be an object")
        _check_knobs(self.overrides)
        self.resolved_profile()  # validates the overrides' names
        for name in ("auth", "csrf", "admin_remote"):
            if not isinstance(getattr(self, name), bool):
                raise MockError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.users, Mapping) or not all(
            isinstance(user, str) and user and isinstance(password, str)
            for user, password in self.users.items()
        ):
            raise MockError("users must map user names to password strings")
        if isinstance(self.soft_attributes, list):
            object.__setattr__(self, "soft_attributes", tuple(self.soft_attributes))
        if not isinstance(self.soft_attributes, tuple) or not all(
            isinstance(name, str) and name.isidentifier() for name in self.soft_attributes
        ):
            raise MockError(
                f"soft_attributes must be a list of property names, got {self.soft_attributes!r}"
            )
        writable = {name for kind in KINDS.values() for name in kind.writable}
        shadowed = sorted(set(self.soft_attributes) & {*writable, *CREATE_ONLY, *READ_ONLY})
        if shadowed:
            raise MockError(f"soft_attributes cannot reuse built-in property names: {shadowed}")
        if self.admin_token is not None and not isinstance(self.admin_token, str):
            raise MockError("admin_token must be a string or null")
        if isinstance(self.admin_hosts, list):
            object.__setattr__(self, "admin_hosts", tuple(self.admin_hosts))
        if not isinstance(self.admin_hosts, tuple) or not all(
            isinstance(name, str) and name for name in self.admin_hosts
        ):
            raise MockError(f"admin_hosts must be a list of host names, got {self.admin_hosts!r}")
        for name in ("journal_limit", "journal_limit_bytes"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise MockError(f"{name} must be null or a whole number >= 1, got {value!r}")
        offset = self.utc_offset_minutes
        if isinstance(offset, bool) or not isinstance(offset, int) or not -1440 < offset < 1440:
            raise MockError(
                f"utc_offset_minutes must be a whole number of minutes within a day, got {offset!r}"
            )
        for name, mapping in (("rates", self.rates), ("durations", self.durations)):
            unknown = sorted(set(mapping) - set(SOURCES))
            if unknown:
                raise MockError(f"unknown source(s) in {name}: {unknown}; known: {list(SOURCES)}")
            for source, value in mapping.items():
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise MockError(f"{name}.{source} must be a number, got {value!r}")
                if not math.isfinite(value) or value < 0:
                    raise MockError(f"{name}.{source} must be a finite number >= 0, got {value!r}")
        timeout = self.csrf_session_timeout
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
            raise MockError(f"csrf_session_timeout must be whole seconds >= 1, got {timeout!r}")
        for name in ("tenant_memory_bytes", "tenant_idle_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise MockError(f"{name} must be a whole number >= 1, got {value!r}")
        for name in ("documents", "page_size", "max_body_bytes", "seed", "max_tenants"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise MockError(f"{name} must be a whole number >= 0, got {value!r}")
        if self.page_size < 1:
            raise MockError("page_size must be at least 1")
        limit = self.connection_limit
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise MockError(f"connection_limit must be a whole number >= 1, got {limit!r}")
        timeout = self.channel_timeout
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
            raise MockError(f"channel_timeout must be whole seconds >= 1, got {timeout!r}")
        if not self.users and self.auth:
            raise MockError("auth is on but no users are configured")

    def resolved_profile(self) -> Profile:
        return profile_named(self.profile).replace(**dict(self.overrides))

    def background(self) -> dict[str, SourceSettings]:
        return {
            source: SourceSettings(
                rate=float(self.rates.get(source, 0.0)),
                duration=float(self.durations.get(source, DEFAULT_DURATIONS[source])),
            )
            for source in SOURCES
        }

    def updated(self, changes: Mapping[str, Any]) -> MockConfig:
        """A copy with ``changes`` applied; ``rates``/``durations``/``overrides`` merge."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise MockError(f"unknown configuration key(s) {unknown}; known: {sorted(known)}")
        values = dict(changes)
        for name in ("rates", "durations", "overrides", "users"):
            if name in values:
                if not isinstance(values[name], Mapping):
                    raise MockError(f"{name} must be an object")
                values[name] = {**getattr(self, name), **values[name]}
        if "soft_attributes" in values:
            if not isinstance(values["soft_attributes"], list | tuple):
                raise MockError("soft_attributes must be a list of property names")
            values["soft_attributes"] = tuple(values["soft_attributes"])
        try:
            return dataclasses.replace(self, **values)
        except TypeError as error:
            raise MockError(str(error)) from None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["users"] = sorted(self.users)  # never echo passwords
        data["soft_attributes"] = list(self.soft_attributes)
        data["admin_hosts"] = list(self.admin_hosts)
        data["admin_token"] = None if self.admin_token is None else "***"
        data["knobs"] = self.resolved_profile().knobs()
        data["background"] = {
            source: dataclasses.asdict(settings) for source, settings in self.background().items()
        }
        return data

    @classmethod
    def from_toml(cls, path: str | Path, **defaults: Any) -> MockConfig:
        """Read a TOML file (top-level keys as in this class; tables for the mappings)."""
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except OSError as error:
            raise MockError(f"cannot read configuration file {path}: {error.strerror}") from None
        except tomllib.TOMLDecodeError as error:
            raise MockError(f"{path} is not valid TOML: {error}") from None
        try:
            return cls(**defaults).updated(data)
        except MockError as error:
            raise MockError(f"{path}: {error}") from None


def _check_knobs(overrides: Mapping[str, Any]) -> None:
    """Profile knobs keep their types: flags are booleans, statuses null or 4xx/5xx."""
    base = profile_named("thread").knobs()
    for knob, value in overrides.items():
        if knob not in base:
            continue  # Profile.replace names the unknown ones
        if knob.endswith("_status"):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 400 <= value <= 599
            ):
                raise MockError(f"overrides.{knob} must be null or a 4xx/5xx status, got {value!r}")
        elif isinstance(base[knob], bool) and not isinstance(value, bool):
            raise MockError(f"overrides.{knob} must be true or false, got {value!r}")
        elif isinstance(base[knob], str) and not isinstance(value, str):
            raise MockError(f"overrides.{knob} must be a string, got {value!r}")


def parse_rate(text: str, *, unit: str = "PER_SECOND") -> tuple[str, float]:
    """Parse ``SOURCE=NUMBER`` (``--rate SOURCE=PER_SECOND``, ``--duration SOURCE=SECONDS``)."""
    what = "rate" if unit == "PER_SECOND" else "duration"
    source, sep, value = text.partition("=")
    source = source.strip()
    if not sep or source not in SOURCES:
        raise MockError(f"expected SOURCE={unit} with SOURCE one of {list(SOURCES)}, got {text!r}")
    try:
        number = float(value)
    except ValueError:
        raise MockError(f"the {what} in {text!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise MockError(f"the {what} in {text!r} must be a finite number >= 0")
    return source, number
