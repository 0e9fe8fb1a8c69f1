"""Every intervention action is wired everywhere, from its one class.

An action is declared once, as a class in ``mock_server.core.interventions``; the schedule
helper, the ``WindchillMock`` method, the generated schedules and the admin API derive from it.
These tests fail, naming the action and the place, when a new action misses one of them, or
when the docs do not describe it.
"""

from __future__ import annotations

import ast
import inspect
import json
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from hypothesis import find, settings

from mock_server import MockConfig, create_app
from mock_server.core import VirtualClock, repository
from mock_server.core.errors import MockError
from mock_server.core.interventions import ACTIONS, Action, Domain, Intervention
from mock_server.core.journal import ACTION_KINDS as JOURNAL_KINDS
from mock_server.core.journal import ActionKind
from pytest_windchill import schedules
from pytest_windchill.handle import WindchillMock
from pytest_windchill.strategies import ACTION_KINDS, steps

DOCS = Path(__file__).resolve().parent.parent / "docs"
CLASSES = sorted(ACTIONS.values(), key=lambda cls: cls.kind)
KINDS = [cls.kind for cls in CLASSES]


def example(action_class: type[Action]) -> Action:
    """An instance built the way a generated schedule builds one: the first of each domain."""

    def first(domain: Domain) -> Any:
        if domain == "fields":
            return ("Description",)
        if domain == "text":
            return "a"  # the simplest text a strategy draws
        return domain[0]

    drawn = {name: first(domain) for name, domain in action_class.draws}
    action: Action = action_class.from_draws(drawn)
    return action


def field_names(action_class: type[Action]) -> list[str]:
    return [f.name for f in fields(action_class)]


def test_the_registry_knows_every_action_once() -> None:
    assert set(typing.get_args(ActionKind)) == set(ACTIONS) == set(JOURNAL_KINDS)
    assert len({cls.helper for cls in CLASSES}) == len(CLASSES), "helper names are unique"
    ranks = [cls.rank for cls in CLASSES if cls.rank is not None]
    assert len(set(ranks)) == len(ranks), "shrink ranks are unique"


@pytest.mark.parametrize("action_class", CLASSES, ids=KINDS)
def test_the_schedule_helper_takes_the_trigger_the_document_and_the_fields(
    action_class: type[Action],
) -> None:
    helper = getattr(schedules, action_class.helper)
    assert schedules.HELPERS[action_class.kind] is helper
    assert action_class.helper in schedules.__all__
    parameters = list(inspect.signature(helper).parameters)
    assert parameters == ["before_request", "at", *field_names(action_class), "document"]

    action = example(action_class)
    step = helper(before_request=3, document=1, **{n: getattr(action, n) for n in parameters[2:-1]})

    assert step == schedules.Step(action, before_request=3, document=1)
    assert eval(repr(step), vars(schedules)) == step, "the repr is the helper call"


@pytest.mark.parametrize("action_class", CLASSES, ids=KINDS)
def test_the_handle_method_injects_the_action(action_class: type[Action]) -> None:
    method = getattr(WindchillMock, action_class.helper)
    parameters = list(inspect.signature(method).parameters)
    assert parameters == ["self", "doc_id", *field_names(action_class), "before_request", "at"]
    assert method.__doc__ == action_class.__doc__

    injected: list[Intervention] = []

    class Recorder:
        def inject(self, intervention: Intervention) -> Intervention:
            injected.append(intervention)
            return intervention

    action = example(action_class)
    values = [getattr(action, name) for name in field_names(action_class)]
    method(Recorder(), "OR:wt.doc.WTDocument:1", *values, before_request=2)

    assert injected == [Intervention("OR:wt.doc.WTDocument:1", action, before_request=2)]


@pytest.mark.parametrize("action_class", CLASSES, ids=KINDS)
def test_generated_schedules_draw_every_ranked_action(action_class: type[Action]) -> None:
    assert len(action_class.draws) <= 2, "a step makes two detail draws, used or not"
    if action_class.rank is None:
        assert action_class.kind not in ACTION_KINDS
        assert action_class.draws == (), "an action never drawn declares no draws"
        return
    assert action_class.kind in ACTION_KINDS
    drawn_names = [name for name, _ in action_class.draws]
    assert set(drawn_names) - set(field_names(action_class)) <= {"value"}

    step = find(
        steps(actions=[action_class.kind]), lambda s: True, settings=settings(database=None)
    )

    assert step.action == example(action_class), "shrinks to the first value of each domain"


def test_the_shrink_order_follows_the_ranks() -> None:
    ranks = [ACTIONS[kind].rank for kind in ACTION_KINDS]
    assert ranks == sorted(ranks)  # type: ignore[type-var]


@pytest.mark.parametrize("action_class", CLASSES, ids=KINDS)
def test_the_admin_api_accepts_the_action(action_class: type[Action]) -> None:
    app = create_app(MockConfig(documents=1), clock=VirtualClock())
    client = app.test_client()
    doc_id = "OR:wt.doc.WTDocument:164057"
    body = Intervention(doc_id, example(action_class), before_request=5).to_json()

    response = client.post("/__mock/interventions", json=body)

    assert response.status_code == 201, response.get_data(as_text=True)
    pending = client.get("/__mock/interventions").get_json()["pending"]
    assert pending == [body]


@pytest.mark.parametrize("action_class", CLASSES, ids=KINDS)
def test_the_repository_knows_what_the_action_does(action_class: type[Action]) -> None:
    table = repository._STATE_ACTIONS
    if action_class.request_action:
        assert action_class not in table, "request actions shape a request, not the document"
    else:
        assert action_class in table, "add the state change to the repository's table"


@pytest.mark.parametrize("action_class", CLASSES, ids=KINDS)
def test_the_docs_describe_the_action(action_class: type[Action]) -> None:
    model = (DOCS / "concurrency-model.md").read_text()
    fixtures = (DOCS / "fixtures.md").read_text()
    strategies = (DOCS / "strategies.md").read_text()

    assert f"| `{action_class.kind}` |" in model, "the Actions table of concurrency-model.md"
    assert f"| `{action_class.helper}(doc_id" in fixtures, "the Injections table of fixtures.md"
    assert f"| `{action_class.helper}` |" in strategies, "the helpers table of strategies.md"
    if action_class.rank is not None:
        row = f"| `{action_class.kind}` | `{action_class.helper}` |"
        assert row in strategies, "the 'what each kind draws' table of strategies.md"


def test_a_wrong_field_names_the_fields_the_helper_takes() -> None:
    with pytest.raises(TypeError) as raised:
        schedules.HELPERS["micro_update"](before_request=1, durration=2.0)

    assert "micro_update() takes the fields ['source', 'duration']" in str(raised.value)
    assert "'durration'" in str(raised.value)


def test_a_wrong_field_names_the_fields_the_method_takes() -> None:
    fault = getattr(WindchillMock, ACTIONS["fault"].helper)
    with pytest.raises(TypeError) as raised:
        fault(object(), "OR:wt.doc.WTDocument:1", 503, 2.0, "msg", "extra")

    assert "fault() takes the fields ['status', 'retry_after', 'message']" in str(raised.value)
    assert "too many positional arguments" in str(raised.value)


def test_a_bad_value_is_reported_as_itself_not_as_a_wrong_field() -> None:
    with pytest.raises(MockError, match="unknown state"):
        schedules.HELPERS["lifecycle_change"](before_request=1, state="SHIPPED")


def _declared(path: Path) -> dict[str, list[tuple[str, str, object]]]:
    """The functions declared under ``if TYPE_CHECKING:`` in ``path``: what a type checker
    sees of the derived helpers and methods. Each parameter as (name, kind, default)."""
    declared: dict[str, list[tuple[str, str, object]]] = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for function in node.body:
                if not isinstance(function, ast.FunctionDef):
                    continue
                arguments = function.args
                positional = arguments.args
                defaults: list[object] = [inspect.Parameter.empty] * (
                    len(positional) - len(arguments.defaults)
                ) + [ast.literal_eval(d) for d in arguments.defaults]
                parameters = [
                    (a.arg, "POSITIONAL_OR_KEYWORD", d)
                    for a, d in zip(positional, defaults, strict=True)
                ]
                parameters += [
                    (
                        a.arg,
                        "KEYWORD_ONLY",
                        inspect.Parameter.empty if d is None else ast.literal_eval(d),
                    )
                    for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
                ]
                declared[function.name] = parameters
    return declared


def _actual(function: Any) -> list[tuple[str, str, object]]:
    return [
        (p.name, p.kind.name, p.default) for p in inspect.signature(function).parameters.values()
    ]


@pytest.mark.parametrize("action_class", CLASSES, ids=KINDS)
def test_type_checkers_see_the_helpers_and_methods_as_they_are(
    action_class: type[Action],
) -> None:
    package = Path(schedules.__file__).parent
    helpers = _declared(package / "schedules.py")
    methods = _declared(package / "handle.py")
    name = action_class.helper

    assert name in helpers, f"declare {name} under TYPE_CHECKING in schedules.py"
    assert helpers[name] == _actual(getattr(schedules, name))
    assert name in methods, f"declare {name} under TYPE_CHECKING in WindchillMock"
    assert methods[name] == _actual(getattr(WindchillMock, name))


@pytest.mark.parametrize("action_class", CLASSES, ids=KINDS)
def test_the_action_changes_what_happens(action_class: type[Action]) -> None:
    # Whatever an action does, the journal of a request it hits differs from the journal of
    # the same request without it: an action the mock forgot to handle would change nothing.
    def journal(intervene: bool) -> list[dict[str, Any]]:
        app = create_app(MockConfig(), clock=VirtualClock())
        client = app.test_client()
        doc_id = client.post("/__mock/documents", json={"Name": "Pump"}).get_json()["id"]
        if intervene:
            body = Intervention(doc_id, example(action_class), before_request=1).to_json()
            assert client.post("/__mock/interventions", json=body).status_code == 201
        client.get(
            f"/Windchill/servlet/odata/DocMgmt/Documents('{doc_id}')",
            auth=("wcadmin", "wcadmin"),
        )
        lines = client.get("/__mock/journal").get_data(as_text=True).splitlines()
        return [json.loads(line) for line in lines]

    assert journal(intervene=True) != journal(intervene=False)
