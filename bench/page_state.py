"""A page's live state as a browser would hold it: elements by id, updated by pushed fragments.

htmx's ws extension swaps every top-level element of a message into the page by its id
(out-of-band, outerHTML unless hx-swap-oob says otherwise). This module keeps the same model
without a DOM: the outer HTML of every element that carries an id, from the page as loaded and
then from each push, so that at the end it can be compared with a fresh render of the regions.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
OOB_ATTRIBUTE = re.compile(r' hx-swap-oob="[^"]*"')
SEQUENCE = re.compile(r'data-seq="(\d+)"')
# Text rendered relative to the moment of rendering, which the page's script rewrites
# (static/js/live.js): relative times ("3 min ago") and ticking elapsed times. Their
# attributes (the absolute time, the start in epoch milliseconds) stay compared.
RELATIVE_TIME = re.compile(r"(<time [^>]*\bdata-relative>)[^<]*(</time>)")
ELAPSED = re.compile(r'(<span [^>]*\bdata-role="elapsed"[^>]*>)[^<]*(</span>)')
# A running badge with its stall deadline, as the state_badge tag writes it: once the deadline
# has passed the script shows it as stalled, which is what a render after the deadline writes.
DUE_BADGE = re.compile(
    r'<span class="badge badge-running" data-role="(?P<role>[^"]*)" data-state="running" '
    r'data-deadline="(?P<deadline>\d+)">running</span>'
)
STALLED_BADGE = (
    '<span class="badge badge-stalled" data-role="{role}" data-state="stalled">stalled</span>'
)
MATCHES = re.compile(r'data-matches="([^"]*)"')
# The page's live lists, as static/js/live.js keeps them: the rows of a list that outgrows its
# page size move to a next page, and the list's pager shows its next link from then on.
LIST = re.compile(
    r'<div id="(?P<id>[^"]+)"[^>]*\bdata-live-list="[^"]*" data-pager="(?P<pager>[^"]+)"'
    r'[^>]*\bdata-has-next="(?P<has_next>[01])" data-page-size="(?P<size>\d+)"'
)
LIST_ROWS = {
    "run-history": re.compile(r"run-row-\d+"),
    "repository-rows": re.compile(r"repository-\d+"),
}
NEXT_LINK = re.compile(r'(<a rel="next" href="[^"]*") hidden>')
NO_NEXT = re.compile(r'(<span class="muted" data-role="no-next")>')
DIFF_LINES = 16


@dataclass(frozen=True)
class Element:
    id: str
    html: str
    depth: int
    has_children_with_ids: bool


class _Indexer(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=False)
        self.text = text
        self.line_starts = [0] + [match.end() for match in re.finditer("\n", text)]
        self.stack: list[tuple[str, str | None, int, list[bool]]] = []
        self.elements: list[Element] = []

    def _offset(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def _record(self, ident: str | None, start: int, end: int, has_children: bool) -> None:
        if not ident:
            return
        # Tell every open ancestor that an element with an id lies inside it.
        for _, _, _, flag in self.stack:
            flag[0] = True
        self.elements.append(Element(ident, self.text[start:end], len(self.stack), has_children))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        start = self._offset()
        ident = dict(attrs).get("id")
        if tag in VOID:
            self._record(ident, start, start + len(self.get_starttag_text()), False)
            return
        self.stack.append((tag, ident, start, [False]))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        start = self._offset()
        self._record(dict(attrs).get("id"), start, start + len(self.get_starttag_text()), False)

    def handle_endtag(self, tag: str) -> None:
        end = self.text.index(">", self._offset()) + 1
        # Unclosed elements inside this one end with it, as a browser would close them.
        while self.stack:
            open_tag, ident, start, flag = self.stack.pop()
            self._record(ident, start, end, flag[0])
            if open_tag == tag:
                return


def elements(text: str) -> list[Element]:
    """Every element of the text that has an id, outermost last within each subtree."""
    indexer = _Indexer(text)
    indexer.feed(text)
    indexer.close()
    return indexer.elements


def by_id(text: str) -> dict[str, Element]:
    return {element.id: element for element in elements(text)}


def _badge_at(badge: re.Match, now_ms: int) -> str:
    if int(badge["deadline"]) > now_ms:
        return badge[0]
    return STALLED_BADGE.format(role=badge["role"])


def _sorted_filters(matches: re.Match, added: set[str]) -> str:
    return f'data-matches="{" ".join(sorted(set(matches[1].split()) | added))}"'


def normalize(html: str, now_ms: int) -> str:
    """The HTML without what depends on the moment it was rendered, as seen at `now_ms`.

    Relative and elapsed times lose their text. Running badges whose deadline has passed
    become stalled and their element's filters (its data-matches) include "stalled", as the
    script flips them; the filters are sorted, since the script appends rather than inserts.
    """
    html = ELAPSED.sub(r"\1\2", RELATIVE_TIME.sub(r"\1\2", html))
    flipped = DUE_BADGE.sub(lambda badge: _badge_at(badge, now_ms), html)
    added = {"stalled"} if flipped != html else set()
    return MATCHES.sub(lambda matches: _sorted_filters(matches, added), flipped, count=1)


def diff(current: str, fresh: str) -> str:
    """A short unified diff, one tag per line, of two versions of an element."""
    lines = [re.sub(r">\s*<", ">\n<", text).splitlines() for text in (current, fresh)]
    found = difflib.unified_diff(*lines, "page state", "fresh fetch", n=1, lineterm="")
    shown = list(found)
    if len(shown) > DIFF_LINES:
        shown = [*shown[:DIFF_LINES], f"... {len(shown) - DIFF_LINES} more diff lines"]
    return "\n".join(shown)


@dataclass(frozen=True)
class Difference:
    id: str
    diff: str


@dataclass
class Push:
    """One parsed message: what it replaces, and the sequence numbers it carries."""

    updates: dict[str, str]
    sequences: dict[str, int]


def parse_push(text: str) -> Push:
    updates: dict[str, str] = {}
    sequences: dict[str, int] = {}
    for element in elements(text):
        html = OOB_ATTRIBUTE.sub("", element.html)
        updates[element.id] = html
        if element.depth == 0 and element.id.startswith("seq-"):
            match = SEQUENCE.search(html)
            if match:
                sequences[element.id.removeprefix("seq-")] = int(match.group(1))
    return Push(updates, sequences)


@dataclass
class LiveList:
    """A list the page's script keeps to one page of rows (static/js/live.js enforceLists)."""

    rows: re.Pattern
    pager: str
    size: int
    has_next: bool
    members: set[str]


@dataclass
class PageState:
    """One socket's view of its page."""

    elements: dict[str, str]
    pushed: set[str] = field(default_factory=set)
    last_sequence: dict[str, int] = field(default_factory=dict)
    gaps: int = 0
    messages: int = 0

    lists: list[LiveList] = field(default_factory=list)

    @classmethod
    def from_page(cls, html: str) -> PageState:
        state = cls({element.id: element.html for element in elements(html)})
        for match in LIST.finditer(html):
            rows = LIST_ROWS.get(match["id"])
            if rows is None:
                continue
            members = {ident for ident in state.elements if rows.fullmatch(ident)}
            state.lists.append(
                LiveList(
                    rows, match["pager"], int(match["size"]), match["has_next"] == "1", members
                )
            )
        return state

    def apply(self, push: Push) -> None:
        self.messages += 1
        self.elements.update(push.updates)
        self.pushed.update(push.updates)
        for live_list in self.lists:
            live_list.members.update(i for i in push.updates if live_list.rows.fullmatch(i))
            if len(live_list.members) > live_list.size and not live_list.has_next:
                live_list.has_next = True
                pager = self.elements.get(live_list.pager)
                if pager is not None:
                    pager = NO_NEXT.sub(r"\1 hidden>", NEXT_LINK.sub(r"\1>", pager))
                    self.elements[live_list.pager] = pager
        for group, sequence in push.sequences.items():
            last = self.last_sequence.get(group)
            if last is not None and sequence != last + 1:
                self.gaps += 1
            self.last_sequence[group] = sequence

    def differences(self, regions_html: str, now_ms: int) -> tuple[list[Difference], list[str]]:
        """(elements that differ, ids missing) against a fresh render of the page's regions.

        Compared: every pushed id the regions contain, and every innermost element with an id
        (a container's own HTML is stale once a child is swapped, as in a browser's DOM it
        would not be, so containers are checked through their children). Both sides are
        normalized at the same moment, `now_ms`.
        """
        fresh = by_id(regions_html)
        compared = [
            ident
            for ident, element in fresh.items()
            if ident in self.pushed or not element.has_children_with_ids
        ]
        differing = []
        for ident in compared:
            if ident not in self.elements:
                continue
            current = normalize(self.elements[ident], now_ms)
            expected = normalize(fresh[ident].html, now_ms)
            if current != expected:
                differing.append(Difference(ident, diff(current, expected)))
        missing = [ident for ident in compared if ident not in self.elements]
        return differing, missing
