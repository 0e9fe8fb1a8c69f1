"""A mock of Windchill REST Services for testing concurrency logic.

``create_app`` builds the Flask app; ``LiveServer`` runs it on a loopback socket;
``MockConfig`` configures it; ``mock_server.core`` is the pure state machine underneath.

PYTEST_DONT_REWRITE: no test code lives here (see ``pytest_windchill/__init__.py``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import MockConfig
    from .http import create_app
    from .server import LiveServer

__all__ = ["LiveServer", "MockConfig", "create_app"]
__version__ = "0.1.0"

# Re-exported lazily, so that ``import mock_server.core`` (the pure state machine) never loads
# Flask, Werkzeug or waitress.
_LAZY = {"MockConfig": ".config", "create_app": ".http", "LiveServer": ".server"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
