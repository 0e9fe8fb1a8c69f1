"""Shared set-up for the plugin's pytester tests.

Every test here runs an inner pytest session in this process, so the outer environment would
leak into it: a developer's ``WINDCHILL_URL`` must not turn these runs into remote ones, and
when the outer run uses ``-n``, an inner run must not believe it is an xdist worker.
"""

from __future__ import annotations

import pytest

WINDCHILL_ENV = (
    "WINDCHILL_PROFILE",
    "WINDCHILL_SEED",
    "WINDCHILL_RATES",
    "WINDCHILL_URL",
    "WINDCHILL_USER",
    "WINDCHILL_PASSWORD",
)
XDIST_ENV = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")


@pytest.fixture(autouse=True)
def _clean_windchill_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in WINDCHILL_ENV + XDIST_ENV:
        monkeypatch.delenv(name, raising=False)
