"""Read-only JSON API for scripts and other tools: repositories and runs."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from events.auth import authenticate_host
from events.models import Repository, Run, RunKind, RunState
from events.schemas import InvalidEvent, parse_timestamp_leniently

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def _error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def login_or_host_token(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        if not request.user.is_authenticated:
            try:
                authenticate_host(request)
            except InvalidEvent as exc:
                return _error(exc.message, exc.status)
        try:
            return view(request, *args, **kwargs)
        except InvalidEvent as exc:
            return _error(exc.message, exc.status)

    return wrapper


def _positive_int(request: HttpRequest, name: str, default: int, maximum: int) -> int:
    raw = request.GET.get(name, str(default))
    # isdigit() alone also passes "²", which int() refuses.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        raise InvalidEvent(f"invalid {name}: expected an integer from 1 to {maximum}")
    return int(raw)


def _page(
    request: HttpRequest, queryset: QuerySet, serialize: Callable[[Any], dict]
) -> JsonResponse:
    # No COUNT(*): with a million runs it costs more than the page itself. One extra row
    # tells whether a next page exists.
    page = _positive_int(request, "page", 1, 1_000_000)
    size = _positive_int(request, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    offset = (page - 1) * size
    rows = list(queryset[offset : offset + size + 1])
    return JsonResponse(
        {
            "page": page,
            "page_size": size,
            "has_next": len(rows) > size,
            "results": [serialize(row) for row in rows[:size]],
        }
    )


def _iso(moment: Any) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def serialize_run(run: Run, *, full: bool = False) -> dict[str, Any]:
    data = {
        "id": run.pk,
        "repo_id": run.repository.repo_id,
        "kind": run.kind,
        "state": run.state,
        "host": run.host.name if run.host else None,
        "task_id": run.task_id or None,
        "result_id": run.result_id,
        "plugin": run.plugin or None,
        "plugin_type": run.plugin_type or None,
        "started": _iso(run.started),
        "completed": _iso(run.completed),
        "added_count": run.added_count,
        "updated_count": run.updated_count,
        "removed_count": run.removed_count,
        "item_error_count": run.item_error_count,
        "explanation": run.explanation() or None,
        "fingerprint": run.fingerprint or None,
    }
    if full:
        data.update(
            error_message=run.error_message or None,
            exception=run.exception or None,
            traceback=run.traceback or None,
            error_report=run.error_report,
            summary=run.summary,
            details=run.details,
            events=[
                {
                    "id": event.pk,
                    "event_type": event.event_type,
                    "outcome": event.outcome,
                    "received": _iso(event.received),
                }
                for event in run.events.order_by("received", "id")
            ],
        )
    return data


def _serialize_repository(repository: Repository) -> dict[str, Any]:
    return {
        "repo_id": repository.repo_id,
        "first_seen": _iso(repository.first_seen),
        "last_seen": _iso(repository.last_seen),
        "sync_state": repository.sync_state or None,
        "publish_state": repository.publish_state or None,
        "latest_sync": repository.latest_sync_id,
        "latest_finished_sync": repository.latest_finished_sync_id,
        "latest_publish": repository.latest_publish_id,
        "last_host": repository.last_host.name if repository.last_host else None,
    }


def _choice(request: HttpRequest, name: str, choices: Any) -> str | None:
    value = request.GET.get(name)
    if value is not None and value not in choices.values:
        raise InvalidEvent(f"invalid {name}: expected one of {', '.join(choices.values)}")
    return value


@require_GET
@login_or_host_token
def repository_list(request: HttpRequest) -> JsonResponse:
    repositories = Repository.objects.select_related("last_host").order_by("repo_id")
    state = _choice(request, "state", RunState)
    if state:
        repositories = repositories.filter(sync_state=state)
    return _page(request, repositories, _serialize_repository)


@require_GET
@login_or_host_token
def run_list(request: HttpRequest) -> JsonResponse:
    runs = Run.objects.select_related("repository", "host").order_by("-started", "-id")
    if repo := request.GET.get("repo"):
        runs = runs.filter(repository__repo_id=repo)
    if kind := _choice(request, "kind", RunKind):
        runs = runs.filter(kind=kind)
    if state := _choice(request, "state", RunState):
        runs = runs.filter(state=state)
    if host := request.GET.get("host"):
        runs = runs.filter(host__name=host)
    if "since" in request.GET:
        since = parse_timestamp_leniently(request.GET["since"])
        if since is None:
            raise InvalidEvent("invalid since: expected an ISO 8601 timestamp")
        runs = runs.filter(started__gte=since)
    return _page(request, runs, serialize_run)


@require_GET
@login_or_host_token
def run_detail(request: HttpRequest, pk: int) -> JsonResponse:
    run = Run.objects.select_related("repository", "host").filter(pk=pk).first()
    if run is None:
        return _error("run not found", 404)
    return JsonResponse(serialize_run(run, full=True))
