"""The state machine base: several clients and background work, judged by the checker."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from buggy_clients import (
    UpdateFunction,
    correct_update,
    reports_success_on_409,
    retries_with_the_stale_etag,
)
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from pytest_windchill.checks import ConcurrencyViolation
from pytest_windchill.client.updater import UpdateResult
from pytest_windchill.handle import WindchillMock
from pytest_windchill.stateful import WindchillStateMachine

THOROUGH = settings().max_examples >= 300
MACHINE = settings(
    max_examples=100 if THOROUGH else 25,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class ReferenceMachine(WindchillStateMachine):
    """Alice and Bob update two documents with the reference client."""


ReferenceMachine.TestCase.settings = MACHINE
TestReferenceClientInTheMachine = ReferenceMachine.TestCase


class ODataMachine(WindchillStateMachine):
    """The same in the ``odata`` profile, with three clients."""

    profile = "odata"
    client_users = ("alice", "bob", "carol")


ODataMachine.TestCase.settings = MACHINE
TestReferenceClientInTheODataMachine = ODataMachine.TestCase


def machine_for(client: UpdateFunction) -> type[WindchillStateMachine]:
    """A machine whose clients run ``client`` (a dropped connection counts as "failed")."""

    class Machine(WindchillStateMachine):
        def client_update(
            self,
            mock: WindchillMock,
            session: requests.Session,
            user: str,
            doc_id: str,
            changes: dict[str, Any],
        ) -> UpdateResult | str:
            try:
                return client(session, mock.service_root, doc_id, changes, mock.sleep)
            except requests.ConnectionError:
                return "failed"

    Machine.__name__ = f"{client.__name__}_machine"
    return Machine


def test_a_correct_plain_client_runs_the_machine_green() -> None:
    run_state_machine_as_test(machine_for(correct_update), settings=MACHINE)


@pytest.mark.parametrize(
    ("client", "broken"),
    [
        (retries_with_the_stale_etag, "stale-retry"),
        (reports_success_on_409, "truthful-outcome"),
    ],
    ids=lambda value: getattr(value, "__name__", value),
)
def test_a_buggy_client_fails_the_machine(client: UpdateFunction, broken: str) -> None:
    search = settings(
        MACHINE,
        max_examples=200,
        database=None,
        derandomize=True,
        phases=[Phase.generate, Phase.shrink],
    )

    with pytest.raises(ConcurrencyViolation) as caught:
        run_state_machine_as_test(machine_for(client), settings=search)
    assert caught.value.property == broken
