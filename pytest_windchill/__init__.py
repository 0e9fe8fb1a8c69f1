"""pytest-windchill: fixtures, strategies and a reference client for testing Windchill
REST Services integrations against a deterministic mock."""

from __future__ import annotations

__all__: list[str] = []
