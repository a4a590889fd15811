from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Sync events"

    def ready(self) -> None:
        # Connects the login failure counters to Django's auth signals.
        from events import security  # noqa: F401
