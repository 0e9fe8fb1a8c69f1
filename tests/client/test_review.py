"""The review queue: where updates with conflicting fields wait for a human."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_windchill.client.merge import FieldConflict
from pytest_windchill.client.review import (
    InMemoryReviewQueue,
    JsonLinesReviewQueue,
    ReviewItem,
    ReviewQueue,
)


def make_item(document: str = "OR:wt.doc.WTDocument:1001", **overrides: object) -> ReviewItem:
    fields: dict[str, object] = {
        "document": document,
        "changes": {"Name": "Bracket L", "Weight": 2.5},
        "conflicts": (FieldConflict("Description", "v1", "mine", "theirs"),),
        "base_etag": '"v1.1708523400000"',
        "current_etag": '"v2.1708523460000"',
        "reason": "Description was changed by someone else",
    }
    fields.update(overrides)
    return ReviewItem(**fields)  # type: ignore[arg-type]


# --- ReviewItem -----------------------------------------------------------------------------


def test_to_json_serialises_conflicts_as_a_list_of_dicts() -> None:
    data = make_item().to_json()
    assert data["conflicts"] == [
        {"field": "Description", "base": "v1", "mine": "mine", "theirs": "theirs"}
    ]
    assert data["changes"] == {"Name": "Bracket L", "Weight": 2.5}
    assert data["base_etag"] == '"v1.1708523400000"'


def test_to_json_is_plain_json() -> None:
    data = make_item().to_json()
    assert json.loads(json.dumps(data)) == data


def test_item_round_trips_through_json() -> None:
    item = make_item()
    assert ReviewItem.from_json(json.loads(json.dumps(item.to_json()))) == item


def test_item_without_etags_or_conflicts_round_trips() -> None:
    item = make_item(conflicts=(), base_etag=None, current_etag=None, changes={})
    assert ReviewItem.from_json(item.to_json()) == item


def test_conflict_values_of_any_json_type_round_trip() -> None:
    conflict = FieldConflict("Tags", ["a", "b"], None, {"nested": [1, 2.5, True]})
    item = make_item(conflicts=(conflict,))
    assert ReviewItem.from_json(json.loads(json.dumps(item.to_json()))) == item


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("document", 12),
        ("reason", None),
        ("changes", ["Name"]),
        ("conflicts", {"field": "Name"}),
        ("base_etag", 3),
    ],
)
def test_from_json_rejects_a_wrong_type(key: str, value: object) -> None:
    data = make_item().to_json()
    data[key] = value
    with pytest.raises(ValueError, match=key):
        ReviewItem.from_json(data)


@pytest.mark.parametrize("key", ["document", "changes", "conflicts", "reason"])
def test_from_json_rejects_a_missing_key(key: str) -> None:
    data = make_item().to_json()
    del data[key]
    with pytest.raises(ValueError, match=key):
        ReviewItem.from_json(data)


def test_from_json_rejects_a_malformed_conflict() -> None:
    data = make_item().to_json()
    data["conflicts"] = [{"field": "Name", "base": 1}]
    with pytest.raises(ValueError, match="missing"):
        ReviewItem.from_json(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
conflicts = st.builds(FieldConflict, st.text(), json_values, json_values, json_values)
items = st.builds(
    ReviewItem,
    document=st.text(),
    changes=st.dictionaries(st.text(), json_values, max_size=4),
    conflicts=st.lists(conflicts, max_size=3).map(tuple),
    base_etag=st.none() | st.text(),
    current_etag=st.none() | st.text(),
    reason=st.text(),
)


@given(item=items)
def test_any_item_of_json_values_round_trips(item: ReviewItem) -> None:
    assert ReviewItem.from_json(json.loads(json.dumps(item.to_json()))) == item


# --- InMemoryReviewQueue --------------------------------------------------------------------


def test_in_memory_queue_keeps_items_in_order() -> None:
    queue = InMemoryReviewQueue()
    first, second = make_item("doc:1"), make_item("doc:2")
    queue.put(first)
    queue.put(second)
    assert queue.items == [first, second]
    assert list(queue) == [first, second]
    assert len(queue) == 2


def test_new_in_memory_queue_is_empty_and_not_shared() -> None:
    one, other = InMemoryReviewQueue(), InMemoryReviewQueue()
    one.put(make_item())
    assert len(other) == 0
    assert other.items == []


def test_both_queues_satisfy_the_review_queue_protocol(tmp_path: Path) -> None:
    queues: list[ReviewQueue] = [
        InMemoryReviewQueue(),
        JsonLinesReviewQueue(tmp_path / "review.jsonl"),
    ]
    assert all(isinstance(queue, ReviewQueue) for queue in queues)


# --- JsonLinesReviewQueue -------------------------------------------------------------------


def test_missing_file_reads_as_an_empty_queue(tmp_path: Path) -> None:
    queue = JsonLinesReviewQueue(tmp_path / "review.jsonl")
    assert queue.read() == []
    assert len(queue) == 0
    assert not (tmp_path / "review.jsonl").exists()


def test_items_are_written_and_read_back_in_order(tmp_path: Path) -> None:
    path = tmp_path / "review.jsonl"
    queue = JsonLinesReviewQueue(path)
    first, second = make_item("doc:1"), make_item("doc:2", conflicts=())
    queue.put(first)
    queue.put(second)
    assert queue.read() == [first, second]
    assert len(queue) == 2
    # Another queue on the same file (e.g. a later process) sees the same items.
    assert JsonLinesReviewQueue(str(path)).read() == [first, second]


def test_each_item_is_one_utf8_line_with_sorted_keys(tmp_path: Path) -> None:
    path = tmp_path / "review.jsonl"
    JsonLinesReviewQueue(path).put(make_item(reason="Beschreibung geändert\nvon Jörg"))
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    assert raw.count(b"\n") == 1
    assert "geändert".encode() in raw
    line = json.loads(raw.decode("utf-8"))
    assert list(line) == sorted(line)


def test_put_appends_to_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "review.jsonl"
    JsonLinesReviewQueue(path).put(make_item("doc:1"))
    JsonLinesReviewQueue(path).put(make_item("doc:2"))
    assert [item.document for item in JsonLinesReviewQueue(path).read()] == ["doc:1", "doc:2"]


def test_unicode_line_separators_in_values_do_not_split_items(tmp_path: Path) -> None:
    queue = JsonLinesReviewQueue(tmp_path / "review.jsonl")
    item = make_item(reason="one\u2028two\u2029three\x85four")
    queue.put(item)
    assert queue.read() == [item]


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "review.jsonl"
    item = make_item()
    path.write_text("\n" + json.dumps(item.to_json()) + "\n\n", encoding="utf-8")
    assert JsonLinesReviewQueue(path).read() == [item]


def test_a_line_that_is_not_an_object_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "review.jsonl"
    path.write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not a JSON object"):
        JsonLinesReviewQueue(path).read()


def test_concurrent_puts_write_whole_lines(tmp_path: Path) -> None:
    queue = JsonLinesReviewQueue(tmp_path / "review.jsonl")
    threads_count, per_thread = 8, 25
    barrier = threading.Barrier(threads_count)

    def worker(n: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            queue.put(make_item(f"doc:{n}:{i}", reason="x" * 5000))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    documents = [item.document for item in queue.read()]
    assert sorted(documents) == sorted(
        f"doc:{n}:{i}" for n in range(threads_count) for i in range(per_thread)
    )
