"""The read API: /api/repos/, /api/runs/ and /api/runs/<id>/."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model

from events.models import Run, SyncHost
from events.services import ingest
from tests.helpers import MISSING, event_variant, object_id

ODD_IDS = [
    "rhel/9/baseos",
    "centos-stream.9_appstream",
    "docker:library/nginx@latest",
    "pkg+extras~1",
    "a",
    "A" * 200,
]


def _sync(host, repo_id: str, number: int, *, result: str = "success", hour: int = 1) -> Run:
    body = event_variant(
        "sync-finished-success",
        call_report=MISSING,
        repo_id=repo_id,
        id=object_id(number),
        result=result,
        started=f"2023-12-07T{hour:02}:00:00Z",
        completed=f"2023-12-07T{hour:02}:10:00Z",
    )
    return ingest.handle_event(json.dumps(body), host=host).run


def _publish(host, repo_id: str, number: int, *, hour: int = 1) -> Run:
    body = event_variant(
        "publish-finished-success",
        call_report=MISSING,
        repo_id=repo_id,
        id=object_id(number),
        started=f"2023-12-07T{hour:02}:20:00Z",
        completed=f"2023-12-07T{hour:02}:30:00Z",
    )
    return ingest.handle_event(json.dumps(body), host=host).run


@pytest.fixture
def host(host_and_token) -> SyncHost:
    return host_and_token[0]


@pytest.fixture
def api(client, token):
    def _get(path: str, status: int = 200, **headers: str):
        headers.setdefault("Authorization", f"Bearer {token}")
        response = client.get(path, headers=headers)
        assert response.status_code == status, response.content
        return response.json()

    return _get


def test_it_lists_runs_newest_first(api, host):
    older = _sync(host, "epel-9", 1, hour=1)
    newer = _sync(host, "centos-9", 2, hour=3, result="failed")

    data = api("/api/runs/")

    assert [run["id"] for run in data["results"]] == [newer.pk, older.pk]
    assert data["has_next"] is False
    assert (data["page"], data["page_size"]) == (1, 50)
    assert data["results"][1] == {
        "id": older.pk,
        "repo_id": "epel-9",
        "kind": "sync",
        "state": "success",
        "host": "sync-a",
        "task_id": None,
        "result_id": object_id(1),
        "plugin": "yum_importer",
        "plugin_type": "yum_importer",
        "started": "2023-12-07T01:00:00Z",
        "completed": "2023-12-07T01:10:00Z",
        "added_count": 233,
        "updated_count": 0,
        "removed_count": 4,
        "item_error_count": 0,
        "explanation": None,
        "fingerprint": None,
    }


def test_it_shows_one_run_with_its_events(api, host):
    run = _sync(host, "epel-9", 1)

    data = api(f"/api/runs/{run.pk}/")

    assert data["id"] == run.pk
    assert data["summary"] == run.summary
    assert data["details"] == run.details
    assert data["error_report"] is None
    assert data["traceback"] is None
    assert data["events"] == [
        {
            "id": run.events.get().pk,
            "event_type": "repo.sync.finish",
            "outcome": "applied",
            "received": run.events.get().received.isoformat().replace("+00:00", "Z"),
        }
    ]


def test_it_answers_404_for_an_unknown_run(api, db):
    assert api("/api/runs/999999/", status=404) == {"error": "run not found"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("repo=epel-9", ["epel-9 publish", "epel-9 sync"]),
        ("kind=publish", ["epel-9 publish"]),
        ("state=failed", ["centos-9 sync"]),
        ("host=sync-b", ["centos-9 sync"]),
        ("host=nobody", []),
        ("repo=missing", []),
        ("since=2023-12-07T02:00:00Z", ["centos-9 sync"]),
        ("repo=epel-9&kind=sync", ["epel-9 sync"]),
    ],
)
def test_it_filters_runs(api, host, query, expected):
    _sync(host, "epel-9", 1, hour=1)
    _publish(host, "epel-9", 2, hour=1)
    other = SyncHost.create_with_token("sync-b")[0]
    _sync(other, "centos-9", 3, hour=3, result="failed")

    data = api(f"/api/runs/?{query}")

    assert [f"{run['repo_id']} {run['kind']}" for run in data["results"]] == expected


@pytest.mark.parametrize("repo_id", ODD_IDS)
def test_it_filters_by_every_accepted_repo_id(api, host, repo_id):
    run = _sync(host, repo_id, 1)
    _sync(host, "other", 2)

    data = api(f"/api/runs/?repo={quote(repo_id, safe='')}")

    assert [row["id"] for row in data["results"]] == [run.pk]
    assert data["results"][0]["repo_id"] == repo_id


def test_it_pages_runs(api, host):
    runs = [_sync(host, f"repo-{number}", number, hour=number) for number in range(1, 6)]

    first = api("/api/runs/?page_size=2")
    third = api("/api/runs/?page_size=2&page=3")
    beyond = api("/api/runs/?page_size=2&page=4")

    assert [row["id"] for row in first["results"]] == [runs[4].pk, runs[3].pk]
    assert first["has_next"] is True
    assert [row["id"] for row in third["results"]] == [runs[0].pk]
    assert third["has_next"] is False
    assert beyond["results"] == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("kind=nightly", "invalid kind: expected one of sync, publish"),
        (
            "state=ok",
            "invalid state: expected one of running, success, failed, error, canceled, "
            "skipped, incomplete",
        ),
        ("since=yesterday", "invalid since: expected an ISO 8601 timestamp"),
        ("since=1999-01-01T00:00:00Z", "invalid since: expected an ISO 8601 timestamp"),
        ("page=0", "invalid page: expected an integer from 1 to 1000000"),
        ("page=-1", "invalid page: expected an integer from 1 to 1000000"),
        ("page=two", "invalid page: expected an integer from 1 to 1000000"),
        ("page=1000001", "invalid page: expected an integer from 1 to 1000000"),
        ("page_size=501", "invalid page_size: expected an integer from 1 to 500"),
        ("page_size=", "invalid page_size: expected an integer from 1 to 500"),
    ],
)
def test_it_rejects_bad_run_filters(api, db, query, message):
    assert api(f"/api/runs/?{query}", status=400) == {"error": message}


def test_it_lists_repositories_with_their_pointers(api, host):
    sync = _sync(host, "epel-9", 1, result="failed")
    publish = _publish(host, "epel-9", 2)
    _sync(host, "centos-9", 3)

    data = api("/api/repos/")

    assert [row["repo_id"] for row in data["results"]] == ["centos-9", "epel-9"]
    epel = data["results"][1]
    assert epel["sync_state"] == "failed"
    assert epel["publish_state"] == "success"
    assert epel["latest_sync"] == sync.pk
    assert epel["latest_finished_sync"] == sync.pk
    assert epel["latest_publish"] == publish.pk
    assert epel["last_host"] == "sync-a"


def test_it_filters_repositories_by_sync_state(api, host):
    _sync(host, "epel-9", 1, result="failed")
    _sync(host, "centos-9", 2)

    data = api("/api/repos/?state=failed")

    assert [row["repo_id"] for row in data["results"]] == ["epel-9"]


def test_it_rejects_a_bad_repository_state(api, db):
    data = api("/api/repos/?state=broken", status=400)

    assert data["error"].startswith("invalid state: expected one of running, success")


@pytest.mark.parametrize("path", ["/api/runs/", "/api/repos/", "/api/runs/1/"])
def test_it_requires_a_login_or_a_host_token(client, db, path):
    response = client.get(path)

    assert response.status_code == 401
    assert response.json() == {"error": "missing token"}


@pytest.mark.parametrize("path", ["/api/runs/", "/api/repos/"])
def test_it_refuses_a_wrong_token(api, db, path):
    assert api(path, status=401, Authorization="Bearer nope") == {"error": "wrong token"}


def test_it_refuses_a_deactivated_hosts_token(api, host):
    host.is_active = False
    host.save()

    assert api("/api/runs/", status=401) == {"error": "wrong token"}


def test_it_accepts_the_token_in_the_query_string(client, host, token):
    _sync(host, "epel-9", 1)

    response = client.get(f"/api/runs/?token={token}")

    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_it_accepts_a_logged_in_user(client, host):
    _sync(host, "epel-9", 1)
    user = get_user_model().objects.create_user("viewer", password="pw-for-tests")
    client.force_login(user)

    response = client.get("/api/runs/")

    assert response.status_code == 200
    assert response.json()["results"][0]["repo_id"] == "epel-9"


def test_it_refuses_posts(client, token, db):
    response = client.post("/api/runs/", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 405


def test_it_reports_database_and_channel_layer_health(client, db):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"database": "ok", "channel_layer": "ok", "ok": True}


@pytest.mark.parametrize(
    "query", ["page=\u00b2", "page_size=\u00b9\u00b2", "page=\u0661", "page=1%00"]
)
def test_it_rejects_non_ascii_digits_in_paging(api, db, query):
    assert api(f"/api/runs/?{query}", status=400)["error"].startswith("invalid page")


def test_it_answers_404_for_a_run_id_beyond_any_integer_column(api, db):
    assert api(f"/api/runs/{10**30}/", status=404) == {"error": "run not found"}
