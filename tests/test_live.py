from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from events import live
from events.models import Repository, Run
from events.services import broadcast, ingest
from tests.helpers import load_body, load_event, sync_finished, sync_started


@pytest.fixture
def frozen_clock(monkeypatch):
    """Pages and pushes rendered in the same frozen second, so elapsed times agree."""
    moment = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: moment)
    return moment


@pytest.fixture
def overview_watcher():
    """A channel in the overview group, as an open overview page has."""
    layer = get_channel_layer()
    async_to_sync(layer.group_add)(live.OVERVIEW_GROUP, "test.watcher")
    yield "test.watcher"
    async_to_sync(layer.group_discard)(live.OVERVIEW_GROUP, "test.watcher")


@pytest.fixture
def rendered(monkeypatch) -> list[str]:
    """The names of the templates live.py renders from now on."""
    names: list[str] = []
    original = live.render_to_string

    def counting(name, *args, **kwargs):
        names.append(name.rsplit("/", 1)[-1])
        return original(name, *args, **kwargs)

    monkeypatch.setattr(live, "render_to_string", counting)
    return names


def _changes_for(run: Run) -> dict[str, list[str]]:
    return live.render_changes({run.repository_id: [run.pk]})


def _start(post, repo_id: str = "centos-9-baseos", task: str = "task-1") -> Run:
    post(sync_started(repo_id, task), status=200)
    return Run.objects.get(task_id=task)


def _finish(post, repo_id: str = "centos-9-baseos", task: str = "task-1", **payload) -> Run:
    post(sync_finished(repo_id, task, 1, **payload), status=200)
    return Run.objects.get(task_id=task)


def _page(admin_client, url: str) -> str:
    response = admin_client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_it_renders_each_change_once_for_every_group_that_shows_it(post):
    run = _start(post)

    changes = _changes_for(run)

    repository = run.repository
    assert list(changes) == ["activity", "overview", f"repo-{repository.pk}", f"run-{run.pk}"]
    assert changes["activity"] == []
    overview_row, counters = changes["overview"]
    assert overview_row.startswith(f'<div id="repository-{repository.pk}" role="row"')
    assert counters.startswith('<section id="overview-counters"')
    state, history_row, charts = changes[f"repo-{repository.pk}"]
    assert state.startswith(f'<section id="repository-state-{repository.pk}"')
    assert history_row.startswith(f'<div id="run-row-{run.pk}" role="row"')
    assert charts.startswith(f'<section id="repository-charts-{repository.pk}"')
    regions = [re.match(r'<\w+ id="([^"]+)"', html)[1] for html in changes[f"run-{run.pk}"]]
    assert regions == [
        f"run-header-{run.pk}",
        f"run-explanation-{run.pk}",
        f"run-traceback-{run.pk}",
        f"run-data-{run.pk}",
        f"run-events-{run.pk}",
        f"run-nav-{run.pk}",
    ]


def test_it_names_the_groups_before_rendering(post):
    run = _start(post)

    groups = live.changed_groups({run.repository_id: [run.pk, 7]})

    assert groups == [
        "activity",
        "overview",
        f"repo-{run.repository_id}",
        f"run-{run.pk}",
        "run-7",
    ]


def test_it_pushes_the_same_overview_fragments_the_page_shows(admin_client, post, frozen_clock):
    run = _start(post)

    changes = _changes_for(run)

    page = _page(admin_client, "/")
    fragment = _page(admin_client, "/?fragment=live")
    for html in changes["overview"]:
        assert html in page
        assert html in fragment


def test_it_pushes_the_same_repository_fragments_the_page_shows(admin_client, post, frozen_clock):
    _finish(post, task="task-0", result="failed")
    run = _start(post)

    changes = _changes_for(run)

    page = _page(admin_client, "/repos/centos-9-baseos/")
    fragment = _page(admin_client, "/repos/centos-9-baseos/?fragment=live")
    for html in changes[f"repo-{run.repository_id}"]:
        assert html in page
        assert html in fragment


@pytest.mark.parametrize("result", ["success", "failed", "error"])
def test_it_pushes_the_same_run_fragments_the_page_shows(admin_client, post, frozen_clock, result):
    _start(post)
    run = _finish(post, result=result)

    changes = _changes_for(run)

    page = _page(admin_client, f"/runs/{run.pk}/")
    fragment = _page(admin_client, f"/runs/{run.pk}/?fragment=live")
    for html in changes[f"run-{run.pk}"]:
        assert html in page
        assert html in fragment


def test_it_sends_a_new_repository_to_the_overview(post):
    run = _start(post, repo_id="brand-new")

    row = _changes_for(run)["overview"][0]

    assert 'data-repo-id="brand-new" data-sync-state="running"' in row


@pytest.mark.parametrize(
    ("events", "matches"),
    [
        (["start"], "running"),
        (["start", "finish-success"], ""),
        (["start", "finish-failed"], "failed"),
        (["start", "finish-failed", "restart"], "running failed"),
        (["stalled-start"], "running stalled"),
    ],
)
def test_it_marks_rows_with_the_filters_they_match(post, events, matches):
    steps = {
        "start": lambda: post(sync_started("repo", "task-1"), status=200),
        "finish-success": lambda: post(sync_finished("repo", "task-1", 1), status=200),
        "finish-failed": lambda: post(
            sync_finished("repo", "task-1", 1, result="failed"), status=200
        ),
        "restart": lambda: post(sync_started("repo", "task-2"), status=200),
        "stalled-start": lambda: post(load_event("sync-started"), status=200),
    }
    for name in events:
        steps[name]()
    run = Run.objects.latest("id")

    row = _changes_for(run)["overview"][0]

    assert f'data-matches="{matches}"' in row


def test_it_counts_and_announces_the_next_stall(post, settings):
    run = _start(post)
    deadline = run.stalled_deadline()

    counters = live.overview_counters()

    assert counters["stalled"] == 0
    assert counters["next_stall"] == deadline
    assert live.overview_counters(now=deadline)["stalled"] == 1
    assert live.overview_counters(now=deadline)["next_stall"] is None


def test_it_shows_a_stalled_badge_once_the_deadline_passed(post, monkeypatch):
    run = _start(post)
    later = run.stalled_deadline() + timedelta(seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)

    row = _changes_for(run)["overview"][0]

    assert 'data-role="sync-state" data-state="stalled">stalled</span>' in row


async def _receive(channel: str, count: int) -> list[dict]:
    # One event loop for all: channels-redis confirms a message after returning it, and a loop
    # closed before that confirmation hands the same message out again.
    layer = get_channel_layer()
    return [await layer.receive(channel) for _ in range(count)]


def test_it_numbers_each_group_in_order(post):
    layer = get_channel_layer()
    async_to_sync(layer.group_add)("overview", "test.numbers")
    try:
        _start(post)
        _finish(post)
        messages = [message["html"] for message in async_to_sync(_receive)("test.numbers", 2)]
    finally:
        async_to_sync(layer.group_discard)("overview", "test.numbers")

    numbers = [
        int(re.match(r'<span id="seq-overview" data-group="overview" data-seq="(\d+)"', html)[1])
        for html in messages
    ]
    assert numbers[1] == numbers[0] + 1


def test_it_burns_the_numbers_when_rendering_fails(post, monkeypatch, caplog, overview_watcher):
    run = _start(post)
    before = broadcast.next_sequence("overview")

    def explode(*args, **kwargs):
        raise RuntimeError("template broke")

    monkeypatch.setattr(live, "render_changes", explode)

    sent = broadcast.publish_changes({run.repository_id: [run.pk]})

    assert sent is False
    assert "rendering live fragments failed" in caplog.text
    # Pages see the skipped number as a gap and re-fetch.
    assert broadcast.next_sequence("overview") == before + 2


def test_it_leaves_pages_of_other_repositories_alone(post):
    run = _start(post)
    _start(post, repo_id="other", task="task-2")

    changes = _changes_for(run)

    other = Repository.objects.get(repo_id="other")
    assert f"repo-{other.pk}" not in changes


def test_it_escapes_what_hosts_sent_in_pushed_fragments(post):
    script = "<script>alert(1)</script>"
    _start(post)
    run = _finish(post, result="error", error_message=script, exception=script)

    changes = _changes_for(run)

    pushed = "".join(html for fragments in changes.values() for html in fragments)
    assert script not in pushed
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pushed


def test_it_renders_a_change_in_the_same_queries_however_big_the_database(post):
    _start(post, repo_id="small", task="small-1")
    small = Run.objects.get(task_id="small-1")
    with CaptureQueriesContext(connection) as before:
        _changes_for(small)
    _finish(post, repo_id="small", task="small-1")
    for number in range(25):
        _start(post, repo_id=f"repo-{number}", task=f"task-{number}")
    for number in range(2, 30):
        post(sync_started("small", f"small-{number}"), status=200)
    latest = Run.objects.filter(repository__repo_id="small").latest("id")

    with CaptureQueriesContext(connection) as after:
        _changes_for(latest)

    assert len(after) == len(before)
    assert len(after) <= 12


def test_it_tells_the_activity_group_that_an_event_was_stored_and_nothing_more(post):
    layer = get_channel_layer()
    async_to_sync(layer.group_add)(live.ACTIVITY_GROUP, "test.activity")
    try:
        _start(post)
        [message] = async_to_sync(_receive)("test.activity", 1)
    finally:
        async_to_sync(layer.group_discard)(live.ACTIVITY_GROUP, "test.activity")

    assert re.fullmatch(
        r'<span id="seq-activity" data-group="activity" data-seq="\d+" hidden></span>\n?',
        message["html"],
    )


def test_it_merges_queued_pushes_per_repository_in_commit_order():
    batch = [(1, [5]), (2, [6]), (1, [5, 7])]

    assert broadcast._merge(batch) == {1: [5, 7], 2: [6]}


@pytest.mark.django_db(transaction=True)
async def test_it_pushes_after_the_response_from_the_event_loop(settings):
    settings.LIVE_PUSH_AFTER_RESPONSE = True
    layer = get_channel_layer()
    await layer.group_add("overview", "test.after")
    try:
        ingested = await sync_to_async(ingest.handle_event)(load_body("sync-started"), host=None)
        message = await asyncio.wait_for(layer.receive("test.after"), timeout=10)
    finally:
        await layer.group_discard("overview", "test.after")

    assert f'id="repository-{ingested.run.repository_id}"' in message["html"]
    assert 'data-repo-id="centos-9-baseos"' in message["html"]


def test_it_neither_numbers_nor_renders_a_push_nobody_watches(post, rendered):
    run = _start(post)
    before = broadcast.next_sequence("overview")
    rendered.clear()

    sent = broadcast.publish_changes({run.repository_id: [run.pk]})

    assert sent is True
    assert rendered == []
    assert broadcast.next_sequence("overview") == before + 1


def test_it_renders_only_the_groups_someone_watches(post, rendered, overview_watcher):
    run = _start(post)
    rendered.clear()

    broadcast.publish_changes({run.repository_id: [run.pk]})

    [message] = async_to_sync(_receive)(overview_watcher, 1)
    assert f'id="repository-{run.repository_id}"' in message["html"]
    assert sorted(rendered) == ["overview_counters.html", "repository_row.html", "sequence.html"]


@pytest.mark.django_db
async def test_it_tells_which_groups_have_a_member():
    layer = get_channel_layer()
    await layer.group_add("repo-5", "test.member")
    try:
        found = await sync_to_async(broadcast.watched)(["repo-5", "repo-6", "overview"])
    finally:
        await layer.group_discard("repo-5", "test.member")

    assert found == {"repo-5"}


@pytest.mark.django_db
def test_it_pushes_to_every_group_when_it_cannot_tell_who_watches(monkeypatch, caplog):
    from channels_redis.core import RedisChannelLayer

    layer = RedisChannelLayer(hosts=["redis://127.0.0.1:9/0"])
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: layer)

    def unreachable():
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(broadcast, "_redis", unreachable)

    found = broadcast.watched(["overview", "repo-1"])

    assert found == {"overview", "repo-1"}
    assert "could not tell which live groups are watched" in caplog.text


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("backend", ["core", "pubsub"])
async def test_it_tells_which_groups_have_a_member_on_redis(
    requires_redis, settings, monkeypatch, backend
):
    from channels_redis.core import RedisChannelLayer
    from channels_redis.pubsub import RedisPubSubChannelLayer

    settings.REDIS_URL = requires_redis
    monkeypatch.setattr(broadcast, "_redis_client", None)
    kind = {"core": RedisChannelLayer, "pubsub": RedisPubSubChannelLayer}[backend]
    layer = kind(hosts=[requires_redis], prefix=f"watched-{backend}")
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: layer)
    try:
        member = await layer.new_channel()
        await layer.group_add("repo-41", member)
        found = await sync_to_async(broadcast.watched)(["repo-41", "repo-42"])
        await layer.group_discard("repo-41", member)
        left = await sync_to_async(broadcast.watched)(["repo-41", "repo-42"])
    finally:
        await layer.flush()

    assert found == {"repo-41"}
    assert left == set()


def test_it_pushes_changes_of_several_repositories_in_one_message_per_group(post):
    first = _start(post, repo_id="first", task="task-1")
    second = _start(post, repo_id="second", task="task-2")
    before = broadcast.next_sequence("overview")
    layer = get_channel_layer()
    async_to_sync(layer.group_add)(live.OVERVIEW_GROUP, "test.both")
    try:
        broadcast.publish_changes(
            {first.repository_id: [first.pk], second.repository_id: [second.pk]}
        )
        [message] = async_to_sync(_receive)("test.both", 1)
    finally:
        async_to_sync(layer.group_discard)(live.OVERVIEW_GROUP, "test.both")

    assert f'data-seq="{before + 1}"' in message["html"]
    assert f'id="repository-{first.repository_id}"' in message["html"]
    assert f'id="repository-{second.repository_id}"' in message["html"]
    assert message["html"].count('id="overview-counters"') == 1


def test_it_renders_the_counters_once_however_many_repositories_changed(post, rendered):
    runs = [_start(post, repo_id=f"repo-{number}", task=f"task-{number}") for number in range(3)]
    rendered.clear()

    changes = live.render_changes({run.repository_id: [run.pk] for run in runs})

    assert rendered.count("overview_counters.html") == 1
    assert rendered.count("repository_row.html") == 3
    assert len(changes["overview"]) == 4
    assert [group for group in changes if group.startswith("repo-")] == [
        f"repo-{run.repository_id}" for run in runs
    ]


def test_it_skips_a_repository_deleted_before_its_push(post):
    run = _start(post)
    other = _start(post, repo_id="other", task="task-2")
    Repository.objects.filter(pk=run.repository_id).delete()

    changes = live.render_changes({run.repository_id: [run.pk], other.repository_id: [other.pk]})

    assert f"repo-{run.repository_id}" not in changes
    assert f"run-{run.pk}" not in changes
    assert f"repo-{other.repository_id}" in changes


@pytest.mark.django_db(transaction=True)
async def test_it_merges_what_queued_while_busy_into_one_push(settings):
    layer = get_channel_layer()
    first = await sync_to_async(ingest.handle_event)(load_body("sync-started"), host=None)
    second = await sync_to_async(ingest.handle_event)(
        json.dumps(sync_started("another-repository", "task-2")), host=None
    )
    pending: asyncio.Queue = asyncio.Queue()
    pending.put_nowait((first.run.repository_id, [first.run.pk]))
    pending.put_nowait((second.run.repository_id, [second.run.pk]))
    await layer.group_add("overview", "test.merged")
    drain = asyncio.get_running_loop().create_task(broadcast._drain(pending))
    try:
        message = await asyncio.wait_for(layer.receive("test.merged"), timeout=10)
        assert pending.empty()
    finally:
        drain.cancel()
        await layer.group_discard("overview", "test.merged")

    assert f'id="repository-{first.run.repository_id}"' in message["html"]
    assert f'id="repository-{second.run.repository_id}"' in message["html"]
