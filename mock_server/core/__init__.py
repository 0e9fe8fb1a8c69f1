"""The pure core of the mock: standard library only, deterministic, no HTTP."""

from __future__ import annotations

from .background import SOURCES, SourceSettings
from .clock import DEFAULT_EPOCH, Clock, ClockError, SystemClock, VirtualClock
from .documents import STATES, Document
from .errors import MockError, WindchillError
from .etag import ETag, parse_etag, parse_if_match
from .interventions import (
    ACTIONS,
    CheckInBy,
    CheckOutBy,
    ConcurrentEdit,
    Fault,
    Intervention,
    Latency,
    LifecycleChange,
    LoseResponse,
    MicroUpdate,
    NewIteration,
    UndoCheckOutBy,
)
from .journal import Event, Journal, Metrics
from .profiles import PROFILES, Profile, profile_named
from .repository import MODIFIED_BY_ANOTHER_PROCESS, OpResult, Repository, WriteConditions

__all__ = [
    "ACTIONS",
    "DEFAULT_EPOCH",
    "MODIFIED_BY_ANOTHER_PROCESS",
    "PROFILES",
    "SOURCES",
    "STATES",
    "CheckInBy",
    "CheckOutBy",
    "Clock",
    "ClockError",
    "ConcurrentEdit",
    "Document",
    "ETag",
    "Event",
    "Fault",
    "Intervention",
    "Journal",
    "Latency",
    "LifecycleChange",
    "LoseResponse",
    "Metrics",
    "MicroUpdate",
    "MockError",
    "NewIteration",
    "OpResult",
    "Profile",
    "Repository",
    "SourceSettings",
    "SystemClock",
    "UndoCheckOutBy",
    "VirtualClock",
    "WindchillError",
    "WriteConditions",
    "parse_etag",
    "parse_if_match",
    "profile_named",
]
