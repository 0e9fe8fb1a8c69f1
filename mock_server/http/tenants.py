"""Tenants: many isolated mocks behind one server.

A tenant is a whole mock of its own (repository, seed, profile, rates, clock, journal, CSRF
sessions) reached under a URL prefix, in the spirit of OData's session URLs (TripPin's
``(S(...))``)::

    /(S(<id>))/Windchill/servlet/odata/...   the tenant's OData service
    /(S(<id>))/__mock/...                    the tenant's admin API

so that a client which cannot add a header still reaches its own tenant: it is given the
tenant's service root instead of the server's. Requests without a prefix reach the server's
own mock, as before tenants existed.

:class:`TenantRouting` (WSGI) moves the prefix from ``PATH_INFO`` to ``SCRIPT_NAME``, so the
app's routes stay as they are and every URL the app builds (``@odata.context``, next links,
``Location``) carries the prefix. :func:`~mock_server.http.state.state` then answers the
tenant's :class:`~mock_server.http.state.MockState`.

Bounded: at most ``max_tenants`` live at once and at most ``tenant_memory_bytes`` of their
estimated memory; a tenant unused for ``tenant_idle_timeout`` real seconds expires. Tenant ids
are derived from the server's seed and a counter, so a run is repeatable.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..config import MockConfig
from ..core.clock import Clock, ClockError, ScaledClock, SystemClock, VirtualClock
from ..core.errors import MockError, NotFound, WindchillError
from .state import MockState

__all__ = [
    "SERVER_ONLY_KEYS",
    "TENANTS_EXTENSION",
    "TENANT_ENVIRON",
    "Tenant",
    "TenantRouting",
    "Tenants",
    "TooManyTenants",
    "check_tenant_changes",
    "tenant_prefix",
]

#: The environ key naming the tenant a request's URL addressed.
TENANT_ENVIRON = "windchill_mock.tenant"
#: Where an app keeps its :class:`Tenants`.
TENANTS_EXTENSION = "windchill_mock.tenants"
#: ``/(S(<id>))`` at the start of a path; an id is 1 to 64 letters, digits, ``-`` or ``_``.
_PREFIX = re.compile(r"/\(S\(([A-Za-z0-9_-]{1,64})\)\)(?=/|$)")
#: Settings of the server itself (its sockets, its admin guard, its tenants): a tenant
#: inherits them and cannot change them.
SERVER_ONLY_KEYS = frozenset(
    {
        "admin_remote",
        "admin_hosts",
        "admin_token",
        "connection_limit",
        "channel_timeout",
        "max_tenants",
        "tenant_memory_bytes",
        "tenant_idle_timeout",
    }
)
#: What the body of ``POST /__mock/tenants`` may hold besides configuration keys.
CLOCK_KEYS = ("clock", "time_scale")
#: Estimated bytes of an empty tenant (its repository, queues, CSRF table): about twice the
#: 6.7 KB ``benchmarks/bench_check.py`` measures, so that the cap errs on the safe side.
TENANT_BASE_BYTES = 16 * 1024
#: Estimated bytes per object a tenant holds (current and past iterations, working copies):
#: about twice the 2 KB measured.
OBJECT_BYTES = 4 * 1024
#: Estimated bytes of one CSRF session a tenant keeps (about 340 measured).
SESSION_BYTES = 512
#: Estimated bytes of one journal event, for a tenant whose journal has no byte bound.
EVENT_BYTES = 512
#: Journal bytes a tenant keeps unless its body sets ``journal_limit_bytes``: enough for
#: thousands of requests of one test or one example.
TENANT_JOURNAL_BYTES = 8 * 1024 * 1024


def tenant_prefix(tenant_id: str) -> str:
    """The URL path prefix of a tenant: ``/(S(<id>))``."""
    return f"/(S({tenant_id}))"


class TooManyTenants(WindchillError):
    """The server holds as many tenants (429) or as much tenant memory (503) as it may."""

    http_status = 429
    code = "TooManyTenants"


@dataclass
class Tenant:
    id: str
    state: MockState
    #: ``time.monotonic()`` of the last request that reached the tenant.
    used: float

    def footprint(self) -> int:
        """Estimated bytes this tenant holds (see :data:`TENANT_BASE_BYTES`)."""
        repository = self.state.repository
        journal = repository.journal
        size = journal.size_bytes  # counted when the journal has a byte bound (the default)
        if size is None:
            size = EVENT_BYTES * len(journal)
        sessions = SESSION_BYTES * len(self.state.csrf)
        return TENANT_BASE_BYTES + OBJECT_BYTES * repository.object_count() + size + sessions


class Tenants:
    """The live tenants of one server. Thread-safe; expiry is lazy (on each lookup and
    creation), so no thread runs in the background."""

    def __init__(
        self,
        *,
        seed: int,
        limit: Callable[[], MockConfig],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._seed = seed
        #: The server's config, read at each use (``PUT /__mock/config`` may change the caps).
        self._config = limit
        self._monotonic = monotonic
        self._tenants: OrderedDict[str, Tenant] = OrderedDict()  # least recently used first
        self._counter = 0
        self._lock = threading.Lock()
        #: Tenants being built (outside the lock), and their estimated bytes: they count
        #: against the limits already.
        self._building = 0
        self._building_bytes = 0
        self.created = 0
        self.expired = 0

    def _next_id(self) -> str:
        self._counter += 1
        digest = hashlib.sha256(f"{self._seed}/tenant/{self._counter}".encode()).hexdigest()
        return digest[:16]

    def _expire(self, now: float) -> None:
        timeout = self._config().tenant_idle_timeout
        while self._tenants:
            oldest = next(iter(self._tenants.values()))
            if now - oldest.used < timeout:
                return
            del self._tenants[oldest.id]
            self.expired += 1

    def create(self, body: Mapping[str, Any], server: MockConfig) -> Tenant:
        """A new tenant configured by ``body`` (configuration keys, ``clock``,
        ``time_scale``) on top of the library defaults and the server's accounts.

        Raises ``MockError`` (400) for a bad body, and :class:`TooManyTenants`: 429 when the
        server holds as many tenants as it may, 503 when the new one would take the tenants'
        estimated memory past the limit (the new one's demo documents included).
        """
        config, clock = tenant_config(body, server)
        needed = TENANT_BASE_BYTES + OBJECT_BYTES * config.documents
        with self._lock:
            self._expire(self._monotonic())
            self._check_count()
            live = list(self._tenants.values())
            building = self._building_bytes
        # Summed outside the registry's lock: a footprint takes each tenant's repository
        # lock, which a long change set may hold, and no other tenant may wait for that.
        used = sum(tenant.footprint() for tenant in live) + building
        with self._lock:
            now = self._monotonic()
            limits = self._config()
            if used + needed > limits.tenant_memory_bytes:
                raise self._full(
                    f"The server's tenants hold about {used / 2**20:.1f} MiB and this one would "
                    f"take about {needed / 2**20:.1f} MiB more, past the limit "
                    f"(tenant_memory_bytes={limits.tenant_memory_bytes}). Delete the tenants "
                    "you are done with, ask for fewer documents, or start the server with a "
                    "higher --tenant-memory",
                    now,
                    status=503,
                )
            self._check_count()  # others may have been made meanwhile
            tenant_id = self._next_id()
            self._building += 1
            self._building_bytes += needed
        try:
            # Built outside the lock: a tenant with many demo documents takes a while.
            tenant = Tenant(tenant_id, MockState(config, clock), self._monotonic())
        except BaseException:
            with self._lock:
                self._building -= 1
                self._building_bytes -= needed
            raise
        with self._lock:  # one step: the slot it held becomes the tenant
            self._building -= 1
            self._building_bytes -= needed
            tenant.used = self._monotonic()
            self._tenants[tenant_id] = tenant
            self.created += 1
        return tenant

    def _check_count(self) -> None:
        limits = self._config()
        held = len(self._tenants) + self._building
        if held >= limits.max_tenants:
            raise self._full(
                f"The server holds {held} tenants, its limit (max_tenants={limits.max_tenants}). "
                "Delete the ones you are done with (DELETE /__mock/tenants/<id>), wait for idle "
                f"ones to expire (tenant_idle_timeout={limits.tenant_idle_timeout:g}s), or "
                "start the server with a higher --max-tenants",
                self._monotonic(),
            )

    def _full(self, message: str, now: float, status: int = 429) -> TooManyTenants:
        error = TooManyTenants(message, status=status)
        if self._tenants:
            oldest = next(iter(self._tenants.values()))
            wait = oldest.used + self._config().tenant_idle_timeout - now
            error.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return error

    def get(self, tenant_id: str) -> Tenant:
        """The live tenant ``tenant_id`` (its use noted), or ``NotFound`` saying why not."""
        with self._lock:
            now = self._monotonic()
            self._expire(now)
            tenant = self._tenants.get(tenant_id)
            if tenant is None:
                raise NotFound(
                    f"No tenant {tenant_prefix(tenant_id)} on this server: it was deleted, "
                    f"expired after {self._config().tenant_idle_timeout:g}s unused, or never "
                    "existed. Create one with POST /__mock/tenants",
                    code="TenantNotFound",
                )
            tenant.used = now
            self._tenants.move_to_end(tenant_id)
            return tenant

    def delete(self, tenant_id: str) -> bool:
        with self._lock:
            return self._tenants.pop(tenant_id, None) is not None

    def listing(self) -> list[Tenant]:
        with self._lock:
            self._expire(self._monotonic())
            return list(self._tenants.values())

    def summary(self) -> dict[str, Any]:
        with self._lock:
            self._expire(self._monotonic())
            live = list(self._tenants.values())
            created, expired = self.created, self.expired
        limits = self._config()
        return {
            "live": len(live),
            "created": created,
            "expired": expired,
            "bytes": sum(tenant.footprint() for tenant in live),
            "max_tenants": limits.max_tenants,
            "tenant_memory_bytes": limits.tenant_memory_bytes,
            "tenant_idle_timeout": limits.tenant_idle_timeout,
        }

    def __len__(self) -> int:
        with self._lock:
            return len(self._tenants)


def tenant_config(body: Mapping[str, Any], server: MockConfig) -> tuple[MockConfig, Clock]:
    """The config and clock of a new tenant from the body of ``POST /__mock/tenants``.

    A tenant starts from the library's defaults (no demo documents, no background work, as
    in the plugin's fixtures) with the server's accounts, auth and CSRF settings and its
    server-only settings; the body's configuration keys apply on top.
    """
    changes = {key: value for key, value in body.items() if key not in CLOCK_KEYS}
    inherited = {
        "users": dict(server.users),
        "auth": server.auth,
        "csrf": server.csrf,
        "journal_limit_bytes": TENANT_JOURNAL_BYTES,
        **{key: getattr(server, key) for key in SERVER_ONLY_KEYS},
    }
    check_tenant_changes(changes)
    config = MockConfig().updated(inherited).updated(changes)
    return config, tenant_clock(body.get("clock", "system"), body.get("time_scale"))


def check_tenant_changes(changes: Mapping[str, Any]) -> None:
    """What a tenant may not set, on creation or later (``PUT /__mock/config`` under its
    prefix): the server's own settings, and an unbounded journal."""
    refused = sorted(SERVER_ONLY_KEYS & set(changes))
    if refused:
        raise MockError(
            f"{refused} are settings of the server, not of a tenant: a tenant inherits them"
        )
    if "journal_limit_bytes" in changes and changes["journal_limit_bytes"] is None:
        raise MockError(
            "a tenant's journal is bounded: give journal_limit_bytes a number of bytes "
            f"(the default is {TENANT_JOURNAL_BYTES})"
        )


def tenant_clock(kind: Any, time_scale: Any) -> Clock:
    """``"virtual"``, ``"system"``, or ``"system"`` sped up ``time_scale`` times."""
    if kind == "virtual":
        if time_scale is not None:
            raise MockError(
                "time_scale speeds up the system clock; a virtual clock moves only through "
                "POST /__mock/clock/advance (drop one of the two)"
            )
        return VirtualClock()
    if kind != "system":
        raise MockError(f'clock must be "virtual" or "system", got {kind!r}')
    if isinstance(time_scale, bool):
        raise MockError(f"time_scale is a number, got {time_scale!r}")
    if time_scale is None or time_scale == 1:
        return SystemClock()
    try:
        return ScaledClock(time_scale)
    except ClockError as error:
        raise MockError(str(error)) from None


class TenantRouting:
    """WSGI: a path under ``/(S(<id>))`` reaches tenant ``<id>`` with the prefix moved to
    ``SCRIPT_NAME``; any other path reaches the app as it came."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        found = _PREFIX.match(path)
        if found is not None:
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + found.group(0)
            environ["PATH_INFO"] = path[found.end() :] or "/"
            environ[TENANT_ENVIRON] = found.group(1)
        return self.app(environ, start_response)
