"""Fan-out latency: one ingested event pushed to 100, 500 and 1,000 logged-in websockets.

On the in-memory layer, then on Redis (RedisChannelLayer; RedisPubSubChannelLayer with
--layer redis-pubsub). For each client count the sockets subscribe to the overview and this
process posts events one at a time, waiting for every socket to receive each; per socket it
records the time from the POST's send, from the POST's response and from the first socket's
arrival (the spread) to the fragment's arrival. The ceiling, in the same run: as many sockets
on a consumer that only forwards, fed by a view that sends a ready-made string of the same size
over the same layer. Product and ceiling each get a fresh daphne process, so memory per socket
is measured alike. Template renders are counted in the server, to show a push is rendered once
per event whatever the number of sockets.

    .venv/bin/python bench/fanout.py [--quick] [--layer memory|redis|redis-pubsub]
        [--clients 100,500,1000] [--events 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

# Run as a script: make the project importable (bench.*, and the settings the server uses).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report, server
from bench.clients import Frame, HttpConnection, WebsocketClient
from bench.workload import make_pair

PRODUCT_SOCKET = "/ws/live/?groups=overview"
CEILING_SOCKET = "/bench/ws/ceiling/"
TARGET_RATIO = 2.0
# The Redis layers, by the name CHANNEL_LAYER gives them in settings; "redis" is the default.
LAYERS = {"redis": "core", "redis-pubsub": "pubsub"}
ARRIVAL_TIMEOUT = 15.0


@dataclass
class Round:
    """Everything measured for one kind of push (product or ceiling) at one client count."""

    name: str
    clients: int
    from_response: list[float] = field(default_factory=list)
    from_send: list[float] = field(default_factory=list)
    # Time from the first socket's arrival to each socket's: the fan-out alone.
    spread: list[float] = field(default_factory=list)
    lost: int = 0
    errors: int = 0
    message_bytes: list[int] = field(default_factory=list)
    rss_per_socket: float = 0.0
    renders: dict[str, int] = field(default_factory=dict)
    events: int = 0


class Collector:
    """Waits for one marked message on every socket and keeps each socket's arrival time."""

    def __init__(self, sockets: int) -> None:
        self.sockets = sockets
        self.marker = ""
        self.arrivals: dict[int, Frame] = {}
        self.done: asyncio.Future | None = None

    def expect(self, marker: str) -> None:
        self.marker = marker
        self.arrivals = {}
        self.done = asyncio.get_running_loop().create_future()

    def receiver(self, index: int):
        def on_frame(frame: Frame) -> None:
            if self.marker and self.marker in frame.text and index not in self.arrivals:
                self.arrivals[index] = frame
                if len(self.arrivals) == self.sockets and not self.done.done():
                    self.done.set_result(None)

        return on_frame


async def _open_sockets(port: int, path: str, session: str, collector: Collector):
    sockets = [
        WebsocketClient("127.0.0.1", port, path, session=session) for _ in range(collector.sockets)
    ]
    limit = asyncio.Semaphore(50)

    async def open_one(index: int, socket: WebsocketClient) -> None:
        async with limit:
            await socket.connect(collector.receiver(index))

    await asyncio.gather(*(open_one(index, socket) for index, socket in enumerate(sockets)))
    return sockets


async def _push_and_wait(
    send, marker: str, collector: Collector, result: Round, *, record: bool
) -> None:
    collector.expect(marker)
    response = await send()
    if response is None or response.status != 200:
        result.errors += 1
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(collector.done), ARRIVAL_TIMEOUT)
    if not record:
        return
    result.events += 1
    result.lost += collector.sockets - len(collector.arrivals)
    first = min((frame.arrived for frame in collector.arrivals.values()), default=0.0)
    for frame in collector.arrivals.values():
        result.spread.append(frame.arrived - first)
        result.from_response.append(frame.arrived - response.done)
        result.from_send.append(frame.arrived - response.sent)
        result.message_bytes.append(len(frame.text.encode()))


async def _renders(http: HttpConnection) -> dict[str, int]:
    response = await http.request("GET", "/bench/counters/")
    return json.loads(response.body)["renders"]


def _renders_between(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: count - before.get(name, 0) for name, count in after.items()}


def product_pushes(credentials: dict, clients: int, count: int) -> list[tuple[str, bytes]]:
    """(marker, body) per event: start and finish pairs, each on a new repository."""
    rng = random.Random(clients)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    pairs = [
        make_pair(f"fanout-{clients}-{index:05d}", moment, rng) for index in range(count // 2 + 1)
    ]
    return [(pair.repo_id, body) for pair in pairs for body in (pair.start, pair.finish)][:count]


async def measure_round(
    running: server.Server,
    result: Round,
    *,
    socket_path: str,
    session: str,
    pushes: list[tuple[str, str, bytes]],
    headers: dict[str, str],
    warmup: int,
) -> None:
    """Open the sockets, post each (marker, path, body) and wait for it everywhere, close."""
    http = HttpConnection("127.0.0.1", running.port)
    # A few sockets first, so one-time costs (imports, caches) do not count as per-socket memory.
    for socket in await _open_sockets(running.port, socket_path, session, Collector(5)):
        socket.close()
    await asyncio.sleep(0.5)
    collector = Collector(result.clients)
    rss_before = running.rss_bytes()
    sockets = await _open_sockets(running.port, socket_path, session, collector)
    await asyncio.sleep(0.5)
    result.rss_per_socket = (running.rss_bytes() - rss_before) / result.clients
    renders_before: dict[str, int] = {}
    for index, (marker, path, body) in enumerate(pushes):
        if index == warmup:
            renders_before = await _renders(http)

        async def send(path: str = path, body: bytes = body):
            try:
                return await http.request("POST", path, body, headers)
            except ConnectionError:
                return None

        await _push_and_wait(send, marker, collector, result, record=index >= warmup)
    result.renders = _renders_between(renders_before, await _renders(http))
    result.errors += sum(1 for socket in sockets if socket.close_code is not None)
    for socket in sockets:
        socket.close()
    http.close()


def _headers(credentials: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {credentials['token']}", "Content-Type": "application/json"}


def measure_clients(env: dict, credentials: dict, clients: int, events: int) -> tuple[Round, Round]:
    """Product then ceiling at one client count, each on a server of its own."""
    warmup = 2
    product = Round("product", clients)
    pushes = [
        (marker, "/api/events/", body)
        for marker, body in product_pushes(credentials, clients, events + warmup)
    ]
    with server.running_server(env, log_name="fanout") as running:
        asyncio.run(
            measure_round(
                running,
                product,
                socket_path=PRODUCT_SOCKET,
                session=credentials["session"],
                pushes=pushes,
                headers=_headers(credentials),
                warmup=warmup,
            )
        )
    size = round(statistics.mean(product.message_bytes)) if product.message_bytes else 1000
    ceiling = Round("ceiling", clients)
    ceiling_pushes = [
        (
            marker := f"ceiling-{clients}-{index:05d}",
            "/bench/push/",
            json.dumps({"marker": marker, "size": size}).encode(),
        )
        for index in range(events + warmup)
    ]
    with server.running_server(env, log_name="fanout") as running:
        asyncio.run(
            measure_round(
                running,
                ceiling,
                socket_path=CEILING_SOCKET,
                session=credentials["session"],
                pushes=ceiling_pushes,
                headers=_headers(credentials),
                warmup=warmup,
            )
        )
    return product, ceiling


def run_layer(layer: str, client_counts: list[int], events: int) -> list[tuple[Round, Round]]:
    with server.sqlite_database() as database:
        env = server.base_env() | database
        if layer != "memory":
            env["REDIS_URL"] = server.REDIS_URL
            env["CHANNEL_LAYER"] = LAYERS[layer]
        credentials = server.prepare(env)
        return [measure_clients(env, credentials, clients, events) for clients in client_counts]


def _p99_ratio(values: list[float], ceiling: list[float]) -> str:
    value, limit = report.percentile(values, 0.99), report.percentile(ceiling, 0.99)
    # Arrivals before the response give negative times, for which a ratio means nothing.
    return report.ratio(value, limit) if value > 0 and limit > 0 else "-"


def _rows(label: str, rounds: list[tuple[Round, Round]]) -> list[list[object]]:
    rows = []
    for product, ceiling in rounds:
        for result in (product, ceiling):
            rows.append(
                [
                    label,
                    result.clients,
                    result.name,
                    result.events,
                    report.ms(report.percentile(result.from_send, 0.5)),
                    report.ms(report.percentile(result.from_send, 0.99)),
                    _p99_ratio(result.from_send, ceiling.from_send),
                    report.ms(report.percentile(result.from_response, 0.5)),
                    report.ms(report.percentile(result.from_response, 0.99)),
                    _p99_ratio(result.from_response, ceiling.from_response),
                    report.ms(report.percentile(result.spread, 0.99)),
                    _p99_ratio(result.spread, ceiling.spread),
                    result.lost,
                    result.errors,
                    f"{result.rss_per_socket / 1024:.1f}",
                ]
            )
    return rows


def _render_rows(label: str, rounds: list[tuple[Round, Round]]) -> list[list[object]]:
    rows = []
    for product, _ in rounds:
        total = sum(product.renders.values())
        per_event = total / product.events if product.events else float("nan")
        rows.append([label, product.clients, product.events, total, f"{per_event:.2f}"])
    return rows


def check(label: str, rounds: list[tuple[Round, Round]]) -> tuple[list[str], list[str]]:
    """(failures: lost messages, errors, renders per socket; misses: the latency target)."""
    problems, misses = [], []
    per_event = set()
    for product, ceiling in rounds:
        for result in (product, ceiling):
            if result.lost or result.errors:
                problems.append(
                    f"{label} {result.clients} {result.name}: "
                    f"{result.lost} messages lost, {result.errors} errors"
                )
        for measure in ("from_send", "spread"):
            p99 = report.percentile(getattr(product, measure), 0.99)
            ceiling_p99 = report.percentile(getattr(ceiling, measure), 0.99)
            if p99 > TARGET_RATIO * ceiling_p99:
                misses.append(
                    f"{label} {product.clients}: p99 {measure.replace('_', ' ')} "
                    f"{report.ms(p99)} ms is {p99 / ceiling_p99:.2f}x the ceiling's "
                    f"{report.ms(ceiling_p99)} ms (target {TARGET_RATIO}x)"
                )
        if product.events:
            per_event.add(round(sum(product.renders.values()) / product.events, 2))
    if len(per_event) > 1:
        problems.append(f"{label}: renders per event change with the client count: {per_event}")
    return problems, misses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer clients and events")
    parser.add_argument("--layer", choices=["memory", *LAYERS], action="append")
    parser.add_argument("--clients", help="comma-separated client counts")
    parser.add_argument("--events", type=int, help="events measured per client count")
    args = parser.parse_args()
    default_clients = "20,100" if args.quick else "100,500,1000"
    client_counts = [int(count) for count in (args.clients or default_clients).split(",")]
    events = args.events or (6 if args.quick else 30)
    server.raise_fd_limit()
    layers = {
        layer: run_layer(layer, client_counts, events)
        for layer in args.layer or ["memory", "redis"]
    }
    print(f"\nFan-out latency: {report.machine()}")
    print(f"{events} events per client count, each waited for on every socket\n")
    headers = ["layer", "clients", "push", "events", "from send p50 ms", "p99 ms", "ratio"]
    headers += ["from response p50 ms", "p99 ms", "ratio", "spread p99 ms", "ratio", "lost"]
    headers += ["errors", "KiB per socket"]
    print(report.table(headers, [row for n, r in layers.items() for row in _rows(n, r)]))
    print(
        "\nRatios are against the ceiling's p99 at the same client count. From send: the POST "
        "leaves the client -> the fragment arrives; from response: the POST's response arrives "
        "-> the fragment arrives (negative: the fragment came first; the ceiling sends inside "
        "its request, the product after its response); spread: the first socket's arrival -> "
        "each socket's."
    )
    print("\nTemplate renders in the server while the product pushes were measured:\n")
    render_headers = ["layer", "clients", "events", "renders", "per event"]
    print(
        report.table(render_headers, [row for n, r in layers.items() for row in _render_rows(n, r)])
    )
    templates = next(iter(layers.values()))[-1][0].renders
    print(
        "\nPer template, at the largest client count: "
        + ", ".join(
            f"{name.rsplit('/', 1)[-1]} {count}"
            for name, count in sorted(templates.items())
            if count
        )
    )
    checked = [check(name, rounds) for name, rounds in layers.items()]
    return report.conclude(
        [failure for failures, _ in checked for failure in failures],
        [miss for _, misses in checked for miss in misses],
    )


if __name__ == "__main__":
    sys.exit(main())
