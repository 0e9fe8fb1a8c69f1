"""The OData system query options the mock understands, parsed strictly.

``$filter`` is parsed by ``odata-query`` (a maintained OData grammar) and compiled here into a
predicate over a document's query values (:data:`~mock_server.core.documents.QUERY_PROPERTIES`):
``eq ne gt ge lt le in``, ``and``/``or``/``not``, parentheses, ``contains``/``startswith``/
``endswith``, ``null``, strings, booleans and date-times, on every primitive property
(``State/Value`` too). ``$orderby`` sorts by one or more properties, ``asc`` or ``desc``.
``$select``, ``$top``, ``$skip``, ``$skiptoken`` (the mock's next-link offset), ``$count``.

What the grammar knows and the mock does not do (``$search``, ``$expand``, ``$apply``, other
functions, arithmetic, lambdas) is **501 Not Implemented**, as OData's minimal conformance
asks; what is wrong (a syntax error, an unknown property, comparing a string with a number)
is 400.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from odata_query import ast
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser

from ..core.errors import BadRequest, WindchillError

__all__ = [
    "CollectionQuery",
    "Filter",
    "NotImplementedFeature",
    "parse_collection_query",
    "parse_max_page_size",
    "parse_select",
]

#: ASCII digits only (``str.isdigit`` accepts "²" and "٣", which ``int`` then refuses or
#: reads), and few enough of them that ``int`` never hits its digit limit.
_WHOLE_DIGITS = 18
_SUPPORTED = frozenset(
    {"$filter", "$select", "$top", "$skip", "$skiptoken", "$count", "$format", "$orderby"}
)
#: OData system query options the mock knows of and does not implement: 501.
_NOT_IMPLEMENTED = frozenset(
    {"$search", "$expand", "$apply", "$compute", "$index", "$levels", "$deltatoken", "$id"}
)
#: The longest ``$filter`` parsed: a real server's URL limit is of this order.
MAX_FILTER_CHARS = 2000

Values = Mapping[str, object]
Predicate = Callable[[Values], bool]
#: A condition in OData's three-valued logic: a function of null is null, ``not null`` is null,
#: and a document matches only when the whole condition is true.
Condition = Callable[[Values], bool | None]


class NotImplementedFeature(WindchillError):
    """A request the OData standard allows that the mock does not implement: 501."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=501, code="NotImplemented")


@dataclass(frozen=True)
class Filter:
    """A compiled ``$filter``: ``matches(values)``, and the ``Number`` it requires, if any (a
    top-level ``Number eq '…'`` lets the store look the document up instead of scanning)."""

    text: str
    matches: Predicate
    number: str | None = None
    #: The property paths the condition reads.
    paths: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CollectionQuery:
    filter: Filter | None = None
    orderby: tuple[tuple[str, bool], ...] = ()  # (property path, descending)
    select: tuple[str, ...] | None = None
    top: int | None = None
    skip: int = 0
    count: bool = False


def parse_collection_query(
    args: Mapping[str, str], *, properties: Mapping[str, str], selectable: tuple[str, ...]
) -> CollectionQuery:
    """``properties``: the primitive property paths a query may read, with their Edm types."""
    _refuse_unknown(args)
    return CollectionQuery(
        filter=parse_filter(args.get("$filter"), properties),
        orderby=_parse_orderby(args.get("$orderby"), properties),
        select=parse_select(args, selectable),
        top=_non_negative_int(args, "$top"),
        skip=(_non_negative_int(args, "$skiptoken") or 0) + (_non_negative_int(args, "$skip") or 0),
        count=_parse_bool(args, "$count"),
    )


def parse_select(args: Mapping[str, str], selectable: tuple[str, ...]) -> tuple[str, ...] | None:
    _refuse_unknown(args)
    raw = args.get("$select")
    if raw is None or raw.strip() in ("", "*"):
        return None
    names = tuple(name.strip() for name in raw.split(","))
    for name in names:
        if name not in selectable:
            raise BadRequest(f"$select: unknown property '{name}'", code="InvalidQueryOption")
    return names


def parse_max_page_size(prefer: str | None) -> int | None:
    """``Prefer: odata.maxpagesize=N`` → N, or None."""
    if not prefer:
        return None
    for part in prefer.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "odata.maxpagesize":
            if not _is_whole(value.strip()) or int(value) < 1:
                raise BadRequest(
                    f"Prefer: odata.maxpagesize needs a positive whole number, got {value!r}"
                )
            return min(int(value), 1000)
    return None


def _refuse_unknown(args: Mapping[str, str]) -> None:
    for name in args:
        if name in _NOT_IMPLEMENTED:
            raise NotImplementedFeature(
                f"Query option {name} is not implemented by this mock; supported: "
                f"{', '.join(sorted(_SUPPORTED))}"
            )
        if name.startswith("$") and name not in _SUPPORTED:
            raise BadRequest(
                f"Query option {name} is not an OData system query option; supported: "
                f"{', '.join(sorted(_SUPPORTED))}",
                code="InvalidQueryOption",
            )
    fmt = args.get("$format")
    if fmt is not None and fmt not in ("json", "application/json"):
        raise NotImplementedFeature(f"$format={fmt} is not implemented by this mock: only json")


def _is_whole(text: str) -> bool:
    return 0 < len(text) <= _WHOLE_DIGITS and text.isascii() and text.isdigit()


def _non_negative_int(args: Mapping[str, str], name: str) -> int | None:
    raw = args.get(name)
    if raw is None:
        return None
    if not _is_whole(raw.strip()):
        raise BadRequest(
            f"{name} must be a whole number >= 0, got {raw!r}", code="InvalidQueryOption"
        )
    return int(raw)


def _parse_bool(args: Mapping[str, str], name: str) -> bool:
    raw = args.get(name)
    if raw is None:
        return False
    if raw not in ("true", "false"):
        raise BadRequest(f"{name} must be true or false, got {raw!r}", code="InvalidQueryOption")
    return raw == "true"


# ---------------------------------------------------------------- $orderby


def _parse_orderby(raw: str | None, properties: Mapping[str, str]) -> tuple[tuple[str, bool], ...]:
    if raw is None or not raw.strip():
        return ()
    keys = []
    for item in raw.split(","):
        words = item.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise BadRequest(
                f"$orderby: cannot parse {item.strip()!r}; write <Property> [asc|desc], "
                "several separated by commas",
                code="InvalidQueryOption",
            )
        path = words[0]
        if path not in properties:
            raise BadRequest(
                f"$orderby: unknown property '{path}'; properties: {sorted(properties)}",
                code="InvalidQueryOption",
            )
        keys.append((path, len(words) == 2 and words[1] == "desc"))
    return tuple(keys)


# ---------------------------------------------------------------- $filter


def parse_filter(raw: str | None, properties: Mapping[str, str]) -> Filter | None:
    if raw is None or not raw.strip():
        return None
    if len(raw) > MAX_FILTER_CHARS:
        raise BadRequest(
            f"$filter is {len(raw)} characters long; the limit is {MAX_FILTER_CHARS}",
            code="InvalidQueryOption",
        )
    try:
        tree = ODataParser().parse(ODataLexer().tokenize(raw))
    except ODataException as error:
        raise BadRequest(
            f"$filter: cannot parse {raw!r}: {_where(error)}", code="InvalidQueryOption"
        ) from None
    except RecursionError:
        raise BadRequest("$filter is nested too deeply", code="InvalidQueryOption") from None
    if tree is None:
        raise BadRequest(f"$filter: cannot parse {raw!r}", code="InvalidQueryOption")
    compiler = _Compiler(properties)
    try:
        condition = compiler.boolean(tree)
    except RecursionError:
        raise BadRequest("$filter is nested too deeply", code="InvalidQueryOption") from None

    def matches(values: Values) -> bool:
        return condition(values) is True

    return Filter(raw, matches, _required_number(tree), frozenset(compiler.paths))


def _where(error: ODataException) -> str:
    """Where the grammar gave up, in words."""
    token = getattr(error, "token", None)
    index = getattr(token, "index", None)
    if getattr(error, "eof", False) or index is None:
        return "it ends too early (a missing value, quote or parenthesis?)"
    return f"unexpected text at character {index + 1}"


def _required_number(node: ast._Node) -> str | None:
    """The Number a match must have, when the filter is ``Number eq '…'`` and-ed with more."""
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        return _required_number(node.left) or _required_number(node.right)
    if (
        isinstance(node, ast.Compare)
        and isinstance(node.comparator, ast.Eq)
        and isinstance(node.left, ast.Identifier)
        and node.left.name == "Number"
        and not node.left.namespace
        and isinstance(node.right, ast.String)
    ):
        return str(node.right.val)
    return None


Getter = Callable[[Values], object]

_ORDERING = (ast.Gt, ast.GtE, ast.Lt, ast.LtE)
_STRING_FUNCTIONS: dict[str, Callable[[str, str], bool]] = {
    "contains": lambda text, part: part in text,
    "startswith": lambda text, part: text.startswith(part),
    "endswith": lambda text, part: text.endswith(part),
}
#: Literal node type → the Edm type it has.
_LITERALS: dict[type, str] = {
    ast.String: "Edm.String",
    ast.Boolean: "Edm.Boolean",
    ast.DateTime: "Edm.DateTimeOffset",
}
_NOT_IMPLEMENTED_NODES = (
    ast.BinOp,
    ast.CollectionLambda,
    ast.Lambda,
    ast.Duration,
    ast.Date,
    ast.Time,
    ast.GUID,
    ast.Geography,
    ast.NamedParam,
)


class _Compiler:
    """Turns the parsed tree into closures; checks properties and types on the way."""

    def __init__(self, properties: Mapping[str, str]) -> None:
        self._properties = properties
        self.paths: set[str] = set()

    def boolean(self, node: ast._Node) -> Condition:
        if isinstance(node, ast.BoolOp):
            left, right = self.boolean(node.left), self.boolean(node.right)
            if isinstance(node.op, ast.And):
                return lambda values: _and(left(values), right(values))
            return lambda values: _or(left(values), right(values))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            operand = self.boolean(node.operand)
            return lambda values: _not(operand(values))
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Identifier | ast.Attribute):
            path, type_ = self._path(node)
            if type_ != "Edm.Boolean":
                raise _type_error(f"'{path}' is {type_}, not a condition")
            return lambda values: values.get(path) is True
        if isinstance(node, ast.Boolean):
            truth = node.val == "true"
            return lambda values: truth
        self._refuse(node)
        raise _type_error(f"{_describe(node)} is not a condition")

    def _compare(self, node: ast.Compare) -> Condition:
        if isinstance(node.comparator, ast.In):
            return self._in(node)
        left, left_type = self._operand(node.left)
        right, right_type = self._operand(node.right)
        if None not in (left_type, right_type) and left_type != right_type:
            raise _type_error(f"cannot compare {left_type} with {right_type} ({_describe(node)})")
        ordering = isinstance(node.comparator, _ORDERING)
        if ordering and "Edm.Boolean" in (left_type, right_type):
            raise _type_error(f"booleans cannot be ordered ({_describe(node)})")
        compared = _OPERATORS[type(node.comparator)]

        equal = isinstance(node.comparator, ast.Eq)

        def compare(values: Values) -> bool:
            a, b = left(values), right(values)
            if a is None or b is None:  # null is only equal or not equal to something
                if ordering:
                    return False
                both = a is None and b is None
                return both if equal else not both
            return bool(compared(a, b))

        return compare

    def _in(self, node: ast.Compare) -> Condition:
        left, left_type = self._operand(node.left)
        if not isinstance(node.right, ast.List):
            raise _type_error(f"'in' takes a list: {_describe(node)}")
        options = []
        for item in node.right.val:
            if isinstance(item, ast.Identifier | ast.Attribute):
                raise _type_error(
                    f"'in' takes a list of literals, not the property {_path_of(item)}"
                )
            value, type_ = self._operand(item)
            if type_ is not None and left_type is not None and type_ != left_type:
                raise _type_error(f"cannot compare {left_type} with {type_} ({_describe(node)})")
            options.append(value({}))
        return lambda values: left(values) in options

    def _call(self, node: ast.Call) -> Condition:
        name = node.func.name
        test = _STRING_FUNCTIONS.get(name)
        if test is None or node.func.namespace:
            raise NotImplementedFeature(
                f"$filter: function {name}() is not implemented by this mock; it implements "
                f"{', '.join(sorted(_STRING_FUNCTIONS))}"
            )
        if len(node.args) != 2:
            raise BadRequest(f"$filter: {name}() takes 2 arguments", code="InvalidQueryOption")
        (text, text_type), (part, part_type) = (self._operand(arg) for arg in node.args)
        for type_ in (text_type, part_type):
            if type_ not in (None, "Edm.String"):
                raise _type_error(f"{name}() takes strings, not {type_}")

        def call(values: Values) -> bool | None:
            a, b = text(values), part(values)
            if not (isinstance(a, str) and isinstance(b, str)):
                return None  # a function of null is null
            return test(a, b)

        return call

    def _operand(self, node: ast._Node) -> tuple[Getter, str | None]:
        """A getter of the value and its Edm type (``None`` for ``null``)."""
        if isinstance(node, ast.Identifier | ast.Attribute):
            path, type_ = self._path(node)
            return (lambda values: values.get(path)), type_
        if isinstance(node, ast.Null):
            return (lambda values: None), None
        literal_type = _LITERALS.get(type(node))
        if literal_type is not None:
            value = _literal(node)
            return (lambda values: value), literal_type
        if isinstance(node, ast.Integer | ast.Float):
            number = node.py_val
            return (lambda values: number), "a number"
        if isinstance(node, ast.Call):
            raise NotImplementedFeature(
                f"$filter: function {node.func.name}() is not implemented by this mock as a "
                f"value; it implements {', '.join(sorted(_STRING_FUNCTIONS))} as conditions"
            )
        self._refuse(node)
        raise _type_error(f"{_describe(node)} cannot be compared")

    def _path(self, node: ast.Identifier | ast.Attribute) -> tuple[str, str]:
        path = _path_of(node)
        self.paths.add(path)
        type_ = self._properties.get(path)
        if type_ is None:
            hint = " (use State/Value)" if path == "State" else ""
            raise BadRequest(
                f"$filter: unknown property '{path}'{hint}; properties: "
                f"{', '.join(sorted(self._properties))}",
                code="InvalidQueryOption",
            )
        return path, type_

    def _refuse(self, node: ast._Node) -> None:
        if isinstance(node, (*_NOT_IMPLEMENTED_NODES, ast.UnaryOp)):
            raise NotImplementedFeature(
                f"$filter: {_describe(node)} is not implemented by this mock; it implements "
                "comparisons, and/or/not, in, contains/startswith/endswith and null"
            )


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def _not(a: bool | None) -> bool | None:
    return None if a is None else not a


def _path_of(node: ast.Identifier | ast.Attribute) -> str:
    if isinstance(node, ast.Identifier):
        return ".".join((*node.namespace, node.name))
    owner = node.owner
    if not isinstance(owner, ast.Identifier | ast.Attribute):
        raise _type_error(f"cannot read a property of {_describe(owner)}")
    return f"{_path_of(owner)}/{node.attr}"


def _literal(node: ast._Node) -> object:
    if isinstance(node, ast.String):
        return node.val
    if isinstance(node, ast.Boolean):
        return node.val == "true"
    if isinstance(node, ast.DateTime):
        try:
            value = dt.datetime.fromisoformat(node.val.replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(f"$filter: {node.val} is not a date-time") from None
        if value.tzinfo is None:
            raise BadRequest(f"$filter: {node.val} needs a time zone (Z or an offset)")
        return value
    raise AssertionError(node)  # pragma: no cover - _LITERALS lists what reaches here


#: What each kind of expression is called in a message.
_KINDS: dict[str, str] = {
    "BinOp": "arithmetic (add, sub, mul, div, mod)",
    "CollectionLambda": "a lambda (any, all)",
    "Lambda": "a lambda (any, all)",
    "Date": "a date literal (use a date-time such as 2024-02-21T00:00:00Z)",
    "Time": "a time-of-day literal",
    "Duration": "a duration literal",
    "GUID": "a GUID literal",
    "Geography": "a geography literal",
    "NamedParam": "a named parameter",
    "UnaryOp": "a sign (-)",
    "Compare": "a comparison",
    "Call": "a function call",
    "List": "a list",
}


def _describe(node: ast._Node) -> str:
    name = type(node).__name__
    return _KINDS.get(name, name)


def _type_error(message: str) -> BadRequest:
    return BadRequest(f"$filter: {message}", code="InvalidQueryOption")


_OPERATORS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
}
