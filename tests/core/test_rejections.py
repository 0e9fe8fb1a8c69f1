"""Every rejected operation leaves the state and the ETag exactly as they were."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from core_support import state_of

from mock_server.core import (
    CheckOutBy,
    ConcurrentEdit,
    Fault,
    Intervention,
    MicroUpdate,
    Repository,
    WriteConditions,
)
from mock_server.core.errors import WindchillError


@dataclass
class Scene:
    repository: Repository
    doc_id: str
    #: The ETag read before the set-up ran.
    stale: str
    working_copy: str | None = None

    def family(self) -> list[str]:
        return [self.doc_id] if self.working_copy is None else [self.doc_id, self.working_copy]


Setup = Callable[[Scene], None]
Operation = Callable[[Scene], object]


def nothing(scene: Scene) -> None:
    pass


def edited_by_other(scene: Scene) -> None:
    scene.repository.inject(Intervention(scene.doc_id, ConcurrentEdit({"Title": "theirs"})))


def touched_by_indexer(scene: Scene) -> None:
    scene.repository.inject(Intervention(scene.doc_id, MicroUpdate("indexer", 0.0)))


def busy(scene: Scene) -> None:
    scene.repository.inject(Intervention(scene.doc_id, MicroUpdate("cache_sync", 60.0)))


def checked_out_by_alice(scene: Scene) -> None:
    working = scene.repository.check_out(scene.doc_id, user="alice").entity
    assert working is not None
    scene.working_copy = str(working["ID"])


def checked_out_by_other(scene: Scene) -> None:
    scene.repository.inject(Intervention(scene.doc_id, CheckOutBy("other")))


def faulty(scene: Scene) -> None:
    scene.repository.inject(Intervention(scene.doc_id, Fault(503)))


def update(changes: Any, *, user: str = "bob", stale: bool = False, **conditions: Any) -> Operation:
    def run(scene: Scene) -> object:
        if stale:
            conditions["if_match"] = scene.stale
        return scene.repository.update(
            scene.doc_id, changes, user=user, conditions=WriteConditions(**conditions)
        )

    return run


def update_working_copy(user: str) -> Operation:
    def run(scene: Scene) -> object:
        assert scene.working_copy is not None
        return scene.repository.update(scene.working_copy, {"Title": "x"}, user=user)

    return run


def action(name: str, user: str = "bob") -> Operation:
    def run(scene: Scene) -> object:
        return getattr(scene.repository, name)(scene.doc_id, user=user)

    return run


def delete_stale(scene: Scene) -> object:
    return scene.repository.delete(
        scene.doc_id, user="bob", conditions=WriteConditions(if_match=scene.stale)
    )


CASES: list[tuple[str, Setup, Operation, int]] = [
    ("read-only property", nothing, update({"Version": "B.1"}), 400),
    ("unknown property", nothing, update({"Title": "x", "Colour": 1}), 400),
    ("not an object", nothing, update("Title=x"), 400),
    ("malformed If-Match", nothing, update({"Title": "x"}, if_match="v1"), 400),
    ("stale ETag, same iteration", touched_by_indexer, update({"Title": "x"}, stale=True), 409),
    ("stale ETag, new iteration", edited_by_other, update({"Title": "x"}, stale=True), 412),
    ("background op in flight", busy, update({"Title": "x"}), 409),
    ("optimistic, no If-Match", nothing, update({"Title": "x"}, update_mode="optimistic"), 428),
    ("checked out by another", checked_out_by_alice, update({"Title": "x"}), 409),
    ("unknown property, checked out", checked_out_by_alice, update({"T": "x"}, user="alice"), 400),
    ("owner writes the original", checked_out_by_alice, update({"Title": "x"}, user="alice"), 409),
    ("other writes the working copy", checked_out_by_alice, update_working_copy("bob"), 409),
    ("checked out by intervention", checked_out_by_other, update({"Title": "x"}), 409),
    ("injected fault", faulty, update({"Title": "x"}), 503),
    ("check out twice", checked_out_by_alice, action("check_out"), 409),
    ("check in by another", checked_out_by_alice, action("check_in"), 409),
    ("undo by another", checked_out_by_alice, action("undo_check_out"), 409),
    ("check in when checked in", nothing, action("check_in"), 400),
    ("undo when checked in", nothing, action("undo_check_out"), 400),
    ("delete checked out by another", checked_out_by_alice, action("delete"), 409),
    ("delete with a stale ETag", edited_by_other, delete_stale, 412),
]


@pytest.mark.parametrize(
    ("setup", "operation", "status"),
    [pytest.param(setup, op, status, id=name) for name, setup, op, status in CASES],
)
def test_rejected_operation_leaves_state_and_etag_unchanged(
    repository: Repository, doc_id: str, setup: Setup, operation: Operation, status: int
) -> None:
    scene = Scene(repository, doc_id, stale=repository.current_etag(doc_id))
    setup(scene)
    before = [state_of(repository, key) for key in scene.family()]
    ids_before = repository.ids()

    with pytest.raises(WindchillError) as caught:
        operation(scene)

    assert caught.value.http_status == status
    assert [state_of(repository, key) for key in scene.family()] == before
    assert repository.ids() == ids_before
    assert repository.journal.events()[-1].type == "fail"
