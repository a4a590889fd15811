"""The addhost and bootstrap management commands."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from events.models import SyncHost
from tests.helpers import load_body


def _run(*args: str) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().splitlines()


def test_it_adds_a_host_and_prints_a_working_token_last(db, client):
    lines = _run("addhost", "mirror-1")

    token = lines[-1]
    host = SyncHost.objects.get(name="mirror-1")
    assert lines[0] == "Created sync host mirror-1. Its token (shown only now):"
    assert SyncHost.authenticate(token) == host
    response = client.post(
        "/api/events/",
        load_body("sync-started"),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert response.json()["status"] == "applied"


def test_it_gives_each_added_host_its_own_token(db):
    first = _run("addhost", "mirror-1")[-1]
    second = _run("addhost", "mirror-2")[-1]

    assert first != second
    assert SyncHost.authenticate(second).name == "mirror-2"


def test_it_refuses_to_add_an_existing_host_name(db):
    _run("addhost", "mirror-1")

    with pytest.raises(CommandError, match="a host named 'mirror-1' exists"):
        _run("addhost", "mirror-1")

    assert SyncHost.objects.count() == 1


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_it_refuses_to_add_a_bad_host_name(db, name):
    with pytest.raises(CommandError, match="a host name is 1 to 100 characters"):
        _run("addhost", name)

    assert not SyncHost.objects.exists()


def _credentials(lines: list[str]) -> tuple[str, str]:
    text = "\n".join(lines)
    password = re.search(r"user admin, password (\S+)", text)[1]
    token = re.search(r"Sync host:  sync-host-1, token (\S+)", text)[1]
    return password, token


def test_it_bootstraps_an_admin_and_a_host_once(db, client):
    lines = _run("bootstrap", "--url", "http://127.0.0.1:8123")

    password, token = _credentials(lines)
    admin = get_user_model().objects.get()
    assert admin.username == "admin"
    assert admin.is_superuser
    assert admin.check_password(password)
    assert SyncHost.authenticate(token) == SyncHost.objects.get(name="sync-host-1")
    assert "  Event URL:  http://127.0.0.1:8123/api/events/" in lines
    assert any(
        line.startswith(f"  curl -sS -X POST -H 'Authorization: Bearer {token}'")
        and line.endswith("http://127.0.0.1:8123/api/events/")
        for line in lines
    )
    response = client.post(
        "/api/events/",
        load_body("sync-started"),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200


def test_it_bootstraps_random_credentials(db):
    first = _credentials(_run("bootstrap"))
    get_user_model().objects.all().delete()
    SyncHost.objects.all().delete()

    second = _credentials(_run("bootstrap"))

    assert first[0] != second[0]
    assert first[1] != second[1]


def test_it_keeps_existing_accounts_on_later_bootstraps(db):
    password, token = _credentials(_run("bootstrap"))

    lines = _run("bootstrap", "--url", "http://127.0.0.1:8123")

    assert lines == ["Dashboard: http://127.0.0.1:8123/ (existing accounts kept)"]
    assert get_user_model().objects.get().check_password(password)
    assert SyncHost.objects.count() == 1
    assert SyncHost.authenticate(token) is not None
