"""Burst: 5,000 events from one client as fast as it can, while 200 pages are connected.

One daphne process (SQLite and the in-memory layer, then PostgreSQL and Redis). Repositories
are created first; then 200 logged-in sockets open the way a browser would: each loads its
page (most the overview, the rest repository pages), reads the socket URL and the regions URL
from it, and connects. One keep-alive connection then posts start and finish pairs back to
back. Each socket keeps its page's state from the pushed fragments (bench/page_state.py).
Once no socket has received anything for a few seconds, every page's regions are fetched
again over HTTP and compared with every socket's state. Lost pushes show as sequence gaps or
differing state. A message may carry several events' changes (the server merges what queued
up while it rendered a push), so fewer messages than events is no fault: the events each
message carries are measured.

    .venv/bin/python bench/burst.py [--quick] [--config default|production]
"""

from __future__ import annotations

import argparse
import asyncio
import html
import itertools
import json
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Run as a script: make the project importable (bench.*, and the settings the server uses).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import page_state, report, server
from bench.clients import Frame, HttpConnection, WebsocketClient
from bench.workload import Pair, make_pairs

OVERVIEW_PATH = "/"
REPOSITORIES = 40
REPOSITORY_PAGES = 5
# Settled: no socket has received anything for QUIET seconds since the last POST's response.
QUIET = 3.0
SETTLE_TIMEOUT = 120.0
PARSED_CACHE_SIZE = 4096
DIFFERENCES_SHOWN = 10


@dataclass
class Page:
    path: str
    socket_path: str
    regions_path: str


@dataclass
class Socket:
    page: Page
    client: WebsocketClient
    state: page_state.PageState
    # Arrival time and fragment ids of every message, kept for one socket per page only.
    timeline: list[tuple[float, list[str]]] | None = None
    last_arrival: float = 0.0
    # Messages received before the burst began.
    baseline: int = 0


@dataclass
class Outcome:
    label: str
    posted: int = 0
    errors: int = 0
    seconds: float = 0.0
    stored: int = 0
    expected_stored: int = 0
    sockets: int = 0
    closed: int = 0
    # Events posted during the burst, in all and per page (a repository page shows its own).
    events: int = 0
    page_events: dict[str, int] = field(default_factory=dict)
    overview_messages: list[int] = field(default_factory=list)
    # From the last POST's response to the last message received; None: never quiet.
    settled: float | None = None
    gaps: int = 0
    differing: int = 0
    missing: int = 0
    examples: list[str] = field(default_factory=list)
    # Each distinct difference, (page, element id, diff), and on how many sockets.
    differences: Counter = field(default_factory=Counter)
    renders: dict[str, int] = field(default_factory=dict)
    timelines: dict[str, list[tuple[float, list[str]]]] = field(default_factory=dict)

    def events_per_message(self) -> list[float]:
        """Per overview socket: events posted during the burst / messages received."""
        return [self.events / count if count else 0.0 for count in self.overview_messages]


class Parser:
    """Parses each distinct message once: every overview socket receives the same text."""

    def __init__(self) -> None:
        self.cache: dict[str, page_state.Push] = {}

    def parse(self, text: str) -> page_state.Push:
        push = self.cache.get(text)
        if push is None:
            if len(self.cache) >= PARSED_CACHE_SIZE:
                del self.cache[next(iter(self.cache))]
            push = self.cache[text] = page_state.parse_push(text)
        return push


def _cookie(session: str) -> dict[str, str]:
    return {"Cookie": f"sessionid={session}"}


def _attribute(page_html: str, name: str) -> str:
    match = re.search(rf'{name}="([^"]+)"', page_html)
    if match is None:
        raise RuntimeError(f"the page has no {name} attribute")
    return html.unescape(match.group(1))


async def _get(http: HttpConnection, path: str, session: str) -> str:
    response = await http.request("GET", path, headers=_cookie(session))
    if response.status != 200:
        raise RuntimeError(f"GET {path}: HTTP {response.status}")
    return response.body.decode()


async def _post_all(http: HttpConnection, bodies: list[bytes], token: str, outcome: Outcome):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for body in bodies:
        try:
            response = await http.request("POST", "/api/events/", body, headers)
        except ConnectionError:
            outcome.errors += 1
            continue
        if response.status != 200:
            outcome.errors += 1
            continue
        outcome.posted += 1


async def _repository_paths(http: HttpConnection, session: str) -> list[str]:
    overview = await _get(http, OVERVIEW_PATH, session)
    links = re.findall(r'class="repo-link" href="([^"]+)"', overview)
    return [html.unescape(link) for link in links[:REPOSITORY_PAGES]]


async def _open(port: int, page_path: str, session: str, parser: Parser, keep_timeline: bool):
    http = HttpConnection("127.0.0.1", port)
    page_html = await _get(http, page_path, session)
    http.close()
    page = Page(
        page_path, _attribute(page_html, "ws-connect"), _attribute(page_html, "data-fragment-url")
    )
    state = page_state.PageState.from_page(page_html)
    client = WebsocketClient("127.0.0.1", port, page.socket_path, session=session)
    socket = Socket(page, client, state, [] if keep_timeline else None)

    def on_frame(frame: Frame) -> None:
        push = parser.parse(frame.text)
        socket.state.apply(push)
        socket.last_arrival = frame.arrived
        if socket.timeline is not None:
            socket.timeline.append((frame.arrived, list(push.updates)))

    await client.connect(on_frame)
    return socket


async def _settle(sockets: list[Socket], responded: float) -> float | None:
    """Wait until no socket has received anything for QUIET seconds, at most SETTLE_TIMEOUT.

    Returns the seconds from the last response to the last message, or None at the timeout.
    """
    deadline = responded + SETTLE_TIMEOUT
    while True:
        last = max(responded, *(socket.last_arrival for socket in sockets))
        now = time.perf_counter()
        if now - last >= QUIET:
            return last - responded
        if now >= deadline:
            return None
        await asyncio.sleep(0.1)


def _socket_plan(paths: list[str], sockets: int) -> list[str]:
    """Three quarters of the sockets on the overview, the rest spread over repository pages."""
    overview = sockets - sockets // 4
    repositories = paths[1:]
    return [paths[0]] * overview + [
        repositories[index % len(repositories)] for index in range(sockets - overview)
    ]


async def _open_all(port: int, session: str, plan: list[str]) -> list[Socket]:
    parser = Parser()
    sockets: list[Socket] = []
    for page_path in plan:
        first_on_page = all(socket.page.path != page_path for socket in sockets)
        sockets.append(await _open(port, page_path, session, parser, first_on_page))
    return sockets


def _bodies(pair: Pair) -> tuple[bytes, bytes]:
    return pair.start, pair.finish


def _page_events(paths: list[str], repo_ids: list[str]) -> dict[str, int]:
    """How many of the events each page shows: all on the overview, its own on a repository's."""
    return {
        path: sum(path == OVERVIEW_PATH or path.endswith(f"/{repo_id}/") for repo_id in repo_ids)
        for path in paths
    }


async def run_burst(running: server.Server, credentials: dict, config: dict, outcome: Outcome):
    token, session = credentials["token"], credentials["session"]
    pairs: list[Pair] = make_pairs(config["events"] // 2 + REPOSITORIES, repositories=REPOSITORIES)
    http = HttpConnection("127.0.0.1", running.port)
    first = [body for pair in pairs[:REPOSITORIES] for body in _bodies(pair)]
    await _post_all(http, first, token, outcome)
    paths = [OVERVIEW_PATH, *await _repository_paths(http, session)]
    sockets = await _open_all(running.port, session, _socket_plan(paths, config["sockets"]))
    renders_before = await _renders(http)
    burst = [(pair.repo_id, body) for pair in pairs[REPOSITORIES:] for body in _bodies(pair)]
    burst = burst[: config["events"]]
    outcome.page_events = _page_events(paths, [repo_id for repo_id, _ in burst])
    for socket in sockets:
        socket.baseline = socket.state.messages
    before = outcome.posted
    started = time.perf_counter()
    await _post_all(http, [body for _, body in burst], token, outcome)
    responded = time.perf_counter()
    outcome.seconds = responded - started
    outcome.events = outcome.posted - before
    outcome.settled = await _settle(sockets, responded)
    outcome.renders = _difference(renders_before, await _renders(http))
    await _compare(http, session, sockets, outcome, started)
    http.close()
    for socket in sockets:
        socket.client.close()


async def _renders(http: HttpConnection) -> dict[str, int]:
    response = await http.request("GET", "/bench/counters/")
    return json.loads(response.body)["renders"]


def _difference(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: count - before.get(name, 0) for name, count in after.items()}


async def _compare(
    http: HttpConnection, session: str, sockets: list[Socket], outcome: Outcome, started: float
):
    regions: dict[str, str] = {}
    for socket in sockets:
        if socket.page.path not in regions:
            regions[socket.page.path] = await _get(http, socket.page.regions_path, session)
    # Both sides are normalized at one moment, after every fetch: a stall deadline passed
    # since a fetch shows on both.
    now_ms = int(time.time() * 1000)
    outcome.sockets = len(sockets)
    for socket in sockets:
        outcome.closed += socket.client.close_code is not None
        outcome.gaps += socket.state.gaps
        if socket.page.path == OVERVIEW_PATH:
            outcome.overview_messages.append(socket.state.messages - socket.baseline)
        differing, missing = socket.state.differences(regions[socket.page.path], now_ms)
        outcome.differing += len(differing)
        outcome.missing += len(missing)
        idents = [difference.id for difference in differing] + missing
        for ident in idents[: 3 - len(outcome.examples)]:
            outcome.examples.append(f"{socket.page.path} #{ident}")
        for difference in differing:
            outcome.differences[(socket.page.path, difference.id, difference.diff)] += 1
        if socket.timeline is not None:
            burst = [entry for entry in socket.timeline if entry[0] >= started]
            outcome.timelines[socket.page.path] = burst


def run_config(name: str, config: dict) -> Outcome:
    outcome = Outcome(name)
    production = name == "production"
    database_context = server.postgres_database("burst") if production else server.sqlite_database()
    with database_context as database:
        env = server.base_env() | database
        if production:
            env["REDIS_URL"] = server.REDIS_URL
        credentials = server.prepare(env)
        with server.running_server(env, log_name=f"burst-{name}") as running:
            asyncio.run(run_burst(running, credentials, config, outcome))
        outcome.stored = server.count_rows(database)["event"]
    outcome.expected_stored = outcome.posted
    return outcome


def merging(timeline: list[tuple[float, list[str]]]) -> dict[str, float]:
    """Messages as received: how many, how many fragments each, and how far apart."""
    if not timeline:
        return {}
    arrivals = [arrived for arrived, _ in timeline]
    intervals = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    fragments = sum(len([i for i in ids if not i.startswith("seq-")]) for _, ids in timeline)
    return {
        "seconds": max(arrivals[-1] - arrivals[0], 1e-9),
        "messages": len(timeline),
        "fragments": fragments,
        "interval_p50": report.percentile(intervals, 0.5),
        "interval_min": min(intervals, default=float("nan")),
    }


def check(outcome: Outcome) -> list[str]:
    problems = []
    label = outcome.label
    if outcome.errors:
        problems.append(f"{label}: {outcome.errors} posts failed")
    if outcome.stored != outcome.expected_stored:
        problems.append(
            f"{label}: {outcome.expected_stored} events accepted, {outcome.stored} stored"
        )
    if outcome.closed:
        problems.append(f"{label}: {outcome.closed} sockets were closed by the server")
    if outcome.settled is None:
        problems.append(
            f"{label}: sockets still receiving {SETTLE_TIMEOUT:.0f} s after the last response "
            f"(never quiet for {QUIET:.0f} s); compared anyway"
        )
    if outcome.gaps:
        problems.append(f"{label}: {outcome.gaps} sequence gaps")
    if outcome.differing or outcome.missing:
        problems.append(
            f"{label}: page state wrong: {outcome.differing} elements differ, "
            f"{outcome.missing} missing (e.g. {', '.join(outcome.examples)})"
        )
    return problems


def _tables(outcomes: list[Outcome]) -> str:
    rows = []
    for outcome in outcomes:
        counts = outcome.overview_messages or [0]
        merged = outcome.events_per_message() or [0.0]
        settled = "never" if outcome.settled is None else f"{outcome.settled:.1f}"
        rows.append(
            [
                outcome.label,
                outcome.events,
                f"{outcome.seconds:.1f}",
                f"{outcome.events / outcome.seconds:.0f}",
                outcome.errors,
                f"{outcome.stored}/{outcome.expected_stored}",
                outcome.sockets,
                f"{min(counts)}-{max(counts)}",
                f"{min(merged):.2f} / {report.percentile(merged, 0.5):.2f}",
                outcome.gaps,
                settled,
                outcome.differing,
                outcome.missing,
            ]
        )
    headers = ["config", "events", "seconds", "events/s", "errors", "stored/accepted"]
    headers += ["sockets", "messages per overview socket", "events per message (min / median)"]
    headers += ["gaps", "last message after last response (s)", "differing", "missing"]
    lines = [report.table(headers, rows), ""]
    rows = []
    for outcome in outcomes:
        groups = outcome.renders.get("events/partials/sequence.html", 0)
        rows.append(
            [
                outcome.label,
                "server, every group",
                outcome.events,
                groups,
                "",
                f"{groups / outcome.seconds:.1f}",
                "",
                "",
            ]
        )
        for path, timeline in outcome.timelines.items():
            stats = merging(timeline)
            if not stats:
                continue
            events = outcome.page_events.get(path, 0)
            rows.append(
                [
                    outcome.label,
                    path,
                    events,
                    stats["messages"],
                    f"{events / stats['messages']:.2f}",
                    f"{stats['messages'] / stats['seconds']:.1f}",
                    f"{stats['fragments'] / stats['messages']:.1f}",
                    f"{report.ms(stats['interval_p50'])} / {report.ms(stats['interval_min'])}",
                ]
            )
    headers = ["config", "page (one socket)", "events", "messages", "events per message"]
    headers += ["messages/s", "fragments per message", "ms between messages (p50 / min)"]
    lines.append(report.table(headers, rows))
    renders = Counter()
    for outcome in outcomes:
        renders.update({f"{outcome.label}: {k}": v for k, v in outcome.renders.items() if v})
    lines.append("\nTemplate renders during the burst (per event: divide by the events column):")
    lines += [f"  {name}: {count}" for name, count in sorted(renders.items())]
    return "\n".join(lines)


def _differences(outcomes: list[Outcome]) -> str:
    """Each distinct difference once, with its diff: what the socket holds against a fetch."""
    found = [
        (outcome.label, key, sockets)
        for outcome in outcomes
        for key, sockets in outcome.differences.items()
    ]
    lines = [
        "\nElements that differ from a fresh fetch (relative and elapsed times left out, "
        "running badges past their deadline shown as stalled):"
    ]
    for label, (path, ident, diff), sockets in found[:DIFFERENCES_SHOWN]:
        lines.append(f"\n{label}: {path} #{ident}, on {sockets} socket{'s' * (sockets != 1)}")
        lines += [f"    {line}" for line in diff.splitlines()]
    if len(found) > DIFFERENCES_SHOWN:
        lines.append(f"\n... and {len(found) - DIFFERENCES_SHOWN} more distinct differences")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 events, 40 sockets")
    parser.add_argument("--config", choices=["default", "production"], action="append")
    args = parser.parse_args()
    config = {"events": 500, "sockets": 40} if args.quick else {"events": 5000, "sockets": 200}
    server.raise_fd_limit()
    outcomes = [run_config(name, config) for name in args.config or ["default", "production"]]
    print(f"\nBurst: {report.machine()}")
    print(
        f"{config['events']} events from one keep-alive connection, {config['sockets']} sockets "
        "(three quarters on the overview, the rest on repository pages)\n"
    )
    print(_tables(outcomes))
    if any(outcome.differences for outcome in outcomes):
        print(_differences(outcomes))
    return report.conclude([problem for outcome in outcomes for problem in check(outcome)], [])


if __name__ == "__main__":
    sys.exit(main())
