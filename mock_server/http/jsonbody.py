"""Strict JSON for request bodies: what RFC 8259 allows and nothing a response cannot echo.

Python's ``json`` accepts ``NaN``, ``Infinity`` and numbers that overflow to ``inf``; stored
and echoed back they make the mock's own responses and journal invalid JSON. Huge integer
literals and deep nesting raise ``ValueError`` / ``RecursionError`` rather than
``JSONDecodeError``. :func:`loads` turns all of these into one :class:`ValueError`.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["loads"]


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is out of range")
    return value


def loads(data: bytes | str) -> Any:
    """Parse a request body; :class:`ValueError` with a readable message when it is bad."""
    try:
        return json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
