from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from events.models import SyncHost


class Command(BaseCommand):
    help = "Create a sync host and print its token (shown once) as the last line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")

    def handle(self, *args, name: str, **options) -> None:
        if not name.strip() or len(name) > 100:
            raise CommandError("a host name is 1 to 100 characters")
        if SyncHost.objects.filter(name=name).exists():
            raise CommandError(f"a host named {name!r} exists; re-issue its token in the admin")
        host, token = SyncHost.create_with_token(name)
        self.stdout.write(f"Created sync host {host.name}. Its token (shown only now):")
        self.stdout.write(token)
