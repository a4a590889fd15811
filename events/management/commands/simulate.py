"""Drive a running dashboard over HTTP with realistic Pulp 2 traffic (events/simulation.py),
so its pages have something to show. Standard library HTTP only: it runs wherever Django does.
"""

from __future__ import annotations

import heapq
import http.client
import json
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from events.models import SyncHost
from events.simulation import Lifecycle, Outgoing, lifecycles, make_repos, now_utc

LOCAL_HOST_NAME = "simulator"
USER_AGENT = "python-requests/2.6.0 (pulp-dashboard simulate)"


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]


class Transport(Protocol):
    def post(self, body: bytes) -> Reply: ...

    def close(self) -> None: ...


class HttpTransport:
    """POSTs bodies to the ingest endpoint over one keep-alive connection."""

    def __init__(self, url: str, token: str, timeout: float = 15) -> None:
        self.parts = urlsplit(url.rstrip("/") + "/api/events/")
        self.timeout = timeout
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        self.connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        factory = (
            http.client.HTTPSConnection
            if self.parts.scheme == "https"
            else http.client.HTTPConnection
        )
        return factory(self.parts.hostname, self.parts.port, timeout=self.timeout)

    def _post_once(self, body: bytes) -> Reply:
        if self.connection is None:
            self.connection = self._connect()
        self.connection.request("POST", self.parts.path, body, self.headers)
        response = self.connection.getresponse()
        return Reply(response.status, _json_or_text(response.read()))

    def post(self, body: bytes) -> Reply:
        try:
            return self._post_once(body)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # The server closed an idle keep-alive connection: one fresh try. A repeat is
            # harmless, the server recognises a duplicate event.
            self.close()
            return self._post_once(body)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _json_or_text(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        return {"error": raw.decode("utf-8", "replace")[:200]}
    return data if isinstance(data, dict) else {"error": str(data)[:200]}


class Tally:
    """What was sent and how the server answered, shared by the sending threads."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self.lock = threading.Lock()
        self.sent = 0
        self.statuses: Counter[int] = Counter()
        self.results: Counter[str] = Counter()
        self.first_refusal = ""
        self.broken = ""

    def record(self, outgoing: Outgoing, reply: Reply) -> None:
        answer = reply.body.get("status") or reply.body.get("error", "")
        run = f"run {reply.body['run']}" if "run" in reply.body else ""
        line = (
            f"{now_utc():%H:%M:%S}  {outgoing.event_type:<19} {outgoing.repo_id:<28} "
            f"{outgoing.result or '-':<9} {reply.status} {answer} {run}".rstrip()
        )
        with self.lock:
            self.sent += 1
            self.statuses[reply.status] += 1
            if outgoing.result:
                self.results[f"{outgoing.event_type.split('.')[1]} {outgoing.result}"] += 1
            if reply.status != 200 and not self.first_refusal:
                self.first_refusal = f"{reply.status} {answer}"
            self.write(line)

    def record_broken(self, outgoing: Outgoing, exc: OSError) -> None:
        with self.lock:
            self.sent += 1
            self.statuses[0] += 1
            self.broken = self.broken or f"{outgoing.event_type} {outgoing.repo_id}: {exc}"

    def refused(self) -> int:
        return self.sent - self.statuses[200]


class Sender:
    """Worker threads, one queue each: a repository always goes through the same worker, so
    its events arrive in the order they were made."""

    def __init__(self, make_transport: Callable[[], Transport], workers: int, tally: Tally) -> None:
        self.tally = tally
        self.queues: list[queue.Queue] = [queue.Queue(maxsize=64) for _ in range(workers)]
        self.threads = [
            threading.Thread(target=self._work, args=(lane, make_transport()), daemon=True)
            for lane in self.queues
        ]
        for thread in self.threads:
            thread.start()

    def submit(self, lane: int, outgoing: Outgoing) -> None:
        self.queues[lane % len(self.queues)].put(outgoing)

    def _work(self, lane: queue.Queue, transport: Transport) -> None:
        try:
            while (outgoing := lane.get()) is not None:
                if self.tally.broken:
                    continue
                try:
                    reply = transport.post(outgoing.encode())
                except OSError as exc:
                    self.tally.record_broken(outgoing, exc)
                    continue
                self.tally.record(outgoing, reply)
        finally:
            transport.close()

    def close(self) -> None:
        for lane in self.queues:
            lane.put(None)
        for thread in self.threads:
            thread.join()


@dataclass(frozen=True)
class Limits:
    rate: float
    count: int | None
    duration: float | None


def dispatch(lives: list[Lifecycle], sender: Sender, limits: Limits, tally: Tally) -> None:
    """Send events as they fall due, at most `rate` a second, until a limit is reached."""
    began = time.monotonic()
    deadline = began + limits.duration if limits.duration is not None else float("inf")
    interval = 1 / limits.rate
    streams = [life.events() for life in lives]
    # Due times are planned, not measured: the order of events depends on the seed only,
    # and a slow server delays the traffic without reshuffling it.
    heap = [(began + next(stream), index) for index, stream in enumerate(streams)]
    heapq.heapify(heap)
    slot = began
    dispatched = 0
    while limits.count is None or dispatched < limits.count:
        due, index = heapq.heappop(heap)
        wake = max(due, slot)
        if wake > deadline or tally.broken:
            break
        time.sleep(max(0.0, wake - time.monotonic()))
        sender.submit(index, next(streams[index]))
        dispatched += 1
        slot = wake + interval
        heapq.heappush(heap, (due + next(streams[index]), index))


class Command(BaseCommand):
    help = (
        "Post realistic Pulp 2 sync and publish events to a running dashboard, so its pages "
        "come alive: syncs, auto-publishes, failures with tracebacks, per-item errors."
    )
    # The network edge: tests swap in a transport that posts through Django's test client.
    transport_class: Callable[[str, str], Transport] = HttpTransport

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the dashboard's URL")
        parser.add_argument(
            "--token",
            default="",
            help="a sync host's token (default: SIMULATE_TOKEN, else a host named "
            f"'{LOCAL_HOST_NAME}' in this checkout's database, its token re-issued)",
        )
        parser.add_argument("--repos", type=int, default=12, help="repositories (default 12)")
        parser.add_argument("--rate", type=float, default=5.0, help="events a second (default 5)")
        parser.add_argument("--count", type=int, help="stop after this many events")
        parser.add_argument("--duration", type=float, help="stop after this many seconds")
        parser.add_argument(
            "--failure-rate",
            type=float,
            default=0.2,
            help="share of syncs that do not succeed (default 0.2)",
        )
        parser.add_argument("--seed", type=int, help="random seed, for repeatable traffic")
        parser.add_argument(
            "--workers", type=int, default=4, help="parallel connections (default 4)"
        )

    def _check(self, options: dict[str, Any]) -> None:
        url = urlsplit(options["url"])
        if url.scheme not in ("http", "https") or not url.hostname:
            raise CommandError(f"--url must be an http(s) URL, not {options['url']!r}")
        if options["repos"] < 1:
            raise CommandError("--repos must be at least 1")
        if options["rate"] <= 0:
            raise CommandError("--rate must be above 0")
        if not 0 <= options["failure_rate"] <= 1:
            raise CommandError("--failure-rate must be between 0 and 1")
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1")
        if options["count"] is not None and options["count"] < 1:
            raise CommandError("--count must be at least 1")
        if options["duration"] is not None and options["duration"] <= 0:
            raise CommandError("--duration must be above 0")

    def _token(self, given: str) -> str:
        token = given or settings.SIMULATE_TOKEN
        if token:
            return token
        host, _ = SyncHost.objects.get_or_create(name=LOCAL_HOST_NAME)
        token = host.set_new_token()
        host.save(update_fields=["token_hash"])
        self.stdout.write(
            f"No --token given: posting as sync host '{LOCAL_HOST_NAME}' of this checkout's "
            "database (its token was re-issued)."
        )
        return token

    def handle(self, *args, **options) -> None:
        self._check(options)
        token = self._token(options["token"])
        repos = make_repos(options["repos"])
        lives = lifecycles(
            repos,
            rate=options["rate"],
            failure_rate=options["failure_rate"],
            seed=options["seed"],
        )
        tally = Tally(self.stdout.write)
        sender = Sender(
            lambda: self.transport_class(options["url"], token), options["workers"], tally
        )
        limits = Limits(options["rate"], options["count"], options["duration"])
        self.stdout.write(
            f"Posting to {options['url']} for {len(repos)} repositories at up to "
            f"{options['rate']:g} events/s. Ctrl-C stops."
        )
        began = time.monotonic()
        try:
            dispatch(lives, sender, limits, tally)
        except KeyboardInterrupt:
            self.stdout.write("Interrupted.")
        finally:
            sender.close()
        self._summarize(tally, time.monotonic() - began)

    def _summarize(self, tally: Tally, elapsed: float) -> None:
        accepted = tally.statuses[200]
        results = ", ".join(f"{name} {n}" for name, n in sorted(tally.results.items()))
        self.stdout.write(
            f"Sent {tally.sent} events in {elapsed:.1f} s ({tally.sent / max(elapsed, 0.001):.1f}"
            f"/s): {accepted} accepted, {tally.refused()} refused."
        )
        if results:
            self.stdout.write(f"Results sent: {results}.")
        if tally.broken:
            raise CommandError(f"could not reach the server: {tally.broken}")
        if tally.refused():
            hint = " (is --token a host of this server?)" if tally.statuses[401] else ""
            raise CommandError(
                f"{tally.refused()} of {tally.sent} events were refused, first: "
                f"{tally.first_refusal}{hint}"
            )
