"""The OData system query options the mock understands, parsed strictly.

``$filter``: equality on a property, joined with ``and`` — ``Number eq '0000164057' and
Name eq 'Pump'`` (``State/Value`` too). ``$select``: comma-separated properties. ``$top``,
``$skip``, ``$skiptoken`` (the mock's next-link offset), ``$count=true``. Anything else starting
with ``$`` is refused with 400 rather than silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..core.errors import BadRequest

__all__ = ["CollectionQuery", "parse_collection_query", "parse_max_page_size", "parse_select"]

_CLAUSE = re.compile(r"\s*([A-Za-z][A-Za-z0-9_/]*)\s+eq\s+'((?:[^']|'')*)'\s*")
#: ASCII digits only (``str.isdigit`` accepts "²" and "٣", which ``int`` then refuses or
#: reads), and few enough of them that ``int`` never hits its digit limit.
_WHOLE = re.compile(r"[0-9]{1,18}")
_SUPPORTED = frozenset({"$filter", "$select", "$top", "$skip", "$skiptoken", "$count", "$format"})


@dataclass(frozen=True)
class CollectionQuery:
    filters: tuple[tuple[str, str], ...] = ()
    select: tuple[str, ...] | None = None
    top: int | None = None
    skip: int = 0
    count: bool = False


def parse_collection_query(
    args: Mapping[str, str], *, filterable: tuple[str, ...], selectable: tuple[str, ...]
) -> CollectionQuery:
    _refuse_unknown(args)
    return CollectionQuery(
        filters=_parse_filter(args.get("$filter"), filterable),
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
            if not _WHOLE.fullmatch(value.strip()) or int(value) < 1:
                raise BadRequest(
                    f"Prefer: odata.maxpagesize needs a positive whole number, got {value!r}"
                )
            return min(int(value), 1000)
    return None


def _refuse_unknown(args: Mapping[str, str]) -> None:
    for name in args:
        if name.startswith("$") and name not in _SUPPORTED:
            raise BadRequest(
                f"Query option {name} is not supported by this mock; supported: "
                f"{', '.join(sorted(_SUPPORTED))}",
                code="InvalidQueryOption",
            )
    fmt = args.get("$format")
    if fmt is not None and fmt != "json":
        raise BadRequest("$format: only json is supported", code="InvalidQueryOption")


def _parse_filter(raw: str | None, filterable: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    if raw is None or not raw.strip():
        return ()
    clauses = re.split(r"\s+and\s+", raw.strip())
    result = []
    for clause in clauses:
        match = _CLAUSE.fullmatch(clause)
        if match is None:
            raise BadRequest(
                f"$filter: cannot parse {clause!r}; this mock supports "
                "<Property> eq '<text>' joined with 'and'",
                code="InvalidQueryOption",
            )
        name, value = match.group(1), match.group(2).replace("''", "'")
        if name == "State/Value":
            name = "State"
        if name not in filterable:
            raise BadRequest(
                f"$filter: property '{name}' cannot be filtered; use one of {list(filterable)}",
                code="InvalidQueryOption",
            )
        result.append((name, value))
    return tuple(result)


def _non_negative_int(args: Mapping[str, str], name: str) -> int | None:
    raw = args.get(name)
    if raw is None:
        return None
    if not _WHOLE.fullmatch(raw.strip()):
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
