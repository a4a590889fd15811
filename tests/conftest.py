from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from events.models import Event, Repository, Run, SyncHost


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
    """

    def _post(
        body: str | dict[str, Any] | bytes,
        *,
        expect_error: str | None = None,
        status: int | None = None,
        content_type: str = "application/json",
        **headers: str,
    ):
        data = json.dumps(body) if isinstance(body, dict) else body
        headers.setdefault("Authorization", f"Bearer {token}")
        before = row_counts()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/api/events/", data, content_type=content_type, headers=headers)
        if expect_error is not None:
            assert response.status_code == (status or 400), response.content
            assert response.json()["error"] == expect_error
            assert row_counts() == before
        elif status is not None:
            assert response.status_code == status, response.content
        return response

    return _post
