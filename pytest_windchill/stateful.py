"""A state machine base for interleaving several clients and background work.

Subclass :class:`WindchillStateMachine`, override :meth:`client_update` with your client
(the default is the reference ``DocumentUpdater``), and run it with Hypothesis::

    class TestMyClient(WindchillStateMachine):
        def client_update(self, mock, session, user, doc_id, changes):
            return my_update(session, mock.service_root, doc_id, changes)

    TestMyClient = TestMyClient.TestCase

Rules create interference on a few documents — micro-updates, lifecycle changes, edits and
check-outs by other users, faults, lost responses, each either at once or armed to fire in
the middle of the next update — advance virtual time, and run updates by several clients.
Every update is judged by the history checker; a violation fails the run with the checker's
message, and Hypothesis shrinks the run to the shortest sequence of rules that shows it.
"""

from __future__ import annotations

from typing import Any

import requests
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from mock_server.config import MockConfig
from mock_server.core.clock import VirtualClock
from mock_server.core.documents import DEFAULT_SOFT_ATTRIBUTES
from mock_server.core.interventions import Intervention
from mock_server.http import create_app

from .checks import check_update
from .client.policy import RetryPolicy
from .client.review import InMemoryReviewQueue
from .client.updater import DocumentUpdater
from .handle import WindchillMock
from .outcomes import Outcome, UpdateResult
from .scenarios import virtual_sleep
from .strategies import changes as change_sets
from .strategies import steps
from .transport import DEFAULT_BASE_URL, in_process_session

#: The writable fields of every kind.
_COMMON_FIELDS = ("Description", *DEFAULT_SOFT_ATTRIBUTES)

__all__ = ["WindchillStateMachine"]


class WindchillStateMachine(RuleBasedStateMachine):
    """Several clients and background events on a few documents, judged by the checker."""

    #: The users the clients log in as (each gets its own session and CSRF nonce).
    client_users: tuple[str, ...] = ("alice", "bob")
    #: How many documents the machine works on, and of which kind (``"part"``: parts).
    document_count = 2
    kind = "document"
    #: The mock's profile and the clients' retry policy.
    profile = "thread"
    policy = RetryPolicy()

    documents = Bundle("documents")

    def __init__(self) -> None:
        super().__init__()
        users = {"wcadmin": "wcadmin", "other": "other"}
        users.update({user: user for user in self.client_users})
        self.config = MockConfig(profile=self.profile, users=users)
        self.app = create_app(self.config, clock=VirtualClock())
        admin = in_process_session(self.app, auth=("wcadmin", "wcadmin"))
        self.mock = WindchillMock.in_process(self.app, admin, DEFAULT_BASE_URL, self.config)
        self.sessions: dict[str, requests.Session] = {
            user: in_process_session(self.app, auth=(user, user)) for user in self.client_users
        }
        self.updates = 0

    def client_update(
        self,
        mock: WindchillMock,
        session: requests.Session,
        user: str,
        doc_id: str,
        changes: dict[str, Any],
    ) -> UpdateResult | Outcome:
        """Run one update with the client under test. Default: the reference client."""
        updater = DocumentUpdater(
            session,
            mock.service_root,
            policy=self.policy,
            sleep=mock.sleep,
            review_queue=InMemoryReviewQueue(),
            seed=self.updates,
        )
        return updater.update(doc_id, changes)

    @initialize(target=documents)
    def create_documents(self) -> Any:
        created = [
            self.mock.create_document(self.kind, Name=f"Machine {self.kind} {i + 1}")
            for i in range(self.document_count)
        ]
        return multiple(*created)

    # Other users edit the fields every kind has, so that the rule serves parts too.
    @rule(doc=documents, step=steps(max_request=4, fields=_COMMON_FIELDS))
    def interfere(self, doc: str, step: Any) -> None:
        """Arm an intervention: it fires during the next requests on the document."""
        if step.action.kind == "check_out":
            # A check-out by another user is released two requests later, like a colleague.
            self.mock.check_out_as(doc, before_request=self._request_count(doc) + 1)
            self.mock.check_in_as(doc, before_request=self._request_count(doc) + 3)
            return
        assert step.before_request is not None
        trigger = self._request_count(doc) + step.before_request
        self.mock.inject(Intervention(doc, step.action, before_request=trigger))

    @rule(seconds=st.sampled_from((0.1, 1.0, 5.0)))
    def advance(self, seconds: float) -> None:
        self.mock.clock.advance(seconds)

    @precondition(lambda self: bool(self.client_users))
    @rule(doc=documents, data=st.data())
    def update(self, doc: str, data: st.DataObject) -> None:
        user = data.draw(st.sampled_from(self.client_users), label="user")
        changes = data.draw(change_sets(max_size=2, kind=self.kind), label="changes")
        since = max((e.seq for e in self.mock.journal), default=0)
        with virtual_sleep(self.mock):  # the client's time.sleep moves virtual time
            outcome = self.client_update(self.mock, self.sessions[user], user, doc, changes)
        self.updates += 1
        check_update(
            self.mock.journal,
            doc,
            changes,
            outcome,
            user=user,
            profile=self.config.resolved_profile(),
            policy=self.policy,
            since=since,
        )

    @invariant()
    def no_client_holds_a_lock(self) -> None:
        for doc in self.mock.repository.ids():
            entity = self.mock.document(doc)
            if entity["CheckoutState"] == "Checked out":
                owner = _checkout_owner(self.mock, doc)
                assert owner not in self.client_users, f"{owner} left {doc} checked out"

    def teardown(self) -> None:
        for session in self.sessions.values():
            session.close()
        self.mock.session.close()

    def _request_count(self, doc: str) -> int:
        return self.mock.repository.request_count(doc)


def _checkout_owner(mock: WindchillMock, doc: str) -> str | None:
    owner = None
    for event in mock.journal:
        if event.document != doc or event.type not in ("ok", "intervention"):
            continue
        if event.op == "check_out":
            owner = event.process
        elif event.op in ("check_in", "undo_check_out"):
            owner = None
    return owner
