"""Reused apps: a mock taken from the pool never shows the state of the one before."""

from __future__ import annotations

from mock_server import MockConfig
from mock_server.core import VirtualClock
from mock_server.http import AppPool, state


def test_a_reused_app_has_fresh_state_and_the_new_config() -> None:
    pool = AppPool()
    first = pool.acquire(MockConfig(documents=2, profile="odata"), clock=VirtualClock())
    with first.app_context():
        state().repository.add_document({"Name": "left behind"})
        assert len(state().repository.ids()) == 3
    pool.release(first)

    second = pool.acquire(MockConfig(documents=1, max_body_bytes=1000), clock=VirtualClock())

    assert second is first, "the routes are reused"
    with second.app_context():
        assert len(state().repository.ids()) == 1
        assert state().repository.profile.name == "thread"
        assert len(state().repository.journal) == 0
    assert second.config["MAX_CONTENT_LENGTH"] == 1000


def test_apps_in_use_are_never_handed_out_twice() -> None:
    pool = AppPool()
    taken = [pool.acquire(MockConfig(), clock=VirtualClock()) for _ in range(3)]

    assert len({id(app) for app in taken}) == 3
