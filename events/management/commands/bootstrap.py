from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from events.models import SyncHost


class Command(BaseCommand):
    help = "On a fresh database: create an admin account and one sync host, print both once."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="where the server listens"
        )

    def handle(self, *args, url: str, **options) -> None:
        users = get_user_model().objects
        if users.exists():
            self.stdout.write(f"Dashboard: {url}/ (existing accounts kept)")
            return
        password = secrets.token_urlsafe(12)
        users.create_superuser("admin", email="", password=password)
        host, token = SyncHost.create_with_token("sync-host-1")
        endpoint = f"{url}/api/events/"
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "First run: accounts created. These are shown once; keep them.",
                    f"  Dashboard:  {url}/",
                    "  Admin:      user admin, password " + password,
                    f"  Sync host:  {host.name}, token {token}",
                    f"  Event URL:  {endpoint}",
                    "",
                    "Post an event as a sync host would:",
                    f"  curl -sS -X POST -H 'Authorization: Bearer {token}' "
                    f"-H 'Content-Type: application/json' --data @event.json {endpoint}",
                    "",
                    "Point a Pulp 2 server at it:",
                    f"  pulp-admin event listener http create --event-type repo.sync.start "
                    f"--url {endpoint} --username {host.name} --password {token}",
                    "",
                ]
            )
        )
