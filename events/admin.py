from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from events.models import Event, Repository, Run, SyncHost


@admin.register(SyncHost)
class SyncHostAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "last_seen", "event_count", "last_error_at", "created"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    readonly_fields = ["created", "last_seen", "event_count", "last_error", "last_error_at"]
    actions = ["reissue_tokens", "deactivate", "activate"]

    def save_model(self, request: HttpRequest, obj: SyncHost, form, change: bool) -> None:
        if not change:
            token = obj.set_new_token()
            self._show_token(request, obj, token)
        super().save_model(request, obj, form, change)

    def _show_token(self, request: HttpRequest, host: SyncHost, token: str) -> None:
        messages.warning(request, f"Token for {host.name} (shown once, copy it now): {token}")

    @admin.action(description="Re-issue token (the old one stops working)")
    def reissue_tokens(self, request: HttpRequest, queryset: QuerySet[SyncHost]) -> None:
        for host in queryset:
            token = host.set_new_token()
            host.save(update_fields=["token_hash"])
            self._show_token(request, host, token)

    @admin.action(description="Deactivate (refuse its events)")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[SyncHost]) -> None:
        queryset.update(is_active=False)

    @admin.action(description="Activate")
    def activate(self, request: HttpRequest, queryset: QuerySet[SyncHost]) -> None:
        queryset.update(is_active=True)


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    list_display = ["repo_id", "sync_state", "publish_state", "last_seen", "last_host"]
    list_filter = ["sync_state", "publish_state"]
    search_fields = ["repo_id"]
    list_select_related = ["last_host"]
    raw_id_fields = ["latest_sync", "latest_finished_sync", "latest_publish"]
    readonly_fields = ["first_seen", "last_seen"]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "repository",
        "kind",
        "state",
        "started",
        "completed",
        "host",
        "item_error_count",
    ]
    list_filter = ["kind", "state", "host"]
    search_fields = ["repository__repo_id", "task_id", "result_id", "error_message"]
    list_select_related = ["repository", "host"]
    raw_id_fields = ["repository"]
    date_hierarchy = "started"
    show_full_result_count = False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "event_type", "repo_id", "outcome", "host", "received", "run"]
    list_filter = ["event_type", "outcome", "host"]
    search_fields = ["repo_id", "task_id"]
    list_select_related = ["host"]
    raw_id_fields = ["run"]
    readonly_fields = [field.name for field in Event._meta.fields]
    show_full_result_count = False
