"""Concurrent posts for one repository on PostgreSQL fold into one consistent run."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests import servers

pytestmark = pytest.mark.usefixtures("requires_postgres")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, requires_postgres):
    with servers.postgres_database(requires_postgres, "concurrency") as database:
        env = servers.server_env(DATABASE_URL=database)
        credentials = servers.prepare_database(env)
        log = tmp_path_factory.mktemp("concurrency") / "daphne.log"
        with servers.daphne(env, log) as url:
            yield f"{url}/api/events/", credentials.token, database


def post_at_once(url: str, token: str, bodies: list[str]) -> list[servers.Answer]:
    """Post every body from its own thread, all released at the same moment."""
    barrier = threading.Barrier(len(bodies))

    def send(body: str) -> servers.Answer:
        barrier.wait()
        return servers.post_event(url, token, body)

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(send, bodies))


def runs_of(database: str, repo: str) -> list[tuple]:
    return servers.rows(
        database,
        "SELECT r.state, r.task_id, r.completed IS NOT NULL, p.sync_state, p.latest_sync_id = r.id"
        " FROM events_run r JOIN events_repository p ON r.repository_id = p.id"
        " WHERE p.repo_id = %s",
        repo,
    )


def test_it_folds_the_same_finish_posted_20_times_at_once_into_one_run(stack):
    url, token, database = stack
    repo, task = f"twenty-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    body = servers.event_body("sync-finished-success", repo, task)

    answers = post_at_once(url, token, [body] * 20)

    assert [answer.status for answer in answers] == [200] * 20, [a.body for a in answers]
    outcomes = sorted(answer.body["status"] for answer in answers)
    assert outcomes == ["applied"] + ["duplicate"] * 19
    assert len({answer.body["run"] for answer in answers}) == 1
    assert runs_of(database, repo) == [("success", task, True, "success", True)]
    events = servers.rows(database, "SELECT count(*) FROM events_event WHERE repo_id = %s", repo)
    assert events == [(20,)]


@pytest.mark.parametrize("attempt", range(5))
def test_it_folds_a_start_and_its_finish_posted_at_once_into_one_run(stack, attempt):
    url, token, database = stack
    repo, task = f"race-{attempt}-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    bodies = [
        servers.event_body("sync-started", repo, task),
        servers.event_body("sync-finished-success", repo, task),
    ]

    answers = post_at_once(url, token, bodies)

    assert [answer.status for answer in answers] == [200, 200], [a.body for a in answers]
    assert answers[1].body["status"] == "applied"
    assert answers[0].body["run"] == answers[1].body["run"]
    assert runs_of(database, repo) == [("success", task, True, "success", True)]
