"""Helpers for the timeline page's tests: a journal with every kind of trouble, made over
HTTP (in-process or on a socket), and a small HTML tree to look into the page with."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

import requests

ROOT = "/Windchill/servlet/odata"
DOCS = f"{ROOT}/DocMgmt/Documents"
USERS = {"wcadmin": "wcadmin", "alice": "alice"}
#: The Name of the first document: the page must show it as text, never as markup.
HOSTILE_NAME = "Pump <script>alert('x')</script> & co"


class Wrs:
    """One user's requests to a mock at ``base`` (a session made by ``make_session``)."""

    def __init__(self, make_session: Callable[[], requests.Session], base: str, user: str):
        self.base = base.rstrip("/")
        self.session = make_session()
        self.session.auth = (user, USERS[user])
        token = self.session.get(f"{self.base}{ROOT}/PTC/GetCSRFToken()")
        token.raise_for_status()
        self.session.headers["CSRF_NONCE"] = token.json()["NonceValue"]

    def url(self, doc: str) -> str:
        return f"{self.base}{DOCS}('{doc}')"

    def create(self, name: str) -> str:
        response = self.session.post(f"{self.base}{DOCS}", json={"Name": name})
        assert response.status_code == 201, response.text
        doc: str = response.json()["ID"]
        return doc

    def etag(self, doc: str) -> str:
        response = self.session.get(self.url(doc))
        assert response.status_code == 200, response.text
        return response.headers["ETag"]

    def patch(self, doc: str, changes: dict[str, str], if_match: str) -> int | None:
        """The status, or ``None`` when the response was lost."""
        try:
            response = self.session.patch(
                self.url(doc), json=changes, headers={"If-Match": if_match}
            )
        except requests.ConnectionError:
            return None
        return response.status_code


@dataclass
class Story:
    """What :func:`make_trouble` did: the documents and what the client sent."""

    first: str
    second: str
    #: The If-Match of the PATCH answered 409 on ``first``, and of the one answered 412.
    sent_409: str = ""
    sent_412: str = ""
    statuses: list[int | None] = field(default_factory=list)


def make_trouble(
    make_session: Callable[[], requests.Session], base: str, admin: requests.Session
) -> Story:
    """A journal with a 409 (a micro-update), a 412 (another user's edit), a lost response,
    background work, and a second 409 a minute later:

    * t=0: wcadmin creates both documents; on the first, the indexer's micro-update (busy
      1 s) makes wcadmin's PATCH 409;
    * t=2: another user's edit makes wcadmin's next PATCH 412; alice's PATCH of the second
      document is applied but its response is lost;
    * t=72: the cache sync touches the second document (no busy time); wcadmin's PATCH of it
      with the ETag it read before alice's write: 409; read again, PATCH again: 200.

    Per minute: minute 0 has 5 client writes (2 creates, 409, 412, the lost one), 2 of them
    conflicts; minute 1 has 2 writes, 1 conflict.
    """
    base = base.rstrip("/")

    def intervene(**body: object) -> None:
        admin.post(f"{base}/__mock/interventions", json=body).raise_for_status()

    def advance(seconds: float) -> None:
        admin.post(f"{base}/__mock/clock/advance", json={"seconds": seconds}).raise_for_status()

    me, alice = Wrs(make_session, base, "wcadmin"), Wrs(make_session, base, "alice")
    story = Story(me.create(HOSTILE_NAME), me.create("Valve"))
    story.sent_409 = me.etag(story.first)
    intervene(action="micro_update", document=story.first, source="indexer", duration=1.0)
    story.statuses.append(me.patch(story.first, {"Title": "mine"}, story.sent_409))
    advance(2)
    story.sent_412 = me.etag(story.first)
    intervene(action="concurrent_edit", document=story.first, changes={"Title": "theirs"})
    story.statuses.append(me.patch(story.first, {"Title": "mine"}, story.sent_412))
    seen = alice.etag(story.second)
    old = me.etag(story.second)
    intervene(action="lose_response", document=story.second)
    story.statuses.append(alice.patch(story.second, {"Title": "alice's"}, seen))
    advance(70)
    intervene(action="micro_update", document=story.second, source="cache_sync")
    story.statuses.append(me.patch(story.second, {"Title": "mine"}, old))
    story.statuses.append(me.patch(story.second, {"Title": "mine"}, me.etag(story.second)))
    assert story.statuses == [409, 412, None, 409, 200], story.statuses
    return story


# -------------------------------------------------------------------- a small HTML tree

_VOID = frozenset({"meta", "input", "br", "link", "img", "hr", "col", "source"})


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: str = ""

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def all(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        return [
            node
            for node in self.walk()
            if node is not self
            and (tag is None or node.tag == tag)
            and (cls is None or cls in node.classes)
        ]

    def one(self, tag: str | None = None, cls: str | None = None) -> Node:
        found = self.all(tag, cls)
        assert len(found) == 1, f"{len(found)} <{tag} class={cls}> found"
        return found[0]

    def all_text(self) -> str:
        return self.text + "".join(child.all_text() for child in self.children)

    @property
    def title(self) -> str:
        """The text of this element's own ``<title>`` child (an SVG tooltip)."""
        return next(c.all_text() for c in self.children if c.tag == "title")


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(Node("#text", {}, text=data))


def parse(page: str) -> Node:
    """The page as a tree; fails on a tag closed out of order (the page is well formed)."""
    builder = _TreeBuilder()
    builder.feed(page)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder.root


def sections(tree: Node) -> dict[str, Node]:
    """The document sections by document ID."""
    return {node.attrs["data-document"]: node for node in tree.all("section", "document")}


def lanes(section: Node) -> list[str]:
    return [lane.attrs["data-lane"] for lane in section.all("g", "lane")]


def marks(node: Node, kind: str | None = None) -> list[Node]:
    return [m for m in node.all("g", "mark") if kind is None or f"m-{kind}" in m.classes]
