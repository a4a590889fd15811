from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from dashboard.asgi import application
from events import live
from events.models import Repository
from tests.helpers import sync_finished, sync_started

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def session_cookie(client, django_user_model) -> str:
    user = django_user_model.objects.create_user("viewer", password="a-long-test-password")
    client.force_login(user)
    return client.cookies["sessionid"].value


@pytest.fixture
def frozen_clock(monkeypatch):
    moment = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: moment)
    return moment


def _communicator(groups: str, cookie: str | None = None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return WebsocketCommunicator(application, f"/ws/live/?groups={groups}", headers=headers)


def _sequence(message: str, group: str) -> int:
    match = re.match(
        rf'<span id="seq-{group}" data-group="{group}" data-seq="(\d+)" hidden>', message
    )
    assert match, message[:200]
    return int(match[1])


async def test_it_works(session_cookie):
    communicator = _communicator("overview", session_cookie)
    try:
        connected, _ = await communicator.connect()
        assert connected
        await get_channel_layer().group_send(
            "overview", {"type": "live.fragment", "html": "<p id='x'>pushed</p>"}
        )
        assert await communicator.receive_from(timeout=2) == "<p id='x'>pushed</p>"
    finally:
        await communicator.disconnect()


async def test_it_refuses_anonymous_sockets():
    communicator = _communicator("overview")
    try:
        connected, code = await communicator.connect()
        assert not connected
        assert code == 4401
    finally:
        await communicator.disconnect()


async def test_it_refuses_an_unknown_session():
    communicator = _communicator("overview", "not-a-session")
    try:
        connected, code = await communicator.connect()
        assert (connected, code) == (False, 4401)
    finally:
        await communicator.disconnect()


@pytest.mark.parametrize(
    "groups",
    [
        "",
        "everything",
        "repo-0",
        "run-x",
        "overview;run-1",
        ",".join(f"run-{n}" for n in range(1, 22)),
    ],
)
async def test_it_refuses_groups_it_does_not_serve(session_cookie, groups):
    communicator = _communicator(groups, session_cookie)
    try:
        connected, code = await communicator.connect()
        assert (connected, code) == (False, 4400)
    finally:
        await communicator.disconnect()


async def test_it_joins_only_the_groups_the_page_asked_for(session_cookie):
    communicator = _communicator("overview,run-5", session_cookie)
    layer = get_channel_layer()
    try:
        connected, _ = await communicator.connect()
        assert connected
        await layer.group_send("repo-9", {"type": "live.fragment", "html": "<p>other page</p>"})
        assert await communicator.receive_nothing(timeout=0.2)
        await layer.group_send("run-5", {"type": "live.fragment", "html": "<p>this run</p>"})
        assert await communicator.receive_from(timeout=2) == "<p>this run</p>"
    finally:
        await communicator.disconnect()


async def test_it_ignores_what_the_page_sends(session_cookie):
    communicator = _communicator("overview", session_cookie)
    try:
        connected, _ = await communicator.connect()
        assert connected
        await communicator.send_to(text_data='{"HEADERS": {}}')
        assert await communicator.receive_nothing(timeout=0.2)
    finally:
        await communicator.disconnect()


async def test_it_delivers_the_fragments_of_a_real_ingest(session_cookie, post, frozen_clock):
    communicator = _communicator("overview", session_cookie)
    try:
        connected, _ = await communicator.connect()
        assert connected
        await sync_to_async(post)(sync_started("pushed-repo", "task-1"), status=200)

        message = await communicator.receive_from(timeout=5)

        repository = await database_sync_to_async(live.overview_repositories().get)(
            repo_id="pushed-repo"
        )
        row = await database_sync_to_async(live.render_repository_row)(repository)
        counters = await database_sync_to_async(
            lambda: live.render_overview_counters(live.overview_counters())
        )()
        _sequence(message, "overview")
        assert message.endswith(row + counters)
        assert 'data-sync-state="running"' in row
    finally:
        await communicator.disconnect()


async def test_it_numbers_messages_per_group(session_cookie, post):
    await sync_to_async(post)(sync_started("numbered", "task-1"), status=200)
    repository = await Repository.objects.aget(repo_id="numbered")
    group = f"repo-{repository.pk}"
    communicator = _communicator(f"overview,{group}", session_cookie)
    try:
        connected, _ = await communicator.connect()
        assert connected
        await sync_to_async(post)(sync_finished("numbered", "task-1", 1), status=200)
        await sync_to_async(post)(sync_started("numbered", "task-2"), status=200)

        messages = [await communicator.receive_from(timeout=5) for _ in range(4)]

        overview = [
            _sequence(m, "overview") for m in messages if m.startswith('<span id="seq-overview"')
        ]
        history = [_sequence(m, group) for m in messages if m.startswith(f'<span id="seq-{group}"')]
        assert overview[1] == overview[0] + 1
        assert history[1] == history[0] + 1
        assert f'id="repository-state-{repository.pk}"' in messages[-1] + messages[-2]
    finally:
        await communicator.disconnect()
