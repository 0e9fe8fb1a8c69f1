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
