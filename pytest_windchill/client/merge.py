"""Three-way merge of a partial update: what to re-send after someone else wrote first.

The update client read a document (``base``), wants to set some fields (``mine``), and finds
on a 412 that the server now holds something else (``theirs``). For each field it wants to set:

============================  ===================  ========================================
server value (``theirs[f]``)  outcome              why
============================  ===================  ========================================
equals ``mine[f]``            ``already_applied``  nothing to do (maybe my own write)
equals ``base[f]``            ``changes``          nobody touched it: re-apply mine
anything else                 ``conflicts``        someone else changed it: a human decides
============================  ===================  ========================================

A missing key counts as ``None``. Fields not in ``mine`` are never sent, whatever happened to
them. Values are compared with ``==``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["FieldConflict", "MergeResult", "changed_fields", "three_way_merge"]


@dataclass(frozen=True)
class FieldConflict:
    """A field that I want to change and that someone else changed to something else."""

    field: str
    base: object
    mine: object
    theirs: object


@dataclass(frozen=True)
class MergeResult:
    """The outcome of :func:`three_way_merge`.

    ``changes`` is what still has to be sent (in the order of ``mine``), ``already_applied``
    the fields where the server already holds my value, ``conflicts`` the fields someone else
    changed (in the order of ``mine``).
    """

    changes: dict[str, object]
    already_applied: frozenset[str]
    conflicts: tuple[FieldConflict, ...]

    @property
    def clean(self) -> bool:
        """True when no field conflicts, so ``changes`` can be sent without review."""
        return not self.conflicts


def three_way_merge(
    base: Mapping[str, object],
    mine: Mapping[str, object],
    theirs: Mapping[str, object],
) -> MergeResult:
    """Merge the partial update ``mine`` against the server's ``theirs``, relative to ``base``.

    Args:
        base: the entity as this client first read it.
        mine: the changes this client wants, field → new value.
        theirs: the entity as it is on the server now.
    """
    changes: dict[str, object] = {}
    already_applied: set[str] = set()
    conflicts: list[FieldConflict] = []
    for field, wanted in mine.items():
        current = theirs.get(field)
        original = base.get(field)
        if current == wanted:
            already_applied.add(field)
        elif current == original:
            changes[field] = wanted
        else:
            conflicts.append(FieldConflict(field, original, wanted, current))
    return MergeResult(changes, frozenset(already_applied), tuple(conflicts))


def changed_fields(
    before: Mapping[str, object],
    after: Mapping[str, object],
    fields: Iterable[str] | None = None,
) -> set[str]:
    """The fields whose value differs between ``before`` and ``after``.

    Only ``fields`` are looked at when given, otherwise every key of either mapping. A missing
    key counts as ``None``, so ``{}`` and ``{"a": None}`` do not differ.
    """
    names = set(before) | set(after) if fields is None else set(fields)
    return {name for name in names if before.get(name) != after.get(name)}
