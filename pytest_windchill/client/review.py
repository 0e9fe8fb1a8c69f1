"""Where the update client parks an update it must not apply on its own: the review queue.

An update goes to review when a three-way merge finds a field that someone else changed. The
:class:`ReviewItem` carries everything a human needs to decide: the document, the changes
that could still be applied, the conflicting fields and the ETags involved. Items are plain
JSON (``to_json`` / ``from_json``), so field values should be JSON values; a tuple comes back
as a list.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

from pytest_windchill.client.merge import FieldConflict

__all__ = ["InMemoryReviewQueue", "JsonLinesReviewQueue", "ReviewItem", "ReviewQueue"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class ReviewItem:
    """An update held back for a human.

    ``changes`` are the fields that merged cleanly (not yet sent), ``conflicts`` the fields
    someone else changed, ``base_etag`` the ETag the client first read, ``current_etag`` the
    one the server holds now, and ``reason`` a short human-readable explanation.
    """

    document: str
    changes: dict[str, object]
    conflicts: tuple[FieldConflict, ...]
    base_etag: str | None
    current_etag: str | None
    reason: str

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict; ``conflicts`` become a list of dicts."""
        return {
            "document": self.document,
            "changes": dict(self.changes),
            "conflicts": [
                {"field": c.field, "base": c.base, "mine": c.mine, "theirs": c.theirs}
                for c in self.conflicts
            ],
            "base_etag": self.base_etag,
            "current_etag": self.current_etag,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ReviewItem:
        """Rebuild an item from :meth:`to_json` output.

        Raises:
            ValueError: if a key is missing or has the wrong type.
        """
        changes = _require(data, "changes", dict)
        raw_conflicts = _require(data, "conflicts", list)
        conflicts: list[FieldConflict] = []
        for raw in raw_conflicts:
            if not isinstance(raw, dict):
                raise ValueError(f"each conflict must be an object, got {raw!r}")
            missing = {"field", "base", "mine", "theirs"} - raw.keys()
            if missing:
                raise ValueError(f"conflict is missing {sorted(missing)}: {raw!r}")
            conflicts.append(
                FieldConflict(
                    field=_require(raw, "field", str),
                    base=raw["base"],
                    mine=raw["mine"],
                    theirs=raw["theirs"],
                )
            )
        return cls(
            document=_require(data, "document", str),
            changes={str(key): value for key, value in changes.items()},
            conflicts=tuple(conflicts),
            base_etag=_optional_str(data, "base_etag"),
            current_etag=_optional_str(data, "current_etag"),
            reason=_require(data, "reason", str),
        )


@runtime_checkable
class ReviewQueue(Protocol):
    """Anything that accepts review items. The updater only ever calls :meth:`put`."""

    def put(self, item: ReviewItem) -> None: ...


class InMemoryReviewQueue:
    """A review queue that keeps its items in ``items``, in the order they were put."""

    def __init__(self) -> None:
        self.items: list[ReviewItem] = []

    def put(self, item: ReviewItem) -> None:
        """Append ``item``."""
        self.items.append(item)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[ReviewItem]:
        return iter(self.items)

    def __repr__(self) -> str:
        return f"InMemoryReviewQueue({len(self.items)} items)"


class JsonLinesReviewQueue:
    """A review queue in a JSON Lines file: one item per line, UTF-8, keys sorted.

    Thread-safe within one instance: each :meth:`put` writes one whole line under a lock.
    The file (not its directory) is created on the first :meth:`put`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def put(self, item: ReviewItem) -> None:
        """Append ``item`` as one JSON line."""
        line = json.dumps(item.to_json(), sort_keys=True, ensure_ascii=False) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8", newline="\n") as stream:
            stream.write(line)

    def read(self) -> list[ReviewItem]:
        """All items in the file, oldest first; an empty list if the file does not exist."""
        with self._lock:
            try:
                text = self.path.read_text(encoding="utf-8")
            except FileNotFoundError:
                return []
        # split("\n"), not splitlines(): JSON leaves U+2028 and friends unescaped in strings.
        return [ReviewItem.from_json(_object(line)) for line in text.split("\n") if line.strip()]

    def __len__(self) -> int:
        return len(self.read())

    def __repr__(self) -> str:
        return f"JsonLinesReviewQueue({str(self.path)!r})"


def _object(line: str) -> dict[str, object]:
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError(f"review queue line is not a JSON object: {line!r}")
    return data


def _require(data: Mapping[str, object], key: str, kind: type[_T]) -> _T:
    try:
        value = data[key]
    except KeyError:
        raise ValueError(f"review item is missing {key!r}") from None
    if not isinstance(value, kind):
        raise ValueError(f"review item {key!r} must be {kind.__name__}, got {value!r}")
    return value


def _optional_str(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"review item {key!r} must be a string or null, got {value!r}")
    return value
