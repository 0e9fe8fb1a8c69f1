"""Small helpers shared by the core tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mock_server.core import Repository

RepositoryFactory = Callable[..., Repository]

WRITABLE_KEYS = ("Description", "Title", "Department", "ExternalReference", "ReviewComment")


def state_of(repository: Repository, key: str) -> tuple[dict[str, Any], str]:
    """The server's truth for ``key``: its entity and its current ETag."""
    return repository.peek(key), repository.current_etag(key)


def writable(entity: dict[str, Any]) -> dict[str, Any]:
    return {name: entity[name] for name in WRITABLE_KEYS}


def background_events(repository: Repository, document: str) -> list[tuple[float, str]]:
    return [
        (event.t, event.process)
        for event in repository.journal.events(document)
        if event.type == "background"
    ]


def create(repository: Repository, kind: str = "document", **properties: Any) -> dict[str, Any]:
    """Create an object as wcadmin (named "Pump housing" unless given); its entity."""
    properties.setdefault("Name", "Pump housing")
    entity = repository.create(properties, user="wcadmin", kind=kind).entity
    assert entity is not None
    return entity


def check_out(repository: Repository, key: str, user: str = "alice") -> str:
    """Check ``key`` out as ``user``; the working copy's ID."""
    working = repository.check_out(key, user=user).entity
    assert working is not None
    return str(working["ID"])
