"""The back-ends behind a ``WindchillMock``: the mock in this process, or a server by URL.

``InProcess`` reaches the repository of a Flask app directly (also when the app serves a
loopback socket); ``Remote`` goes through the ``/__mock/`` admin API of a standalone
``windchill-mock``, and raises :class:`AdminAPIUnavailable` against a server without it (a real
Windchill).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any, Protocol

import requests
from flask import Flask

from mock_server.config import MockConfig
from mock_server.core.clock import Clock, ClockError, VirtualClock
from mock_server.core.interventions import Intervention
from mock_server.core.journal import Event
from mock_server.core.repository import Repository
from mock_server.http.state import state
from mock_server.http.tenants import SERVER_ONLY_KEYS

__all__ = [
    "AdminAPIUnavailable",
    "Backend",
    "InProcess",
    "MockClock",
    "Remote",
    "config_changes",
]


class AdminAPIUnavailable(RuntimeError):
    """The server has no ``/__mock/`` admin API (a real Windchill), or it cannot be used now:
    injections are impossible. ``absent``: the server has none at all (it is no
    ``windchill-mock``), rather than refusing or being out of reach."""

    def __init__(self, message: str, *, absent: bool = False) -> None:
        super().__init__(message)
        self.absent = absent


class MockClock(Protocol):
    def now(self) -> float: ...

    def advance(self, seconds: float) -> float: ...


class Backend(Protocol):
    clock: MockClock

    @property
    def virtual(self) -> bool: ...

    def inject(self, intervention: Intervention) -> None: ...
    def add_document(self, properties: Mapping[str, Any], kind: str = "document") -> str: ...
    def peek(self, doc_id: str) -> tuple[dict[str, Any], str]: ...
    def events(self) -> list[Event]: ...
    def pending(self) -> list[Intervention]: ...
    def metrics(self) -> dict[str, Any]: ...
    def reset(self, config: MockConfig | None) -> None: ...
    def elapsed(self) -> float: ...
    def close(self) -> None: ...


class _SystemClockView:
    """``advance`` on a system clock is an error with a helpful message."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock.now()

    def advance(self, seconds: float) -> float:
        raise ClockError(
            "this mock runs on the system clock (clock='system'); move time with freezegun "
            "(frozen.tick(...)) or use the default virtual clock"
        )


class InProcess:
    def __init__(self, app: Flask) -> None:
        self.app = app
        clock = state(app).clock
        self.clock: MockClock = (
            clock if isinstance(clock, VirtualClock) else _SystemClockView(clock)
        )

    @property
    def virtual(self) -> bool:
        return state(self.app).clock.virtual

    @property
    def repository(self) -> Repository:
        return state(self.app).repository

    def inject(self, intervention: Intervention) -> None:
        self.repository.inject(intervention)

    def add_document(self, properties: Mapping[str, Any], kind: str = "document") -> str:
        doc_id: str = self.repository.add_document(dict(properties), kind=kind)
        return doc_id

    def peek(self, doc_id: str) -> tuple[dict[str, Any], str]:
        snapshot: tuple[dict[str, Any], str] = self.repository.snapshot(doc_id)
        return snapshot

    def events(self) -> list[Event]:
        events: list[Event] = self.repository.journal.events()
        return events

    def pending(self) -> list[Intervention]:
        pending: list[Intervention] = self.repository.pending()
        return pending

    def metrics(self) -> dict[str, Any]:
        snapshot: dict[str, Any] = self.repository.metrics.snapshot()
        return snapshot

    def close(self) -> None:
        pass

    def reset(self, config: MockConfig | None) -> None:
        mock = state(self.app)
        if config is not None:
            mock.reconfigure(config)
        mock.reset()

    def elapsed(self) -> float:
        return float(self.clock.now() - self.repository.epoch)


class _RemoteClock:
    def __init__(self, backend: Remote) -> None:
        self._backend = backend

    def now(self) -> float:
        return float(self._backend.admin("GET", "clock")["now"])

    def advance(self, seconds: float) -> float:
        return float(self._backend.admin("POST", "clock/advance", {"seconds": seconds})["now"])


def config_changes(config: MockConfig, *, accounts: bool = True) -> dict[str, Any]:
    """``config`` as the admin API's JSON: every key a tenant (or ``PUT /__mock/config``) takes,
    none of the server's own (its sockets, admin guard and tenant limits). The admin API
    *merges* rates, durations and overrides into the current config, so every source and every
    knob is sent: otherwise a standalone server keeps its own background rates where a test
    expects none. ``accounts=False`` leaves the users (and their passwords) out, for files."""
    data: dict[str, Any] = {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(config)
        if f.name not in SERVER_ONLY_KEYS
    }
    background = config.background()
    knobs = config.resolved_profile().knobs()
    knobs.pop("name")
    data["overrides"] = knobs
    data["rates"] = {source: s.rate for source, s in background.items()}
    data["durations"] = {source: s.duration for source, s in background.items()}
    data["soft_attributes"] = list(config.soft_attributes)
    if accounts:
        data["users"] = dict(config.users)
    else:
        data.pop("users")
    for name in ("journal_limit", "journal_limit_bytes"):
        if data[name] is None:  # unbounded: leave the receiving mock's own bound in place
            data.pop(name)
    return data


class Remote:
    def __init__(self, base_url: str, session: requests.Session) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        token = os.environ.get("WINDCHILL_ADMIN_TOKEN")
        if token:
            self.session.headers["X-Mock-Admin-Token"] = token
        self.clock: MockClock = _RemoteClock(self)
        self._virtual: bool | None = None

    @property
    def virtual(self) -> bool:
        if self._virtual is None:
            self._virtual = bool(self.admin("GET", "clock").get("virtual"))
        return self._virtual

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        url = f"{self.base_url}/__mock/{path}"
        try:
            response = self.session.request(method, url, json=body, timeout=30)
        except requests.RequestException as error:
            raise AdminAPIUnavailable(f"cannot reach {url}: {error}") from None
        if response.status_code == 404 and "application/json" not in response.headers.get(
            "Content-Type", ""
        ):
            raise AdminAPIUnavailable(
                f"{self.base_url} has no mock admin API (/__mock/): it is not a windchill-mock "
                "server, so injections, virtual time and the journal are unavailable",
                absent=True,
            )
        if response.status_code in (401, 403) and path != "interventions":
            raise AdminAPIUnavailable(
                f"{self.base_url}/__mock/ refused access (HTTP {response.status_code}); start "
                "the mock without --admin-token or set WINDCHILL_ADMIN_TOKEN"
            )
        if response.status_code >= 400:
            raise RuntimeError(
                f"{method} {url} answered {response.status_code}: {response.text[:500]}"
            )
        if path == "journal":
            return response.text
        if response.status_code == 204:
            return None
        return response.json()

    def inject(self, intervention: Intervention) -> None:
        self.admin("POST", "interventions", intervention.to_json())

    def add_document(self, properties: Mapping[str, Any], kind: str = "document") -> str:
        body = {**properties, "@kind": kind} if kind != "document" else dict(properties)
        doc_id: str = self.admin("POST", "documents", body)["id"]
        return doc_id

    def peek(self, doc_id: str) -> tuple[dict[str, Any], str]:
        data = self.admin("GET", f"documents/{doc_id}")
        return data["entity"], data["etag"]

    def events(self) -> list[Event]:
        text: str = self.admin("GET", "journal")
        return [Event.from_json(json.loads(line)) for line in text.splitlines() if line.strip()]

    def pending(self) -> list[Intervention]:
        data = self.admin("GET", "interventions")
        return [Intervention.from_json(item) for item in data["pending"]]

    def metrics(self) -> dict[str, Any]:
        metrics: dict[str, Any] = self.admin("GET", "metrics")
        return metrics

    def reset(self, config: MockConfig | None) -> None:
        if config is not None:
            self.admin("PUT", "config", config_changes(config))
        self.admin("POST", "reset")

    def create_tenant(
        self, config: MockConfig, *, clock: str, time_scale: float | None = None
    ) -> dict[str, Any]:
        """A new tenant of this server configured as ``config`` on a ``clock``
        (``"virtual"`` or ``"system"``, sped up ``time_scale`` times): its ``id``, ``url``
        and ``service_root``."""
        body: dict[str, Any] = {**config_changes(config), "clock": clock}
        if time_scale is not None:
            body["time_scale"] = time_scale
        created: dict[str, Any] = self.admin("POST", "tenants", body)
        return created

    def delete_tenant(self, tenant_id: str) -> None:
        self.admin("DELETE", f"tenants/{tenant_id}")

    def elapsed(self) -> float:
        return float(self.admin("GET", "clock")["t"])

    def close(self) -> None:
        self.session.close()
