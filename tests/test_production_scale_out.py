"""Two server processes sharing PostgreSQL and Redis, directly and behind nginx at a URL prefix."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests import servers

pytestmark = pytest.mark.usefixtures("requires_postgres", "requires_redis_server")

PREFIX = "/pulp-dashboard"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, requires_postgres, requires_redis_server):
    """Processes A and B on one database and one Redis, static files collected, under PREFIX."""
    workdir = tmp_path_factory.mktemp("scale-out")
    with (
        servers.postgres_database(requires_postgres, "scaleout") as database,
        servers.redis_server(requires_redis_server, workdir) as redis,
    ):
        env = servers.server_env(
            DATABASE_URL=database,
            REDIS_URL=redis.url,
            URL_PREFIX=PREFIX,
            STATIC_MANIFEST="true",
            STATIC_ROOT=str(workdir / "static"),
        )
        credentials = servers.prepare_database(env)
        servers.manage(env, "collectstatic", "--noinput")
        with (
            servers.daphne(env, workdir / "a.log") as a,
            servers.daphne(env, workdir / "b.log") as b,
        ):
            yield {"a": a, "b": b, "credentials": credentials, "static": workdir / "static"}


@pytest.fixture(scope="module")
def nginx_workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("nginx")


@pytest.fixture(scope="module")
def proxy(stack, nginx_workdir, requires_nginx):
    """nginx with deploy/nginx.conf, balancing over A and B."""
    workdir = nginx_workdir
    port = servers.free_port()
    config = servers.nginx_config(
        (servers.ROOT / "deploy" / "nginx.conf").read_text(),
        upstreams=[stack["a"].removeprefix("http://"), stack["b"].removeprefix("http://")],
        port=port,
        workdir=workdir,
    )
    with servers.nginx(requires_nginx, config, port, workdir) as url:
        yield url


def _post_start(url: str, token: str) -> str:
    repo = f"scale-{uuid.uuid4().hex[:8]}"
    answer = servers.post_event(
        f"{url}/api/events/", token, servers.event_body("sync-started", repo, str(uuid.uuid4()))
    )
    assert answer.status == 200, answer.body
    return repo


def test_it_pushes_an_event_posted_to_process_a_to_a_socket_on_process_b(stack):
    credentials = stack["credentials"]

    with servers.live_socket(stack["b"], credentials.session) as socket:
        repo = _post_start(stack["a"], credentials.token)

        fragment = servers.receive_containing(socket, repo)

    assert 'id="repository-' in fragment


def test_it_serves_hashed_static_files_from_daphne_with_debug_off(stack):
    manifest = json.loads((stack["static"] / "staticfiles.json").read_text())["paths"]
    hashed = manifest["vendor/htmx-2.0.11.min.js"]
    original = (servers.ROOT / "static" / "vendor" / "htmx-2.0.11.min.js").read_bytes()

    status, body, headers = servers.get(f"{stack['a']}{PREFIX}/static/{hashed}")

    assert hashed != "vendor/htmx-2.0.11.min.js"
    assert status == 200
    assert body == original
    assert "immutable" in headers["Cache-Control"]


def test_it_reports_both_services_healthy_through_nginx(proxy):
    status, body, _ = servers.get(f"{proxy}{PREFIX}/healthz")

    assert status == 200
    assert json.loads(body) == {"database": "ok", "channel_layer": "ok", "ok": True}


def test_it_redirects_an_anonymous_visitor_to_the_prefixed_login_page_through_nginx(proxy):
    status, _, headers = servers.get(f"{proxy}{PREFIX}/")

    assert status == 302
    assert headers["Location"] == f"{PREFIX}/login/?next={PREFIX}/"
    login_status, login_page, _ = servers.get(f"{proxy}{PREFIX}/login/")
    assert login_status == 200
    assert f'action="{PREFIX}/login/' in login_page.decode()


def test_it_logs_in_through_nginx_and_redirects_to_the_prefixed_page(proxy):
    status, page, headers = servers.get(f"{proxy}{PREFIX}/login/?next={PREFIX}/")
    assert status == 200
    csrf_cookie = re.search(r"csrftoken=([^;]+)", headers["Set-Cookie"]).group(1)
    csrf_field = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.decode()).group(1)

    status, headers = servers.post_form(
        f"{proxy}{PREFIX}/login/",
        {
            "username": "viewer",
            "password": "viewer-password",
            "next": f"{PREFIX}/",
            "csrfmiddlewaretoken": csrf_field,
        },
        Cookie=f"csrftoken={csrf_cookie}",
    )

    assert status == 302
    assert headers["Location"] == f"{PREFIX}/"
    assert any(cookie.startswith("sessionid=") for cookie in headers.get_all("Set-Cookie"))


def test_it_serves_the_page_and_every_asset_it_names_under_the_prefix_through_nginx(stack, proxy):
    cookie = f"sessionid={stack['credentials'].session}"

    status, page, _ = servers.get(f"{proxy}{PREFIX}/", Cookie=cookie)

    assert status == 200
    html = page.decode()
    assets = re.findall(r'(?:src|href)="(/[^"]*/static/[^"]+)"', html)
    assert assets, html
    for asset in assets:
        assert asset.startswith(f"{PREFIX}/static/")
        assert servers.get(f"{proxy}{asset}")[0] == 200, asset
    assert f'"{PREFIX}/ws/live/?groups=' in html


def test_it_pushes_through_nginx_to_sockets_on_both_processes(stack, proxy):
    credentials = stack["credentials"]

    # nginx's least_conn puts the second socket on the process without one.
    with (
        servers.live_socket(proxy, credentials.session, path=f"{PREFIX}/ws/live/") as first,
        servers.live_socket(proxy, credentials.session, path=f"{PREFIX}/ws/live/") as second,
    ):
        repo = _post_start(f"{proxy}{PREFIX}", credentials.token)

        servers.receive_containing(first, repo)
        servers.receive_containing(second, repo)
    log_a = (stack["static"].parent / "a.log").read_text()
    log_b = (stack["static"].parent / "b.log").read_text()
    assert f"WSCONNECT {PREFIX}/ws/live/" in log_a
    assert f"WSCONNECT {PREFIX}/ws/live/" in log_b


def test_it_keeps_a_query_string_token_out_of_the_nginx_access_log(stack, proxy, nginx_workdir):
    token = stack["credentials"].token
    repo = f"katello-{uuid.uuid4().hex[:8]}"
    answer = servers.post_event(
        f"{proxy}{PREFIX}/api/events/?token={token}",
        None,
        servers.event_body("sync-started", repo, str(uuid.uuid4())),
    )

    assert answer.status == 200, answer.body
    log = (nginx_workdir / "nginx-access.log").read_text()
    assert f"POST {PREFIX}/api/events/ HTTP/1.1" in log
    assert token not in log
