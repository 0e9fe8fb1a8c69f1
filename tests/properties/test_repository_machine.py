"""The repository against a plain dict model, driven by Hypothesis.

The machine plays two users (``alice`` and ``bob``) against one ``thread``-profile repository
with background activity, on a virtual clock. Each rule predicts the outcome from the model
(checked-out owner, iteration, current ETag, in-flight window) and checks the repository
agrees; after every step the invariants compare every document with the model:

* the writable values, the iteration and the check-out state equal the model's;
* every successful write is visible;
* every rejected operation leaves the state and the ETag unchanged;
* ETags of successive states never repeat (the timestamp part strictly increases).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from mock_server.core import (
    DEFAULT_EPOCH,
    ConcurrentEdit,
    Intervention,
    MicroUpdate,
    Repository,
    SourceSettings,
    VirtualClock,
    WriteConditions,
)
from mock_server.core.errors import (
    BadRequest,
    CheckedOut,
    ConcurrentModification,
    PreconditionFailed,
    WindchillError,
)
from mock_server.core.etag import parse_etag

WRITABLE_KEYS = ("Description", "Title", "Department", "ExternalReference", "ReviewComment")
USERS = ("alice", "bob")
BACKGROUND = {
    "indexer": SourceSettings(rate=0.4, duration=0.5),
    "cache_sync": SourceSettings(rate=0.1, duration=2.0),
}
#: Tolerance for an in-flight window whose end the model only knows from the journal
#: (times there are rounded to the microsecond).
FUZZ = 1e-5

T = TypeVar("T")

users = st.sampled_from(USERS)
values = st.one_of(st.none(), st.text(alphabet="abc", max_size=3))
changes = st.dictionaries(st.sampled_from(WRITABLE_KEYS), values, min_size=1, max_size=3)
# Dyadic steps keep virtual time exact; 2**-12 s puts several changes in one millisecond.
steps = st.sampled_from([0.0, 2.0**-12, 2.0**-6, 0.25, 0.5, 1.0, 3.0])


@dataclass
class Model:
    values: dict[str, Any]
    iteration: int = 1
    owner: str | None = None
    working_copy: str | None = None
    working_values: dict[str, Any] | None = None
    #: End of the latest in-flight window the machine injected (exact).
    busy_until: float = 0.0
    #: ETags this client has read, stale or not.
    remembered: list[str] = field(default_factory=list)
    #: The first OR: of the document: the name the journal knows it by.
    first_id: str = ""


def attempt(operation: Callable[[], T]) -> tuple[T | None, WindchillError | None]:
    """Run a repository operation; return its result or the domain error it raised."""
    try:
        return operation(), None
    except WindchillError as error:
        return None, error


class RepositoryMachine(RuleBasedStateMachine):
    documents = Bundle("documents")

    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualClock()
        self.repository = Repository(clock=self.clock, profile="thread")
        self.model: dict[str, Model] = {}
        #: Per key: every ETag it has had, and the last state seen with it.
        self.etags: dict[str, list[str]] = {}
        self.last_seen: dict[str, tuple[dict[str, Any], str]] = {}

    @initialize(target=documents, seed=st.integers(0, 2**32 - 1), title=values)
    def start(self, seed: int, title: str | None) -> str:
        self.repository = Repository(
            clock=self.clock, profile="thread", seed=seed, background=BACKGROUND
        )
        return self.create_document(title)

    # ------------------------------------------------------------------ helpers

    def state(self, key: str) -> tuple[dict[str, Any], str]:
        return self.repository.peek(key), self.repository.current_etag(key)

    def family_state(self, doc: str) -> list[tuple[dict[str, Any], str]]:
        keys = [doc]
        working = self.model[doc].working_copy
        if working is not None:
            keys.append(working)
        return [self.state(key) for key in keys]

    def busy(self, doc: str) -> bool | None:
        """Whether a background operation holds ``doc`` now; ``None`` when too close to call."""
        now = self.clock.now()
        ends = [self.model[doc].busy_until]
        ends += [
            DEFAULT_EPOCH + e.t + (e.duration or 0.0)
            for e in self.repository.journal.events(self.model[doc].first_id)
            if e.type == "background"
        ]
        end = max(ends)
        if abs(end - now) < FUZZ and end != self.model[doc].busy_until:
            return None
        return now < end

    def expect_refusal(
        self, before: list[tuple[dict[str, Any], str]], doc: str, error: WindchillError
    ) -> None:
        assert self.family_state(doc) == before, f"{type(error).__name__} changed the state"
        assert self.repository.journal.events()[-1].type == "fail"

    def write(self, doc: str, user: str, new: dict[str, Any], if_match: str | None) -> None:
        """A PATCH of the original with the outcome the model predicts."""
        model = self.model[doc]
        current = self.repository.current_etag(doc)
        expected: type[WindchillError] | None = None
        busy: bool | None = False
        if model.owner is not None:
            expected = CheckedOut
        elif if_match not in (None, "*") and if_match != current:
            same = parse_etag(if_match).iteration == parse_etag(current).iteration
            expected = ConcurrentModification if same else PreconditionFailed
        else:
            busy = self.busy(doc)
            if busy:
                expected = ConcurrentModification
        before = self.family_state(doc)
        result, error = attempt(
            lambda: self.repository.update(
                doc, new, user=user, conditions=WriteConditions(if_match=if_match)
            )
        )
        if error is not None:
            event(f"update refused: {type(error).__name__}{' (busy)' if busy else ''}")
            if busy is None and isinstance(error, ConcurrentModification):
                expected = ConcurrentModification
            assert expected is not None, f"refused unexpectedly: {error!r}"
            assert type(error) is expected, f"expected {expected.__name__}, got {error!r}"
            if expected is CheckedOut:
                owner = "you" if model.owner == user else model.owner
                assert f"checked out by {owner}" in error.message
            self.expect_refusal(before, doc, error)
            return
        assert expected is None or busy is None, f"applied, but expected {expected.__name__}"
        event("update applied")
        model.values.update(new)
        assert result is not None
        assert result.entity is not None
        assert {k: result.entity[k] for k in WRITABLE_KEYS} == model.values
        assert result.etag != current
        assert result.etag == self.repository.current_etag(doc)

    # ------------------------------------------------------------------ rules

    @rule(target=documents, title=values)
    def create(self, title: str | None) -> str:
        return self.create_document(title)

    def create_document(self, title: str | None) -> str:
        entity = self.repository.create({"Name": "doc", "Title": title}, user="alice").entity
        assert entity is not None
        # The machine holds each document by its VersionID: the key of the latest iteration
        # (an OR: names one iteration; tests/core/test_iterations.py covers those).
        doc = str(entity["VersionID"])
        self.model[doc] = Model(
            values=dict.fromkeys(WRITABLE_KEYS) | {"Title": title}, first_id=str(entity["ID"])
        )
        return doc

    @rule(doc=documents, user=users)
    def read(self, doc: str, user: str) -> None:
        result = self.repository.read(doc, user=user)
        assert result.entity is not None
        assert result.etag is not None
        assert {k: result.entity[k] for k in WRITABLE_KEYS} == self.model[doc].values
        self.model[doc].remembered.append(result.etag)

    @precondition(lambda self: any(m.remembered for m in self.model.values()))
    @rule(doc=documents, user=users, new=changes, pick=st.integers(0, 2**16))
    def update_with_a_remembered_etag(
        self, doc: str, user: str, new: dict[str, Any], pick: int
    ) -> None:
        remembered = self.model[doc].remembered
        if_match = remembered[-1 - pick % len(remembered)] if remembered else None
        self.write(doc, user, new, if_match)

    @rule(doc=documents, user=users, new=changes)
    def update_with_a_fresh_etag(self, doc: str, user: str, new: dict[str, Any]) -> None:
        self.write(doc, user, new, self.repository.current_etag(doc))

    @rule(doc=documents, user=users, new=changes, if_match=st.sampled_from(["*", None]))
    def update_with_star_or_without_if_match(
        self, doc: str, user: str, new: dict[str, Any], if_match: str | None
    ) -> None:
        self.write(doc, user, new, if_match)

    @rule(doc=documents, user=users, name=st.sampled_from(["Version", "State", "Name", "Colour"]))
    def update_with_a_property_nobody_may_write(self, doc: str, user: str, name: str) -> None:
        before = self.family_state(doc)
        _, error = attempt(lambda: self.repository.update(doc, {name: "x"}, user=user))
        assert isinstance(error, BadRequest), f"{name} was written"
        self.expect_refusal(before, doc, error)

    @rule(doc=documents, user=users)
    def check_out(self, doc: str, user: str) -> None:
        model = self.model[doc]
        before = self.family_state(doc)
        result, error = attempt(lambda: self.repository.check_out(doc, user=user))
        if error is not None:
            assert isinstance(error, CheckedOut)
            assert model.owner is not None
            self.expect_refusal(before, doc, error)
            return
        assert model.owner is None
        assert result is not None
        assert result.entity is not None
        assert result.entity["CheckoutState"] == "Working copy"
        model.owner = user
        model.working_copy = str(result.entity["ID"])
        model.working_values = dict(model.values)

    @precondition(lambda self: any(m.working_copy for m in self.model.values()))
    @rule(doc=documents, user=users, new=changes)
    def update_working_copy(self, doc: str, user: str, new: dict[str, Any]) -> None:
        model = self.model[doc]
        if model.working_copy is None:
            return
        before = self.family_state(doc)
        working_copy = model.working_copy
        result, error = attempt(lambda: self.repository.update(working_copy, new, user=user))
        if error is not None:
            assert isinstance(error, CheckedOut)
            assert model.owner != user
            self.expect_refusal(before, doc, error)
            return
        assert model.owner == user
        assert model.working_values is not None
        model.working_values.update(new)
        assert result is not None
        assert result.entity is not None
        assert {k: result.entity[k] for k in WRITABLE_KEYS} == model.working_values

    @rule(doc=documents, user=users, via_working_copy=st.booleans())
    def check_in(self, doc: str, user: str, via_working_copy: bool) -> None:
        model = self.model[doc]
        key = model.working_copy if via_working_copy and model.working_copy else doc
        before = self.family_state(doc)
        result, error = attempt(lambda: self.repository.check_in(key, user=user))
        if error is not None:
            self.expect_release_refused(model, user, error)
            self.expect_refusal(before, doc, error)
            return
        assert model.owner == user
        event("check-in applied")
        assert model.working_values is not None
        model.values = model.working_values
        model.iteration += 1
        self.forget_working_copy(model)
        assert result is not None
        assert result.entity is not None
        assert result.entity["Version"] == f"A.{model.iteration}"

    @rule(doc=documents, user=users)
    def undo_check_out(self, doc: str, user: str) -> None:
        model = self.model[doc]
        before = self.family_state(doc)
        _, error = attempt(lambda: self.repository.undo_check_out(doc, user=user))
        if error is not None:
            self.expect_release_refused(model, user, error)
            self.expect_refusal(before, doc, error)
            return
        assert model.owner == user
        event("undo applied")
        self.forget_working_copy(model)

    @staticmethod
    def expect_release_refused(model: Model, user: str, error: WindchillError) -> None:
        """Check-in and undo: 400 when nothing is checked out, 409 for anyone but the owner."""
        if model.owner is None:
            assert isinstance(error, BadRequest), repr(error)
        else:
            assert isinstance(error, CheckedOut), repr(error)
            assert model.owner != user

    def forget_working_copy(self, model: Model) -> None:
        if model.working_copy is not None:
            self.etags.pop(model.working_copy, None)
            self.last_seen.pop(model.working_copy, None)
        model.owner = model.working_copy = model.working_values = None

    @rule(doc=documents, new=changes)
    def concurrent_edit_by_another_user(self, doc: str, new: dict[str, Any]) -> None:
        model = self.model[doc]
        before = self.family_state(doc)
        _, error = attempt(lambda: self.repository.inject(Intervention(doc, ConcurrentEdit(new))))
        if error is not None:
            assert isinstance(error, CheckedOut), repr(error)
            assert model.owner is not None
            assert self.family_state(doc) == before, f"{error!r} changed the state"
            return
        assert model.owner is None
        model.values.update(new)
        model.iteration += 1

    @rule(
        doc=documents,
        source=st.sampled_from(["indexer", "cache_sync", "lifecycle_evaluator"]),
        duration=st.sampled_from([0.0, 0.25, 1.0, 2.5]),
    )
    def micro_update(self, doc: str, source: str, duration: float) -> None:
        before = self.repository.current_etag(doc)
        self.repository.inject(Intervention(doc, MicroUpdate(source, duration)))
        model = self.model[doc]
        model.busy_until = max(model.busy_until, self.clock.now() + duration)
        assert self.repository.current_etag(doc) != before

    @rule(seconds=steps)
    def advance_clock(self, seconds: float) -> None:
        self.clock.advance(seconds)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def documents_match_the_model(self) -> None:
        for doc, model in self.model.items():
            entity = self.repository.peek(doc)
            assert {k: entity[k] for k in WRITABLE_KEYS} == model.values
            assert entity["Version"] == f"A.{model.iteration}"
            assert entity["CheckoutState"] == (
                "Checked in" if model.owner is None else "Checked out"
            )
            if model.working_copy is not None:
                working = self.repository.peek(model.working_copy)
                assert working["CheckoutState"] == "Working copy"
                assert {k: working[k] for k in WRITABLE_KEYS} == model.working_values

    @invariant()
    def etags_of_successive_states_never_repeat(self) -> None:
        keys = list(self.model)
        keys += [m.working_copy for m in self.model.values() if m.working_copy is not None]
        for key in keys:
            entity, etag = self.state(key)
            history = self.etags.setdefault(key, [])
            previous = self.last_seen.get(key)
            if previous is not None and previous[0] != entity:
                assert etag != previous[1], f"{key} changed but kept the ETag {etag}"
            if not history or history[-1] != etag:
                assert etag not in history, f"{key} repeated the ETag {etag}"
                if history:
                    assert parse_etag(etag).stamp > parse_etag(history[-1]).stamp
                history.append(etag)
            self.last_seen[key] = (entity, etag)


RepositoryMachine.TestCase.settings = settings(stateful_step_count=30)
TestRepositoryMachine = RepositoryMachine.TestCase
