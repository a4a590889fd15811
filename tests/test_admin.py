"""The admin site: every page loads, and hosts are created, re-issued and deactivated there."""

from __future__ import annotations

import json

import pytest

from events.models import Event, Repository, Run, SyncHost
from events.services import ingest
from tests.helpers import load_body

TOKEN_MESSAGE = "Token for {name} (shown once, copy it now): "


@pytest.fixture
def ingested(host_and_token) -> SyncHost:
    host = host_and_token[0]
    for name in ("sync-started", "sync-finished-failed", "publish-finished-success"):
        ingest.handle_event(load_body(name), host=host)
    return host


def _token_from(response, name: str) -> str:
    prefix = TOKEN_MESSAGE.format(name=name)
    shown = [str(message) for message in response.context["messages"]]
    tokens = [message.removeprefix(prefix) for message in shown if message.startswith(prefix)]
    assert len(tokens) == 1, shown
    return tokens[0]


@pytest.mark.parametrize("model", ["synchost", "repository", "run", "event"])
def test_it_loads_every_changelist(admin_client, ingested, model):
    response = admin_client.get(f"/admin/events/{model}/")

    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


@pytest.mark.parametrize(
    ("model", "query", "count"),
    [
        ("synchost", "q=sync-a&is_active__exact=1", 1),
        ("repository", "q=epel&sync_state__exact=failed", 1),
        ("run", "q=epel-9-everything&kind__exact=sync&state__exact=failed", 1),
        ("run", "kind__exact=publish", 1),
        ("event", "q=centos-9-baseos&outcome__exact=applied", 2),
    ],
)
def test_it_searches_and_filters_the_changelists(admin_client, ingested, model, query, count):
    response = admin_client.get(f"/admin/events/{model}/?{query}")

    assert response.status_code == 200
    assert response.context["cl"].result_count == count


@pytest.mark.parametrize("model", [SyncHost, Repository, Run, Event])
def test_it_loads_every_change_page(admin_client, ingested, model):
    obj = model.objects.order_by("pk").first()

    response = admin_client.get(f"/admin/events/{model._meta.model_name}/{obj.pk}/change/")

    assert response.status_code == 200
    assert response.context["original"] == obj


def test_it_loads_the_add_host_page(admin_client):
    response = admin_client.get("/admin/events/synchost/add/")

    assert response.status_code == 200
    assert b'name="name"' in response.content
    assert b"token_hash" not in response.content


def test_it_shows_a_created_hosts_working_token_once(admin_client):
    response = admin_client.post(
        "/admin/events/synchost/add/", {"name": "mirror-7", "is_active": "on"}, follow=True
    )

    assert response.status_code == 200
    token = _token_from(response, "mirror-7")
    host = SyncHost.objects.get(name="mirror-7")
    assert SyncHost.authenticate(token) == host
    again = admin_client.get(f"/admin/events/synchost/{host.pk}/change/")
    assert token.encode() not in again.content
    assert token not in host.token_hash


def test_it_keeps_the_token_when_a_host_is_saved(admin_client, host_and_token):
    host, token = host_and_token

    response = admin_client.post(
        f"/admin/events/synchost/{host.pk}/change/", {"name": "renamed", "is_active": "on"}
    )

    assert response.status_code == 302
    host.refresh_from_db()
    assert host.name == "renamed"
    assert SyncHost.authenticate(token) == host


def test_it_reissues_a_token_and_the_old_one_stops_working(admin_client, host_and_token):
    host, old = host_and_token

    response = admin_client.post(
        "/admin/events/synchost/",
        {"action": "reissue_tokens", "_selected_action": [host.pk]},
        follow=True,
    )

    assert response.status_code == 200
    new = _token_from(response, host.name)
    assert new != old
    assert SyncHost.authenticate(old) is None
    assert SyncHost.authenticate(new) == host


def test_it_deactivates_a_host_and_refuses_its_events_at_once(admin_client, host_and_token):
    host, token = host_and_token

    admin_client.post(
        "/admin/events/synchost/", {"action": "deactivate", "_selected_action": [host.pk]}
    )
    refused = admin_client.post(
        "/api/events/",
        load_body("sync-started"),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )

    assert refused.status_code == 401
    assert refused.json() == {"error": "wrong token"}
    host.refresh_from_db()
    assert host.is_active is False

    admin_client.post(
        "/admin/events/synchost/", {"action": "activate", "_selected_action": [host.pk]}
    )
    accepted = admin_client.post(
        "/api/events/",
        load_body("sync-started"),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )

    assert accepted.status_code == 200
    assert json.loads(accepted.content)["status"] == "applied"


def test_it_requires_a_staff_login(client, db):
    response = client.get("/admin/events/run/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
