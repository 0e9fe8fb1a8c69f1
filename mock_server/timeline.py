"""The journal drawn as a page: a timeline per document, in plain HTML and inline SVG.

The mock serves it at ``GET /__mock/ui``; the checker writes it beside a failing test's report
(:func:`write_timeline_page`). Standard library only, so both packages can use it.

What a page holds, top to bottom: a header (what is drawn, the time span, the counts of 409,
412 and lost responses), the filter form (when served), a legend, the conflicts per minute of
the mock's time as a bar chart, then a section per document. A section is an SVG with one
lane per client user and one lane for background work and other users' interventions; each
operation is a mark at its time ``t``, styled by how it ended (colour, shape and letter), with
the details (If-Match sent, ETag after, version, ``t``) in its tooltip (an SVG ``<title>``).
Operations at the same moment are drawn side by side in journal order, so the axis stretches
there; ticks stay at their times.
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import json
import math
import os
import re
import uuid
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from .core.journal import SKIPPED_PREFIX, Event

__all__ = [
    "BACKGROUND_LANE",
    "CONTENT_SECURITY_POLICY",
    "MARK_STYLES",
    "MAX_DOCUMENTS",
    "MAX_EVENTS",
    "MarkStyle",
    "conflicts_per_minute",
    "render_timeline",
    "timeline_file_name",
    "write_timeline_page",
]

#: A page draws at most this many events (the latest), and says so when it cuts.
MAX_EVENTS = 5_000
#: A page draws at most this many documents (the most recently active in its window).
MAX_DOCUMENTS = 100
#: The document filter lists at most this many documents (the most recently active).
MAX_DOCUMENT_OPTIONS = 1_000
#: The conflict plot draws at most this many bars; a longer span groups minutes per bar.
MAX_RATE_BARS = 180
#: The label of each document's lane for background work and other users' interventions.
BACKGROUND_LANE = "background and other users"
#: How much of one free text (a message, the changes sent) a tooltip shows.
_CLIP = 300


@dataclass(frozen=True)
class MarkStyle:
    """How one kind of mark looks: never by colour alone (a shape and a letter too)."""

    kind: str
    label: str
    color: str
    shape: str
    letter: str
    hollow: bool = False

    @property
    def css_class(self) -> str:
        return f"m-{self.kind}"


#: Every kind of mark, in the legend's order.
MARK_STYLES: Mapping[str, MarkStyle] = {
    style.kind: style
    for style in (
        MarkStyle("ok", "success (a write)", "#2b8a3e", "circle", ""),
        MarkStyle("read", "read", "#1971c2", "small-circle", ""),
        MarkStyle("409", "409 Conflict", "#e8590c", "square", "C"),
        MarkStyle("412", "412 Precondition Failed", "#c92a2a", "diamond", "P"),
        MarkStyle("fail", "other failure", "#495057", "square", "X"),
        MarkStyle("lost", "lost response (the client cannot know)", "#862e9c", "down", "?"),
        MarkStyle("rollback", "rolled back (change set failed)", "#8d5524", "square", "R", True),
        MarkStyle("background", "background work (bar: busy)", "#0c8599", "circle", "B"),
        MarkStyle("intervention", "another user or an intervention", "#5f3dc4", "up", "I"),
        MarkStyle("skipped", "intervention that could not apply", "#5f3dc4", "up", "S", True),
        MarkStyle("setup", "set-up (created by the test)", "#868e96", "circle", "+"),
    )
}

_SHAPES = {
    "circle": '<circle class="shape" r="7"/>',
    "small-circle": '<circle class="shape" r="4.5"/>',
    "square": '<rect class="shape" x="-6.5" y="-6.5" width="13" height="13" rx="2"/>',
    "diamond": '<path class="shape" d="M0,-8.5L8.5,0L0,8.5L-8.5,0Z"/>',
    "up": '<path class="shape" d="M0,-8L8,6.5L-8,6.5Z"/>',
    "down": '<path class="shape" d="M0,8L8,-6.5L-8,-6.5Z"/>',
}

_BASE_CSS = """\
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:16px 20px;color:#212529;\
background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:18px 0 2px;font-weight:600}
h2 a{color:inherit;text-decoration:none}h2 a:hover{text-decoration:underline}
.doc-name{font-weight:400;color:#495057}
p{margin:4px 0}.summary,.stats,.note{font-size:13px;color:#495057}
.note{color:#7c4a03}.empty{font-size:15px;margin:24px 0}
form.filters{display:flex;flex-wrap:wrap;gap:10px;align-items:end;margin:10px 0;padding:8px 10px;\
background:#f1f3f5;border-radius:6px;font-size:13px}
form.filters label{display:flex;flex-direction:column;gap:2px}
form.filters input,form.filters select{font:inherit;padding:2px 4px}
form.filters input[type=number]{width:7em}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px;margin:8px 0}
.legend span{display:inline-flex;align-items:center;gap:4px}
.scroll{overflow-x:auto}
svg text{font-size:11px;fill:#495057}
.lane-bg{fill:#fff}.lane:nth-of-type(even) .lane-bg{fill:#f8f9fa}
.lane-side{fill:#e9ecef}.lane-label{font-size:12px;fill:#212529}
.background .lane-label{font-style:italic}
.grid{stroke:#dee2e6;stroke-width:1}
.axis-line{stroke:#868e96;stroke-width:1}
.busy{fill:#0c8599;fill-opacity:.3}
.glyph{font-size:9px;font-weight:700;text-anchor:middle;pointer-events:none}
.mark{cursor:default}.mark:hover .shape{stroke:#000;stroke-width:2}
.bar{fill:#e8590c}.bar-count{font-size:10px;text-anchor:middle}
.tick-label{text-anchor:middle}.axis-title{font-size:11px;fill:#868e96}
"""


def _mark_css() -> str:
    rules = []
    for style in MARK_STYLES.values():
        fill, glyph = ("#fff", style.color) if style.hollow else (style.color, "#fff")
        width = 2.5 if style.hollow else 1
        rules.append(
            f".{style.css_class} .shape{{fill:{fill};stroke:{style.color};stroke-width:{width}}}"
            f".{style.css_class} .glyph{{fill:{glyph}}}"
        )
    return "\n".join(rules) + "\n"


_STYLE = _BASE_CSS + _mark_css()
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
#: What a served page may load: its own ``<style>`` (by hash), nothing else; no script at all.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)

# Layout of a document's timeline, in CSS pixels.
_LABEL_W = 190
_PLOT_W = 1_000
_RIGHT = 40
_TOP = 4
_LANE_H = 30
_AXIS_H = 34
#: Marks of one document closer than this are pushed apart (in journal order).
_GAP = 18.0

_VERBS = {
    "read": "GET",
    "update": "PATCH",
    "delete": "DELETE",
    "create": "POST",
    "check_out": "CheckOut",
    "check_in": "CheckIn",
    "undo_check_out": "UndoCheckOut",
    "update_common_properties": "UpdateCommonProperties",
}
_ADDRESSED = {
    "working_copy": "its working copy",
    "past_iteration": "a past iteration",
    "version": "its VersionID",
    "latest": "the latest iteration",
}
_CLIENT_ENDS = ("ok", "fail", "info")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _clip(text: str, limit: int = _CLIP) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _num(value: float) -> str:
    """A time or coordinate, short and exact to the millisecond: ``12``, ``0.5``, ``1.234``,
    ``2000035`` (never ``2.00004e+06``, which would move a filter's window)."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _px(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _status(status: int | None) -> str:
    if status is None:
        return "no status"
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _json(value: Mapping[str, Any]) -> str:
    return _clip(json.dumps(dict(value), ensure_ascii=False, default=str))


@dataclass
class _Mark:
    event: Event
    style: MarkStyle
    lane: str  # a client user, or BACKGROUND_LANE
    title: str


class _Axis:
    """Time → x, stretched where marks would overlap: marks of one document keep at least
    ``_GAP`` apart in journal order, and everything after a stretch moves along with it."""

    def __init__(self, times: Sequence[float], t_lo: float, t_hi: float) -> None:
        self.t_lo = t_lo
        span = t_hi - t_lo
        self.scale = _PLOT_W / span if span > 0 else 0.0
        self.xs = self._place(times)
        extra = self.xs[-1] - self._base(times[-1]) if times else 0.0
        if extra > 0 and span > 0:  # narrow the time scale so that the stretches fit
            self.scale = max(_PLOT_W - extra, _PLOT_W * 0.3) / span
            self.xs = self._place(times)
        self.width = max(_PLOT_W, self.xs[-1] if self.xs else 0.0) + _GAP

    def _base(self, t: float) -> float:
        return (t - self.t_lo) * self.scale

    def _place(self, times: Sequence[float]) -> list[float]:
        xs: list[float] = []
        self._knots: list[float] = []
        self._first: list[float] = []  # the shift at a knot's own time
        self._last: list[float] = []  # the shift right after it
        shift = 0.0
        for t in times:
            x = self._base(t) + shift
            if xs and x < xs[-1] + _GAP:
                x = xs[-1] + _GAP
            shift = x - self._base(t)
            xs.append(x)
            if self._knots and self._knots[-1] == t:
                self._last[-1] = shift
            else:
                self._knots.append(t)
                self._first.append(shift)
                self._last.append(shift)
        return xs

    def x(self, t: float) -> float:
        index = bisect_right(self._knots, t) - 1
        if index < 0:
            return self._base(t)
        shift = self._first[index] if self._knots[index] == t else self._last[index]
        return self._base(t) + shift


def _ticks(lo: float, hi: float, count: int = 8) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return [round(n * step, 9) for n in range(first, last + 1)]


def _resolve(events: Sequence[Event], document: str) -> str:
    """The journal's name of the object ``document`` names: its first ``OR:``; a later key
    (the latest iteration's, a ``VR:``) is found through the requests that addressed it."""
    if any(e.document == document for e in events):
        return document
    return next((e.document for e in events if e.target == document and e.document), document)


class _Page:
    def __init__(
        self,
        events: Iterable[Event],
        *,
        document: str | None,
        since: float | None,
        until: float | None,
        limit: int,
        max_documents: int,
    ) -> None:
        self.all = sorted(events, key=lambda e: (e.t, e.seq))
        self.invokes = {e.op_id: e for e in self.all if e.type == "invoke" and e.op_id is not None}
        self.document = None if document is None else _resolve(self.all, document)
        #: Every document of the journal (last activity) and the Names its creation sent.
        self.documents: dict[str, float] = {}
        self.names: dict[str, str] = {}
        version: dict[str, str] = {}
        self.known_version: dict[int, tuple[str, bool]] = {}  # seq → (version, journalled)
        for event in self.all:
            doc = event.document
            if doc is None:
                continue
            self.documents[doc] = event.t
            sent = self.invoke_of(event) if event.type != "invoke" else event
            if sent is not None and sent.changes and "Name" in sent.changes:
                self.names[doc] = str(sent.changes["Name"])
            if event.version is not None:
                version[doc] = event.version
                self.known_version[event.seq] = (event.version, True)
            elif doc in version:
                self.known_version[event.seq] = (version[doc], False)
        matching = [
            e
            for e in self.all
            if e.type != "invoke"
            and e.document is not None
            and (self.document is None or e.document == self.document)
            and (since is None or e.t >= since)
            and (until is None or e.t <= until)
        ]
        self.matching = len(matching)
        #: The events in the window: the latest ``limit`` matching ones.
        self.window = matching[-limit:] if limit > 0 else []
        self.cut = self.matching - len(self.window)
        # Drawn: those of the ``max_documents`` documents most recently active in the window.
        active: dict[str, float] = {}
        for event in self.window:
            active[event.document or ""] = event.t
        kept = set(sorted(active, key=lambda d: active[d], reverse=True)[:max_documents])
        self.window_documents = len(active)
        self.drawn = [e for e in self.window if e.document in kept]

    def invoke_of(self, event: Event) -> Event | None:
        return None if event.op_id is None else self.invokes.get(event.op_id)

    def mark(self, event: Event) -> _Mark | None:
        kind: str
        if event.type == "ok":
            kind = "read" if event.op == "read" else "ok"
        elif event.type == "fail":
            kind = {409: "409", 412: "412"}.get(event.status or 0, "fail")
        elif event.type == "info":
            kind = "lost"
        elif event.type == "rollback":
            kind = "rollback"
        elif event.type == "background":
            kind = "background"
        elif event.type == "intervention":
            if event.process == "setup":
                kind = "setup"
            elif (event.message or "").startswith(SKIPPED_PREFIX):
                kind = "skipped"
            else:
                kind = "intervention"
        else:
            return None
        client = event.type in (*_CLIENT_ENDS, "rollback")
        lane = event.process if client else BACKGROUND_LANE
        return _Mark(event, MARK_STYLES[kind], lane, self.title(event, client))

    def title(self, event: Event, client: bool) -> str:
        lines: list[str] = []
        if client:
            verb = _VERBS.get(event.op, event.op)
            if event.type == "rollback":
                lines.append(f"{verb} rolled back: its change set failed")
            elif event.type == "info":
                lines.append(f"{verb} → {_status(event.status)}, response LOST (never sent)")
            else:
                lines.append(f"{verb} → {_status(event.status)}")
        else:
            what = f"{event.process}: {event.op}"
            if event.duration:
                what += f", busy {_num(event.duration)} s"
            lines.append(what)
        lines.append(f"t = {event.t:.3f} s (mock time)")
        if client:
            request = f", request {event.request} on this document" if event.request else ""
            lines.append(f"user: {event.process}{request}")
            invoke = self.invoke_of(event)
            if invoke is not None:
                if invoke.addressed in _ADDRESSED:
                    lines.append(f"addressed {_ADDRESSED[invoke.addressed]}: {invoke.target}")
                lines.append(f"If-Match sent: {invoke.if_match or 'none'}")
            elif event.type != "rollback":
                lines.append("If-Match sent: (its request is not in the journal)")
        lines.append(f"ETag after: {event.etag_after or 'none'}")
        version = self.known_version.get(event.seq)
        if version is None:
            lines.append("version: unknown")
        else:
            lines.append(f"version: {version[0]}" + ("" if version[1] else " (last journalled)"))
        if client:
            invoke = self.invoke_of(event)
            if invoke is not None and invoke.changes:
                lines.append(f"sent: {_json(invoke.changes)}")
            elif invoke is not None and invoke.refused_body:
                preview = str(invoke.refused_body.get("preview", ""))
                lines.append(f"sent: {_clip(preview)}")
        elif event.changes:
            lines.append(f"changes: {_json(event.changes)}")
        if event.message:
            lines.append(f"message: {_clip(event.message)}")
        return _clip("\n".join(lines), 4 * _CLIP)


def render_timeline(
    events: Iterable[Event],
    *,
    document: str | None = None,
    since: float | None = None,
    until: float | None = None,
    refresh_seconds: float | None = None,
    title: str = "Windchill mock: the journal as a timeline",
    base_url: str | None = None,
    intro: str | None = None,
    limit: int = MAX_EVENTS,
    max_documents: int = MAX_DOCUMENTS,
    dropped: int = 0,
) -> str:
    """A self-contained HTML page (inline CSS and SVG, no script) drawing ``events``.

    ``document`` (its first ``OR:`` or any later key), ``since`` and ``until`` (seconds of
    the mock's time, inclusive) filter what is drawn; at most ``limit`` events are drawn, the
    latest, of at most ``max_documents`` documents, the most recently active, and the page
    says so when it cuts. ``base_url``: where the page is served; with
    it the page has the filter form and the refresh links, without it (a file) neither.
    ``refresh_seconds`` reloads the page that often. ``intro`` is a paragraph shown under the
    title; ``dropped`` the number of older events the journal's bound dropped.
    """
    page = _Page(
        events,
        document=document,
        since=since,
        until=until,
        limit=limit,
        max_documents=max_documents,
    )
    head = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
    ]
    if refresh_seconds:
        head.append(f'<meta http-equiv="refresh" content="{_e(_num(refresh_seconds))}">')
    head.append(f"<style>{_STYLE}</style></head>")
    body = ["<body>", f"<header><h1>{_e(title)}</h1>"]
    if intro:
        body.append(f'<p class="intro">{_e(intro)}</p>')
    body.append(_summary(page))
    if base_url is not None:
        body.append(_refresh_line(base_url, page.document, since, until, refresh_seconds))
    body.append("</header>")
    if base_url is not None:
        body.append(_form(page, base_url, since, until, refresh_seconds))
    if dropped:
        body.append(
            f'<p class="note">The journal keeps a bounded history: it dropped {dropped:,} '
            "older events, which no page can show.</p>"
        )
    if page.cut:
        body.append(
            f'<p class="note cut">Showing the last {len(page.window):,} of {page.matching:,} '
            f"matching events: a page draws at most {limit:,}. Narrow the time or the "
            "document to see the rest.</p>"
        )
    hidden = page.window_documents - max_documents
    if hidden > 0:
        body.append(
            f'<p class="note cut">Drawing the {max_documents:,} most recently active of '
            f"{page.window_documents:,} documents ({hidden:,} more not drawn; the conflict "
            "plot counts them all). Pick one in the Document filter to see it.</p>"
        )
    if not page.all:
        body.append('<p class="empty">The journal is empty: nothing has happened yet.</p>')
    elif not page.drawn:
        body.append('<p class="empty">No events match these filters.</p>')
    else:
        body.append(_legend())
        marks = [m for m in map(page.mark, page.drawn) if m is not None]
        body.append(_rate_plot(page.window))
        t_lo = min(e.t for e in page.drawn)
        t_hi = max(e.t for e in page.drawn)
        by_document: dict[str, list[_Mark]] = {}
        for mark in marks:
            by_document.setdefault(mark.event.document or "", []).append(mark)
        for doc, doc_marks in by_document.items():
            body.append(_section(page, doc, doc_marks, t_lo, t_hi, base_url, refresh_seconds))
    body.append("</body></html>")
    return "\n".join(head + body) + "\n"


def _summary(page: _Page) -> str:
    if not page.window:
        return f'<p class="summary">{len(page.all):,} events in the journal.</p>'
    window = page.window
    ends = [_end_kind(e) for e in window]
    counts = {kind: ends.count(kind) for kind in ("409", "412", "lost")}
    documents = page.window_documents
    lo, hi = min(e.t for e in window), max(e.t for e in window)
    return (
        f'<p class="summary">{len(window):,} events, {documents:,} '
        f"document{'s' if documents != 1 else ''}, t = {_num(lo)} to {_num(hi)} s of the "
        f"mock's time. Answers 409: {counts['409']}, 412: {counts['412']}, lost: "
        f"{counts['lost']}.</p>"
    )


def _end_kind(event: Event) -> str | None:
    """``409``, ``412`` or ``lost`` for such an end of a client operation, else ``None``."""
    if event.type == "fail" and event.status in (409, 412):
        return str(event.status)
    if event.type == "info":
        return "lost"
    return None


def _query(
    document: str | None, since: float | None, until: float | None, refresh: float | None
) -> str:
    params: dict[str, str] = {}
    if document is not None:
        params["document"] = document
    if since is not None:
        params["from"] = _num(since)
    if until is not None:
        params["to"] = _num(until)
    params["refresh"] = _num(refresh or 0)
    return "?" + urlencode(params)


def _refresh_line(
    base_url: str,
    document: str | None,
    since: float | None,
    until: float | None,
    refresh: float | None,
) -> str:
    if refresh:
        stop = base_url + _query(document, since, until, 0)
        return (
            f'<p class="summary refresh">Refreshing every {_e(_num(refresh))} s. '
            f'<a id="refresh-toggle" href="{_e(stop)}">Stop refreshing</a></p>'
        )
    start = base_url + _query(document, since, until, 5)
    return (
        '<p class="summary refresh">Not refreshing. '
        f'<a id="refresh-toggle" href="{_e(start)}">Refresh every 5 s</a></p>'
    )


def _form(
    page: _Page, base_url: str, since: float | None, until: float | None, refresh: float | None
) -> str:
    recent = sorted(page.documents, key=lambda d: page.documents[d], reverse=True)
    listed = recent[:MAX_DOCUMENT_OPTIONS]
    if page.document is not None and page.document not in listed:
        listed.append(page.document)
    options = ['<option value="">all documents</option>']
    for doc in sorted(listed):
        name = page.names.get(doc)
        label = f"{doc} ({_clip(name, 60)})" if name else doc
        selected = " selected" if doc == page.document else ""
        options.append(f'<option value="{_e(doc)}"{selected}>{_e(label)}</option>')
    if len(recent) > len(listed):
        options.append(
            f"<option disabled>({len(recent) - len(listed):,} less recent not listed)</option>"
        )

    def field(name: str, label: str, value: float | None, extra: str = "") -> str:
        shown = "" if value is None else _num(value)
        return (
            f'<label>{label}<input type="number" name="{name}" step="any"{extra} '
            f'value="{_e(shown)}"></label>'
        )

    return (
        f'<form class="filters" method="get" action="{_e(base_url)}">'
        f'<label>Document<select name="document">{"".join(options)}</select></label>'
        + field("from", "From t (s)", since)
        + field("to", "To t (s)", until)
        + field("refresh", "Refresh (s, 0: off)", refresh or 0, ' min="0"')
        + '<button type="submit">Apply</button>'
        f'<a href="{_e(base_url + _query(None, None, None, refresh))}">Clear filters</a>'
        "</form>"
    )


def _glyph(style: MarkStyle) -> str:
    letter = f'<text class="glyph" y="3.2">{_e(style.letter)}</text>' if style.letter else ""
    return _SHAPES[style.shape] + letter


def _legend() -> str:
    items = [
        f'<span><svg width="20" height="20" aria-hidden="true"><g class="{s.css_class}" '
        f'transform="translate(10,10)">{_glyph(s)}</g></svg>{_e(s.label)}</span>'
        for s in MARK_STYLES.values()
    ]
    return f'<div class="legend" role="list">{"".join(items)}</div>'


def _section(
    page: _Page,
    doc: str,
    marks: list[_Mark],
    t_lo: float,
    t_hi: float,
    base_url: str | None,
    refresh: float | None,
) -> str:
    users: list[str] = []
    for mark in marks:
        if mark.lane != BACKGROUND_LANE and mark.lane not in users:
            users.append(mark.lane)
    lanes = [*users, BACKGROUND_LANE]
    row = {lane: index for index, lane in enumerate(lanes)}
    axis = _Axis([m.event.t for m in marks], t_lo, t_hi)
    width = _LABEL_W + axis.width + _RIGHT
    axis_y = _TOP + len(lanes) * _LANE_H
    height = axis_y + _AXIS_H
    ticks = _ticks(t_lo, t_hi)
    tick_xs = [_LABEL_W + axis.x(t) for t in ticks]

    drawn: dict[str, list[str]] = {lane: [] for lane in lanes}
    for mark, x in zip(marks, axis.xs, strict=True):
        event = mark.event
        cx = _LABEL_W + x
        busy = ""
        if event.type == "background" and event.duration:
            end = min(_LABEL_W + axis.x(event.t + event.duration), _LABEL_W + axis.width)
            busy = f'<rect class="busy" x="0" y="-3" width="{_px(max(end - cx, 2))}" height="6"/>'
        drawn[mark.lane].append(
            f'<g class="mark {mark.style.css_class}" data-seq="{event.seq}" '
            f'data-t="{_num(event.t)}" transform="translate({_px(cx)},'
            f'{_px(_TOP + row[mark.lane] * _LANE_H + _LANE_H / 2)})">'
            f"<title>{_e(mark.title)}</title>{busy}{_glyph(mark.style)}</g>"
        )

    parts = [
        f'<svg class="timeline" width="{_px(width)}" height="{_px(height)}" '
        f'viewBox="0 0 {_px(width)} {_px(height)}" role="img" '
        f'aria-label="{_e(f"Timeline of {doc}")}">'
    ]
    for lane in lanes:
        y = _TOP + row[lane] * _LANE_H
        kind = "background" if lane == BACKGROUND_LANE else "client"
        grid = "".join(
            f'<line class="grid" x1="{_px(x)}" x2="{_px(x)}" y1="{y}" y2="{y + _LANE_H}"/>'
            for x in tick_xs
        )
        label = lane if len(lane) <= 26 else lane[:25] + "…"
        parts.append(
            f'<g class="lane {kind}" data-lane="{_e(lane)}">'
            f'<rect class="lane-bg" x="0" y="{y}" width="{_px(width)}" height="{_LANE_H}"/>'
            f'<rect class="lane-side" x="0" y="{y}" width="{_LABEL_W - 8}" height="{_LANE_H}"/>'
            f'<text class="lane-label" x="8" y="{_px(y + _LANE_H / 2 + 4)}">'
            f"<title>{_e(lane)}</title>{_e(label)}</text>{grid}{''.join(drawn[lane])}</g>"
        )
    parts.append(
        f'<g class="axis"><line class="axis-line" x1="{_LABEL_W}" y1="{axis_y}" '
        f'x2="{_px(width - _RIGHT)}" y2="{axis_y}"/>'
    )
    for t, x in zip(ticks, tick_xs, strict=True):
        parts.append(
            f'<line class="axis-line" x1="{_px(x)}" x2="{_px(x)}" y1="{axis_y}" '
            f'y2="{axis_y + 4}"/><text class="tick-label" x="{_px(x)}" y="{axis_y + 15}">'
            f"{_e(_num(t))}</text>"
        )
    parts.append(
        f'<text class="axis-title" x="8" y="{axis_y + 15}">t (s, mock time)</text></g></svg>'
    )

    name = page.names.get(doc)
    heading = _e(doc) + (f' <span class="doc-name">{_e(_clip(name, 120))}</span>' if name else "")
    if base_url is not None and page.document is None:
        only = base_url + _query(doc, None, None, refresh)
        heading = f'<a href="{_e(only)}" title="Show only this document">{heading}</a>'
    client = [m for m in marks if m.lane != BACKGROUND_LANE]
    counts = {k: sum(1 for m in client if m.style.kind == k) for k in ("409", "412", "lost")}
    others = len(marks) - len(client)
    stats = (
        f"{len(client)} client operation{'s' if len(client) != 1 else ''} by "
        f"{len(users)} user{'s' if len(users) != 1 else ''} (409: {counts['409']}, "
        f"412: {counts['412']}, lost: {counts['lost']}); {others} background or other "
        f"event{'s' if others != 1 else ''}"
    )
    return (
        f'<section class="document" data-document="{_e(doc)}"><h2>{heading}</h2>'
        f'<p class="stats">{stats}</p><div class="scroll">{"".join(parts)}</div></section>'
    )


def conflicts_per_minute(events: Iterable[Event]) -> list[tuple[int, int, int]]:
    """``(minute, conflicts, writes)`` for every minute of the mock's time from the first
    event's to the last's: ``writes`` counts the ends of client writes (anything but a read),
    ``conflicts`` those answered 409 or 412."""
    drawn = [e for e in events if e.type != "invoke"]
    if not drawn:
        return []
    first = math.floor(min(e.t for e in drawn) / 60)
    last = math.floor(max(e.t for e in drawn) / 60)
    conflicts = dict.fromkeys(range(first, last + 1), 0)
    writes = dict.fromkeys(range(first, last + 1), 0)
    for event in drawn:
        if event.type in _CLIENT_ENDS and event.op != "read":
            minute = math.floor(event.t / 60)
            writes[minute] += 1
            if event.type == "fail" and event.status in (409, 412):
                conflicts[minute] += 1
    return [(m, conflicts[m], writes[m]) for m in range(first, last + 1)]


def _rate_bars(events: Sequence[Event]) -> tuple[list[tuple[int, int, int]], int]:
    """``(first minute, conflicts, writes)`` per bar, and the minutes a bar spans: at most
    :data:`MAX_RATE_BARS` bars, counted from the events alone, so that the cost follows the
    number of events, never the time they span (a sped-up clock runs for years)."""
    drawn = [e for e in events if e.type != "invoke"]
    if not drawn:
        return [], 1
    first = math.floor(min(e.t for e in drawn) / 60)
    last = math.floor(max(e.t for e in drawn) / 60)
    per_bar = max(1, math.ceil((last - first + 1) / MAX_RATE_BARS))
    count = (last - first) // per_bar + 1
    conflicts, writes = [0] * count, [0] * count
    for event in drawn:
        if event.type in _CLIENT_ENDS and event.op != "read":
            bucket = (math.floor(event.t / 60) - first) // per_bar
            writes[bucket] += 1
            if event.type == "fail" and event.status in (409, 412):
                conflicts[bucket] += 1
    return [(first + i * per_bar, conflicts[i], writes[i]) for i in range(count)], per_bar


def _rate_plot(events: Sequence[Event]) -> str:
    bars, per_bar = _rate_bars(events)
    peak = max((b[1] for b in bars), default=0)
    left, top, plot_h, bottom = 56, 16, 70, 34
    bar_w = min(36.0, max(3.0, 720 / max(len(bars), 1)))
    width = max(left + len(bars) * bar_w + 20, 320)
    height = top + plot_h + bottom
    base_y = top + plot_h
    unit = "minute" if per_bar == 1 else f"{per_bar} minutes"
    parts = [
        f'<svg class="rate-plot" width="{_px(width)}" height="{height}" '
        f'viewBox="0 0 {_px(width)} {height}" role="img" '
        f'aria-label="Conflicts (409 and 412) per {unit} of the mock\'s time">',
        f'<line class="axis-line" x1="{left}" y1="{top}" x2="{left}" y2="{base_y}"/>',
        f'<line class="axis-line" x1="{left}" y1="{base_y}" x2="{_px(width - 10)}" y2="{base_y}"/>',
    ]
    for value in sorted({0, peak}):
        y = base_y - (value / peak * plot_h if peak else 0)
        parts.append(
            f'<text x="{left - 6}" y="{_px(y + 4)}" text-anchor="end">{value}</text>'
            f'<line class="axis-line" x1="{left - 3}" x2="{left}" y1="{_px(y)}" y2="{_px(y)}"/>'
        )
    label_every = max(1, math.ceil(28 / bar_w))
    for index, (minute, conflicts, writes) in enumerate(bars):
        x = left + index * bar_w
        h = conflicts / peak * plot_h if peak else 0.0
        share = f" ({conflicts / writes:.0%})" if writes else ""
        span = f"minute {minute}" if per_bar == 1 else f"minutes {minute} to {minute + per_bar - 1}"
        tip = (
            f"{span} (t = {minute * 60} to {(minute + per_bar) * 60} s): {conflicts} of "
            f"{writes} client write{'s' if writes != 1 else ''} answered 409 or 412{share}"
        )
        parts.append(
            f'<rect class="bar" x="{_px(x + 1)}" y="{_px(base_y - h)}" '
            f'width="{_px(bar_w - 2)}" height="{_px(h)}" data-minute="{minute}" '
            f'data-conflicts="{conflicts}" data-writes="{writes}"><title>{_e(tip)}</title></rect>'
        )
        if conflicts and bar_w >= 14:
            parts.append(
                f'<text class="bar-count" x="{_px(x + bar_w / 2)}" y="{_px(base_y - h - 3)}">'
                f"{conflicts}</text>"
            )
        if index % label_every == 0:
            parts.append(
                f'<text class="tick-label" x="{_px(x + bar_w / 2)}" y="{base_y + 14}">'
                f"{minute}</text>"
            )
    parts.append(
        f'<text class="axis-title" x="{left}" y="{base_y + 30}">minute of the mock\'s time '
        f"(t / 60 s)</text>"
        f'<text class="axis-title" x="12" y="{top + plot_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {top + plot_h / 2})">409+412</text></svg>'
    )
    return (
        '<section class="rate"><h2>Conflicts per minute</h2><p class="stats">409 and 412 '
        f"answers to client writes, per {unit} of the mock's time (hover a bar for its "
        f"share of the writes).</p>{''.join(parts)}</section>"
    )


_counter = itertools.count(1)


def timeline_file_name(document: str, stem: str | None = None) -> str:
    """A file name for a document's timeline page, safe characters only: never reused, or,
    with ``stem`` (a test's id), the same for every page of that test and document, so that
    the last one written stays (Hypothesis runs the minimal failing example last)."""
    slug = _slug(document, "document")
    if stem is not None:
        # Cut for length, told apart by a digest of the whole: two long test ids that share
        # their first 60 characters never share a page.
        digest = hashlib.sha256(stem.encode()).hexdigest()[:8]
        return f"timeline-{_slug(stem, 'run')[:60]}-{digest}-{slug}.html"
    return f"timeline-{slug}-{next(_counter):04d}-{uuid.uuid4().hex[:8]}.html"


def _slug(text: str, default: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:80] or default


def write_timeline_page(
    directory: str | os.PathLike[str],
    events: Iterable[Event],
    *,
    document: str,
    title: str | None = None,
    intro: str | None = None,
    stem: str | None = None,
) -> Path:
    """Write the timeline of ``document`` (a file: no form, no refresh) into ``directory``,
    made if missing; returns the file's absolute path. ``stem``: see
    :func:`timeline_file_name`."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / timeline_file_name(document, stem)
    page = render_timeline(
        events, document=document, title=title or f"Timeline of {document}", intro=intro
    )
    path.write_text(page, encoding="utf-8")
    return path.resolve()
