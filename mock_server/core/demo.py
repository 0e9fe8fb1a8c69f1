"""The demo documents a standalone server starts with: plausible engineering titles, so that
someone exploring the mock with a browser or curl sees something recognisable."""

from __future__ import annotations

from collections.abc import Iterator

from .documents import Scalar

__all__ = ["demo_documents"]

_TITLES = (
    "Pump housing assembly drawing",
    "Gearbox service manual",
    "Valve body test specification",
    "Heat exchanger datasheet",
    "Control cabinet wiring diagram",
    "Bearing supplier qualification report",
    "Impeller casting procedure",
    "Hydraulic circuit FMEA",
)


def demo_documents(count: int) -> Iterator[dict[str, Scalar]]:
    """The properties of ``count`` demo documents, one at a time: numbered names, titles in a
    cycle. (One at a time: a list of a hundred thousand would be freed in one step, during
    which no other thread runs.)"""
    for i in range(1, count + 1):
        title = _TITLES[(i - 1) % len(_TITLES)]
        yield {"Name": f"{title} {i:03d}", "Title": title, "Description": None}
