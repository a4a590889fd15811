"""RedisChannelLayer against RedisPubSubChannelLayer: fan-out from ingest to many sockets.

For each layer: a private redis-server, a fresh PostgreSQL database, two daphne processes (the
production shape), N logged-in sockets on the overview split over both processes, events
posted to the first process. Two phases per client count:
- paced: events one at a time, each awaited on every socket; latency from the POST's send to
  the fragment's arrival, per socket;
- burst: events posted back to back over several connections without waiting; how many
  fragments each socket received, and when the last one arrived.
A fragment a socket never receives is lost: channels-redis drops it over capacity, or the
publisher gave the push up after BROADCAST_TIMEOUT (logged as "live push failed").

    .venv/bin/python bench/channel_layers.py [--clients 200,1000] [--paced 20] [--burst 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

# Run as a script: make the project importable (bench.*, and the settings the server uses).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report, server
from bench.clients import Frame, HttpConnection, WebsocketClient
from bench.workload import make_pair

SOCKET_PATH = "/ws/live/?groups=overview"
LAYERS = ("core", "pubsub")
QUIET_SECONDS = 5.0
BURST_CONNECTIONS = 8


@dataclass
class Result:
    layer: str
    clients: int
    paced_latency: list[float] = field(default_factory=list)
    paced_lost: int = 0
    burst_events: int = 0
    burst_received: int = 0
    burst_seconds: float = 0.0
    errors: int = 0


class Arrivals:
    """Per marker, the arrival time on each socket that received it."""

    def __init__(self) -> None:
        self.times: dict[str, dict[int, float]] = {}
        self.last = 0.0

    def receiver(self, index: int, markers: dict[str, str]):
        def on_frame(frame: Frame) -> None:
            for marker in markers.get("live", "").split():
                if marker in frame.text:
                    self.times.setdefault(marker, {}).setdefault(index, frame.arrived)
                    self.last = frame.arrived

        return on_frame


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    program = shutil.which("redis-server")
    if program is None:
        raise SystemExit("redis-server is needed: apt-get install redis-server")
    port = server.free_port()
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as directory:
        process = subprocess.Popen(
            [program, "--port", str(port), "--save", "", "--dir", directory],
            stdout=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait()


def starts(prefix: str, count: int) -> list[tuple[str, bytes]]:
    """(marker, body): sync or publish starts, each on its own repository."""
    rng = random.Random(count)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    pairs = [make_pair(f"{prefix}-{index:05d}", moment, rng) for index in range(count)]
    return [(f">{pair.repo_id}<", pair.start) for pair in pairs]


async def _wait_until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


async def paced(http, headers, count: int, arrivals: Arrivals, markers, result: Result) -> None:
    for marker, body in starts(f"paced-{result.layer}-{result.clients}", count):
        markers["live"] = marker
        response = await http.request("POST", "/api/events/", body, headers)
        if response.status != 200:
            result.errors += 1
            continue
        await _wait_until(lambda m=marker: len(arrivals.times.get(m, {})) == result.clients, 10)
        got = arrivals.times.get(marker, {})
        result.paced_latency += [arrived - response.sent for arrived in got.values()]
        result.paced_lost += result.clients - len(got)


async def burst(port: int, headers, count: int, arrivals: Arrivals, markers, result: Result):
    pushes = starts(f"burst-{result.layer}-{result.clients}", count)
    markers["live"] = " ".join(marker for marker, _ in pushes)
    queue = list(pushes)
    began = time.perf_counter()

    async def poster() -> None:
        http = HttpConnection("127.0.0.1", port)
        while queue:
            _, body = queue.pop()
            if (await http.request("POST", "/api/events/", body, headers)).status != 200:
                result.errors += 1
        http.close()

    await asyncio.gather(*(poster() for _ in range(BURST_CONNECTIONS)))
    posted = time.perf_counter()
    # Done when nothing arrived for QUIET_SECONDS after the last POST.
    while time.perf_counter() - max(arrivals.last, posted) < QUIET_SECONDS:
        await asyncio.sleep(0.2)
    result.burst_events = count
    result.burst_received = sum(len(arrivals.times.get(marker, {})) for marker, _ in pushes)
    result.burst_seconds = max(arrivals.last, posted) - began


async def measure(ports: list[int], credentials, layer: str, clients: int, args) -> Result:
    """N sockets split over both processes; events posted to the first."""
    result = Result(layer, clients)
    headers = {
        "Authorization": f"Bearer {credentials['token']}",
        "Content-Type": "application/json",
    }
    arrivals, markers = Arrivals(), {"live": ""}
    sockets = [
        WebsocketClient("127.0.0.1", ports[index % 2], SOCKET_PATH, session=credentials["session"])
        for index in range(clients)
    ]
    limit = asyncio.Semaphore(50)

    async def open_one(index: int, socket: WebsocketClient) -> None:
        async with limit:
            await socket.connect(arrivals.receiver(index, markers))

    await asyncio.gather(*(open_one(index, socket) for index, socket in enumerate(sockets)))
    await asyncio.sleep(1)
    http = HttpConnection("127.0.0.1", ports[0])
    await paced(http, headers, args.paced, arrivals, markers, result)
    await burst(ports[0], headers, args.burst, arrivals, markers, result)
    result.errors += sum(1 for socket in sockets if socket.close_code is not None)
    for socket in sockets:
        socket.close()
    http.close()
    # Let both processes run every disconnect handler before the next round.
    await asyncio.sleep(1 + clients / 500)
    return result


def run_layer(layer: str, args) -> list[Result]:
    with (
        private_redis() as redis_url,
        server.postgres_database(f"layers_{layer}") as database,
    ):
        env = server.base_env() | database | {"REDIS_URL": redis_url, "CHANNEL_LAYER": layer}
        credentials = server.prepare(env)
        with (
            server.running_server(env, log_name=f"{layer}-a") as first,
            server.running_server(env, log_name=f"{layer}-b") as second,
        ):
            ports = [first.port, second.port]
            return [
                asyncio.run(measure(ports, credentials, layer, clients, args))
                for clients in args.clients
            ]


def render(results: list[Result], args) -> str:
    rows = []
    for result in results:
        expected = result.burst_events * result.clients
        lost = expected - result.burst_received
        rows.append(
            [
                result.layer,
                result.clients,
                report.ms(report.percentile(result.paced_latency, 0.5)),
                report.ms(report.percentile(result.paced_latency, 0.95)),
                report.ms(report.percentile(result.paced_latency, 0.99)),
                result.paced_lost,
                f"{result.burst_seconds:.1f}",
                f"{result.burst_received / result.burst_seconds:.0f}"
                if result.burst_seconds
                else "-",
                f"{lost} ({lost / expected:.1%})" if expected else "-",
                result.errors,
            ]
        )
    headers = [
        "layer",
        "sockets",
        "paced p50 ms",
        "p95 ms",
        "p99 ms",
        "paced lost",
        "burst s",
        "burst msgs/s",
        "burst lost",
        "errors",
    ]
    return (
        f"{report.machine()}\n"
        f"2 daphne processes, {args.paced} paced events, a burst of {args.burst} events over "
        f"{BURST_CONNECTIONS} connections\n\n" + report.table(headers, rows)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clients", type=lambda text: [int(n) for n in text.split(",")], default=[200, 1000]
    )
    parser.add_argument("--paced", type=int, default=20)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--layers", default=",".join(LAYERS))
    args = parser.parse_args()
    server.raise_fd_limit()
    results = [result for layer in args.layers.split(",") for result in run_layer(layer, args)]
    print(render(results, args))


if __name__ == "__main__":
    main()
