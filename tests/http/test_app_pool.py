"""Reused apps: a mock taken from the pool never shows the state of the one before."""

from __future__ import annotations

import threading

import pytest

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
    first = pool.acquire(MockConfig(), clock=VirtualClock())
    pool.release(first)

    again = pool.acquire(MockConfig(), clock=VirtualClock())
    other = pool.acquire(MockConfig(), clock=VirtualClock())

    assert again is first
    assert other is not first, "the released app is in use again"


def test_an_app_released_twice_is_refused() -> None:
    pool = AppPool()
    app = pool.acquire(MockConfig(), clock=VirtualClock())
    pool.release(app)

    with pytest.raises(ValueError, match="released already"):
        pool.release(app)


def test_threads_taking_and_returning_apps_never_share_one() -> None:
    pool = AppPool()
    # Four apps built up front: building routes in several threads at once trips a CPython
    # 3.11 bug in ast.parse, and the pool's lock is what this test is about.
    warm = [pool.acquire(MockConfig(), clock=VirtualClock()) for _ in range(4)]
    for app in warm:
        pool.release(app)
    in_use: set[int] = set()
    clashes: list[int] = []
    seen: set[int] = set()
    guard = threading.Lock()

    def work() -> None:
        for _ in range(50):
            app = pool.acquire(MockConfig(), clock=VirtualClock())
            with guard:
                if id(app) in in_use:
                    clashes.append(id(app))
                in_use.add(id(app))
                seen.add(id(app))
            with guard:
                in_use.discard(id(app))
            pool.release(app)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert clashes == []
    assert seen <= {id(app) for app in warm}, "four threads never need a fifth app"
