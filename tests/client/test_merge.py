"""Three-way merge of a partial update against the server's current entity."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_windchill.client.merge import (
    FieldConflict,
    MergeResult,
    changed_fields,
    three_way_merge,
)

BASE = {"Name": "Bracket", "Description": "v1", "State": "INWORK", "Weight": 1.5}


def test_untouched_fields_are_re_applied() -> None:
    theirs = {**BASE, "State": "RELEASED"}  # someone else changed a field I do not touch
    result = three_way_merge(BASE, {"Description": "v2"}, theirs)
    assert result.changes == {"Description": "v2"}
    assert result.already_applied == frozenset()
    assert result.conflicts == ()
    assert result.clean


def test_field_changed_by_someone_else_is_a_conflict() -> None:
    theirs = {**BASE, "Description": "theirs"}
    result = three_way_merge(BASE, {"Description": "mine"}, theirs)
    assert result.changes == {}
    assert result.conflicts == (FieldConflict("Description", "v1", "mine", "theirs"),)
    assert not result.clean


def test_field_already_holding_my_value_is_not_sent_again() -> None:
    theirs = {**BASE, "Description": "v2"}  # e.g. my own write whose response was lost
    result = three_way_merge(BASE, {"Description": "v2"}, theirs)
    assert result.changes == {}
    assert result.already_applied == frozenset({"Description"})
    assert result.clean


def test_mixed_outcomes_are_sorted_into_the_right_buckets() -> None:
    theirs = {**BASE, "Description": "theirs", "State": "RELEASED"}
    mine = {"Name": "Bracket L", "Description": "mine", "State": "RELEASED"}
    result = three_way_merge(BASE, mine, theirs)
    assert result.changes == {"Name": "Bracket L"}
    assert result.already_applied == frozenset({"State"})
    assert [c.field for c in result.conflicts] == ["Description"]


def test_fields_not_in_mine_are_never_sent() -> None:
    theirs = {"Name": "Other", "Description": "v1", "Extra": 1}
    result = three_way_merge(BASE, {"Description": "v2"}, theirs)
    assert set(result.changes) == {"Description"}


def test_missing_keys_count_as_none() -> None:
    # I add a field nobody had: base and theirs both lack it, so it is re-applied.
    assert three_way_merge({}, {"Note": "x"}, {}).changes == {"Note": "x"}
    # I clear a field that the server no longer has: already applied.
    assert three_way_merge({"Note": "x"}, {"Note": None}, {}).already_applied == {"Note"}
    # Someone else removed a field I am changing: conflict with theirs = None.
    result = three_way_merge({"Note": "x"}, {"Note": "y"}, {})
    assert result.conflicts == (FieldConflict("Note", "x", "y", None),)


def test_field_i_set_back_to_base_conflicts_when_someone_else_changed_it() -> None:
    result = three_way_merge(BASE, {"State": "INWORK"}, {**BASE, "State": "RELEASED"})
    assert result.conflicts == (FieldConflict("State", "INWORK", "INWORK", "RELEASED"),)


def test_changes_and_conflicts_keep_the_order_of_mine() -> None:
    base = dict.fromkeys("abcdef", 0)
    theirs = {**base, "e": 9, "b": 9}
    mine = dict.fromkeys("fedcba", 1)
    result = three_way_merge(base, mine, theirs)
    assert list(result.changes) == ["f", "d", "c", "a"]
    assert [c.field for c in result.conflicts] == ["e", "b"]


def test_merge_does_not_modify_its_inputs() -> None:
    base, mine, theirs = dict(BASE), {"Description": "v2"}, {**BASE, "State": "X"}
    copies = (dict(base), dict(mine), dict(theirs))
    three_way_merge(base, mine, theirs)
    assert (base, mine, theirs) == copies


def test_merge_result_is_frozen() -> None:
    result = MergeResult({}, frozenset(), ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.changes = {"a": 1}  # type: ignore[misc]


# --- properties -----------------------------------------------------------------------------

field_names = st.sampled_from(["Name", "Description", "State", "Weight", "Note", "Owner"])
values = st.none() | st.integers(min_value=-3, max_value=3) | st.sampled_from(["a", "b", "c"])
entities = st.dictionaries(field_names, values)


@given(base=entities, mine=entities)
def test_when_nobody_else_wrote_exactly_mine_is_sent(
    base: dict[str, object], mine: dict[str, object]
) -> None:
    result = three_way_merge(base, mine, base)
    unchanged = {f for f, v in mine.items() if base.get(f) == v}
    assert result.changes == {f: v for f, v in mine.items() if f not in unchanged}
    assert result.already_applied == unchanged
    assert result.clean


@given(base=entities, mine=entities, rest=entities)
def test_when_the_server_holds_mine_everything_is_already_applied(
    base: dict[str, object], mine: dict[str, object], rest: dict[str, object]
) -> None:
    theirs = {**rest, **mine}
    result = three_way_merge(base, mine, theirs)
    assert result.changes == {}
    assert result.already_applied == frozenset(mine)
    assert result.clean


@given(base=entities, mine=entities, theirs=entities)
def test_every_field_of_mine_lands_in_exactly_one_bucket(
    base: dict[str, object], mine: dict[str, object], theirs: dict[str, object]
) -> None:
    result = three_way_merge(base, mine, theirs)
    conflicted = [c.field for c in result.conflicts]
    buckets = [*result.changes, *result.already_applied, *conflicted]
    assert sorted(buckets) == sorted(mine)
    assert all(result.changes[f] == mine[f] for f in result.changes)
    for conflict in result.conflicts:
        assert conflict.base == base.get(conflict.field)
        assert conflict.mine == mine[conflict.field]
        assert conflict.theirs == theirs.get(conflict.field)


@given(base=entities, mine=entities, theirs=entities)
def test_applying_the_changes_reaches_mine_unless_there_is_a_conflict(
    base: dict[str, object], mine: dict[str, object], theirs: dict[str, object]
) -> None:
    result = three_way_merge(base, mine, theirs)
    after = {**theirs, **result.changes}
    conflicted = {c.field for c in result.conflicts}
    assert all(after.get(f) == v for f, v in mine.items() if f not in conflicted)


# --- changed_fields -------------------------------------------------------------------------


def test_changed_fields_compares_every_key_of_both_mappings() -> None:
    before = {"a": 1, "b": 2, "c": 3}
    after = {"a": 1, "b": 20, "d": 4}
    assert changed_fields(before, after) == {"b", "c", "d"}


def test_changed_fields_can_be_limited_to_some_fields() -> None:
    before = {"a": 1, "b": 2, "c": 3}
    after = {"a": 10, "b": 20, "c": 3}
    assert changed_fields(before, after, fields=["b", "c", "z"]) == {"b"}


def test_changed_fields_treats_missing_as_none() -> None:
    assert changed_fields({"a": None}, {}) == set()
    assert changed_fields({}, {"a": 0}) == {"a"}


def test_changed_fields_accepts_a_one_shot_iterable() -> None:
    assert changed_fields({"a": 1}, {"a": 2}, fields=iter(["a"])) == {"a"}


@given(before=entities, after=entities)
def test_changed_fields_are_exactly_what_three_way_merge_would_re_send(
    before: dict[str, object], after: dict[str, object]
) -> None:
    # Against an untouched server, what gets sent is what differs from what I read.
    sent = three_way_merge(before, after, before).changes
    assert set(sent) == changed_fields(before, after, fields=after)
