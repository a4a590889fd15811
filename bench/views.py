"""Ceiling views: the least work Django can do for the same request, on the same server."""

from __future__ import annotations

import json

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from bench import instrument
from bench.consumers import CEILING_GROUP
from events.services.broadcast import MESSAGE_TYPE


@csrf_exempt
def bare_json(request: HttpRequest) -> JsonResponse:
    """Read the body the ingest endpoint would read, answer the same small JSON, store nothing."""
    return JsonResponse({"status": "applied", "event": len(request.body), "run": 0})


@csrf_exempt
def push_prerendered(request: HttpRequest) -> JsonResponse:
    """Send a ready-made string of the requested size to the ceiling group, like a push."""
    order = json.loads(request.body)
    marker = order["marker"]
    html = marker + "x" * max(0, order["size"] - len(marker))
    async_to_sync(get_channel_layer().group_send)(
        CEILING_GROUP, {"type": MESSAGE_TYPE, "html": html}
    )
    return JsonResponse({"status": "sent", "bytes": len(html)})


def counters(request: HttpRequest) -> JsonResponse:
    return JsonResponse(instrument.snapshot())
