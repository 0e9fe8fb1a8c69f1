"""The store's books on their own: keys, ids, queues, and undoing a batch."""

from __future__ import annotations

import pytest

from mock_server.core.documents import Document
from mock_server.core.errors import NotFound
from mock_server.core.interventions import Fault, Intervention
from mock_server.core.store import FIRST_OID, DocumentStore


def new_document(store: DocumentStore, **fields: object) -> Document:
    oid = store.allocate()
    doc = Document(
        oid=oid,
        vid=store.allocate(),
        number=f"{oid:010d}",
        name="Pump",
        created_on=0.0,
        created_by="wcadmin",
        modified_by="wcadmin",
        stamp=0,
    )
    for name, value in fields.items():
        setattr(doc, name, value)
    store.add(doc)
    return doc


def test_ids_are_allocated_in_order_from_the_first_oid() -> None:
    store = DocumentStore()
    assert [store.allocate() for _ in range(3)] == [FIRST_OID, FIRST_OID + 1, FIRST_OID + 2]


def test_an_original_is_reached_by_its_or_and_vr_keys_and_has_a_queue() -> None:
    store = DocumentStore()
    doc = new_document(store)

    assert store.resolve(doc.id) is doc
    assert store.resolve(f"VR:wt.doc.WTDocument:{doc.vid}") is doc
    assert doc.oid in store.queues
    assert store.originals() == [doc]


def test_a_working_copy_has_only_its_or_key_and_no_queue_of_its_own() -> None:
    store = DocumentStore()
    original = new_document(store)
    working = new_document(store, working_copy_of=original.oid)

    assert store.resolve(working.id) is working
    assert working.oid not in store.queues
    assert store.family_oid(working) == original.oid
    assert store.original_of(working) is original
    assert store.originals() == [original]


def test_a_discarded_document_leaves_no_key_and_no_queue() -> None:
    store = DocumentStore()
    keep = new_document(store)
    gone = new_document(store)

    store.discard(gone.oid)

    assert set(store.keys.values()) == {keep.oid}
    assert gone.oid not in store.queues
    assert store.get(gone.id) is None
    with pytest.raises(NotFound, match=gone.id):
        store.resolve(gone.id)


def test_restore_undoes_everything_since_save() -> None:
    store = DocumentStore()
    doc = new_document(store, description="before")
    saved = store.save()

    doc.description = "after"
    store.queue(doc.oid).add(Intervention(doc.id, Fault(503)))
    store.queue(doc.oid).count_request()
    added = new_document(store)
    store.restore(saved)

    assert store.resolve(doc.id).description == "before"
    assert store.queue(doc.oid).interventions() == []
    assert store.queue(doc.oid).requests == 0
    assert store.get(added.id) is None
    assert store.allocate() == added.oid, "the ids handed out since are handed out again"
