"""pytest-windchill: fixtures, strategies and a reference client for testing Windchill
REST Services integrations against a deterministic mock.

PYTEST_DONT_REWRITE: the plugin raises its own errors and needs no assertion rewriting. The
marker also keeps pytest quiet when an editable install imports the package before the
rewrite hook could see it (e.g. in pytester runs under a plain ``pytest`` command).
"""

from __future__ import annotations

from .checks import ConcurrencyViolation, check_update
from .client import DocumentUpdater, RetryPolicy, UpdateResult
from .handle import WindchillMock
from .health import FailedHealthCheck, HealthCheck, WindchillUsageError, WindchillWarning
from .outcomes import Outcome
from .rules import ServerRules
from .scenarios import Scenario, WindchillFactory
from .schedules import ConflictSchedule, Step
from .stateful import WindchillStateMachine

__all__ = [
    "ConcurrencyViolation",
    "ConflictSchedule",
    "DocumentUpdater",
    "FailedHealthCheck",
    "HealthCheck",
    "Outcome",
    "RetryPolicy",
    "Scenario",
    "ServerRules",
    "Step",
    "UpdateResult",
    "WindchillFactory",
    "WindchillMock",
    "WindchillStateMachine",
    "WindchillUsageError",
    "WindchillWarning",
    "check_update",
]
