from __future__ import annotations

import json
import os
import shutil
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from events.models import Event, Repository, Run, SyncHost

# .ci/run sets this: there a missing service is a failure, for a developer it is a skip.
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES", "false") == "true"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NGINX = os.environ.get("NGINX", "/usr/sbin/nginx")


def _missing(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason}, and REQUIRE_SERVICES=true", pytrace=False)
    pytest.skip(f"{reason} (set REQUIRE_SERVICES=true to fail instead)")


def _listening(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def requires_postgres() -> str:
    """The URL of a PostgreSQL server's maintenance database (TEST_POSTGRES_URL)."""
    if not _listening(POSTGRES_URL):
        _missing(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def requires_redis() -> str:
    """The URL of a running Redis (TEST_REDIS_URL)."""
    if not _listening(REDIS_URL):
        _missing(f"Redis is not reachable at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture(scope="session")
def requires_redis_server() -> str:
    """The redis-server program, for tests that start and stop a private Redis."""
    program = shutil.which("redis-server")
    if program is None:
        _missing("redis-server is not installed")
    return program


@pytest.fixture(scope="session")
def requires_nginx() -> str:
    """The nginx program (Debian's nginx-light; `make system-deps` installs it)."""
    if not os.access(NGINX, os.X_OK):
        _missing(f"nginx is not installed at {NGINX}")
    return NGINX


@pytest.fixture(autouse=True)
def _empty_channel_layer_redis(settings) -> None:
    # Group memberships and sequence numbers live in Redis across tests: start each test from
    # an empty database so the suite behaves as it does on the in-memory layer.
    if settings.REDIS_URL:
        import redis

        redis.Redis.from_url(settings.REDIS_URL).flushdb()


@pytest.fixture
def host_and_token(db) -> tuple[SyncHost, str]:
    return SyncHost.create_with_token("sync-a")


@pytest.fixture
def token(host_and_token) -> str:
    return host_and_token[1]


@pytest.fixture
def client() -> Client:
    return Client(HTTP_HOST="localhost")


@pytest.fixture
def admin_client(db, client) -> Client:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser("admin", password="pw-for-tests")
    client.force_login(user)
    return client


def row_counts() -> dict[str, int]:
    return {
        "events": Event.objects.count(),
        "runs": Run.objects.count(),
        "repositories": Repository.objects.count(),
    }


@pytest.fixture
def post(client, token, django_capture_on_commit_callbacks):
    """post(body, expect_error=None, status=None): POST to the ingest endpoint as a sync host.

    With expect_error, asserts the 4xx, the exact message, and that no row was written.
    Authorization=None sends no Authorization header; path adds a query string (?token=...).
    """

    def _post(
        body: str | dict[str, Any] | bytes,
        *,
        expect_error: str | None = None,
        status: int | None = None,
        content_type: str = "application/json",
        path: str = "/api/events/",
        **headers: str | None,
    ):
        data = json.dumps(body) if isinstance(body, dict) else body
        headers.setdefault("Authorization", f"Bearer {token}")
        headers = {name: value for name, value in headers.items() if value is not None}
        before = row_counts()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(path, data, content_type=content_type, headers=headers)
        if expect_error is not None:
            assert response.status_code == (status or 400), response.content
            assert response.json()["error"] == expect_error
            assert row_counts() == before
        elif status is not None:
            assert response.status_code == status, response.content
        return response

    return _post
