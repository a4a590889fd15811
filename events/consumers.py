from __future__ import annotations

import re
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer

from events.live import GROUP_PATTERN

MAX_GROUPS = 20


class LiveConsumer(AsyncWebsocketConsumer):
    """Server push only: joins the groups a page names in ?groups= and forwards fragments."""

    # Socket handlers

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        names = ",".join(query.get("groups", [])).split(",")
        self.groups_joined = [
            name for name in dict.fromkeys(names) if re.fullmatch(GROUP_PATTERN, name)
        ]
        if not self.groups_joined or len(self.groups_joined) > MAX_GROUPS:
            await self.close(code=4400)
            return
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # Pages only listen; htmx's ws extension may send form data, which has no meaning here.
        return

    # Group handlers

    async def live_fragment(self, event: dict) -> None:
        await self.send(text_data=event["html"])
