"""Ingestion throughput: the real endpoint against a bare Django view on the same server.

One daphne process per database (a fresh SQLite file, then a dedicated PostgreSQL database);
this process generates the load over keep-alive HTTP/1.1 connections. Phases, in order:
ceiling at full speed, ingest at full speed, ceiling again (the two ceilings bracket the ingest,
so drift on a noisy machine shows), then both open-loop at half the ingest's maximum rate for
latency. Afterwards the stored rows are counted: every accepted event must be there.

Throughout, a few websocket clients watch the overview and the failures page (the overview
and activity groups), as the admins' open dashboards would: a push is rendered for the groups
someone watches, so an unwatched server would flatter the ingest. Their messages are counted.

    .venv/bin/python bench/ingest_throughput.py [--quick] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Run as a script: make the project importable (bench.*, and the settings the server uses).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report, server
from bench.clients import HttpConnection, WebsocketClient
from bench.workload import Pair, make_pairs

INGEST_PATH = "/api/events/"
CEILING_PATH = "/bench/bare/"
TARGET_RATIO = 0.5
# Events generated per second of a full-speed phase: far above what one process can ingest.
PAIRS_PER_SECOND = 1200
# Finishes trail their starts by this many requests in the open-loop phase, as runs take time.
FINISH_LAG = 20
# Open pages during every phase: (socket path, how many).
WATCHERS = [("/ws/live/?groups=activity,overview", 4), ("/ws/live/?groups=activity", 1)]


@dataclass
class Phase:
    name: str
    ok: int = 0
    errors: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    connections: int = 0

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0


@dataclass
class Settings:
    duration: float
    connections: int
    pairs: int


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


async def _post(connection: HttpConnection, path: str, body: bytes, phase: Phase, headers, **kw):
    try:
        response = await connection.request("POST", path, body, headers, **kw)
    except ConnectionError:
        phase.errors += 1
        return None
    if response.status != 200:
        phase.errors += 1
        if phase.errors <= 3:
            print(
                f"  {phase.name}: HTTP {response.status} {response.body[:200]!r}", file=sys.stderr
            )
        return None
    phase.ok += 1
    phase.latencies.append(response.latency)
    return response


async def closed_loop(
    port: int, path: str, worker_pairs: list[Iterator[Pair]], headers, phase: Phase, seconds: float
) -> None:
    """Each connection posts start then finish, back to back, until the time is up."""
    deadline = time.perf_counter() + seconds

    async def worker(pairs: Iterator[Pair]) -> None:
        connection = HttpConnection("127.0.0.1", port)
        try:
            for pair in pairs:
                if time.perf_counter() >= deadline:
                    return
                await _post(connection, path, pair.start, phase, headers)
                await _post(connection, path, pair.finish, phase, headers)
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(pairs) for pairs in worker_pairs))
    phase.elapsed = time.perf_counter() - started
    phase.connections = len(worker_pairs)


def _open_loop_bodies(pairs: list[Pair]) -> list[bytes]:
    bodies = []
    for index in range(len(pairs) + FINISH_LAG):
        if index < len(pairs):
            bodies.append(pairs[index].start)
        if index >= FINISH_LAG:
            bodies.append(pairs[index - FINISH_LAG].finish)
    return bodies


async def open_loop(port: int, path: str, bodies: list[bytes], headers, phase: Phase, rate: float):
    """Send at fixed times whatever the answers; latency counts from the scheduled time."""
    idle: list[HttpConnection] = []
    tasks = []

    async def send(body: bytes, scheduled: float) -> None:
        connection = idle.pop() if idle else HttpConnection("127.0.0.1", port)
        if connection not in opened:
            opened.append(connection)
        await _post(connection, path, body, phase, headers, sent=scheduled)
        idle.append(connection)

    opened: list[HttpConnection] = []
    started = time.perf_counter()
    for index, body in enumerate(bodies):
        scheduled = started + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(send(body, scheduled)))
    await asyncio.gather(*tasks)
    phase.elapsed = time.perf_counter() - started
    phase.connections = len(opened)
    for connection in opened:
        connection.close()


def _split(pairs: list[Pair], workers: int) -> list[Iterator[Pair]]:
    # make_pairs assigns repositories round-robin, so worker w only ever touches its own
    # repositories and no two connections wait on one repository's row lock.
    return [iter(pairs[index::workers]) for index in range(workers)]


def _cycled(pairs: list[Pair], workers: int) -> list[Iterator[Pair]]:
    return [itertools.cycle(pairs[index::workers]) for index in range(workers)]


async def _counters(port: int) -> dict:
    connection = HttpConnection("127.0.0.1", port)
    try:
        return json.loads((await connection.request("GET", "/bench/counters/")).body)
    finally:
        connection.close()


async def measure(port: int, token: str, pairs: list[Pair], config: Settings) -> dict:
    headers = _headers(token)
    half = len(pairs) // 2
    full_speed, open_pairs = pairs[:half], pairs[half:]
    warmup = Phase("warmup")
    await closed_loop(port, CEILING_PATH, _cycled(pairs, 2), headers, warmup, 1.0)
    ceiling_1, ingest, ceiling_2 = Phase("ceiling"), Phase("ingest"), Phase("ceiling")
    workers = config.connections
    await closed_loop(
        port, CEILING_PATH, _cycled(pairs, workers), headers, ceiling_1, config.duration
    )
    before = await _counters(port)
    await closed_loop(
        port, INGEST_PATH, _split(full_speed, workers), headers, ingest, config.duration
    )
    after = await _counters(port)
    await closed_loop(
        port, CEILING_PATH, _cycled(pairs, workers), headers, ceiling_2, config.duration
    )
    rate = ingest.rate / 2
    count = max(2, int(rate * config.duration))
    bodies = _open_loop_bodies(open_pairs[: count // 2])
    ceiling_paced, ingest_paced = Phase("ceiling paced"), Phase("ingest paced")
    await open_loop(port, CEILING_PATH, bodies, headers, ceiling_paced, rate)
    await open_loop(port, INGEST_PATH, bodies, headers, ingest_paced, rate)
    posted_pairs = ingest.ok // 2 + len(bodies) // 2
    return {
        "phases": [ceiling_1, ingest, ceiling_2, ceiling_paced, ingest_paced],
        "rate": rate,
        "ingest_ok": ingest.ok + ingest_paced.ok,
        "expected_runs": posted_pairs,
        "exhausted": ingest.ok >= 2 * len(full_speed),
        "queries_per_event": (after["queries"] - before["queries"]) / max(1, ingest.ok),
        "renders_per_event": (sum(after["renders"].values()) - sum(before["renders"].values()))
        / max(1, ingest.ok),
    }


async def watched(port: int, session: str, token: str, pairs: list[Pair], config: Settings):
    """measure() while the watchers' sockets are open; their message counts join the result."""
    sockets = [
        WebsocketClient("127.0.0.1", port, path, session=session)
        for path, count in WATCHERS
        for _ in range(count)
    ]
    await asyncio.gather(*(socket.connect() for socket in sockets))
    try:
        result = await measure(port, token, pairs, config)
        # Pushes leave after the responses: give the last ones a moment to arrive.
        await asyncio.sleep(2)
        result["watcher_messages"] = [len(socket.frames) for socket in sockets]
        result["watcher_closed"] = [socket.close_code for socket in sockets if socket.close_code]
    finally:
        for socket in sockets:
            socket.close()
    return result


def run_pass(label: str, database: dict[str, str], pairs: list[Pair], config: Settings) -> dict:
    env = server.base_env() | database
    credentials = server.prepare(env)
    with server.running_server(env, log_name=f"ingest-{label.lower()}") as running:
        result = asyncio.run(
            watched(running.port, credentials["session"], credentials["token"], pairs, config)
        )
    result["label"] = label
    result["rows"] = server.count_rows(database)
    return result


def _summary_rows(result: dict) -> list[list[object]]:
    ceiling_1, ingest, ceiling_2, ceiling_paced, ingest_paced = result["phases"]
    ceiling = (ceiling_1.rate + ceiling_2.rate) / 2
    rows = []
    for phase in (ceiling_1, ingest, ceiling_2):
        rows.append(
            [
                result["label"],
                phase.name,
                f"{phase.rate:.0f}",
                report.ratio(phase.rate, ceiling),
                phase.errors,
                report.ms(report.percentile(phase.latencies, 0.5)),
                "",
                "",
            ]
        )
    for phase in (ceiling_paced, ingest_paced):
        p50 = report.percentile(phase.latencies, 0.5)
        p99 = report.percentile(phase.latencies, 0.99)
        ceiling_p99 = report.percentile(ceiling_paced.latencies, 0.99)
        rows.append(
            [
                result["label"],
                f"{phase.name} @ {result['rate']:.0f}/s",
                f"{phase.rate:.0f}",
                "",
                phase.errors,
                report.ms(p50),
                report.ms(p99),
                report.ratio(p99, ceiling_p99),
            ]
        )
    return rows


def check(result: dict) -> tuple[list[str], list[str]]:
    """(failures: errors or lost events, misses: the throughput target)."""
    problems, misses = [], []
    ceiling_1, ingest, ceiling_2, _, _ingest_paced = result["phases"]
    label = result["label"]
    errors = sum(phase.errors for phase in result["phases"])
    if errors:
        problems.append(f"{label}: {errors} requests failed")
    if result["rows"]["event"] != result["ingest_ok"]:
        problems.append(
            f"{label}: {result['ingest_ok']} events accepted, {result['rows']['event']} stored"
        )
    if result["rows"]["run"] != result["expected_runs"]:
        problems.append(
            f"{label}: {result['expected_runs']} runs posted, {result['rows']['run']} stored"
        )
    if not all(result["watcher_messages"]):
        problems.append(f"{label}: a watching socket received nothing")
    if result["watcher_closed"]:
        problems.append(f"{label}: watching sockets closed early: {result['watcher_closed']}")
    if result["exhausted"]:
        problems.append(f"{label}: the load generator ran out of events; raise PAIRS_PER_SECOND")
    ceiling = (ceiling_1.rate + ceiling_2.rate) / 2
    if ingest.rate < TARGET_RATIO * ceiling:
        misses.append(
            f"{label}: ingest {ingest.rate:.0f} req/s is {ingest.rate / ceiling:.2f} of the "
            f"ceiling's {ceiling:.0f} (target {TARGET_RATIO})"
        )
    return problems, misses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short phases, for a smoke test")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--duration", type=float, help="seconds per full-speed phase")
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    duration = args.duration or (2.0 if args.quick else 15.0)
    config = Settings(duration, args.connections, pairs=int(duration * PAIRS_PER_SECOND))
    server.raise_fd_limit()
    pairs = make_pairs(config.pairs, repositories=config.connections * 25)
    results = []
    for name in args.database or ["sqlite", "postgresql"]:
        if name == "sqlite":
            with server.sqlite_database() as database:
                results.append(run_pass("SQLite", database, pairs, config))
        else:
            with server.postgres_database("ingest") as database:
                results.append(run_pass("PostgreSQL", database, pairs, config))
    print(f"\nIngestion throughput: {report.machine()}")
    print(f"{duration:.0f} s per phase, {config.connections} keep-alive connections\n")
    headers = ["database", "phase", "req/s", "ratio", "errors", "p50 ms", "p99 ms", "p99 ratio"]
    print(report.table(headers, [row for result in results for row in _summary_rows(result)]))
    print()
    for result in results:
        rows = result["rows"]
        print(
            f"{result['label']}: {result['ingest_ok']} events accepted, {rows['event']} stored; "
            f"{result['expected_runs']} runs posted, {rows['run']} stored; per ingested "
            f"event {result['queries_per_event']:.1f} queries, "
            f"{result['renders_per_event']:.1f} template renders; "
            f"{len(result['watcher_messages'])} watching sockets received "
            f"{min(result['watcher_messages'])}-{max(result['watcher_messages'])} messages"
        )
    checked = [check(result) for result in results]
    return report.conclude(
        [failure for failures, _ in checked for failure in failures],
        [miss for _, misses in checked for miss in misses],
    )


if __name__ == "__main__":
    sys.exit(main())
