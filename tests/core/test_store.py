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


def test_an_original_is_reached_by_its_or_and_vr_keys_and_gets_a_queue_when_needed() -> None:
    store = DocumentStore()
    doc = new_document(store)

    assert store.resolve(doc.id) is doc
    assert store.resolve(f"VR:wt.doc.WTDocument:{doc.vid}") is doc
    assert store.originals() == [doc]
    assert doc.oid not in store.queues, "an idle document costs no queue"
    assert store.request_count(doc.oid) == 0
    assert doc.oid not in store.queues, "counting requests makes none either"
    store.queue(doc.oid).count_request()
    assert store.request_count(doc.oid) == 1


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
    saved = store.save([doc.oid])

    doc.description = "after"
    store.queue(doc.oid).add(Intervention(doc.id, Fault(503)))
    store.queue(doc.oid).count_request()
    added = new_document(store)
    store.restore(saved)

    assert store.resolve(doc.id).description == "before"
    assert store.queue(doc.oid).interventions() == []
    assert store.queue(doc.oid).requests == 0
    assert store.get(added.id) is None
    # Ids handed out since stay used: another user's new iteration made meanwhile may hold
    # one, and the journal must never name two objects with one ID.
    assert store.allocate() > added.oid


def test_pages_and_counts_follow_object_id_order_whatever_the_order_of_adding() -> None:
    store = DocumentStore()
    docs = [new_document(store) for _ in range(5)]
    store.discard(docs[1].oid)
    store.add(docs[1])  # back, out of allocation order

    assert [d.oid for d in store.page(0, None)] == sorted(d.oid for d in docs)
    assert store.page(1, 2) == [docs[1], docs[2]]
    assert store.page(4, 10) == [docs[4]]
    assert store.page(9, 1) == []
    assert len(store) == 5
    assert store.after(None, 2) == docs[:2]
    assert store.after(docs[2].oid, 10) == docs[3:]
    assert store.after(docs[4].oid, 10) == []


def test_numbers_are_indexed_for_originals_and_follow_renumbering_and_discarding() -> None:
    store = DocumentStore()
    doc = new_document(store)
    other = new_document(store)
    working = new_document(store, working_copy_of=doc.oid, number=doc.number)
    doc.working_copy = working.oid

    assert store.number_taken(doc.number)
    assert not store.number_taken(doc.number, by_other_than=doc.oid)
    assert store.number_taken(doc.number, by_other_than=other.oid)
    assert store.with_number(doc.number) == [doc, working], "a working copy shares the Number"
    assert store.with_number("nobody's") == []

    old = other.number
    store.renumber(other, "P-1")
    assert other.number == "P-1"
    assert not store.number_taken(old)
    assert store.with_number("P-1") == [other]

    store.discard(other.oid)
    assert not store.number_taken("P-1")
    store.discard(working.oid)
    assert store.number_taken(doc.number), "discarding a working copy keeps the original's"


def test_restore_touches_only_the_saved_families_and_removes_what_was_added() -> None:
    store = DocumentStore()
    saved_doc = new_document(store, description="before")
    bystander = new_document(store, description="before")
    saved = store.save([saved_doc.oid])

    saved_doc.description = "after"
    bystander.description = "after"
    store.timed.add(saved_doc.oid)
    working = new_document(store, working_copy_of=saved_doc.oid, number=saved_doc.number)
    saved_doc.working_copy = working.oid
    store.restore(saved)

    restored = store.resolve(saved_doc.id)
    assert restored.description == "before"
    assert restored.working_copy is None
    assert store.get(working.id) is None
    assert bystander.description == "after", "only the saved families are put back"
    assert saved_doc.oid not in store.timed
    assert [d.oid for d in store.page(0, None)] == [saved_doc.oid, bystander.oid]
    assert store.with_number(saved_doc.number) == [restored]


def test_restore_puts_back_a_working_copy_that_was_checked_in_meanwhile() -> None:
    store = DocumentStore()
    doc = new_document(store)
    working = new_document(store, working_copy_of=doc.oid, number=doc.number)
    doc.working_copy = working.oid
    store.queue(doc.oid).count_request()
    store.timed.add(doc.oid)
    saved = store.save([doc.oid, 999])  # an id the store does not hold is ignored

    store.discard(working.oid)
    doc.working_copy = None
    store.queue(doc.oid).count_request()
    store.timed.discard(doc.oid)
    store.restore(saved)

    assert store.resolve(working.id).working_copy_of == doc.oid
    assert store.resolve(doc.id).working_copy == working.oid
    assert store.request_count(doc.oid) == 1
    assert doc.oid in store.timed
