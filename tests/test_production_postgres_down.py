"""When PostgreSQL is unreachable, ingestion answers 503 with Retry-After and stores nothing."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest

from tests import servers

pytestmark = pytest.mark.usefixtures("requires_postgres")

UNAVAILABLE = {"error": "database unavailable, nothing was stored; retry later"}


@pytest.fixture(scope="module")
def database(requires_postgres):
    with servers.postgres_database(requires_postgres, "pgdown") as url:
        yield url


@pytest.fixture(scope="module")
def credentials(database):
    return servers.prepare_database(servers.server_env(DATABASE_URL=database))


@pytest.fixture(scope="module")
def proxied(tmp_path_factory, database, credentials):
    """A server whose every database connection runs through a proxy that can cut it."""
    proxy = servers.CuttingProxy(urlsplit(database).port)
    env = servers.server_env(DATABASE_URL=servers.through_port(database, proxy.port))
    try:
        with servers.daphne(env, tmp_path_factory.mktemp("pgdown") / "daphne.log") as url:
            yield url, proxy
    finally:
        proxy.close()


def _repository_rows(database: str, repo: str) -> dict[str, int]:
    counts = servers.rows(
        database,
        "SELECT (SELECT count(*) FROM events_repository WHERE repo_id = %s),"
        " (SELECT count(*) FROM events_run r JOIN events_repository p ON r.repository_id = p.id"
        "  WHERE p.repo_id = %s),"
        " (SELECT count(*) FROM events_event WHERE repo_id = %s)",
        repo,
        repo,
        repo,
    )[0]
    return dict(zip(("repositories", "runs", "events"), counts, strict=True))


def test_it_answers_503_with_retry_after_when_the_database_port_is_closed(tmp_path, credentials):
    closed = servers.through_port("postgres://postgres@127.0.0.1/pulp", servers.free_port())
    env = servers.server_env(DATABASE_URL=closed, DATABASE_POOL_TIMEOUT="2")

    with servers.daphne(env, tmp_path / "daphne.log") as url:
        answer = servers.post_event(
            f"{url}/api/events/",
            credentials.token,
            servers.event_body("sync-started", "unreachable", str(uuid.uuid4())),
        )
        health = servers.get(f"{url}/healthz")

    assert answer.status == 503
    assert answer.body == UNAVAILABLE
    assert answer.headers["Retry-After"] == "30"
    assert answer.headers["Content-Type"] == "application/json"
    assert health[0] == 503


def test_it_writes_nothing_when_the_connection_dies_inside_the_transaction(
    proxied, database, credentials
):
    url, proxy = proxied
    repo = f"cut-{uuid.uuid4().hex[:8]}"
    body = servers.event_body("sync-started", repo, str(uuid.uuid4()))
    # The repository and its run are written by now; the event row is the last insert.
    proxy.cut_on(b'INSERT INTO "events_event"')

    answer = servers.post_event(f"{url}/api/events/", credentials.token, body)

    assert proxy.cuts == 1
    assert answer.status == 503
    assert answer.body == UNAVAILABLE
    assert answer.headers["Retry-After"] == "30"
    assert _repository_rows(database, repo) == {"repositories": 0, "runs": 0, "events": 0}


def test_it_stores_the_retried_event_once_the_database_is_back(proxied, database, credentials):
    url, proxy = proxied
    repo = f"retried-{uuid.uuid4().hex[:8]}"
    body = servers.event_body("sync-started", repo, str(uuid.uuid4()))
    proxy.cut_on(b'INSERT INTO "events_event"')
    assert servers.post_event(f"{url}/api/events/", credentials.token, body).status == 503

    answer = servers.post_event(f"{url}/api/events/", credentials.token, body)

    assert answer.status == 200, answer.body
    assert answer.body["status"] == "applied"
    assert _repository_rows(database, repo) == {"repositories": 1, "runs": 1, "events": 1}
