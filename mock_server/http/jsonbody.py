"""Strict JSON for request bodies: what RFC 8259 allows and nothing a response cannot echo.

Python's ``json`` accepts ``NaN``, ``Infinity`` and numbers that overflow to ``inf``; stored
and echoed back they make the mock's own responses and journal invalid JSON. Huge integer
literals and deep nesting raise ``ValueError`` / ``RecursionError`` rather than
``JSONDecodeError``. :func:`loads` turns all of these into one :class:`ValueError`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["loads"]


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is out of range")
    return value


#: A ``\\u`` escape of a UTF-16 surrogate (D800 to DFFF): only these can make a lone surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def loads(data: bytes) -> Any:
    """Parse a request body; :class:`ValueError` with a readable message when it is bad.

    A UTF-8 byte order mark before the JSON is ignored (RFC 8259 allows a parser to). A string
    holding a lone UTF-16 surrogate (``"\\ud800"`` without its pair) is refused: it is not a
    Unicode character, cannot be written as UTF-8, and would break every later response that
    echoes it. A surrogate pair written as two escapes is one character, and is fine.
    """
    try:
        parsed = json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float)
        if _SURROGATE_ESCAPE.search(data):
            _refuse_lone_surrogates(parsed)
        return parsed
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


def _refuse_lone_surrogates(parsed: Any) -> None:
    try:
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as error:
        bad = ord(error.object[error.start])
        raise ValueError(
            f"a string holds the lone surrogate \\u{bad:04x}, which is not a Unicode "
            "character; send the character itself, or both halves of its surrogate pair"
        ) from None
