"""The Flask adapter: OData routes, the admin API, auth and CSRF."""

from __future__ import annotations

from .app import AppPool, create_app, install_state
from .state import MockState, state

__all__ = ["AppPool", "MockState", "create_app", "install_state", "state"]
