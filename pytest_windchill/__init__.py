"""pytest-windchill: fixtures, strategies and a reference client for testing Windchill
REST Services integrations against a deterministic mock.

PYTEST_DONT_REWRITE: the plugin raises its own errors and needs no assertion rewriting. The
marker also keeps pytest quiet when an editable install imports the package before the
rewrite hook could see it (e.g. in pytester runs under a plain ``pytest`` command).
"""

from __future__ import annotations

__all__: list[str] = []
