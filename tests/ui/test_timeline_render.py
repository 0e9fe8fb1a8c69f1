"""The timeline page without a browser: what ``render_timeline`` draws from a journal (lanes,
marks, tooltips, filters, escaping, its bound, the conflict plot) and ``GET /__mock/ui``."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import time
from typing import Any

import pytest
from flask import Flask
from ui_support import HOSTILE_NAME, Story, lanes, make_trouble, marks, parse, sections

from mock_server import MockConfig, create_app
from mock_server.core import VirtualClock
from mock_server.core.journal import LOST_RESPONSE_MESSAGE, SKIPPED_PREFIX, Event
from mock_server.http.state import state
from mock_server.timeline import (
    BACKGROUND_LANE,
    CONTENT_SECURITY_POLICY,
    MARK_STYLES,
    render_timeline,
)
from pytest_windchill.transport import DEFAULT_BASE_URL, in_process_session


@pytest.fixture
def app() -> Flask:
    return create_app(
        MockConfig(users={"wcadmin": "wcadmin", "alice": "alice"}), clock=VirtualClock()
    )


@pytest.fixture
def story(app: Flask) -> Story:
    return make_trouble(lambda: in_process_session(app), DEFAULT_BASE_URL, in_process_session(app))


def journal(app: Flask) -> list[Event]:
    return state(app).repository.journal.events()


def event(seq: int, t: float, type_: str, op: str, process: str, **fields: Any) -> Event:
    return Event(seq=seq, t=t, type=type_, op=op, process=process, **fields)  # type: ignore[arg-type]


def end_of(events: list[Event], doc: str, status: int) -> Event:
    return next(e for e in events if e.document == doc and e.type == "fail" and e.status == status)


# -------------------------------------------------------------------- lanes and marks


def test_one_lane_per_user_and_one_for_background_work(app: Flask, story: Story) -> None:
    found = sections(parse(render_timeline(journal(app))))

    assert list(found) == [story.first, story.second]
    assert lanes(found[story.first]) == ["wcadmin", BACKGROUND_LANE]
    assert lanes(found[story.second]) == ["wcadmin", "alice", BACKGROUND_LANE]
    labels = [node.all_text() for node in found[story.second].all("text", "lane-label")]
    assert labels == ["wcadminwcadmin", "alicealice", BACKGROUND_LANE * 2]  # tooltip + label


def test_marks_say_how_each_operation_ended_with_etag_and_version(app: Flask, story: Story) -> None:
    events = journal(app)
    first = sections(parse(render_timeline(events)))[story.first]
    client, background = first.all("g", "lane")

    (conflict,) = marks(client, "409")
    (precondition,) = marks(client, "412")
    assert len(marks(client, "ok")) == 1  # the creation
    assert len(marks(client, "read")) == 2
    ended_409, ended_412 = end_of(events, story.first, 409), end_of(events, story.first, 412)
    assert conflict.title.startswith("PATCH → 409 Conflict\nt = 0.000 s")
    assert f"If-Match sent: {story.sent_409}" in conflict.title
    assert f"ETag after: {ended_409.etag_after}" in conflict.title
    assert "version: A.1 (last journalled)" in conflict.title
    assert precondition.title.startswith("PATCH → 412 Precondition Failed\nt = 2.000 s")
    assert f"If-Match sent: {story.sent_412}" in precondition.title
    assert f"ETag after: {ended_412.etag_after}" in precondition.title
    assert "version: A.2 (last journalled)" in precondition.title  # after the other's edit
    assert "addressed a past iteration" in precondition.title

    (busy,) = marks(background, "background")
    assert busy.title.startswith("indexer: micro_update, busy 1 s\nt = 0.000 s")
    assert busy.all("rect", "busy"), "a background operation's busy time is drawn"
    (edit,) = marks(background, "intervention")
    assert edit.title.startswith("other: concurrent_edit\nt = 2.000 s")
    assert 'changes: {"Title": "theirs"}' in edit.title
    assert "version: A.2\n" in edit.title
    assert marks(client) + marks(background) == marks(first)  # nothing outside the lanes


def test_a_lost_response_is_marked_in_its_users_lane(app: Flask, story: Story) -> None:
    second = sections(parse(render_timeline(journal(app))))[story.second]
    me, alice, background = second.all("g", "lane")

    (lost,) = marks(alice, "lost")
    assert lost.title.startswith("PATCH → 200 OK, response LOST (never sent)")
    assert f"message: {LOST_RESPONSE_MESSAGE}" in lost.title
    assert [m.attrs["data-t"] for m in marks(me, "409")] == ["72"]
    (sync,) = marks(background, "background")
    assert sync.title.startswith("cache_sync: micro_update\nt = 72.000 s")


def test_marks_are_drawn_in_journal_order_even_at_the_same_time(app: Flask, story: Story) -> None:
    first = sections(parse(render_timeline(journal(app))))[story.first]

    def x(mark: Any) -> float:
        found = re.fullmatch(r"translate\(([\d.]+),[\d.]+\)", mark.attrs["transform"])
        assert found is not None
        return float(found[1])

    drawn = sorted(marks(first), key=lambda m: int(m.attrs["data-seq"]))
    xs = [x(m) for m in drawn]
    assert xs == sorted(xs)
    assert all(b - a >= 18 for a, b in itertools.pairwise(xs))  # none hides another
    # The micro-update (t=0) comes between the read and the 409 it caused.
    kinds = [next(c for c in m.classes if c.startswith("m-")) for m in drawn]
    assert kinds[:4] == ["m-ok", "m-read", "m-background", "m-409"]


def test_every_kind_of_event_gets_its_own_mark() -> None:
    doc = "OR:wt.doc.WTDocument:1"
    events = [
        event(1, 0, "intervention", "create", "setup", document=doc),
        event(2, 1, "ok", "read", "u", document=doc),
        event(3, 2, "ok", "update", "u", document=doc),
        event(4, 3, "fail", "update", "u", document=doc, status=409),
        event(5, 4, "fail", "update", "u", document=doc, status=412),
        event(6, 5, "fail", "update", "u", document=doc, status=500),
        event(7, 6, "info", "update", "u", document=doc, status=200),
        event(8, 7, "rollback", "update", "u", document=doc),
        event(9, 8, "background", "micro_update", "cache_sync", document=doc),
        event(10, 9, "intervention", "lifecycle_change", "lifecycle_evaluator", document=doc),
        event(11, 10, "intervention", "check_out", "bob", document=doc, message=SKIPPED_PREFIX),
        event(12, 11, "invoke", "update", "u", document=doc),
    ]
    section = sections(parse(render_timeline(events)))[doc]
    client, background = section.all("g", "lane")

    def kinds(lane: Any) -> list[str]:
        return [c[2:] for m in marks(lane) for c in m.classes if c.startswith("m-")]

    assert kinds(client) == ["read", "ok", "409", "412", "fail", "lost", "rollback"]
    assert kinds(background) == ["setup", "background", "intervention", "skipped"]
    # Never by colour alone: each kind has a shape and (but two circles) a letter of its own.
    assert len({(s.shape, s.letter, s.hollow) for s in MARK_STYLES.values()}) == len(MARK_STYLES)
    legend = parse(render_timeline(events)).one("div", "legend").all_text()
    assert all(style.label in legend for style in MARK_STYLES.values())


# -------------------------------------------------------------------- filters


def test_the_document_filter_draws_one_document(app: Flask, story: Story) -> None:
    tree = parse(render_timeline(journal(app), document=story.second, base_url="/__mock/ui"))

    assert list(sections(tree)) == [story.second]
    options = tree.one("select").all("option")
    assert [o.attrs.get("value") for o in options] == ["", story.first, story.second]
    assert [o.attrs["value"] for o in options if "selected" in o.attrs] == [story.second]
    assert HOSTILE_NAME in options[1].all_text()


def test_the_time_filter_draws_only_events_in_the_window(app: Flask, story: Story) -> None:
    late = parse(render_timeline(journal(app), since=60))
    early = parse(render_timeline(journal(app), since=1, until=2))

    assert list(sections(late)) == [story.second]  # the first document has nothing after 60
    assert {m.attrs["data-t"] for m in marks(late)} == {"72"}
    assert {m.attrs["data-t"] for m in marks(early)} == {"2"}
    assert len(marks(early, "412")) == 1
    assert len(marks(early, "lost")) == 1
    assert "No events match these filters." in render_timeline(journal(app), since=100)


# -------------------------------------------------------------------- escaping, bounds


def test_everything_from_the_journal_is_escaped(app: Flask, story: Story) -> None:
    doc = "OR:<i>x</i>"
    hostile = [
        event(1, 0, "fail", "update", "<img src=x onerror=alert(1)>", document=doc, status=409),
        event(2, 1, "intervention", "concurrent_edit", "a&b", document=doc, message="</title>"),
    ]
    for page in (
        render_timeline(journal(app), base_url="/__mock/ui"),
        render_timeline(hostile, title="<b>title</b>", intro="<u>why</u>", base_url="/x?<y>"),
    ):
        assert "<script" not in page.lower()
        for tag in ("<img", "<i>", "<b>", "<u>", "<y>"):
            assert tag not in page
        parse(page)  # still well formed: no tooltip was closed early
    assert "message: &lt;/title&gt;" in render_timeline(hostile)
    page = render_timeline(journal(app))
    assert "Pump &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in page
    tree = parse(render_timeline(hostile))
    assert lanes(sections(tree)[doc]) == ["<img src=x onerror=alert(1)>", BACKGROUND_LANE]


def test_the_page_is_bounded_and_says_when_it_cuts() -> None:
    doc = "OR:wt.doc.WTDocument:1"
    events = [
        event(n, n / 10, "ok" if n % 2 else "fail", "update", "u", document=doc, status=409)
        for n in range(1, 5_011)
    ]
    page = render_timeline(events)

    assert page.count('<g class="mark ') == 5_000
    assert "Showing the last 5,000 of 5,010 matching events" in page
    assert 'data-seq="10"' not in page
    assert 'data-seq="11"' in page
    assert "Showing the last" not in render_timeline(events[:5_000])
    assert render_timeline(events, limit=20).count('<g class="mark ') == 20


def test_the_page_draws_the_most_recently_active_documents_only() -> None:
    events = [
        event(n, n, "fail", "update", "u", document=f"OR:wt.doc.WTDocument:{n % 150}", status=409)
        for n in range(1, 301)
    ]
    page = render_timeline(events)

    drawn = sections(parse(page))
    assert len(drawn) == 100
    assert set(drawn) == {f"OR:wt.doc.WTDocument:{n % 150}" for n in range(201, 301)}
    assert "Drawing the 100 most recently active of 150 documents (50 more not drawn" in page
    assert sum(b[1] for b in bars(page)) == 300  # the plot counts every document
    assert len(sections(parse(render_timeline(events, max_documents=3)))) == 3


def test_an_empty_journal_says_so() -> None:
    page = render_timeline([], base_url="/__mock/ui")

    assert "The journal is empty" in page
    assert "<svg" not in page
    parse(page)


# -------------------------------------------------------------------- the conflict plot


def bars(page: str) -> list[tuple[int, int, int, float]]:
    return [
        (
            int(bar.attrs["data-minute"]),
            int(bar.attrs["data-conflicts"]),
            int(bar.attrs["data-writes"]),
            float(bar.attrs["height"]),
        )
        for bar in parse(page).one("svg", "rate-plot").all("rect", "bar")
    ]


def test_the_conflict_plot_has_a_bar_per_minute(app: Flask, story: Story) -> None:
    assert bars(render_timeline(journal(app))) == [(0, 2, 5, 70.0), (1, 1, 2, 35.0)]
    assert bars(render_timeline(journal(app), document=story.first)) == [(0, 2, 3, 70.0)]


def test_the_conflict_plot_counts_client_writes_only_and_shows_empty_minutes() -> None:
    doc = "OR:wt.doc.WTDocument:1"
    events = [
        event(1, 5, "fail", "update", "u", document=doc, status=409),
        event(2, 10, "fail", "read", "u", document=doc, status=409),  # a read: not a write
        event(3, 59.9, "ok", "update", "u", document=doc),
        event(4, 61, "background", "micro_update", "indexer", document=doc),
        event(5, 190, "fail", "update", "u", document=doc, status=412),
        event(6, 200, "fail", "update", "u", document=doc, status=412),
        event(7, 230, "fail", "update", "u", document=doc, status=428),
        event(8, 239, "invoke", "update", "u", document=doc),
    ]
    assert bars(render_timeline(events)) == [
        (0, 1, 2, 35.0),
        (1, 0, 0, 0.0),
        (2, 0, 0, 0.0),
        (3, 2, 3, 70.0),
    ]
    plot = parse(render_timeline(events)).one("svg", "rate-plot")
    assert "minute of the mock's time" in plot.all_text()
    assert "409+412" in plot.all_text()


def test_a_long_span_groups_minutes_per_bar() -> None:
    doc = "OR:wt.doc.WTDocument:1"
    events = [
        event(n, n * 60.0, "fail", "update", "u", document=doc, status=409) for n in range(400)
    ]
    drawn = bars(render_timeline(events))

    assert len(drawn) == 134  # 400 minutes, 3 a bar
    assert drawn[0][:3] == (0, 3, 3)
    assert drawn[-1][:3] == (399, 1, 1)


# -------------------------------------------------------------------- over HTTP


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


def test_the_page_is_served_to_loopback_clients(app: Flask, story: Story, client: Any) -> None:
    response = client.get("/__mock/ui")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    page = response.get_data(as_text=True)
    assert list(sections(parse(page))) == [story.first, story.second]
    assert '<meta http-equiv="refresh" content="5">' in page
    # The policy allows the page's own style (by its hash) and no script at all.
    (style,) = re.findall(r"<style>(.*?)</style>", page, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in CONTENT_SECURITY_POLICY
    assert "script-src" not in CONTENT_SECURITY_POLICY
    assert CONTENT_SECURITY_POLICY.startswith("default-src 'none';")


def test_query_parameters_filter_and_stop_the_refresh(
    app: Flask, story: Story, client: Any
) -> None:
    page = client.get(
        "/__mock/ui", query_string={"document": story.second, "from": "60", "refresh": "0"}
    ).get_data(as_text=True)

    assert list(sections(parse(page))) == [story.second]
    assert {m.attrs["data-t"] for m in marks(parse(page))} == {"72"}
    assert 'http-equiv="refresh"' not in page
    assert 'content="12"' in client.get("/__mock/ui?refresh=12").get_data(as_text=True)
    for bad in ("from=soon", "to=nan", "refresh=-1", "refresh=1.5", "refresh=99999"):
        response = client.get(f"/__mock/ui?{bad}")
        assert response.status_code == 400, bad
        assert response.get_json()["error"]["message"]


def test_the_page_refuses_other_machines(client: Any) -> None:
    response = client.get("/__mock/ui", environ_base={"REMOTE_ADDR": "10.0.0.5"})

    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "AdminForbidden"
    foreign = client.get("/__mock/ui", headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403


def test_a_tenant_has_its_own_page(app: Flask, story: Story, client: Any) -> None:
    created = client.post("/__mock/tenants", json={})
    assert created.status_code == 201, created.get_data(as_text=True)
    prefix = f"/(S({created.get_json()['id']}))"
    session = in_process_session(app, auth=("wcadmin", "wcadmin"))
    nonce = session.get(f"{DEFAULT_BASE_URL}{prefix}/Windchill/servlet/odata/PTC/GetCSRFToken()")
    made = session.post(
        f"{DEFAULT_BASE_URL}{prefix}/Windchill/servlet/odata/DocMgmt/Documents",
        json={"Name": "Tenant's own"},
        headers={"CSRF_NONCE": nonce.json()["NonceValue"]},
    )
    assert made.status_code == 201, made.text

    response = client.get(f"{prefix}/__mock/ui")
    assert response.status_code == 200
    tree = parse(response.get_data(as_text=True))
    assert list(sections(tree)) == [made.json()["ID"]]
    assert "Tenant&#x27;s own" in response.get_data(as_text=True)
    assert tree.one("form").attrs["action"] == f"{prefix}/__mock/ui"
    refused = client.get(f"{prefix}/__mock/ui", environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert refused.status_code == 403


def test_a_journal_spanning_years_costs_what_its_events_cost() -> None:
    from mock_server.core.journal import Event
    from mock_server.timeline import MAX_RATE_BARS, render_timeline

    doc = "OR:wt.doc.WTDocument:1"
    events = [
        Event(1, 0.0, "invoke", "update", "wcadmin", document=doc, op_id=1),
        Event(2, 0.0, "fail", "update", "wcadmin", document=doc, op_id=1, status=409),
        Event(3, 3.15e8, "invoke", "update", "wcadmin", document=doc, op_id=2),
        Event(4, 3.15e8, "ok", "update", "wcadmin", document=doc, op_id=2, status=200),
    ]
    started = time.monotonic()
    page = render_timeline(events)
    assert time.monotonic() - started < 2  # counted per event, not per minute of the span
    bars = page.count('<rect class="bar"')
    assert 1 < bars <= MAX_RATE_BARS
    assert 'data-conflicts="1"' in page
    assert "e+" not in page.split("<svg", 1)[0]  # times written out, not rounded to 6 digits


def test_filter_values_keep_their_milliseconds() -> None:
    from mock_server.timeline import _num

    assert [_num(v) for v in (2000035.0, 0.5, 12.0, 1.2345, -0.0)] == [
        "2000035",
        "0.5",
        "12",
        "1.234",
        "0",
    ]
