"""Is the database reachable, and does the channel layer carry a message?"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DatabaseError, connection


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return f"down: {exc.__class__.__name__}"
    return "ok"


async def _round_trip() -> None:
    layer = get_channel_layer()
    # The default prefix matters: RedisChannelLayer's receive loop pops one Redis list per
    # prefix under one lock, which the live sockets hold for "specific."; a message for another
    # prefix would wait out their blocking pop, longer than the probe's timeout.
    channel = await layer.new_channel()
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "healthz", "token": token})
    message = await layer.receive(channel)
    if message.get("token") != token:
        raise RuntimeError("channel layer returned another message")


async def _channel_layer() -> str:
    try:
        await asyncio.wait_for(_round_trip(), timeout=settings.BROADCAST_TIMEOUT)
    except Exception as exc:
        # Any failure means pages will not get pushes; say which, never raise from a probe.
        return f"down: {exc.__class__.__name__}"
    return "ok"


def check() -> dict[str, Any]:
    report = {"database": _database(), "channel_layer": async_to_sync(_channel_layer)()}
    report["ok"] = all(value == "ok" for value in report.values())
    return report
