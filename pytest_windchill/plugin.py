"""The pytest11 entry point of pytest-windchill: hooks and fixtures only."""

from __future__ import annotations
