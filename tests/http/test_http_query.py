"""The OData query subset integrations send: $filter, $orderby, /$count, $select's context.

Each query's answer is compared with what a plain Python reading of the same condition picks
from the documents, so a wrong operator, a lost parenthesis or a misordered page shows.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wrs_session import DOCS, ROOT, MakeMock, Session, doc_url, error_of

DOCMGMT = f"{ROOT}/DocMgmt"


@pytest.fixture
def catalogue(mock: Session) -> list[dict[str, Any]]:
    """Six documents with different names, titles, states and times; one checked out."""
    docs = []
    for i, (name, title) in enumerate(
        [
            ("Pump housing", "Drawing"),
            ("Pump impeller", None),
            ("Valve body", "Drawing"),
            ("Gearbox", "Manual"),
            ("Valve seat", None),
            ("O'Ring", "Spec"),
        ]
    ):
        mock.clock.advance(60)
        body: dict[str, Any] = {"Name": name, "Number": f"N-{i:02d}"}
        if title is not None:
            body["Title"] = title
        docs.append(mock.create(**body))
    mock.intervene(document=docs[3]["ID"], action="lifecycle_change", state="RELEASED")
    mock.action(docs[4]["ID"], "CheckOut")
    return docs


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["Name"] for item in response.get_json()["value"]]


def query(mock: Session, **options: str) -> Any:
    text = "&".join(f"{name}={quote(value)}" for name, value in options.items())
    return mock.get(f"{DOCS}?{text}")


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("(Number eq 'N-02')", ["Valve body"]),
        ("Number eq 'N-02' or Number eq 'N-03'", ["Valve body", "Gearbox"]),
        ("Name ne 'Gearbox' and Title eq 'Drawing'", ["Pump housing", "Valve body"]),
        (
            "not (Title eq 'Drawing') and Latest eq true",
            ["Pump impeller", "Gearbox", "Valve seat", "O'Ring"],
        ),
        ("contains(Name,'Valve')", ["Valve body", "Valve seat", "Valve seat"]),
        ("startswith(Name,'Pump') and not endswith(Name,'housing')", ["Pump impeller"]),
        ("Title eq null", ["Pump impeller", "Valve seat", "Valve seat"]),
        ("not contains(Title,'Draw')", ["Gearbox", "O'Ring"]),
        ("Title ne null and Name gt 'P'", ["Pump housing", "Valve body"]),
        ("Name eq 'O''Ring'", ["O'Ring"]),
        ("State/Value eq 'RELEASED'", ["Gearbox"]),
        ("CheckoutState eq 'Working copy'", ["Valve seat"]),
        ("Latest eq false", ["Valve seat"]),
        ("Number in ('N-00', 'N-05')", ["Pump housing", "O'Ring"]),
        (
            "CreatedOn gt 2024-02-21T13:25:00Z and CreatedOn le 2024-02-21T13:27:00Z",
            ["Pump impeller", "Valve body"],
        ),
        ("(Name eq 'Gearbox' or Name eq 'Valve body') and (Title eq 'Manual')", ["Gearbox"]),
    ],
)
def test_filter_picks_what_the_condition_says(
    mock: Session, catalogue: list[dict[str, Any]], condition: str, expected: list[str]
) -> None:
    assert names(query(mock, **{"$filter": condition})) == expected


def test_filter_on_id_finds_one_document(mock: Session, catalogue: list[dict[str, Any]]) -> None:
    target = catalogue[2]["ID"]

    assert names(query(mock, **{"$filter": f"ID eq '{target}'"})) == ["Valve body"]


def test_orderby_sorts_by_several_keys_nulls_first(
    mock: Session, catalogue: list[dict[str, Any]]
) -> None:
    by_title = names(query(mock, **{"$orderby": "Title,Name desc"}))
    by_name = names(query(mock, **{"$orderby": "Name desc", "$top": "3"}))

    assert by_title == [
        "Valve seat",
        "Valve seat",
        "Pump impeller",
        "Valve body",
        "Pump housing",
        "Gearbox",
        "O'Ring",
    ]
    assert by_name == ["Valve seat", "Valve seat", "Valve body"]


def test_orderby_and_filter_page_with_a_next_link_and_a_count(
    mock: Session, catalogue: list[dict[str, Any]]
) -> None:
    first = query(
        mock, **{"$filter": "Latest eq true", "$orderby": "Number desc", "$count": "true"}
    )
    first = mock.get(
        f"{DOCS}?$filter=Latest eq true&$orderby=Number desc&$count=true",
        headers={"Prefer": "odata.maxpagesize=4"},
    )
    body = first.get_json()
    second = mock.get(body["@odata.nextLink"].split("localhost", 1)[1])

    assert body["@odata.count"] == 6
    assert [d["Number"] for d in body["value"]] == ["N-05", "N-04", "N-03", "N-02"]
    assert [d["Number"] for d in second.get_json()["value"]] == ["N-01", "N-00"]


def test_count_segment_answers_the_number_as_plain_text(
    mock: Session, catalogue: list[dict[str, Any]]
) -> None:
    everything = mock.get(f"{DOCS}/$count")
    filtered = mock.get(f"{DOCS}/$count?$filter=" + quote("startswith(Name,'Valve')"))
    versioned = mock.get(f"{ROOT}/v1/DocMgmt/Documents/$count")

    assert everything.status_code == 200
    assert everything.mimetype == "text/plain"
    assert everything.get_data(as_text=True) == "7"
    assert filtered.get_data(as_text=True) == "3"
    assert versioned.get_data(as_text=True) == "7"
    assert mock.get(f"{DOCS}/$count?$filter=Nope eq 1").status_code == 400


def test_select_names_the_properties_in_the_context_url(
    mock: Session, catalogue: list[dict[str, Any]]
) -> None:
    collection = mock.get(f"{DOCS}?$select=Name,Version&$top=1").get_json()
    entity = mock.get(doc_url(catalogue[0]["ID"]) + "?$select=Name,Version").get_json()
    whole = mock.get(doc_url(catalogue[0]["ID"])).get_json()

    assert collection["@odata.context"].endswith("/$metadata#Documents(Name,Version)")
    assert entity["@odata.context"].endswith("/$metadata#Documents(Name,Version)/$entity")
    assert whole["@odata.context"].endswith("/$metadata#Documents/$entity")
    assert set(collection["value"][0]) >= {"Name", "Version"}


@pytest.mark.parametrize(
    "condition",
    ["Name eq 5", "Latest eq 'true'", "CreatedOn eq 'yesterday'", "contains(Latest,'x')"],
)
def test_comparing_values_of_different_types_is_400(mock: Session, condition: str) -> None:
    response = query(mock, **{"$filter": condition})

    assert response.status_code == 400
    assert error_of(response)["code"] == "InvalidQueryOption"


def test_a_filter_longer_than_the_limit_is_400(mock: Session) -> None:
    condition = " or ".join(["Name eq 'x'"] * 200)

    response = query(mock, **{"$filter": condition})

    assert response.status_code == 400
    assert "limit is 2000" in error_of(response)["message"]


# -------------------------------------------------------------- against a plain reading

_NAMES = ["Alpha", "alpha", "Beta", "Gamma ray", "Delta", "Beta"]
_TITLES = [None, "t1", "t2"]
_STRINGS = st.sampled_from(["Alpha", "Beta", "a", "ta", "t1", "Gamma", "", "zz"])


def _and(a: bool | None, b: bool | None) -> bool | None:
    return False if False in (a, b) else None if None in (a, b) else True


def _or(a: bool | None, b: bool | None) -> bool | None:
    return True if True in (a, b) else None if None in (a, b) else False


@st.composite
def conditions(draw: st.DrawFn, depth: int = 0) -> tuple[str, Any]:
    """An OData condition and the same condition as a Python function of (name, title), in
    OData's three-valued logic: a function of null is null, ``not`` keeps null null."""
    if depth < 2 and draw(st.booleans()):
        kind = draw(st.sampled_from(["and", "or", "not"]))
        left_text, left = draw(conditions(depth + 1))
        if kind == "not":
            return f"not ({left_text})", lambda d: None if left(d) is None else not left(d)
        right_text, right = draw(conditions(depth + 1))
        if kind == "and":
            return f"({left_text}) and ({right_text})", lambda d: _and(left(d), right(d))
        return f"({left_text}) or ({right_text})", lambda d: _or(left(d), right(d))
    field = draw(st.sampled_from(["Name", "Title"]))
    value = draw(_STRINGS)
    operator = draw(st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le", "contains", "startswith"]))
    literal = "'" + value + "'"

    def test(doc: dict[str, Any]) -> bool | None:
        actual = doc[field]
        if operator in ("contains", "startswith"):
            if actual is None:
                return None
            return value in actual if operator == "contains" else actual.startswith(value)
        if actual is None:
            return operator == "ne"
        return {
            "eq": actual == value,
            "ne": actual != value,
            "gt": actual > value,
            "ge": actual >= value,
            "lt": actual < value,
            "le": actual <= value,
        }[operator]

    if operator in ("contains", "startswith"):
        return f"{operator}({field},{literal})", test
    return f"{field} {operator} {literal}", test


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(condition=conditions(), order=st.sampled_from(["Name", "Name desc", "Title,Name desc"]))
def test_any_condition_picks_what_python_picks_in_the_order_asked(
    make_mock: MakeMock, condition: tuple[str, Any], order: str
) -> None:
    mock = make_mock()
    docs = []
    for i, name in enumerate(_NAMES):
        body: dict[str, Any] = {"Name": name}
        if _TITLES[i % 3] is not None:
            body["Title"] = _TITLES[i % 3]
        created = mock.create(**body)
        docs.append({"Name": name, "Title": _TITLES[i % 3], "ID": created["ID"]})
    text, expected = condition

    response = mock.get(f"{DOCS}?$filter={quote(text)}&$orderby={quote(order)}&$count=true")

    picked = [d for d in docs if expected(d) is True]
    for key in reversed(order.split(",")):
        field, _, direction = key.partition(" ")
        picked.sort(key=lambda d: (d[field] is not None, d[field] or ""), reverse=bool(direction))
    assert response.status_code == 200, (text, response.get_data(as_text=True))
    assert [d["ID"] for d in response.get_json()["value"]] == [d["ID"] for d in picked], text
    assert response.get_json()["@odata.count"] == len(picked)


def test_a_query_on_last_modified_sees_background_work_on_every_document(
    make_mock: MakeMock,
) -> None:
    mock = make_mock(rates={"indexer": 1.0})
    docs = [mock.create(Name=f"doc {i}")["ID"] for i in range(3)]
    mock.clock.advance(100)
    created = "2024-02-21T13:23:30Z"

    untouched = mock.get(f"{DOCS}?$filter=" + quote(f"LastModified le {created}"))
    newest_first = mock.get(f"{DOCS}?$orderby=LastModified desc,ID")
    again = mock.get(f"{DOCS}?$filter=" + quote(f"LastModified le {created}"))

    assert names(untouched) == [], "every document was touched by the indexer since"
    assert names(again) == []
    stamps = [d["LastModified"] for d in newest_first.get_json()["value"]]
    assert stamps == sorted(stamps, reverse=True)
    assert {d["ID"] for d in newest_first.get_json()["value"]} == set(docs)


def test_in_takes_literals_only(mock: Session) -> None:
    response = query(mock, **{"$filter": "Description in ('x', Title)"})

    assert response.status_code == 400
    assert "literals" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("condition", "says"),
    [
        ("Name eq 'x' and", "unexpected text at character 12"),
        ("contains(Name,'Pump'", "ends too early"),
        ("Number eq 5", "cannot compare Edm.String with a number"),
    ],
)
def test_filter_errors_say_where_and_what_in_words(
    mock: Session, condition: str, says: str
) -> None:
    response = query(mock, **{"$filter": condition})

    assert response.status_code == 400
    assert says in error_of(response)["message"]
    assert "Token(" not in error_of(response)["message"]


@pytest.mark.parametrize(
    ("condition", "says"),
    [
        ("Number add 1 eq 2", "arithmetic (add, sub, mul, div, mod)"),
        ("CreatedOn gt 2024-02-21", "use a date-time such as 2024-02-21T00:00:00Z"),
    ],
)
def test_not_implemented_features_are_named_in_words(
    mock: Session, condition: str, says: str
) -> None:
    response = query(mock, **{"$filter": condition})

    assert response.status_code == 501
    assert says in error_of(response)["message"]
