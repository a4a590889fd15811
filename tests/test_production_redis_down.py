"""A server whose Redis dies keeps ingesting, says so in /healthz, and pushes again once it is back."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
import uuid

import pytest

from tests import servers

pytestmark = pytest.mark.usefixtures("requires_redis_server")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, requires_redis_server):
    workdir = tmp_path_factory.mktemp("redis-down")
    with servers.redis_server(requires_redis_server, workdir) as redis:
        env = servers.server_env(
            SQLITE_PATH=str(workdir / "db.sqlite3"), REDIS_URL=redis.url, BROADCAST_TIMEOUT="2"
        )
        credentials = servers.prepare_database(env)
        with servers.daphne(env, workdir / "daphne.log") as url:
            yield url, redis, credentials, workdir / "db.sqlite3"


def _health(url: str) -> tuple[int, dict]:
    status, body, _ = servers.get(f"{url}/healthz")
    return status, json.loads(body)


def _run_state(database, task_id: str) -> str:
    with sqlite3.connect(database) as db:
        (state,) = db.execute(
            "SELECT state FROM events_run WHERE task_id = ?", [task_id]
        ).fetchone()
    return state


def test_it_ingests_and_reports_the_channel_layer_down_while_redis_is_stopped(stack):
    url, redis, credentials, database = stack
    repo = f"redis-down-{uuid.uuid4().hex[:8]}"
    task = str(uuid.uuid4())
    with servers.live_socket(url, credentials.session) as socket:
        started = servers.post_event(
            f"{url}/api/events/",
            credentials.token,
            servers.event_body("sync-started", repo, task),
        )
        assert started.status == 200
        servers.receive_containing(socket, repo)
    redis.stop()
    try:
        began = time.monotonic()
        finished = servers.post_event(
            f"{url}/api/events/",
            credentials.token,
            servers.event_body("sync-finished-success", repo, task),
        )
        elapsed = time.monotonic() - began

        assert finished.status == 200, finished.body
        assert finished.body["status"] == "applied"
        assert elapsed < 5
        assert _run_state(database, task) == "success"
        status, report = _health(url)
        assert status == 503
        assert report["channel_layer"].startswith("down")
        assert report["database"] == "ok"
    finally:
        redis.start()


def test_it_pushes_again_after_redis_restarts_on_the_same_port(stack):
    url, redis, credentials, _ = stack
    redis.stop()
    during = servers.post_event(
        f"{url}/api/events/",
        credentials.token,
        servers.event_body("sync-started", "while-redis-is-down", str(uuid.uuid4())),
    )
    redis.start()
    assert during.status == 200
    repo = f"after-restart-{uuid.uuid4().hex[:8]}"

    with servers.live_socket(url, credentials.session) as socket:
        answer = servers.post_event(
            f"{url}/api/events/",
            credentials.token,
            servers.event_body("sync-started", repo, str(uuid.uuid4())),
        )
        assert answer.status == 200
        servers.receive_containing(socket, repo)
    assert _health(url) == (200, {"database": "ok", "channel_layer": "ok", "ok": True})


def test_it_answers_within_the_broadcast_timeout_while_redis_hangs(stack):
    url, redis, credentials, database = stack
    task = str(uuid.uuid4())
    redis.process.send_signal(signal.SIGSTOP)
    try:
        began = time.monotonic()
        answer = servers.post_event(
            f"{url}/api/events/",
            credentials.token,
            servers.event_body("sync-started", f"hung-{task[:8]}", task),
        )
        elapsed = time.monotonic() - began
        status, report = _health(url)
    finally:
        redis.process.send_signal(signal.SIGCONT)

    assert answer.status == 200, answer.body
    assert _run_state(database, task) == "running"
    # BROADCAST_TIMEOUT is 2 s: the push gives up once, never holding the host longer.
    assert elapsed < 4
    assert status == 503
    assert report["channel_layer"] == "down: TimeoutError"
