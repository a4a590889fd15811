"""Render each changed fragment once and send it to the groups whose pages show it."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
import weakref
from collections.abc import Iterator

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.db import connections

from events import live

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "live.fragment"

_local_sequences: dict[str, Iterator[int]] = {}
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
    return next_sequences([group])[group]


def next_sequences(groups: list[str]) -> dict[str, int]:
    """Each group's next sequence number; one round trip to Redis for all of them."""
    if settings.REDIS_URL:
        pipeline = _redis().pipeline(transaction=False)
        for group in groups:
            pipeline.incr(f"live:seq:{group}")
        return {
            group: int(number) for group, number in zip(groups, pipeline.execute(), strict=True)
        }
    with _local_lock:
        return {
            group: next(_local_sequences.setdefault(group, itertools.count(1))) for group in groups
        }


def watched(groups: list[str]) -> set[str]:
    """The groups at least one socket has joined, in any server process.

    A push to any other group would reach nobody, so it is neither numbered nor rendered. No
    page misses it: a page joins its groups before its socket opens, and re-fetches its
    regions each time the socket opens, after the change was committed.
    """
    layer = get_channel_layer()
    try:
        if isinstance(layer, InMemoryChannelLayer):
            return {group for group in groups if layer.groups.get(group)}
        if isinstance(layer, RedisChannelLayer):
            # Members older than the layer's group expiry are gone for group_send too.
            oldest = time.time() - layer.group_expiry
            pipeline = _redis().pipeline(transaction=False)
            for group in groups:
                pipeline.zcount(layer._group_key(group), oldest, "+inf")
            return {group for group, count in zip(groups, pipeline.execute(), strict=True) if count}
        if isinstance(layer, RedisPubSubChannelLayer):
            # Each server process subscribes once per group its sockets joined.
            prefix = layer._kwargs.get("prefix", "asgi")
            names = [f"{prefix}__group__{group}" for group in groups]
            counts = dict(_redis().pubsub_numsub(*names))
            return {
                group
                for group, name in zip(groups, names, strict=True)
                if counts.get(name.encode(), counts.get(name, 0))
            }
    except Exception:
        # Not knowing who listens costs renders, never a missed push.
        logger.warning("could not tell which live groups are watched; pushing to all")
    return set(groups)


async def _send_all(messages: list[tuple[str, str]]) -> None:
    layer = get_channel_layer()
    for group, html in messages:
        await layer.group_send(group, {"type": MESSAGE_TYPE, "html": html})


def send(group_fragments: dict[str, list[str]], sequences: dict[str, int]) -> bool:
    """Send each group its fragments with its sequence number; False (and a log line) on failure."""
    try:
        messages = [
            (group, live.render_sequence(group, sequences[group]) + "".join(fragments))
            for group, fragments in group_fragments.items()
        ]
        async_to_sync(_send_with_timeout)(messages)
    except Exception:
        # The event is stored; pages re-fetch on reconnect or on a sequence gap. A push
        # failure must never turn an accepted event into an error for the host.
        logger.exception("live push failed; pages will catch up on reconnect")
        return False
    return True


async def _send_with_timeout(messages: list[tuple[str, str]]) -> None:
    await asyncio.wait_for(_send_all(messages), timeout=settings.BROADCAST_TIMEOUT)


def publish_changes(changes: dict[int, list[int]]) -> bool:
    """After ingests commit: render what changed once and push it to every page showing it.

    `changes` maps each changed repository's pk to its changed runs' pks; however many
    repositories it names, each watched group gets one message.
    """
    try:
        groups = live.changed_groups(changes)
        shown = watched(groups)
        groups = [group for group in groups if group in shown]
        if not groups:
            return True
        # Numbered before rendering: a message numbered later was also rendered later, so a
        # page applying messages in order ends on the newest state, and a page seeing them
        # out of order notices the gap and re-fetches.
        sequences = next_sequences(groups)
        fragments = live.render_changes(changes, groups=set(groups))
    except Exception:
        logger.exception("rendering live fragments failed")
        return False
    return send(fragments, sequences)


# Pushing after the response. Rendering a push costs several times the rest of an ingest, and
# a host's POST (inside Pulp's sync task) should not wait for it. On commit, the change is
# queued on the server's event loop; one task there renders and sends, in commit order, and
# merges whatever queued up while it was busy into one push: the busier the server, the more
# events each push carries, so pushing never falls behind ingestion, and the counters and
# each repository's fragments are rendered once per push, always of the newest state.

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


def _publish_and_release(changes: dict[int, list[int]]) -> None:
    try:
        publish_changes(changes)
    finally:
        # A worker thread's connection would otherwise stay checked out of the pool.
        connections.close_all()


async def _drain(pending: asyncio.Queue[tuple[int, list[int]]]) -> None:
    while True:
        batch = [await pending.get()]
        while not pending.empty():
            batch.append(pending.get_nowait())
        try:
            await sync_to_async(_publish_and_release, thread_sensitive=False)(_merge(batch))
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
        publish_changes({repository_pk: run_pks})
        return
    try:
        async_to_sync(_enqueue)(repository_pk, run_pks)
    except Exception:
        logger.exception("queueing a live push failed; pages will catch up on reconnect")
