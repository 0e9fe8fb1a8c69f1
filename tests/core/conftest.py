"""Fixtures for the core layer: a virtual clock and repositories built on it (no Flask)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from core_support import RepositoryFactory

from mock_server.core import Profile, Repository, SourceSettings, VirtualClock


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def make_repository(clock: VirtualClock) -> RepositoryFactory:
    """Build a repository on the test's virtual clock; keyword arguments are passed on."""

    def make(
        profile: Profile | str = "thread",
        *,
        seed: int = 0,
        background: Mapping[str, SourceSettings] | None = None,
        **kwargs: Any,
    ) -> Repository:
        return Repository(clock=clock, profile=profile, seed=seed, background=background, **kwargs)

    return make


@pytest.fixture
def repository(make_repository: RepositoryFactory) -> Repository:
    return make_repository()


@pytest.fixture
def doc_id(repository: Repository) -> str:
    created = repository.create(
        {"Name": "Pump housing", "Number": "0000000042", "Title": "Pump", "Description": "v1"},
        user="wcadmin",
    )
    assert created.entity is not None
    return str(created.entity["ID"])
