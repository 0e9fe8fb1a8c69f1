"""Composite ETags: ``"v{iteration}.{timestamp_ms}"`` (reported in the forum thread).

The iteration part moves when a new iteration is made (check-in, concurrent edit); the
timestamp part moves on every state change, background micro-updates included, and is
kept strictly increasing per document so two changes in one millisecond still differ.

Comparison follows RFC 9110 §8.8.3: *strong* comparison (what ``If-Match`` requires) never
matches a weak tag; *weak* comparison (the OData deviation, used by the ``odata`` profile)
compares the opaque parts only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import BadRequest

__all__ = [
    "ANY",
    "ETag",
    "IfMatch",
    "explain_difference",
    "parse_etag",
    "parse_if_match",
    "strong_match",
    "weak_match",
]

_ENTITY_TAG = re.compile(r'(W/)?"([\x21\x23-\x7e\x80-\xff]*)"')
_OURS = re.compile(r"v(\d{1,9})\.(\d{1,16})")


@dataclass(frozen=True, order=True)
class ETag:
    """One composite ETag. ``str(etag)`` is its wire form.

    ``foreign`` holds the opaque part of a well-formed entity-tag this server never issues
    (``"abc"``): it matches no document's ETag, and its iteration and stamp mean nothing.
    """

    iteration: int
    stamp: int
    weak: bool = False
    foreign: str | None = None

    @property
    def opaque(self) -> str:
        if self.foreign is not None:
            return self.foreign
        return f"v{self.iteration}.{self.stamp}"

    def __str__(self) -> str:
        return f'{"W/" if self.weak else ""}"{self.opaque}"'

    def as_weak(self) -> ETag:
        return ETag(self.iteration, self.stamp, weak=True)


ANY = "*"
#: ``If-Match`` parsed: ``"*"`` or the tags listed, in order.
IfMatch = str | tuple[ETag, ...]


def parse_etag(text: str) -> ETag:
    """Parse one entity-tag: :class:`BadRequest` if it is not one (RFC 9110's syntax); a tag of
    another form than this server's is a *foreign* tag, which never matches."""
    match = _ENTITY_TAG.fullmatch(text.strip())
    if match is None:
        raise BadRequest(
            f"Malformed ETag {text!r}: an entity-tag is a quoted string such as "
            '"v2.1708523400000" (RFC 9110 §8.8.3)',
            code="MalformedETag",
        )
    weak = match.group(1) is not None
    ours = _OURS.fullmatch(match.group(2))
    if ours is None:
        return ETag(0, 0, weak=weak, foreign=match.group(2))
    return ETag(int(ours.group(1)), int(ours.group(2)), weak=weak)


def parse_if_match(header: str) -> IfMatch:
    """Parse an ``If-Match`` value: ``*`` or a comma-separated list of entity-tags."""
    value = header.strip()
    if value == ANY:
        return ANY
    parts = [part for part in _split_list(value) if part]
    if not parts:
        raise BadRequest("Malformed If-Match: the header is empty", code="MalformedETag")
    return tuple(parse_etag(part) for part in parts)


def _split_list(value: str) -> list[str]:
    # Commas may appear inside a quoted tag, so split on the closing quotes, not on commas.
    parts: list[str] = []
    rest = value
    while rest:
        rest = rest.lstrip(" ,\t")
        if not rest:
            break
        match = _ENTITY_TAG.match(rest)
        if match is None:
            parts.append(rest)  # let parse_etag report it
            break
        parts.append(match.group(0))
        rest = rest[match.end() :]
    return parts


def strong_match(sent: ETag, current: ETag) -> bool:
    """RFC 9110 strong comparison: both strong and the opaque parts equal."""
    return not sent.weak and not current.weak and sent.opaque == current.opaque


def weak_match(sent: ETag, current: ETag) -> bool:
    """RFC 9110 weak comparison: the opaque parts equal, weakness ignored."""
    return sent.opaque == current.opaque


def explain_difference(sent: ETag, current: ETag) -> str:
    """Say in words why ``sent`` no longer matches ``current``."""
    if sent.foreign is not None:
        return (
            f"{sent} was never issued by this server: its ETags look like {current}; "
            "read the document again to get its ETag"
        )
    if sent.iteration != current.iteration:
        return (
            f"the iteration changed from {sent.iteration} to {current.iteration}: "
            "a new version was made since the ETag was read"
        )
    if sent.stamp != current.stamp:
        delta = current.stamp - sent.stamp
        return (
            f"same iteration {current.iteration}, but the timestamp part moved by {delta} ms: "
            "the document was touched without a new version"
        )
    if sent.weak != current.weak:
        return "a weak ETag never matches under strong comparison (RFC 9110 §8.8.3.2)"
    return "the ETags are equal"
