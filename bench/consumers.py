"""The ceiling consumer: joins one group and forwards what it receives, nothing else."""

from __future__ import annotations

from channels.generic.websocket import AsyncWebsocketConsumer

CEILING_GROUP = "bench-ceiling"


class CeilingConsumer(AsyncWebsocketConsumer):
    groups = [CEILING_GROUP]

    async def live_fragment(self, event: dict) -> None:
        await self.send(text_data=event["html"])
