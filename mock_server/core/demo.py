"""The demo documents a standalone server starts with: plausible engineering titles, so that
someone exploring the mock with a browser or curl sees something recognisable."""

from __future__ import annotations

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


def demo_documents(count: int) -> list[dict[str, Scalar]]:
    """The properties of ``count`` demo documents: numbered names, titles in a cycle."""
    properties: list[dict[str, Scalar]] = []
    for i in range(1, count + 1):
        title = _TITLES[(i - 1) % len(_TITLES)]
        properties.append({"Name": f"{title} {i:03d}", "Title": title, "Description": None})
    return properties
