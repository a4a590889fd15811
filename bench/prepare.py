"""Prepare a fresh database for a benchmark server: migrate, one sync host, one logged-in user.

Run as `python -m bench.prepare` with the server's environment; prints JSON with the host's
token and the session cookie a websocket client sends.
"""

from __future__ import annotations

import json
import os


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from events.models import SyncHost

    call_command("migrate", verbosity=0, interactive=False)
    _, token = SyncHost.create_with_token("bench-host")
    user = get_user_model().objects.create_superuser("bench", password="bench-password")
    client = Client()
    client.force_login(user)
    print(json.dumps({"token": token, "session": client.cookies["sessionid"].value}))


if __name__ == "__main__":
    main()
