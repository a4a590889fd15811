"""The HTTP contract of POST /api/events/: authentication, methods, content types, answers."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client

from events.models import Event, Run, RunState, SyncHost
from tests.conftest import row_counts
from tests.helpers import event_variant, load_body


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_it_works(post):
    response = post(load_body("sync-started"))

    assert response.status_code == 200
    run = Run.objects.get()
    assert response.json() == {"status": "applied", "event": Event.objects.get().pk, "run": run.pk}
    assert response["Content-Type"] == "application/json"
    assert run.state == RunState.RUNNING


def test_it_answers_duplicate_with_200(post):
    first = post(load_body("sync-finished-success")).json()

    again = post(load_body("sync-finished-success"))

    assert again.status_code == 200
    assert again.json() == {
        "status": "duplicate",
        "event": Event.objects.latest("id").pk,
        "run": first["run"],
    }
    assert Event.objects.count() == 2
    assert Run.objects.count() == 1


def test_it_answers_ignored_with_200_for_a_second_result_of_one_task(post):
    first = post(load_body("sync-finished-success")).json()
    other = event_variant("sync-finished-success", result="failed", id="6571a2cd1c2d4e0012ab34ff")

    response = post(other)

    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert response.json()["run"] == first["run"]
    assert Run.objects.get().state == RunState.SUCCESS


def test_it_rejects_non_json_body(post):
    post(
        "{not json",
        expect_error="could not parse request body: Expecting property name enclosed in double "
        "quotes at line 1 column 2",
    )


def test_it_accepts_a_bearer_token(post, host_and_token):
    response = post(load_body("sync-started"), Authorization=f"Bearer {host_and_token[1]}")

    assert response.status_code == 200
    assert Event.objects.get().host == host_and_token[0]


def test_it_accepts_a_lower_case_bearer_scheme(post, token):
    response = post(load_body("sync-started"), Authorization=f"bearer {token}")

    assert response.status_code == 200


def test_it_accepts_basic_auth_with_the_token_as_password(post, host_and_token):
    host, token = host_and_token

    response = post(load_body("sync-started"), Authorization=_basic(host.name, token))

    assert response.status_code == 200
    assert Event.objects.get().host == host


def test_it_accepts_basic_auth_whatever_the_username(post, host_and_token):
    response = post(load_body("sync-started"), Authorization=_basic("pulp", host_and_token[1]))

    assert response.status_code == 200
    assert Event.objects.get().host == host_and_token[0]


def test_it_accepts_the_token_in_the_query_string(post, host_and_token):
    host, token = host_and_token

    response = post(
        load_body("sync-started"), path=f"/api/events/?token={token}", Authorization=None
    )

    assert response.status_code == 200
    assert Event.objects.get().host == host


def test_it_prefers_the_header_over_the_query_string(post, token):
    post(
        load_body("sync-started"),
        path=f"/api/events/?token={token}",
        Authorization="Bearer wrong",
        status=401,
        expect_error="wrong token",
    )


def test_it_tells_two_hosts_apart(post, db):
    other, other_token = SyncHost.create_with_token("sync-b")

    post(load_body("sync-started"), Authorization=f"Bearer {other_token}", status=200)

    assert Event.objects.get().host == other
    assert Run.objects.get().host == other


def test_it_refuses_a_host_as_soon_as_it_is_deactivated(post, host_and_token):
    host, _ = host_and_token
    post(load_body("sync-started"), status=200)
    host.is_active = False
    host.save()

    post(load_body("sync-finished-success"), status=401, expect_error="wrong token")

    assert Run.objects.get().state == RunState.RUNNING


def test_it_refuses_the_old_token_after_a_reissue(post, host_and_token):
    host, old = host_and_token
    new = host.set_new_token()
    host.save()

    post(
        load_body("sync-started"),
        Authorization=f"Bearer {old}",
        status=401,
        expect_error="wrong token",
    )
    response = post(load_body("sync-started"), Authorization=f"Bearer {new}")

    assert response.status_code == 200


def test_it_refuses_the_old_token_after_an_admin_reissue(post, host_and_token, admin_client):
    host, old = host_and_token
    response = admin_client.post(
        "/admin/events/synchost/",
        {"action": "reissue_tokens", "_selected_action": [host.pk]},
        follow=True,
    )
    assert response.status_code == 200
    new = next(str(message).rsplit(": ", 1)[1] for message in response.context["messages"])

    post(
        load_body("sync-started"),
        Authorization=f"Bearer {old}",
        status=401,
        expect_error="wrong token",
    )
    assert post(load_body("sync-started"), Authorization=f"Bearer {new}").status_code == 200


def test_it_stores_tokens_only_as_hashes(host_and_token):
    host, token = host_and_token

    assert token not in host.token_hash
    assert len(host.token_hash) == 64
    assert SyncHost.authenticate(token) == host
    assert SyncHost.authenticate(host.token_hash) is None


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_it_answers_405_in_json_for_other_methods(client, token, method):
    response = getattr(client, method)("/api/events/", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json() == {"error": f"method not allowed: {method.upper()} (send POST)"}
    assert row_counts() == {"events": 0, "runs": 0, "repositories": 0}


def test_it_answers_405_before_asking_for_a_token(client, db):
    response = client.get("/api/events/")

    assert response.status_code == 405


def test_it_needs_no_csrf_token(db, host_and_token):
    strict = Client(enforce_csrf_checks=True, HTTP_HOST="localhost")

    response = strict.post(
        "/api/events/",
        load_body("sync-started"),
        content_type="application/json",
        headers={"Authorization": f"Bearer {host_and_token[1]}"},
    )

    assert response.status_code == 200


def test_it_accepts_a_json_content_type_with_charset(post):
    response = post(load_body("sync-started"), content_type="application/json; charset=utf-8")

    assert response.status_code == 200


def test_it_decodes_a_body_in_its_declared_charset(client, token):
    body = json.dumps(event_variant("sync-finished-error-traceback", error_message="PLACE"))
    data = body.replace("PLACE", "Pr\u00fcfsumme").encode("latin-1")

    response = client.generic(
        "POST",
        "/api/events/",
        data,
        content_type="application/json; charset=iso-8859-1",
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 200
    assert Run.objects.get().error_message == "Pr\u00fcfsumme"


def test_it_reads_utf8_when_the_declared_charset_is_unknown(client, token):
    response = client.generic(
        "POST",
        "/api/events/",
        load_body("sync-started").encode(),
        content_type="application/json; charset=no-such-charset",
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 200
    assert Run.objects.get().state == RunState.RUNNING


def test_it_refuses_a_malformed_content_length_without_crashing(client, token):
    response = client.generic(
        "POST",
        "/api/events/",
        load_body("sync-started").encode(),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
        CONTENT_LENGTH="12abc",
    )

    assert response.status_code == 400
    assert response.json() == {"error": "invalid content-length header"}
    assert row_counts() == {"events": 0, "runs": 0, "repositories": 0}


def test_it_counts_events_and_last_seen_on_the_host(post, host_and_token):
    host, _ = host_and_token

    post(load_body("sync-started"), status=200)
    post(load_body("sync-finished-success"), status=200)

    host.refresh_from_db()
    assert host.event_count == 2
    assert host.last_seen == Event.objects.latest("id").received


def test_it_pushes_nothing_and_counts_nothing_for_a_rejection(post, host_and_token):
    host, _ = host_and_token

    post(
        event_variant("sync-started", repo_id=""),
        expect_error="invalid payload.repo_id: must not be empty",
    )

    host.refresh_from_db()
    assert host.event_count == 0
    assert host.last_seen is None


async def _receive_all(layer, channel: str, quiet: float = 0.5) -> list[dict]:
    """Every message until none comes for `quiet` seconds, all in one event loop: channels-redis
    binds a channel's receive buffer to the loop that first receives on it."""
    messages = []
    while True:
        try:
            messages.append(await asyncio.wait_for(layer.receive(channel), quiet))
        except TimeoutError:
            return messages


def test_it_pushes_an_accepted_event_and_nothing_for_a_rejected_one(post):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("overview", channel)
    try:
        post(
            event_variant("sync-started", repo_id=""),
            expect_error="invalid payload.repo_id: must not be empty",
        )
        post(load_body("sync-started"), status=200)
        messages = async_to_sync(_receive_all)(layer, channel)
    finally:
        async_to_sync(layer.group_discard)("overview", channel)

    [message] = messages
    assert message["type"] == "live.fragment"
    assert "centos-9-baseos" in message["html"]


def test_it_never_issues_a_token_that_reads_as_a_command_line_option(db, monkeypatch):
    drawn = iter(["-looks-like-an-option", "--also", "fine-token"])
    monkeypatch.setattr("events.models.secrets.token_urlsafe", lambda size: next(drawn))

    host, token = SyncHost.create_with_token("sync-dash")

    assert token == "fine-token"
    assert SyncHost.authenticate("fine-token") == host
