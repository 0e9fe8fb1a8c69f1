"""A mock of Windchill REST Services for testing concurrency logic.

``create_app`` builds the Flask app; ``LiveServer`` runs it on a loopback socket;
``MockConfig`` configures it; ``mock_server.core`` is the pure state machine underneath.

PYTEST_DONT_REWRITE: no test code lives here (see ``pytest_windchill/__init__.py``).
"""

from __future__ import annotations

from .config import MockConfig
from .http import create_app
from .server import LiveServer

__all__ = ["LiveServer", "MockConfig", "create_app"]
__version__ = "0.1.0"
