"""Render each changed fragment once and send it to the groups whose pages show it."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import weakref
from collections.abc import Iterable

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connections

from events import live

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "live.fragment"

_local_sequences: dict[str, Iterable[int]] = {}
_local_lock = threading.Lock()
_redis_client = None


def _redis():
    global _redis_client
    if _redis_client is None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # One immediate retry covers the stale pooled connection after a Redis restart; the
        # default backoff would hold every ingest for seconds while Redis is down, and a
        # retried timeout would double the wait while it hangs.
        _redis_client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=settings.BROADCAST_TIMEOUT,
            socket_connect_timeout=1,
            retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
        )
    return _redis_client


def next_sequence(group: str) -> int:
    """The group's next sequence number, shared by every server process when Redis is used."""
    if settings.REDIS_URL:
        return int(_redis().incr(f"live:seq:{group}"))
    with _local_lock:
        counter = _local_sequences.setdefault(group, itertools.count(1))
        return next(counter)


async def _send_all(messages: list[tuple[str, str]]) -> None:
    layer = get_channel_layer()
    for group, html in messages:
        await layer.group_send(group, {"type": MESSAGE_TYPE, "html": html})


def send(group_fragments: dict[str, list[str]], sequences: dict[str, int] | None = None) -> bool:
    """Send each group its fragments with a sequence number; False (and a log line) on failure."""
    try:
        messages = []
        for group, fragments in group_fragments.items():
            number = (sequences or {}).get(group) or next_sequence(group)
            messages.append((group, live.render_sequence(group, number) + "".join(fragments)))
        async_to_sync(_send_with_timeout)(messages)
    except Exception:
        # The event is stored; pages re-fetch on reconnect or on a sequence gap. A push
        # failure must never turn an accepted event into an error for the host.
        logger.exception("live push failed; pages will catch up on reconnect")
        return False
    return True


async def _send_with_timeout(messages: list[tuple[str, str]]) -> None:
    await asyncio.wait_for(_send_all(messages), timeout=settings.BROADCAST_TIMEOUT)


def publish_changes(*, repository_pk: int, run_pks: list[int]) -> bool:
    """After an ingest commits: render what changed once and push it to every page showing it."""
    try:
        # Numbered before rendering: a message numbered later was also rendered later, so a
        # page applying messages in order ends on the newest state, and a page seeing them
        # out of order notices the gap and re-fetches.
        sequences = {
            group: next_sequence(group)
            for group in live.changed_groups(repository_pk=repository_pk, run_pks=run_pks)
        }
        fragments = live.render_changes(repository_pk=repository_pk, run_pks=run_pks)
    except Exception:
        logger.exception("rendering live fragments failed")
        return False
    return send(fragments, sequences)


# Pushing after the response. Rendering a push costs several times the rest of an ingest, and
# a host's POST (inside Pulp's sync task) should not wait for it. On commit, the change is
# queued on the server's event loop; one task there renders and sends, in commit order, and
# merges whatever queued up meanwhile, so a burst for one repository costs one render of its
# fragments, always of the newest state.

# One queue and one draining task per event loop (a server process has one).
_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Queue] = (
    weakref.WeakKeyDictionary()
)
_tasks: set[asyncio.Task] = set()


def _merge(batch: list[tuple[int, list[int]]]) -> dict[int, list[int]]:
    merged: dict[int, list[int]] = {}
    for repository_pk, run_pks in batch:
        runs = merged.setdefault(repository_pk, [])
        runs.extend(pk for pk in run_pks if pk not in runs)
    return merged


def _publish_and_release(repository_pk: int, run_pks: list[int]) -> None:
    try:
        publish_changes(repository_pk=repository_pk, run_pks=run_pks)
    finally:
        # A worker thread's connection would otherwise stay checked out of the pool.
        connections.close_all()


async def _drain(pending: asyncio.Queue[tuple[int, list[int]]]) -> None:
    while True:
        batch = [await pending.get()]
        while not pending.empty():
            batch.append(pending.get_nowait())
        for repository_pk, run_pks in _merge(batch).items():
            try:
                await sync_to_async(_publish_and_release, thread_sensitive=False)(
                    repository_pk, run_pks
                )
            except Exception:
                # The task must outlive any one push; the pages re-fetch what it missed.
                logger.exception("live push failed; pages will catch up on reconnect")


async def _enqueue(repository_pk: int, run_pks: list[int]) -> None:
    loop = asyncio.get_running_loop()
    pending = _queues.get(loop)
    if pending is None:
        pending = _queues[loop] = asyncio.Queue()
        task = loop.create_task(_drain(pending))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)
    pending.put_nowait((repository_pk, run_pks))


def publish_changes_soon(*, repository_pk: int, run_pks: list[int]) -> None:
    """On commit: push after the response when serving, or at once (tests, commands)."""
    if not settings.LIVE_PUSH_AFTER_RESPONSE:
        publish_changes(repository_pk=repository_pk, run_pks=run_pks)
        return
    try:
        async_to_sync(_enqueue)(repository_pk, run_pks)
    except Exception:
        logger.exception("queueing a live push failed; pages will catch up on reconnect")
