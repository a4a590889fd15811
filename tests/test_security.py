from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from dashboard.asgi import application
from events.models import SyncHost
from events.routing import websocket_urlpatterns
from tests.helpers import load_body

# The only URLs an anonymous request may use: logging in and out, the load balancer's probe, and
# the endpoint sync hosts post to (which checks their token itself).
PUBLIC = {"login", "logout", "admin:login", "admin:logout", "events:healthz", "events:ingest"}
SAMPLES = {"int": "1", "path": "some/repo", "slug": "some-slug", "str": "x", "uuid": "0" * 32}


def _sample_path(route: str) -> str:
    """A concrete path for a route or regex, e.g. 'runs/<int:pk>/' -> 'runs/1/'."""
    path = re.sub(r"\(\?P<\w+>([\w-]+)(?:\|[^)]*)?\)", r"\1", route)
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "x", path)
    path = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES[m[1] or "str"], path)
    return path.replace("^", "").replace("$", "").replace("\\Z", "")


def _walk(patterns: list, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        route = prefix + _sample_path(str(pattern.pattern))
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield "/" + route, pattern


ALL = list(_walk(get_resolver().url_patterns))
PROTECTED = [path for path, _ in ALL if resolve(path).view_name not in PUBLIC]
API = [path for path in PROTECTED if path.startswith("/api/")]
PAGES = [path for path in PROTECTED if not path.startswith("/api/")]


def test_it_finds_every_url_of_the_project():
    names = {resolve(path).view_name for path in PROTECTED}

    for path, pattern in ALL:
        assert resolve(path).func == pattern.callback, path

    assert {"events:overview", "events:run", "events:api-runs", "admin:index"} <= names
    assert len(PROTECTED) > 20


@pytest.mark.parametrize("path", PAGES)
def test_it_sends_anonymous_page_requests_to_a_login(client, db, path):
    response = client.get(path)

    login = "/admin/login/" if path.startswith("/admin/") else "/login/"
    assert response.status_code == 302, response.content[:200]
    assert response["Location"] == f"{login}?next={quote(path)}"


@pytest.mark.parametrize("path", API)
def test_it_refuses_anonymous_api_requests(client, db, path):
    response = client.get(path)

    assert response.status_code == 401
    assert response.json() == {"error": "missing token"}


@pytest.mark.parametrize("path", PROTECTED)
def test_it_refuses_anonymous_posts(client, db, path):
    response = client.post(path, {"anything": "1"})

    assert response.status_code in (302, 401, 403, 405), response.content[:200]
    if response.status_code == 302:
        assert "login/?next=" in response["Location"]


@pytest.mark.parametrize("path", PAGES)
def test_it_never_lets_a_host_token_open_a_page(client, token, path):
    in_header = client.get(path, headers={"Authorization": f"Bearer {token}"})
    in_query = client.get(path, {"token": token})

    for response in (in_header, in_query):
        assert response.status_code == 302
        assert "login/?next=" in response["Location"]


@pytest.mark.parametrize("path", ["/api/repos/", "/api/runs/"])
def test_it_lets_a_host_token_read_the_api(client, token, path):
    response = client.get(path, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_it_refuses_a_deactivated_host_at_once(client, post, host_and_token):
    host, token = host_and_token
    post(load_body("sync-started"), status=200)

    SyncHost.objects.filter(pk=host.pk).update(is_active=False)

    post(load_body("sync-finished-success"), expect_error="wrong token", status=401)
    response = client.get("/api/runs/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json() == {"error": "wrong token"}


def test_it_refuses_a_host_saved_as_inactive(post, host_and_token):
    host, _ = host_and_token
    host.is_active = False
    host.save()

    post(load_body("sync-started"), expect_error="wrong token", status=401)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("route", websocket_urlpatterns, ids=lambda route: str(route.pattern))
async def test_it_refuses_anonymous_websockets(route):
    path = "/" + _sample_path(str(route.pattern)) + "?groups=overview"
    communicator = WebsocketCommunicator(
        application, path, headers=[(b"origin", b"http://localhost")]
    )

    connected, code = await communicator.connect()

    assert not connected
    assert code == 4401
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_refuses_a_websocket_with_a_host_token():
    host = SyncHost(name="x")
    token = host.set_new_token()
    await host.asave()
    communicator = WebsocketCommunicator(
        application,
        f"/ws/live/?groups=overview&token={token}",
        headers=[(b"origin", b"http://localhost"), (b"authorization", f"Bearer {token}".encode())],
    )

    connected, code = await communicator.connect()

    assert not connected
    assert code == 4401
    await communicator.disconnect()


def test_it_sends_security_headers_with_every_page(admin_client):
    response = admin_client.get("/")

    assert response.status_code == 200
    assert response["Content-Security-Policy"] == (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' ws://localhost; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_it_allows_the_secure_websocket_behind_https(admin_client, settings):
    response = admin_client.get("/", headers={"X-Forwarded-Proto": "https"}, secure=True)

    assert "connect-src 'self' wss://localhost;" in response["Content-Security-Policy"]


def test_it_sends_security_headers_with_api_answers(client, post):
    response = post(load_body("sync-started"), status=200)

    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.fixture
def user(db):
    cache.clear()
    yield get_user_model().objects.create_user("alice", password="correct-horse-9")
    cache.clear()


def _login(client, password: str, username: str = "alice", path: str = "/login/"):
    return client.post(path, {"username": username, "password": password})


def test_it_logs_in_with_the_right_password(client, user):
    response = _login(client, "correct-horse-9")

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_it_locks_a_username_out_after_repeated_failures(client, user, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        assert _login(client, "wrong").status_code == 200

    response = _login(client, "correct-horse-9")

    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_counts_failures_per_username_case_insensitively(client, user, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    _login(client, "wrong", username="alice")
    _login(client, "wrong", username="ALICE")

    assert _login(client, "correct-horse-9").status_code == 429


def test_it_does_not_lock_out_other_users(client, user, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    get_user_model().objects.create_user("bob", password="bobs-pass-77")
    _login(client, "wrong")
    _login(client, "wrong")

    assert _login(client, "bobs-pass-77", username="bob").status_code == 302


def test_it_does_not_lock_out_the_same_user_from_another_address(client, user, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    _login(client, "wrong")
    _login(client, "wrong")

    response = client.post(
        "/login/",
        {"username": "alice", "password": "correct-horse-9"},
        REMOTE_ADDR="10.9.9.9",
    )

    assert response.status_code == 302


def test_it_forgets_failures_after_a_successful_login(client, user, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    _login(client, "wrong")
    _login(client, "wrong")
    assert _login(client, "correct-horse-9").status_code == 302
    client.logout()

    _login(client, "wrong")
    _login(client, "wrong")

    assert _login(client, "correct-horse-9").status_code == 302


def test_it_lets_the_user_in_once_the_lockout_expires(client, user, settings, monkeypatch):
    settings.LOGIN_FAILURE_LIMIT = 1
    settings.LOGIN_LOCKOUT_SECONDS = 60
    _login(client, "wrong")
    assert _login(client, "correct-horse-9").status_code == 429

    # LocMemCache reads the clock through time.time when it checks an entry's expiry.
    real_time = __import__("time").time
    monkeypatch.setattr("django.core.cache.backends.locmem.time.time", lambda: real_time() + 61)

    assert _login(client, "correct-horse-9").status_code == 302


def test_it_throttles_the_admin_login_too(client, user, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    _login(client, "wrong", path="/admin/login/")
    _login(client, "wrong", path="/admin/login/")

    assert _login(client, "correct-horse-9", path="/admin/login/").status_code == 429
    assert _login(client, "correct-horse-9").status_code == 429
